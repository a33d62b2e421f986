/**
 * The schema step kind's three procedures against the test bed's PostgreSQL, with the machine's
 * real alembic running stand-in projects built from the real revision graphs of the lines
 * (support/graph-alembic.ts): the six revisions 24.03 re-parented before 23.09's head, applied by
 * id; 22.09.23 → 23.03 downgraded first to the revision both lines agree on; a head the target does
 * not know, refused before anything runs; and each procedure resumed from where a killed run left it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { useDeployments } from '../support/deployment.js';
import { graphAlembic } from '../support/graph-alembic.js';
import { parseOptions } from '../../src/options/index.js';
import { MemoryLogger } from '../../src/core/logger.js';
import { resolveTargets } from '../../src/stores/connections.js';
import { Deployment } from '../../src/stores/deployment.js';
import { runAlembic, type AlembicSetup } from '../../src/manager/alembic.js';
import { applyRevisions } from '../../src/manager/apply-revisions.js';
import { latestRelease, revisionsOf, revisionsToApply } from '../../src/releases/releases.js';
import { schema, schemaStep, type SchemaProcedure } from '../../src/steps/schema/index.js';
import { stepSettings, type StepContext } from '../../src/steps/step.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin } = useDeployments(info);

const alembicOf = new Map<string, AlembicSetup>();
const alembicFor = (line: string) => alembicOf.get(line) ?? alembicOf.set(line, graphAlembic(line)).get(line)!;

interface Bed {
  ctx: StepContext;
  client: pg.Client;
  applied(): Promise<string[]>;
  versions(): Promise<string[]>;
}

/** A new database at `fromLine`'s final head, made by that line's stand-in alembic, and a step context for the hop. */
async function bed(fromLine: string, toLine: string, body: (bed: Bed) => Promise<void>): Promise<void> {
  const database = `bai_graph_${randomBytes(4).toString('hex')}`;
  await admin().pg.query(`CREATE DATABASE ${database}`);
  const { host, port, user, password } = info.postgres;
  const url = `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${database}`;
  const options = parseOptions({ command: 'migrate', 'to-version': toLine, 'postgres-url': url, 'lock-timeout': '5' });
  const deployment = new Deployment(resolveTargets(options, {}), 10_000, () => undefined);
  const client = new pg.Client({ host, port, user, password, database });
  await client.connect();
  try {
    expect((await deployment.connect(['postgres']))[0]?.ok).toBe(true);
    await runAlembic(alembicFor(fromLine), deployment.targets.postgres!, ['upgrade', latestRelease(fromLine).head]);
    const ctx = {
      deployment,
      settings: stepSettings(options),
      log: new MemoryLogger(),
      hop: { label: `${fromLine} → ${toLine}`, fromLine: fromLine, to: latestRelease(toLine), steps: [] },
      alembic: alembicFor(toLine),
      sourceAlembic: async () => alembicFor(fromLine),
    } as unknown as StepContext;
    await body({
      ctx,
      client,
      applied: async () => (await client.query<{ revision: string }>('SELECT revision FROM standin_applied ORDER BY revision')).rows.map((r) => r.revision),
      versions: async () => (await client.query<{ version_num: string }>('SELECT version_num FROM alembic_version ORDER BY 1')).rows.map((r) => r.version_num),
    });
  } finally {
    await client.end();
    await deployment.close();
    await admin().pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  }
}

const everyRevision = (line: string) => [...revisionsOf(line)].sort();
const SKIPPED_2309_2403 = ['308bcecec5c2', '3f47af213b05', '41f332243bf9', '5ba7fde56ddb', '7ff52ff68bfc', 'b86b341fd9c9'];
const SKIPPED_2209_2303 = ['10c58e701d87', '36b69ddee76e', 'b5be363ab05c', 'b6b884fbae1f', 'd6a02307a057', 'f108628f032b'];

