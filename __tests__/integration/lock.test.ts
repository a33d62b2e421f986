/**
 * The migration lock is held for the whole run: migrate takes it before plan and preflight (a run
 * that waited judges what it finds after the wait), checks before each step that its session still
 * holds it, and stops when it does not; clear-history skips while another run holds it, snapshot
 * waits for it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrateInputs, snapshotState, useDeployments, type TestDeployment } from '../support/deployment.js';
import { expectMigrated } from '../support/expect-migrated.js';
import { runEngine, tempDir } from '../support/run.js';
import { LOCK_KEYS } from '../../src/stores/lock.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

/** Another bai-migrate, as PostgreSQL sees it: a session holding the lock in the deployment's database. */
async function holdLock(deployment: TestDeployment): Promise<{ pid: number; release(): Promise<void> }> {
  const holder = new pg.Client({ ...info.postgres, database: deployment.database, application_name: 'another-bai-migrate' });
  await holder.connect();
  await holder.query('SELECT pg_advisory_lock($1, $2)', [...LOCK_KEYS]);
  const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return { pid: rows[0]!.pid, release: () => holder.end() };
}

/** The pids of the run's lock sessions in the deployment's database. */
async function lockSessions(deployment: TestDeployment): Promise<number[]> {
  const { rows } = await admin().pg.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'bai-migrate (migration lock)'`, [deployment.database]);
  return rows.map((r) => r.pid);
}

async function until(probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const revision = async (d: TestDeployment) => (await d.pg.query('SELECT version_num FROM alembic_version')).rows.map((r) => r.version_num);

describe('the migration lock', () => {
  it('migrate takes it before plan and preflight: a run that waited sees a manager registered during the wait', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const other = await holdLock(deployment);
    const run = runEngine(migrateInputs(toml, { 'lock-timeout': '30' }));
    try {
      await until(async () => (await lockSessions(deployment)).length === 1);
      // While it waits, the other run's deployment changes: a manager was started again.
      await admin().etcd.namespace(`/sorna/${deployment.namespace}/`).put('nodes/manager/i-manager-1').value('up');
    } finally {
      await other.release();
    }
    const { report } = await run;
    expect(report.outcome).toBe('failure');
    expect(report.errorCode).toBe('checks-failed');
    const finding = report.entries.find((e) => e.phase === 'preflight' && e.step === 'services-stopped' && e.status === 'failed');
    expect(finding?.detail).toMatch(/^1 manager\(s\) registered in etcd nodes\/manager\/: i-manager-1\. /);
    expect(report.entries.filter((e) => e.phase === 'apply')).toEqual([]);
    expect(await revision(deployment)).toEqual(['60a1effa77d2']);
  });

  it('a run whose lock session is terminated between steps stops before the next step, says so, and the next run completes', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const inputs = migrateInputs(toml);
    // Revision d727b5da20e6 sleeps inside the schema step; meanwhile the lock's backend is terminated.
    await deployment.pg.query(`ALTER DATABASE ${deployment.database} SET bai_fixture.slow_seconds = '2'`);
    const run = runEngine(inputs);
    const inAlembic = async () =>
      (await admin().pg.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'bai-migrate-alembic' AND query LIKE 'SELECT pg_sleep%'`, [deployment.database])).rowCount ===
      1;
    await until(inAlembic);
    const [pid] = await lockSessions(deployment);
    expect((await admin().pg.query('SELECT pg_terminate_backend($1) AS done', [pid])).rows).toEqual([{ done: true }]);
    const { report } = await run;
    await deployment.pg.query(`ALTER DATABASE ${deployment.database} RESET bai_fixture.slow_seconds`);

    expect(report.outcome).toBe('failure');
    expect(report.errorCode).toBe('inconsistent-state');
    expect(report.error).toBe(
      'the migration lock was lost (its connection closed: terminating connection due to administrator command); no step ran after that; run migrate again\n' +
        'done: 21.09 → 22.03 schema\n' +
        'not done: 21.09 → 22.03 concurrency-to-redis, 21.09 → 22.03 last-stat-sync, 21.09 → 22.03 redis-persistence, 21.09 → 22.03 image-metadata, 21.09 → 22.03 image-rescan, 21.09 → 22.03 prune-etcd-images, 21.09 → 22.03 distributed-lock, 21.09 → 22.03 manager-starts',
    );
    expect(report.entries.filter((e) => e.phase === 'apply' && e.step !== 'backup').map((e) => [e.step, e.status])).toEqual([['schema', 'changed']]);
    // concurrency-to-redis did not run: only the seeded counter is in Redis.
    expect(await admin().redis(0).keys('keypair.concurrency_used.*')).toEqual(['keypair.concurrency_used.AKTEST00000000000001']);

    const again = await runEngine(inputs);
    expect(again.report.error).toBeUndefined();
    await expectMigrated(admin(), deployment, toml);
  });

  it('clear-history while another run holds the lock skips, names the holder, deletes nothing and succeeds', async () => {
    const deployment = await deploy({ schema: '81c264528f20' });
    const toml = deployment.writeManagerToml();
    const before = await snapshotState(admin(), deployment);
    const other = await holdLock(deployment);
    try {
      const started = Date.now();
      const { report } = await runEngine({ command: 'clear-history', 'manager-config': toml, retention: '30d', 'lock-timeout': '30' });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(report.outcome).toBe('success');
      expect(report.history).toBeUndefined();
      const skipped = report.entries.filter((e) => e.phase === 'apply');
      expect(skipped).toHaveLength(1);
      expect(skipped[0]).toMatchObject({ step: 'clear-history', status: 'skipped' });
      expect(skipped[0]!.detail).toMatch(
        new RegExp(
          `^skipped: another bai-migrate run \\(a migration or a snapshot\\) holds the migration lock: PostgreSQL backend pid ${other.pid} \\(application "another-bai-migrate" from 127\\.0\\.0\\.1\\), connected for \\d+ s; nothing was deleted, the next run clears the history$`,
        ),
      );
      expect(await snapshotState(admin(), deployment)).toEqual(before);
    } finally {
      await other.release();
    }
    // Free again: the same command clears.
    const { report } = await runEngine({ command: 'clear-history', 'manager-config': toml, retention: '30d' });
    expect(report.error).toBeUndefined();
    expect(report.history?.kernels).toBe(40 - 29);
  });

  it('snapshot waits for the lock and writes nothing before it has it; with a short lock-timeout it names the holder', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const file = join(tempDir(), 'snapshot.jsonl.gz');
    const other = await holdLock(deployment);
    let released = false;
    try {
      const refused = await runEngine({ command: 'snapshot', 'manager-config': toml, 'snapshot-file': file, 'lock-timeout': '1' });
      expect(refused.report.outcome).toBe('failure');
      expect(refused.report.error).toMatch(
        new RegExp(
          `^another migration holds the bai-migrate lock: PostgreSQL backend pid ${other.pid} \\(application "another-bai-migrate" from 127\\.0\\.0\\.1\\), connected for \\d+ s; waited 1 s \\(lock-timeout\\)$`,
        ),
      );
      expect(existsSync(file)).toBe(false);

      const run = runEngine({ command: 'snapshot', 'manager-config': toml, 'snapshot-file': file, 'lock-timeout': '30' });
      await until(async () => (await lockSessions(deployment)).length === 1);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(existsSync(file)).toBe(false);
      await other.release();
      released = true;
      const { report } = await run;
      expect(report.error).toBeUndefined();
      expect(existsSync(file)).toBe(true);
    } finally {
      if (!released) await other.release();
    }
  });
});
