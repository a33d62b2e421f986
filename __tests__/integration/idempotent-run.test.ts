/**
 * A run that changes nothing writes nothing: a second migrate of a migrated deployment leaves the
 * Redis config file byte for byte as it was and makes no backup bundle. And the values 22.03 drops
 * for good (keypairs.concurrency_used) live on in bai-migrate's own table, not only in a bundle.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { migrateInputs, snapshotState, useDeployments, type Admin } from '../support/deployment.js';
import { killDistWhen, runEngine } from '../support/run.js';
import { expectMigrated } from '../support/expect-migrated.js';
import { workerTestbed } from '../support/worker-testbed.js';
const REWRITTEN_KEY = 'x';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

/** The test bed's Redis config file as Redis reads it at start, from inside its container. */
async function redisConfigFile(redis: ReturnType<Admin['redis']>): Promise<string> {
  const path = /config_file:(.*)/.exec(await redis.info('server'))?.[1]?.trim();
  expect(path, 'the test bed Redis runs from a config file').toBeTruthy();
  return execFileSync('docker', ['exec', info.containers.redis, 'cat', path!], { encoding: 'utf8' });
}

/** What the seed puts in keypairs.concurrency_used: keypair i has i % 3 (see support/deployment.ts). */
const SEEDED_CONCURRENCY = Array.from({ length: 12 }, (_, i) => ({ row_key: `AKTEST${String(i).padStart(14, '0')}`, value: i % 3 }));

const carriedForward = async (pg: import('pg').Client) =>
  (
    await pg.query<{ row_key: string; value: number; dropped_by: string }>(
      `SELECT row_key, value, dropped_by FROM bai_migrate.dropped_values WHERE table_name = 'keypairs' AND column_name = 'concurrency_used' ORDER BY row_key`,
    )
  ).rows;

describe('a second migrate of a migrated deployment', () => {
  it('reports every step done, writes no backup bundle and leaves the Redis config file byte-identical', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const first = await runEngine(migrateInputs(toml));
    expect(first.report.error).toBeUndefined();
    expect(first.report.backup).toBeDefined();
    const redis = admin().redis(0);
    const configBefore = await redisConfigFile(redis);
    expect(configBefore).toMatch(/^appendonly yes$/m);
    const stateBefore = await snapshotState(admin(), deployment);

    // The finished hop named again (without from-version, the run plans nothing: detect.test.ts).
    const inputs = migrateInputs(toml, { 'from-version': '21.09' });
    const { report } = await runEngine(inputs);
    expect(report.error).toBeUndefined();
    const applied = report.entries.filter((e) => e.phase === 'apply');
    expect(applied.filter((e) => e.status !== 'ok' && e.status !== 'skipped')).toEqual([]);
    expect(applied.find((e) => e.step === 'redis-persistence')?.detail).toMatch(/^appendonly is already yes and was written to .+ by an earlier run: nothing to do$/);
    expect(applied.find((e) => e.step === 'backup')).toEqual({ phase: 'apply', step: 'backup', status: 'ok', detail: 'every step is already done: nothing to back up, no backup bundle written' });
    expect(report.backup).toBeUndefined();
    expect(readdirSync(inputs['backup-dir'])).toEqual([]);
    expect(await redisConfigFile(redis)).toBe(configBefore);
    expect(await snapshotState(admin(), deployment)).toEqual(stateBefore);
    // The dry run agrees: nothing left to do.
    const dry = await runEngine(migrateInputs(toml, { 'from-version': '21.09', 'dry-run': 'true' }));
    expect(dry.report.entries.find((e) => e.step === 'redis-persistence' && e.phase === 'apply')?.detail).toMatch(/nothing to do$/);
  });

  it('persists appendonly that is on but was never written to the config file (a run killed between CONFIG SET and CONFIG REWRITE)', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const redis = admin().redis(0);
    // The file says no; then appendonly goes on at run time only, as a killed run leaves it.
    await redis.config('REWRITE');
    expect(await redisConfigFile(redis)).toMatch(/^appendonly no$/m);
    await redis.config('SET', 'appendonly', 'yes');
    expect(await redis.get(REWRITTEN_KEY)).toBeNull();

    const inputs = migrateInputs(toml);
    const { report } = await runEngine(inputs);
    expect(report.error).toBeUndefined();
    expect(report.entries.find((e) => e.step === 'redis-persistence' && e.phase === 'apply')).toMatchObject({
      status: 'changed',
      detail: expect.stringMatching(/^appendonly was already yes; written to the config file .+ \(CONFIG REWRITE\) so that it survives a restart$/),
    });
    expect(await redisConfigFile(redis)).toMatch(/^appendonly yes$/m);
    await expectMigrated(admin(), deployment, toml);
  });

  it('writes the bundle when only one step has work left, e.g. a new lock-backend', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    expect((await runEngine(migrateInputs(toml))).report.error).toBeUndefined();
    const inputs = migrateInputs(toml, { 'lock-backend': 'pg_advisory', 'from-version': '21.09' });
    const { report } = await runEngine(inputs);
    expect(report.error).toBeUndefined();
    expect(report.entries.filter((e) => e.phase === 'apply' && e.status === 'changed').map((e) => e.step)).toEqual(['distributed-lock']);
    expect(report.backup?.startsWith(inputs['backup-dir'])).toBe(true);
    expect(report.entries.find((e) => e.step === 'backup')?.detail).toMatch(/\(first change: 21\.09 → 22\.03 distributed-lock\)$/);
    expect(readdirSync(report.backup!)).toContain('manager.toml');
  });
});