describe('schema: apply-missing (23.09.11 → 24.03.11)', () => {
  const step = schemaStep({ kind: 'apply-missing' });

  it('a plain upgrade is refused, naming the six revisions it would skip; apply-missing runs every one of them once', async () => {
    await bed('23.09', '24.03', async ({ ctx, applied, versions }) => {
      expect(await applied()).toEqual(everyRevision('23.09'));
      const [refused] = await schema.preflight!(ctx);
      expect(refused).toEqual({
        status: 'failed',
        detail: `at 75ea2b136830: alembic upgrade would take 6 revision(s) of 24.03 as done that the database never ran (${SKIPPED_2309_2403.join(', ')}); this hop has no remedy for them`,
      });

      const [plan, works] = await step.preflight!(ctx);
      expect(plan).toMatchObject({ status: 'ok', detail: expect.stringContaining(`alembic upgrade would skip ${SKIPPED_2309_2403.join(', ')}, so the 16 revision(s) of 24.03.11 the database lacks`) });
      expect(works!.status).toBe('ok');
      const [dry] = await step.dryRun!(ctx);
      for (const revision of SKIPPED_2309_2403) expect(dry!.attachment!.content).toContain(`INSERT INTO standin_applied (revision) VALUES ('${revision}')`);
      expect(await applied()).toEqual(everyRevision('23.09'));

      expect(await step.apply!(ctx)).toMatchObject({
        status: 'changed',
        detail: expect.stringMatching(/^applied 16 revision\(s\) by id .*; then alembic_version collapsed to 3596bc12ec09 \(24\.03\.11\)$/),
      });
      expect(await applied()).toEqual(everyRevision('24.03'));
      expect(await versions()).toEqual(['3596bc12ec09']);
      // The stand-in's revisions make no DDL, so only alembic_version's finding can hold here.
      expect((await step.verify!(ctx))[0]).toEqual({ status: 'ok', detail: 'alembic_version is 3596bc12ec09, the head of 24.03.11' });
      expect(await step.apply!(ctx)).toEqual({ status: 'ok', detail: 'already at 3596bc12ec09 (24.03.11)' });
    });
  });

  it('a run killed after the revisions were applied only collapses alembic_version', async () => {
    await bed('23.09', '24.03', async ({ ctx, applied, versions }) => {
      const [plan] = await step.preflight!(ctx);
      expect(plan!.status).toBe('ok');
      // What the killed run left: every revision applied, alembic_version with several rows.
      await applyRevisions(ctx.alembic, ctx.deployment.targets.postgres!, revisionsToApply('23.09', '24.03', ['75ea2b136830'], '3596bc12ec09'));
      expect((await versions()).length).toBeGreaterThan(1);
      expect((await step.preflight!(ctx))[0]!.detail).toContain('will be collapsed to 3596bc12ec09');
      expect(await step.apply!(ctx)).toEqual({ status: 'changed', detail: 'alembic_version collapsed to 3596bc12ec09 (24.03.11)' });
      expect(await applied()).toEqual(everyRevision('24.03'));
      expect(await versions()).toEqual(['3596bc12ec09']);
    });
  });
});

describe('schema: downgrade-first (22.09.23 → 23.03.12)', () => {
  const procedure: SchemaProcedure = { kind: 'downgrade-first', downgradeTo: '3efd66393bd0' };
  const step = schemaStep(procedure);

  it("downgrades with 22.09's alembic to 3efd66393bd0, then upgrades with 23.03's: every 23.03 revision ran", async () => {
    await bed('22.09', '23.03', async ({ ctx, applied, versions }) => {
      expect((await schema.preflight!(ctx))[0]!.detail).toContain(SKIPPED_2209_2303.join(', '));
      const findings = await step.preflight!(ctx);
      expect(findings.map((f) => f.status)).toEqual(['ok', 'ok', 'ok']);
      expect(findings[2]!.detail).toMatch(/^22\.09's alembic runs: .* knows revision 3efd66393bd0$/);
      const [dry] = await step.dryRun!(ctx);
      expect(dry!.attachment!.content).toContain("DELETE FROM standin_applied WHERE revision = 'd58a526bf837'");
      expect(dry!.attachment!.content).toContain("INSERT INTO standin_applied (revision) VALUES ('b6b884fbae1f')");

      expect(await step.apply!(ctx)).toEqual({
        status: 'changed',
        detail: "22.09's alembic downgrade to 3efd66393bd0; then alembic upgrade 3efd66393bd0 → ae7d4cd92aa7 (23.03.12)",
      });
      expect(await applied()).toEqual(everyRevision('23.03'));
      expect(await versions()).toEqual(['ae7d4cd92aa7']);
      expect(await step.apply!(ctx)).toEqual({ status: 'ok', detail: 'already at ae7d4cd92aa7 (23.03.12)' });
    });
  });

  it('a run killed after the downgrade only upgrades; without the source alembic preflight says what is missing', async () => {
    await bed('22.09', '23.03', async ({ ctx, applied, versions }) => {
      await runAlembic(alembicFor('22.09'), ctx.deployment.targets.postgres!, ['downgrade', '3efd66393bd0']);
      expect(await step.apply!(ctx)).toEqual({ status: 'changed', detail: 'alembic upgrade 3efd66393bd0 → ae7d4cd92aa7 (23.03.12)' });
      expect(await applied()).toEqual(everyRevision('23.03'));
      expect(await versions()).toEqual(['ae7d4cd92aa7']);
    });
    await bed('22.09', '23.03', async ({ ctx }) => {
      const without = { ...ctx, sourceAlembic: undefined } as StepContext;
      const findings = await step.preflight!(without);
      expect(findings.at(-1)).toEqual({
        status: 'failed',
        detail:
          "22.09 → 23.03 needs 22.09's alembic for its downgrade to 3efd66393bd0, and this run has only the target release's alembic; set manager-venv (bai-migrate makes a venv of each release it needs)",
      });
      await expect(step.apply!(without)).rejects.toThrow("22.09 → 23.03 needs 22.09's alembic for its downgrade to 3efd66393bd0, and this run has only the target release's alembic; set manager-venv");
    });
  });
});

describe('schema: a head the target line does not know', () => {
  it('a plain upgrade from 24.09.14 to 24.12 is refused before alembic runs (the hop downgrades with 24.09.14 first)', async () => {
    await bed('24.09', '24.12', async ({ ctx, versions }) => {
      const [refused] = await schema.preflight!(ctx);
      expect(refused).toEqual({
        status: 'failed',
        detail: `at ecc9f6322be4: alembic_version holds ecc9f6322be4, which 24.12.1's migration scripts do not have (alembic would stop with "Can't locate revision"); a later release of 24.12 or the next line may know it`,
      });
      await expect(schema.apply!(ctx)).rejects.toThrow('which 24.12.1');
      expect(await versions()).toEqual(['ecc9f6322be4']);
    });
  });
});
