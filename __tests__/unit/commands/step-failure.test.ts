/**
 * What to fix when a step failed inside a revision, from the real failures of
 * __tests__/fixtures/alembic-failures: the remedy follows what preflight made of that revision, and
 * the job summary, the CLI's text and the PR comment show it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newReport, renderMarkdown, renderText, type Report } from '../../../src/core/report/index.js';
import { revisionFailure } from '../../../src/manager/revision-failure.js';
import { stepFailure } from '../../../src/commands/step-failure.js';

const real = (name: string) => revisionFailure(readFileSync(join(import.meta.dirname, '../../fixtures/alembic-failures', name), 'utf8'))!;
const HOP = '24.03 → 24.09';

function migrateReport(preflight?: { status: 'ok' | 'skipped'; detail: string }): Report {
  const report = newReport('migrate', false);
  report.fromVersion = '24.03';
  report.toVersion = '24.09.14';
  if (preflight) report.entries.push({ phase: 'preflight', hop: HOP, step: 'vfolder-domains', ...preflight });
  return report;
}

describe('stepFailure', () => {
  it("a revision whose check passed: preflight did not predict it, report it with what to include; then fix the DETAIL's rows", () => {
    const failure = stepFailure(migrateReport({ status: 'ok', detail: "every vfolder's owning user or group has a domain" }), HOP, 'schema', real('asyncpg-fk-violation.txt'));
    expect(failure.preflight).toEqual({ hop: HOP, step: 'vfolder-domains', hazard: expect.stringContaining('vfolders whose owning user and group are both gone'), status: 'ok' });
    expect(failure.remedy).toMatch(/^Preflight's vfolder-domains check \(24\.03 → 24\.09\) looks for what d7df3baf3779 stops on \(.*\) and passed: preflight did not predict this\. Please report it/);
    expect(failure.remedy).toContain('with the revision d7df3baf3779, the cause, constraint and DETAIL above, the vfolder-domains preflight row');
    expect(failure.remedy).toContain('Then fix the rows named above (standin_projects (resource_policy)=(default)) and run migrate again');
  });

  it('a revision whose check was skipped says so, with the reason, and asks for a preflight that checks', () => {
    const failure = stepFailure(migrateReport({ status: 'skipped', detail: 'no vfolders table' }), HOP, 'schema', real('asyncpg-fk-violation.txt'));
    expect(failure.preflight?.status).toBe('skipped');
    expect(failure.remedy).toContain('but did not pass in this run (skipped: no vfolders table): run preflight so that it checks');
    expect(failure.remedy).not.toContain('did not predict');
  });

  it('a revision whose hop ran no preflight at all: "not run"', () => {
    expect(stepFailure(migrateReport(), HOP, 'schema', real('asyncpg-fk-violation.txt')).preflight?.status).toBe('not run');
  });

  it('a revision that lost its connection: no rows to fix and no preflight gap, the cause outside the data', () => {
    const base = real('asyncpg-fk-violation.txt');
    // What asyncpg raises when the server goes away mid-statement, as SQLAlchemy wraps it.
    const lost = {
      ...base,
      cause: { exception: 'sqlalchemy.exc.InterfaceError', driverException: 'asyncpg.exceptions.ConnectionDoesNotExistError', message: 'connection was closed in the middle of operation' },
      rows: [],
    };
    const failure = stepFailure(migrateReport({ status: 'ok', detail: 'ok' }), HOP, 'schema', lost);
    expect(failure.preflight).toBeUndefined();
    expect(failure.remedy).toBe('d7df3baf3779 did not finish for a reason outside its data (the cause above): fix that and run migrate again: finished steps are recognised and skipped.');
  });

  it('a revision no check covers says so', () => {
    const failure = stepFailure(migrateReport(), HOP, 'schema', real('psycopg2-fk-violation.txt'));
    expect(failure.preflight).toBeUndefined();
    expect(failure.remedy).toMatch(
      /^No preflight check of bai-migrate looks for what fdb2dcdb8811 stops on: fix the rows named above \(standin_projects \(resource_policy\)=\(default\)\) and run migrate again/,
    );
  });
});

describe('the failure in the job summary and the CLI text', () => {
  const report = migrateReport({ status: 'ok', detail: 'ok' });
  report.outcome = 'failure';
  report.failure = stepFailure(report, HOP, 'schema', real('asyncpg-fk-violation.txt'));
  report.error = `24.03 → 24.09 schema failed: alembic … in revision d7df3baf3779\ndone: nothing\nnot done: 24.03 → 24.09 registries-moved\n${report.failure.remedy}`;
  report.entries.push({ phase: 'apply', hop: HOP, step: 'schema', status: 'failed', detail: 'alembic … in revision d7df3baf3779' });

  it('the job summary: what to fix above the collapsed table of every step, the remedy said once', () => {
    const md = renderMarkdown(report);
    const collapsed = md.indexOf('<details><summary>Every step (2 rows)</summary>');
    expect(md.indexOf('### What to fix')).toBeGreaterThan(0);
    expect(md.indexOf('### What to fix')).toBeLessThan(collapsed);
    expect(md).toContain('| Rows | standin_projects `(resource_policy)=(default)` is not present in table "standin_policies" |');
    expect(md).toContain('| Constraint | `standin_projects_resource_policy_fkey` |');
    expect(md.split(report.failure!.remedy).length).toBe(2);
    expect(md).toContain('not done: 24.03 → 24.09 registries-moved\n```');
  });

  it('the CLI text: the revision, the cause, the DETAIL, the row and the preflight check, then the error with the remedy', () => {
    const text = renderText(report, { logged: true });
    expect(text).toContain('  What to fix: 24.03 → 24.09 schema stopped in revision d7df3baf3779 (upgrade 5d92c9cc930c -> d7df3baf3779)\n');
    expect(text).toContain('    cause: asyncpg.exceptions.ForeignKeyViolationError (raised as sqlalchemy.exc.IntegrityError): insert or update on table "standin_projects"');
    expect(text).toContain('    DETAIL: Key (resource_policy)=(default) is not present in table "standin_policies".\n');
    expect(text).toContain('    row: standin_projects (resource_policy)=(default) is not present in table "standin_policies"\n');
    expect(text).toContain('    preflight: vfolder-domains (24.03 → 24.09) checks this revision: passed\n');
    expect(text).toContain(`Result: failure\n24.03 → 24.09 schema failed`);
    expect(text).toContain('preflight did not predict this');
  });
});
