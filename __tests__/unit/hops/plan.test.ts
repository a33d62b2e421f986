import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/run.js';
import { locateRevision, parseVersion, type SchemaPosition } from '../../../src/releases/catalogue.js';
import { makePlan, requireSupported } from '../../../src/hops/plan.js';
import { latestRelease } from '../../../src/releases/releases.js';
import { MemoryLogger } from '../../../src/core/logger.js';
import { parseOptions } from '../../../src/options/index.js';
import { renderMarkdown, renderText } from '../../../src/core/report/index.js';
import { runCommand } from '../../../src/commands/run-command.js';

const v = (text: string) => parseVersion(text, 'version');
const at = (revision: string) => locateRevision(revision) as SchemaPosition;
/** What migrate passes when bai-migrate's journal has these hops unfinished. */
const unfinished = (...hops: string[]) => ({ hops, because: "bai-migrate's journal has the hop {hop} as started and not finished" });
const shape = (plan: ReturnType<typeof makePlan>) => plan.hops.map((h) => ({ hop: h.label, to: h.to.version, steps: h.steps.map((s) => s.id) }));

const GUIDE_2203 = [
  'services-stopped',
  'manager-connects',
  'schema',
  'concurrency-to-redis',
  'last-stat-sync',
  'redis-persistence',
  'image-metadata',
  'image-rescan',
  'prune-etcd-images',
  'distributed-lock',
  'storage-proxy',
  'clear-history-schedule',
];

