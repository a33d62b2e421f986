/**
 * migrate against a seeded deployment with the manager's real alembic revision graph: every step's
 * apply and verify, the backup bundle, the dry run, a second run, and 21.03 → 22.03 in one go.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrateInputs, snapshotState, useDeployments, type TestDeployment } from '../support/deployment.js';
import { killDistWhen, runEngine } from '../support/run.js';
import { renderMarkdown } from '../../src/core/report/index.js';
import { IMAGE_COUNT, expectMigrated as expectMigratedState } from '../support/expect-migrated.js';
import pg from 'pg';
import { LOCK_KEYS } from '../../src/stores/lock.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

const expectMigrated = (deployment: TestDeployment, toml: string) => expectMigratedState(admin(), deployment, toml);

describe('migrate 21.09 → 22.03', () => {
  it('sets every keypair’s counter and zeroes only the counters of access keys no keypair has, as its dry run said', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const redis = admin().redis(0);
    // A deleted keypair's counter left at 3, one already 0, and a kernel's stat key that merely looks alike.
    await redis.mset('keypair.concurrency_used.AKGONE0000000000001', '3', 'keypair.concurrency_used.AKGONE0000000000002', '0', 'keypair.concurrency_used', '9');
    const dry = await runEngine({ ...migrateInputs(toml), 'dry-run': 'true' });
    expect(dry.report.entries.find((e) => e.phase === 'apply' && e.step === 'concurrency-to-redis')?.detail).toMatch(/^dry run: would set 11 counter\(s\) and zero 1 stale counter\(s\) in Redis DB 0/);
    const { report } = await runEngine(migrateInputs(toml));
    expect(report.error).toBeUndefined();
    expect(report.entries.find((e) => e.phase === 'apply' && e.step === 'concurrency-to-redis')?.detail).toBe('set 11 counter(s) from the kernels table, zeroed 1 stale counter(s)');
    expect(await redis.mget('keypair.concurrency_used.AKGONE0000000000001', 'keypair.concurrency_used.AKGONE0000000000002', 'keypair.concurrency_used')).toEqual(['0', '0', '9']);
    expect(report.entries.filter((e) => e.phase === 'verify' && e.step === 'concurrency-to-redis').map((e) => e.status)).toEqual(['ok']);
    // A stale counter set again after the run (by hand): verify, a new run, finds it.
    await redis.set('keypair.concurrency_used.AKGONE0000000000001', '2');
    const verified = await runEngine({ ...migrateInputs(toml), command: 'verify' });
    expect(verified.report.entries.find((e) => e.phase === 'verify' && e.step === 'concurrency-to-redis' && e.status === 'failed')?.detail).toBe('1 counter(s) of unknown access keys are not 0');
  });

  it('applies and verifies every step, and writes a backup bundle first', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const original = readFileSync(toml, 'utf8');
    const inputs = migrateInputs(toml);
    const { report } = await runEngine(inputs);
    expect(report.error).toBeUndefined();
    expect(report.outcome).toBe('success');
    const applied = report.entries.filter((e) => e.phase === 'apply' && e.step !== 'backup');
    expect(applied.map((e) => [e.step, e.status])).toEqual([
      ['schema', 'changed'],
      ['concurrency-to-redis', 'changed'],
      ['last-stat-sync', 'changed'],
      ['redis-persistence', 'changed'],
      ['image-metadata', 'changed'],
      ['image-rescan', 'skipped'],
      ['prune-etcd-images', 'skipped'],
      ['distributed-lock', 'changed'],
      // The run's last hop ends with the manager's start, which only a rehearsal or start-manager asks for.
      ['manager-starts', 'skipped'],
    ]);
    expect(report.entries.filter((e) => e.phase === 'verify' && (e.status === 'failed' || e.status === 'warning'))).toEqual([]);
    await expectMigrated(deployment, toml);
    // The downtime, measured: the backup, then every change step in the order it ran, back to back.
    const timings = report.timings!;
    expect(timings.map((t) => t.step)).toEqual(['backup', ...applied.map((e) => e.step)]);
    for (const [before, after] of timings.slice(0, -1).map((t, i) => [t, timings[i + 1]!] as const)) {
      expect(after.startMs).toBeGreaterThanOrEqual(before.startMs + before.applyMs + before.verifyMs);
    }
    expect(timings.every((t) => t.applyMs > 0 && t.verifyMs >= 0)).toBe(true);
    const summary = renderMarkdown(report);
    expect(summary).toContain('| 21.09 → 22.03 | schema |');
    expect(summary).toMatch(/```mermaid\ngantt\n[^`]*section 21\.09 → 22\.03\n {2}schema \([^)]+\) : \d+, \d+\n {2}concurrency-to-redis /);

    const bundle = report.backup!;
    expect(bundle.startsWith(inputs['backup-dir'])).toBe(true);
    expect(readdirSync(bundle).sort()).toEqual(['etcd-images.json', 'keypairs.concurrency_used.json', 'manager.toml', 'redis-config.json']);
    const saved = JSON.parse(readFileSync(join(bundle, 'keypairs.concurrency_used.json'), 'utf8')) as Array<{ access_key: string; concurrency_used: number }>;
    expect(saved).toHaveLength(12);
    expect(saved.find((r) => r.access_key === 'AKTEST00000000000002')?.concurrency_used).toBe(2);
    expect(readFileSync(join(bundle, 'manager.toml'), 'utf8')).toBe(original);
    expect(JSON.parse(readFileSync(join(bundle, 'redis-config.json'), 'utf8')).config.appendonly).toBe('no');
  });

  it('a second run finds every step done and changes nothing', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    expect((await runEngine(migrateInputs(toml))).report.outcome).toBe('success');
    const before = await snapshotState(admin(), deployment);
    const tomlBefore = readFileSync(toml, 'utf8');
    // Planned from where the database is, with the hop finished: nothing to do.
    const again = await runEngine(migrateInputs(toml));
    expect(again.report.plan).toEqual([]);
    expect(again.report.entries.find((e) => e.step === 'hops')?.detail).toBe('already at 22.03.14: nothing to migrate');
    // The hop named again: every step finds its work done.
    const { report } = await runEngine(migrateInputs(toml, { 'from-version': '21.09' }));
    expect(report.error).toBeUndefined();
    expect(report.entries.filter((e) => e.phase === 'apply').map((e) => e.status)).not.toContain('changed');
    expect(report.entries.find((e) => e.step === 'schema' && e.phase === 'apply')?.detail).toBe('already at 81c264528f20 (22.03.14)');
    expect(await snapshotState(admin(), deployment)).toEqual(before);
    expect(readFileSync(toml, 'utf8')).toBe(tomlBefore);
  });

  it('dry-run writes nothing anywhere and shows the offline SQL', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const tomlBefore = readFileSync(toml, 'utf8');
    const before = await snapshotState(admin(), deployment);
    const inputs = migrateInputs(toml, { 'dry-run': 'true' });
    const { report } = await runEngine(inputs);
    expect(report.error).toBeUndefined();
    expect(report.outcome).toBe('success');
    expect(await snapshotState(admin(), deployment)).toEqual(before);
    expect(readFileSync(toml, 'utf8')).toBe(tomlBefore);
    expect(existsSync(inputs['backup-dir']) && readdirSync(inputs['backup-dir'])).toEqual([]);
    const sql = report.attachments.find((a) => a.name === 'alembic upgrade 60a1effa77d2:81c264528f20 --sql')?.content;
    expect(sql).toContain('ALTER TABLE keypairs DROP COLUMN concurrency_used;');
    expect(sql).toContain("UPDATE alembic_version SET version_num='81c264528f20'");
    expect(report.entries.filter((e) => e.phase === 'apply').map((e) => [e.step, e.status])).toEqual([
      ['schema', 'skipped'],
      ['concurrency-to-redis', 'skipped'],
      ['last-stat-sync', 'skipped'],
      ['redis-persistence', 'skipped'],
      ['image-metadata', 'skipped'],
      ['image-rescan', 'skipped'],
      ['prune-etcd-images', 'skipped'],
      ['distributed-lock', 'skipped'],
      ['manager-starts', 'skipped'],
    ]);
    expect(report.entries.find((e) => e.step === 'image-metadata' && e.phase === 'apply')?.detail).toBe(`dry run: would write ${IMAGE_COUNT} image row(s) and 3 alias row(s) into PostgreSQL`);
  });
});

describe('pruning the old etcd image tree', () => {
  it('happens only when asked, after the import verifies, with every key in the backup bundle', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const prefix = `/sorna/${deployment.namespace}/images/`;
    const before = await admin().etcd.getAll().prefix(prefix).strings();
    const inputs = migrateInputs(toml, { 'prune-etcd-images': 'true' });
    const { report } = await runEngine(inputs);
    expect(report.error).toBeUndefined();
    expect(report.entries.find((e) => e.step === 'prune-etcd-images' && e.phase === 'apply')).toMatchObject({
      status: 'changed',
      detail: `deleted ${Object.keys(before).length} key(s) under etcd images/ (they are in the backup bundle)`,
    });
    expect(await admin().etcd.getAll().prefix(prefix).keys()).toEqual([]);
    expect(Number((await deployment.pg.query('SELECT count(*) FROM images')).rows[0].count)).toBe(IMAGE_COUNT);
    const saved = JSON.parse(readFileSync(join(report.backup!, 'etcd-images.json'), 'utf8'));
    expect(Object.keys(saved).length).toBe(Object.keys(before).length);
    // Once pruned, a second run finds nothing left to do.
    const again = await runEngine({ ...inputs, 'from-version': '21.09' });
    expect(again.report.error).toBeUndefined();
    expect(again.report.entries.find((e) => e.step === 'prune-etcd-images' && e.phase === 'apply')?.detail).toBe('etcd images/ is already empty');
  });
});

describe('migrate 21.03 → 22.03', () => {
  it('goes through 21.09 in one run', async () => {
    const deployment = await deploy({ schema: '518ecf41f567' });
    const toml = deployment.writeManagerToml();
    const { report } = await runEngine(migrateInputs(toml, { 'from-version': '21.03' }));
    expect(report.error).toBeUndefined();
    expect(report.entries.filter((e) => e.step === 'schema' && e.phase === 'apply').map((e) => [e.hop, e.detail])).toEqual([
      ['21.03 → 21.09', 'alembic upgrade 518ecf41f567 → 60a1effa77d2 (21.09.9)'],
      ['21.09 → 22.03', 'alembic upgrade 60a1effa77d2 → 81c264528f20 (22.03.14)'],
    ]);
    await expectMigrated(deployment, toml);
  });
});

describe('migrate under faults', () => {
  const counters = async () => (await admin().redis(0).keys('keypair.concurrency_used.*')).length;
  const images = async (d: TestDeployment) => Number((await d.pg.query('SELECT count(*) FROM images')).rows[0].count);
  it.each([
    ['after the schema step', /changed: 21\.09 → 22\.03 schema/, async () => expect(await counters()).not.toBe(12)],
    ['after the Redis persistence step', /changed: 21\.09 → 22\.03 redis-persistence/, async (d: TestDeployment) => expect(await images(d)).toBe(0)],
  ])('a run killed %s is completed by the next run', async (_, marker, notYetDone) => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const inputs = migrateInputs(toml);
    const args = Object.entries(inputs).flatMap(([k, v]) => (k === 'command' ? [v] : [`--${k}`, v]));
    const { killed, stderr } = await killDistWhen(args, {}, marker);
    expect(killed, stderr).toBe(true);
    // Killed part-way: the later steps have not run.
    await notYetDone(deployment);
    const { report } = await runEngine(inputs);
    expect(report.error).toBeUndefined();
    await expectMigrated(deployment, toml);
  });

  it('a run killed while alembic runs takes its alembic with it, and the next run completes', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const inputs = migrateInputs(toml);
    const args = Object.entries(inputs).flatMap(([k, v]) => (k === 'command' ? [v] : [`--${k}`, v]));
    const sessions = async (query = '%') => (await deployment.pg.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'bai-migrate-alembic' AND query LIKE $1`, [query])).rowCount;
    // Killed while alembic is inside its transaction, half-way through the 22.03 revisions.
    await deployment.pg.query(`ALTER DATABASE ${deployment.database} SET bai_fixture.slow_seconds = '3'`);
    const { killed, stderr } = await killDistWhen(args, {}, async () => (await sessions('SELECT pg_sleep%')) === 1);
    await deployment.pg.query(`ALTER DATABASE ${deployment.database} RESET bai_fixture.slow_seconds`);
    expect(killed, stderr).toBe(true);
    // The watchdog stops alembic within moments; PostgreSQL rolls its transaction back.
    for (let i = 0; i < 50 && (await sessions()) !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await sessions()).toBe(0);
    await new Promise((r) => setTimeout(r, 3_500)); // longer than the migration would have slept
    expect((await deployment.pg.query('SELECT version_num FROM alembic_version')).rows).toEqual([{ version_num: '60a1effa77d2' }]);
    const { report } = await runEngine(inputs);
    expect(report.error).toBeUndefined();
    await expectMigrated(deployment, toml);
  });

  it('a failing step stops the run, says what was and was not done, and leaves no half-applied step', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const inputs = migrateInputs(toml);
    // Bring the schema to 22.03 first, then make every insert into images fail mid-transaction.
    expect((await runEngine({ ...inputs, 'lock-backend': '', 'periodic-sync-stats': '' })).report.outcome).toBe('success');
    await deployment.pg.query('DELETE FROM image_aliases; DELETE FROM images');
    await deployment.pg.query(`CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN
      IF (SELECT count(*) FROM images) >= 2 THEN RAISE EXCEPTION 'disk full (simulated)'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
    await deployment.pg.query('CREATE TRIGGER refuse BEFORE INSERT ON images FOR EACH ROW EXECUTE FUNCTION refuse()');
    // The hop is named: a finished hop is not planned again from a database at its head.
    const { report } = await runEngine({ ...inputs, 'from-version': '21.09' });
    expect(report.outcome).toBe('failure');
    expect(report.error).toContain('21.09 → 22.03 image-metadata failed: Image metadata from etcd to PostgreSQL: disk full (simulated)');
    expect(report.error).toContain('done: 21.09 → 22.03 schema, 21.09 → 22.03 concurrency-to-redis, 21.09 → 22.03 last-stat-sync, 21.09 → 22.03 redis-persistence');
    expect(report.error).toContain('not done: 21.09 → 22.03 image-rescan, 21.09 → 22.03 prune-etcd-images, 21.09 → 22.03 distributed-lock');
    // The import was one transaction: none of its rows stayed. The later step did not run.
    expect((await deployment.pg.query('SELECT count(*) FROM images')).rows[0].count).toBe('0');
    expect(readFileSync(toml, 'utf8')).not.toContain('distributed-lock = "etcd"');
    await deployment.pg.query('DROP TRIGGER refuse ON images');
    // The failed run left its hop unfinished in the journal: a run without from-version takes it on.
    expect((await runEngine(inputs)).report.error).toBeUndefined();
    await expectMigrated(deployment, toml);
  });

  it('alembic gives up on a table lock after alembic-lock-timeout, names the lock wait, and the schema stays as it was', async () => {
    const deployment = await deploy();
    // Revision 81c264528f20 adds a column to keypair_resource_policies, which nothing before it reads.
    const blocker = new pg.Client({ ...info.postgres, database: deployment.database, application_name: 'holds-a-table' });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE keypair_resource_policies IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const { report } = await runEngine(migrateInputs(deployment.writeManagerToml(), { 'alembic-lock-timeout': '1' }));
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(report.outcome).toBe('failure');
      expect(report.error).toMatch(
        /^21\.09 → 22\.03 schema failed: Database schema \(alembic upgrade\): alembic upgrade 81c264528f20 failed \(exit 1\): .*canceling statement due to lock timeout.*; a table lock it needed was held by another session for longer than alembic-lock-timeout \(1 s\): find the holder in pg_locks, end it, and run migrate again\n/,
      );
      // alembic's one transaction was rolled back: still 21.09.
      expect((await deployment.pg.query('SELECT version_num FROM alembic_version')).rows).toEqual([{ version_num: '60a1effa77d2' }]);
    } finally {
      await blocker.end();
    }
  });

  it('a second run at once stops quickly and names the holder of the lock', async () => {
    const deployment = await deploy();
    const holder = new pg.Client({ ...info.postgres, database: deployment.database, application_name: 'another-bai-migrate' });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1, $2)', [...LOCK_KEYS]);
      const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const before = await snapshotState(admin(), deployment);
      const started = Date.now();
      const { report } = await runEngine(migrateInputs(deployment.writeManagerToml(), { 'lock-timeout': '1' }));
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(report.error).toMatch(
        new RegExp(
          `another migration holds the bai-migrate lock: PostgreSQL backend pid ${rows[0]!.pid} \\(application "another-bai-migrate" from 127\\.0\\.0\\.1\\), connected for \\d+ s; waited 1 s`,
        ),
      );
      expect(await snapshotState(admin(), deployment)).toEqual(before);
    } finally {
      await holder.end();
    }
  });
});