describe('keypairs.concurrency_used, which 22.03 drops', () => {
  it('is kept in bai_migrate.dropped_values after migrate, once per keypair however often migrate runs', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const { report } = await runEngine(migrateInputs(toml));
    expect(report.error).toBeUndefined();
    expect(report.entries.find((e) => e.step === 'backup' && e.detail.includes('dropped_values'))?.detail).toBe(
      'keypairs.concurrency_used of 12 keypair(s) kept in PostgreSQL as bai_migrate.dropped_values (alembic d59ff89e7514 drops the column)',
    );
    const kept = await carriedForward(deployment.pg);
    expect(kept).toEqual(SEEDED_CONCURRENCY.map((r) => ({ ...r, dropped_by: 'd59ff89e7514' })));
    // The public schema, which the manager and snapshots read, has no table of bai-migrate's.
    expect((await deployment.pg.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE '%dropped%'`)).rowCount).toBe(0);
    expect((await runEngine({ command: 'verify', 'to-version': '22.03', 'manager-config': toml, 'lock-backend': 'etcd', 'periodic-sync-stats': 'true' })).report.error).toBeUndefined();

    expect((await runEngine(migrateInputs(toml))).report.error).toBeUndefined();
    expect(await carriedForward(deployment.pg)).toEqual(kept);
  });

  it('a run killed after keeping them and before the drop: the next run keeps the latest values, still once per keypair', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const inputs = migrateInputs(toml);
    const args = Object.entries(inputs).flatMap(([k, v]) => (k === 'command' ? [v] : [`--${k}`, v]));
    // Killed while alembic sleeps inside its transaction: the column is still there afterwards.
    const { killed, stderr } = await killDistWhen(args, { BAI_FIXTURE_SLOW_SECONDS: '3' }, /kept in PostgreSQL as bai_migrate\.dropped_values/);
    expect(killed, stderr).toBe(true);
    expect(await carriedForward(deployment.pg)).toHaveLength(12);
    await new Promise((r) => setTimeout(r, 3_500));
    await deployment.pg.query(`UPDATE keypairs SET concurrency_used = 9 WHERE access_key = 'AKTEST00000000000004'`);

    const { report } = await runEngine(inputs);
    expect(report.error).toBeUndefined();
    expect(await carriedForward(deployment.pg)).toEqual(SEEDED_CONCURRENCY.map((r) => ({ ...r, value: r.row_key === 'AKTEST00000000000004' ? 9 : r.value, dropped_by: 'd59ff89e7514' })));
    await expectMigrated(admin(), deployment, toml);
    expect(existsSync(report.backup!)).toBe(true);
  });

  it('a user that may not create the schema: preflight warns, migrate stops before its first change and says why', async () => {
    const deployment = await deploy();
    const role = 'bai_no_create';
    await admin().pg.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role} LOGIN PASSWORD 'pg-NoCreate-Secr3t'; END IF; END $$`);
    await admin().pg.query(`GRANT CONNECT ON DATABASE ${deployment.database} TO ${role}`);
    await deployment.pg.query(`GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    const { host, port } = info.postgres;
    const inputs = migrateInputs(deployment.writeManagerToml(), { 'postgres-url': `postgresql://${role}:pg-NoCreate-Secr3t@${host}:${port}/${deployment.database}` });
    const { report } = await runEngine(inputs);
    expect(report.entries.find((e) => e.phase === 'preflight' && e.step === 'concurrency-to-redis' && e.status === 'warning')?.detail).toBe(
      `keypairs.concurrency_used is dropped by 22.03 and migrate keeps its values in bai_migrate.dropped_values, but user ${role} may not create schema bai_migrate, so migrate with this user would stop before its first change: GRANT CREATE ON DATABASE ${deployment.database} TO ${role}, or create the schema with that user as its owner`,
    );
    expect(report.outcome).toBe('failure');
    expect(report.error).toMatch(
      /^Keypair concurrency moves to Redis: the values it drops could not be kept in PostgreSQL \(permission denied for database bai_\w+\); nothing has been changed yet \(the backup bundle .+ was written\)$/,
    );
    expect((await deployment.pg.query('SELECT version_num FROM alembic_version')).rows).toEqual([{ version_num: '60a1effa77d2' }]);
    expect((await deployment.pg.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'bai_migrate'`)).rowCount).toBe(0);
    expect(report.entries.filter((e) => e.phase === 'apply' && e.step !== 'backup')).toEqual([]);
  });
});