describe('plan', () => {
  it('21.03 → 22.03 goes through the latest 21.09 first', () => {
    expect(shape(makePlan(v('21.03'), v('22.03')))).toEqual([
      { hop: '21.03 → 21.09', to: '21.09.9', steps: ['services-stopped', 'manager-connects', 'schema'] },
      { hop: '21.09 → 22.03', to: '22.03.14', steps: [...GUIDE_2203, 'manager-starts'] },
    ]);
  });

  it('21.09 → 22.03 has every item of the upgrade guide, the unwritten storage-proxy one included', () => {
    expect(shape(makePlan(v('21.09.9'), v('22.03.3')))).toEqual([{ hop: '21.09 → 22.03', to: '22.03.3', steps: [...GUIDE_2203, 'manager-starts'] }]);
  });

  it('a patch upgrade runs only the schema (and, as every run’s last hop, ends with the manager starting where it is asked to)', () => {
    expect(shape(makePlan(v('21.09.2'), v('21.09')))).toEqual([{ hop: '21.09.2 → 21.09.9', to: '21.09.9', steps: ['services-stopped', 'schema', 'manager-starts'] }]);
    expect(makePlan(v('22.03.14'), v('22.03')).hops).toEqual([]);
  });

  it('a patch upgrade whose package runs a revision that stops on some rows, or deletes some for good, checks them before the schema step (releases/cannot-run.ts)', () => {
    // 26.4.3 → 26.4.10 runs 8c1f7d3a9e2b unguarded and c7d8e9f0a1b2 (unguarded in every text); 26.4.10 → 26.4.12 runs neither.
    // … and 045b0e0e4384, which deletes images whose registry is gone: listed, and kept in the backup bundle.
    expect(shape(makePlan(v('26.4.3'), v('26.4.10')))).toEqual([
      { hop: '26.4.3 → 26.4.10', to: '26.4.10', steps: ['services-stopped', 'unguarded-revisions', 'revision-deletes', 'schema', 'manager-starts'] },
    ]);
    expect(shape(makePlan(v('26.4.3'), v('26.4.16')))[0]!.steps).toContain('unguarded-revisions');
    expect(shape(makePlan(v('26.4.10'), v('26.4.12')))[0]!.steps).toEqual(['services-stopped', 'schema', 'manager-starts']);
  });

  it('detects the start from the database when from-version is omitted', () => {
    const plan = makePlan(undefined, v('22.03'), at('60a1effa77d2'));
    expect(plan).toMatchObject({ from: '21.09', detected: true });
    expect(plan.note).toContain('21.09.3–21.09.9');
    expect(makePlan(undefined, v('22.03'), at('518ecf41f567')).from).toBe('21.03');
  });

  it("plans from where the database is, and the hop into its line again only when bai-migrate's journal has it started and not finished", () => {
    const there = makePlan(undefined, v('22.03'), at('81c264528f20'));
    expect(there).toMatchObject({ from: '22.03', hops: [] });
    // A run killed after the hop's schema step: its other steps may not have run.
    const resumed = makePlan(undefined, v('22.03'), at('81c264528f20'), unfinished('21.09 → 22.03'));
    expect(shape(resumed)).toEqual([{ hop: '21.09 → 22.03', to: '22.03.14', steps: [...GUIDE_2203, 'manager-starts'] }]);
    expect(resumed.note).toMatch(/; bai-migrate's journal has the hop 21\.09 → 22\.03 as started and not finished, so it is planned again$/);
    // Part-way through 22.03's revisions, the hop is planned whatever the journal says.
    expect(makePlan(undefined, v('22.03'), at('d59ff89e7514')).from).toBe('21.09');
    // A database at 24.12's head is at 24.12, not somewhere in 24.09 → 24.12.
    expect(makePlan(undefined, v('24.12'), at(latestRelease('24.12').head))).toMatchObject({ from: '24.12', hops: [] });
  });

  it('accepts a database part-way along the plan (a resumed run) or at its end (a second run)', () => {
    expect(makePlan(v('21.03'), v('22.03'), at('d727b5da20e6')).hops).toHaveLength(2);
    expect(makePlan(v('21.09'), v('22.03'), at('81c264528f20')).hops).toHaveLength(1);
  });

  it('lists the path across hops bai-migrate cannot take yet, and says so', () => {
    const plan = makePlan(v('21.09'), v('26.1'));
    expect(plan.hops.map((h) => [h.label, h.to.version, h.unsupported !== undefined])).toEqual([
      ['21.09 → 22.03', '22.03.14', false],
      ['22.03 → 22.09', '22.09.23', false],
      ['22.09 → 23.03', '23.03.12', false],
      ['23.03 → 23.09', '23.09.11', false],
      ['23.09 → 24.03', '24.03.11', false],
      ['24.03 → 24.09', '24.09.14', false],
      ['24.09 → 24.12', '24.12.1', false],
      ['24.12 → 25.1', '25.1.1', false],
      ['25.1 → 25.2', '25.2.0', false],
      ['25.2 → 25.3', '25.3.3', false],
      ['25.3 → 25.4', '25.4.0', false],
      ['25.4 → 25.5', '25.5.2', false],
      ['25.5 → 25.6', '25.6.17', false],
      ['25.6 → 25.7', '25.7.0', false],
      ['25.7 → 25.8', '25.8.1', false],
      ['25.8 → 25.9', '25.9.1', false],
      ['25.9 → 25.10', '25.10.1', false],
      ['25.10 → 25.11', '25.11.4', false],
      ['25.11 → 25.12', '25.12.1', false],
      ['25.12 → 25.13', '25.13.4', false],
      ['25.13 → 25.14', '25.14.5', false],
      ['25.14 → 25.15', '25.15.12', false],
      ['25.15 → 25.16', '25.16.0', false],
      ['25.16 → 25.17', '25.17.1', false],
      ['25.17 → 25.18', '25.18.1', false],
      ['25.18 → 25.19', '25.19.2', false],
      ['25.19 → 26.1', '26.1.0', true],
    ]);
    expect(() => requireSupported(plan)).toThrow(/has 1 hop\(s\) bai-migrate cannot take yet: 25\.19 → 26\.1/);
    expect(() => requireSupported(makePlan(v('21.03'), v('25.19')))).not.toThrow();
    // YY.N lines follow each other like the others.
    expect(makePlan(v('25.14'), v('26.1')).hops.map((h) => h.label)).toEqual(['25.14 → 25.15', '25.15 → 25.16', '25.16 → 25.17', '25.17 → 25.18', '25.18 → 25.19', '25.19 → 26.1']);
  });

  it('plans 24.09.6+ (head ecc9f6322be4, which 24.12 does not know) into 24.12, whose hop downgrades with 24.09.14 first', () => {
    expect(makePlan(v('24.09'), v('24.12'), at('ecc9f6322be4')).hops.map((h) => [h.label, h.to.version, h.unsupported])).toEqual([['24.09 → 24.12', '24.12.1', undefined]]);
    // Detected, from 24.09; 24.03 → 24.09 comes along only when the journal has it unfinished.
    expect(makePlan(undefined, v('24.12'), at('ecc9f6322be4')).hops.map((h) => h.label)).toEqual(['24.09 → 24.12']);
    expect(makePlan(undefined, v('24.12'), at('ecc9f6322be4'), unfinished('24.03 → 24.09')).hops.map((h) => h.label)).toEqual(['24.03 → 24.09', '24.09 → 24.12']);
    // Also from further back, and still refused where the database is older than from-version says.
    expect(makePlan(v('24.03'), v('24.12'), at('ecc9f6322be4')).hops.map((h) => h.label)).toEqual(['24.03 → 24.09', '24.09 → 24.12']);
    expect(() => makePlan(v('24.09.10'), v('24.12'), at('7c8501cec07b'))).toThrow(/older than from-version 24\.09\.10/);
  });

  it('detects any known release from alembic_version by its place in the graph', () => {
    expect(makePlan(undefined, v('24.09'), at('3596bc12ec09')).from).toBe('24.03');
    expect(makePlan(undefined, v('26.8'), at('bd1bf0524350')).hops.map((h) => h.label)).toEqual(['26.4 → 26.7', '26.7 → 26.8']);
    // Part-way through 23.03's revisions (after 22.09.23's head): 22.09 → 23.03 is still to come.
    expect(makePlan(v('22.09'), v('23.03'), at('36b69ddee76e')).hops).toHaveLength(1);
  });

  it('says how a version in another spelling was read (PyPI spells the 22.03 line 22.3.x), and nothing for the usual one', () => {
    const to = (text: string) => parseVersion(text, 'to-version');
    expect(makePlan(v('21.09'), to('22.3')).readings).toEqual([{ input: 'to-version', reading: '22.3 is read as 22.03 (22.03.14)' }]);
    expect(makePlan(v('21.9'), to('22.3.3')).readings).toEqual([
      { input: 'from-version', reading: '21.9 is read as 21.09' },
      { input: 'to-version', reading: '22.3.3 is read as 22.03.3' },
    ]);
    expect(makePlan(v('21.09.9'), to('22.03')).readings).toEqual([]);
    expect(makePlan(undefined, to('25.1'), at('81c264528f20')).readings).toEqual([]);
  });

  it('writes the Markdown summary to summary-file, for CI systems other than GitHub Actions, the same the Action writes', async () => {
    const dir = tempDir();
    const options = parseOptions({ command: 'plan', 'from-version': '21.09', 'to-version': '22.03', 'report-file': join(dir, 'report.json'), 'summary-file': join(dir, 'ci', 'summary.md') });
    const report = await runCommand(options, { log: new MemoryLogger(), onSecret: () => undefined, env: {} });
    expect(readFileSync(join(dir, 'ci', 'summary.md'), 'utf8')).toBe(renderMarkdown(report));
    expect(readFileSync(join(dir, 'ci', 'summary.md'), 'utf8')).toMatch(/^## ✅ bai-migrate plan: succeeded\n/);
  });

  it('puts the reading first in a plan, in its log line, its report and its text', async () => {
    const log = new MemoryLogger();
    const options = parseOptions({ command: 'plan', 'from-version': '21.09', 'to-version': '22.3', 'report-file': join(tempDir(), 'report.json') });
    const report = await runCommand(options, { log, onSecret: () => undefined, env: {} });
    expect(report.outcome).toBe('success');
    expect(log.lines.filter((line) => line.startsWith('Plan:'))).toEqual(['Plan: 21.09 → 22.03.14 (21.09 → 22.03); to-version 22.3 is read as 22.03 (22.03.14)']);
    expect(report.entries[0]).toEqual({ phase: 'plan', step: 'to-version', status: 'ok', detail: '22.3 is read as 22.03 (22.03.14)' });
    expect(renderText(report, { logged: true }).split('\n').slice(1, 3)).toEqual([
      '  21.09 → 22.03.14 (target revision 81c264528f20)',
      '  OK       plan      to-version: 22.3 is read as 22.03 (22.03.14)',
    ]);
  });

  it.each([
    [v('21.09'), v('22.03'), '518ecf41f567', /older than from-version 21\.09/],
    [v('21.03'), v('21.09'), '81c264528f20', /already newer than to-version 21\.09\.9/],
    [v('21.09'), v('22.03'), '3596bc12ec09', /already newer than to-version 22\.03\.14/],
    [v('21.09.9'), v('21.09.2'), undefined, /newer than to-version 21\.09\.2: bai-migrate only upgrades/],
    [v('22.03'), v('21.03'), undefined, /only upgrades/],
    [undefined, v('22.03'), undefined, /cannot be detected without PostgreSQL/],
  ])('refuses %#', (from, to, revision, message) => {
    expect(() => makePlan(from, to, revision ? at(revision) : undefined)).toThrow(message);
  });
});
