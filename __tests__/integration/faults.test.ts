/**
 * Faults: PostgreSQL, Redis or etcd crashes (docker kill) or freezes (docker pause) in the middle
 * of a migrate step or of clear-history. The run ends with a message that names the server and
 * the step, no step is left half applied, and once the server is back a re-run ends as a clean
 * run does. The servers are this file's own (support/faults.ts), so stopping them disturbs no
 * other test.
 *
 * Where a step is too quick to be caught inside, the server is stopped as the step starts (the
 * engine's log says the step before it is done), and the test's name says so.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connectAdmin, createDeployment, migrateInputs, type Admin, type SeedOptions, type TestDeployment } from '../support/deployment.js';
import { reconnectPostgres, renewAdmin, startFaultServers, TriggerLogger, whenProbe, type FaultServers } from '../support/faults.js';
import { expectMigrated } from '../support/expect-migrated.js';
import { runEngine } from '../support/run.js';
import type { Server } from '../../src/stores/deployment.js';

/** Seconds; small so that frozen-server tests end quickly. */
const CONNECT_TIMEOUT = 2;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-/;

let servers: FaultServers;
let admin: Admin;

beforeAll(async () => {
  servers = await startFaultServers();
  admin = await connectAdmin(servers.info);
}, 180_000);

afterEach(async () => {
  await servers.restoreAll();
  await renewAdmin(admin, servers.info);
});

afterAll(async () => {
  await admin?.close().catch(() => undefined);
  servers?.remove();
});

/**
 * A deployment on this file's servers; they are removed with everything on them after the file.
 * Redis is a 21.09 one that comes back empty from a crash: AOF off in its config file too (an
 * earlier test's migration rewrote it), and an empty snapshot on disk (an earlier clear-history
 * asked for BGSAVE).
 */
async function deploy(seed: SeedOptions = {}): Promise<TestDeployment> {
  const redis = admin.redis(0);
  await redis.flushall();
  await redis.config('SET', 'appendonly', 'no');
  await redis.config('REWRITE');
  await untilRedisPersisted();
  await redis.save();
  return createDeployment(admin, servers.info, seed);
}

/** Until Redis has no snapshot or AOF rewrite running or scheduled (SAVE refuses to run beside one). */
async function untilRedisPersisted(): Promise<void> {
  while (/(rdb_bgsave|aof_rewrite)_(in_progress|scheduled):1/.test(await admin.redis(0).info('persistence'))) await new Promise((r) => setTimeout(r, 50));
}

/** Starts `server` again; a PostgreSQL restart ends every connection, so the test's own are renewed. */
async function bringBack(server: Server, deployment: TestDeployment): Promise<void> {
  await servers.start(server);
  if (server === 'postgres') {
    await renewAdmin(admin, servers.info);
    deployment.pg = await reconnectPostgres(servers.info, deployment.database);
  }
}

/** How the run names each server of a deployment, as the connect phase does. */
function named(server: Server, deployment: TestDeployment): string {
  const { postgres, redis, etcd } = servers.info;
  if (server === 'postgres') return `PostgreSQL at ${postgres.host}:${postgres.port}/${deployment.database} (from manager.toml`;
  if (server === 'redis') return `Redis at ${redis.host}:${redis.port} (from etcd config/redis/addr) is unreachable`;
  return `etcd at ${etcd.host}:${etcd.port} (from manager.toml`;
}

const inputsFor = (toml: string) => migrateInputs(toml, { 'connect-timeout': String(CONNECT_TIMEOUT) });
const revision = async (d: TestDeployment) => (await d.pg.query('SELECT version_num FROM alembic_version')).rows.map((r) => r.version_num);
const imageRows = async (d: TestDeployment) => Number((await d.pg.query('SELECT count(*) FROM images')).rows[0].count);
const counters = async () => (await admin.redis(0).keys('keypair.concurrency_used.*')).length;

describe('migrate with a server killed mid-run', () => {
  it("PostgreSQL killed inside the schema step, alembic's transaction open: rolled back, named, completed by a re-run", async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const inputs = inputsFor(toml);
    // Revision d727b5da20e6 sleeps inside alembic's one transaction, half-way through the 22.03 revisions.
    await deployment.pg.query(`ALTER DATABASE ${deployment.database} SET bai_fixture.slow_seconds = '5'`);
    const run = runEngine(inputs);
    const inAlembic = async () => (await admin.pg.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'bai-migrate-alembic' AND query LIKE 'SELECT pg_sleep%'`)).rowCount === 1;
    expect(await whenProbe(run, inAlembic, () => servers.kill('postgres'))).toBe(true);
    const { report } = await run;
    expect(report.outcome).toBe('failure');
    expect(report.errorCode).toBe('checks-failed');
    expect(report.error).toContain(`21.09 → 22.03 schema failed: Database schema (alembic upgrade): ${named('postgres', deployment)}`);
    expect(report.error).toMatch(/is unreachable: .*ECONNREFUSED.*; it stopped with: alembic upgrade 81c264528f20 failed/);
    expect(report.error).toContain('done: nothing\nnot done: 21.09 → 22.03 concurrency-to-redis');

    await bringBack('postgres', deployment);
    await deployment.pg.query(`ALTER DATABASE ${deployment.database} RESET bai_fixture.slow_seconds`);
    // alembic's transaction died with the server: still 21.09, the column it drops is still there.
    expect(await revision(deployment)).toEqual(['60a1effa77d2']);
    expect((await deployment.pg.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'keypairs' AND column_name = 'concurrency_used'`)).rowCount).toBe(1);
    const again = await runEngine(inputs);
    expect(again.report.error).toBeUndefined();
    await expectMigrated(admin, deployment, toml);
  });

  it('Redis killed as concurrency-to-redis starts (a 21.09 Redis without AOF comes back empty): named, completed by a re-run', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const inputs = inputsFor(toml);
    const log = new TriggerLogger(/^changed: 21\.09 → 22\.03 schema:/, () => servers.kill('redis'));
    const { report } = await runEngine(inputs, log);
    expect(log.fired).toBe(true);
    expect(report.outcome).toBe('failure');
    expect(report.error).toContain(`21.09 → 22.03 concurrency-to-redis failed: Keypair concurrency moves to Redis: ${named('redis', deployment)}`);
    expect(report.error).toContain('done: 21.09 → 22.03 schema\nnot done: 21.09 → 22.03 last-stat-sync');

    await bringBack('redis', deployment);
    // The schema step is whole; no counter was written, and AOF is still off.
    expect(await revision(deployment)).toEqual(['81c264528f20']);
    expect(await counters()).toBe(0);
    expect(await admin.redis(0).config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
    const again = await runEngine(inputs);
    expect(again.report.error).toBeUndefined();
    await expectMigrated(admin, deployment, toml);
  });

  it('etcd killed as image-metadata starts: nothing imported, named, completed by a re-run', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const inputs = inputsFor(toml);
    const log = new TriggerLogger(/^changed: 21\.09 → 22\.03 redis-persistence:/, () => servers.kill('etcd'));
    const { report } = await runEngine(inputs, log);
    expect(log.fired).toBe(true);
    expect(report.outcome).toBe('failure');
    expect(report.error).toContain(`21.09 → 22.03 image-metadata failed: Image metadata from etcd to PostgreSQL: ${named('etcd', deployment)}`);
    expect(report.error).toContain('not done: 21.09 → 22.03 image-rescan, 21.09 → 22.03 prune-etcd-images, 21.09 → 22.03 distributed-lock');

    await bringBack('etcd', deployment);
    expect(await imageRows(deployment)).toBe(0);
    expect(await counters()).toBe(12);
    const again = await runEngine(inputs);
    expect(again.report.error).toBeUndefined();
    await expectMigrated(admin, deployment, toml);
  });

  it("PostgreSQL killed while image-metadata's transaction is open: rolled back, named, completed by a re-run", async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const inputs = inputsFor(toml);
    // Holds the import inside its transaction: images are inserted, the aliases wait for this lock.
    const blocker = await reconnectPostgres(servers.info, deployment.database);
    const log = new TriggerLogger(/^changed: 21\.09 → 22\.03 schema:/, () => void blocker.query('BEGIN; LOCK TABLE image_aliases IN EXCLUSIVE MODE').catch(() => undefined));
    const run = runEngine(inputs, log);
    const importWaits = async () =>
      (
        await admin.pg.query(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'bai-migrate' AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO image_aliases%'`, [
          deployment.database,
        ])
      ).rowCount === 1;
    expect(await whenProbe(run, importWaits, () => servers.kill('postgres'))).toBe(true);
    const { report } = await run;
    expect(report.outcome).toBe('failure');
    expect(report.error).toContain(`21.09 → 22.03 image-metadata failed: Image metadata from etcd to PostgreSQL: ${named('postgres', deployment)}`);
    expect(report.error).toContain('is unreachable');

    await bringBack('postgres', deployment);
    // The import was one transaction: none of its image rows stayed.
    expect(await imageRows(deployment)).toBe(0);
    const again = await runEngine(inputs);
    expect(again.report.error).toBeUndefined();
    await expectMigrated(admin, deployment, toml);
  });
});

describe('migrate with a server frozen (docker pause): no hang', () => {
  it('Redis frozen as redis-persistence starts: the run ends within a few connect timeouts and names Redis; completed after it thaws', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const inputs = inputsFor(toml);
    let frozenAt = 0;
    const log = new TriggerLogger(/^changed: 21\.09 → 22\.03 last-stat-sync:/, () => {
      servers.pause('redis');
      frozenAt = Date.now();
    });
    const { report } = await runEngine(inputs, log);
    const elapsed = Date.now() - frozenAt;
    expect(log.fired).toBe(true);
    // A Redis command waits one connect timeout (commandTimeout), the probe one more, closing the clients at most one more.
    expect(elapsed).toBeLessThan(3 * CONNECT_TIMEOUT * 1000 + 3_000);
    expect(report.outcome).toBe('failure');
    expect(report.error).toContain(
      `21.09 → 22.03 redis-persistence failed: Redis persistence (AOF): Redis at ${servers.info.redis.host}:${servers.info.redis.port} (from etcd config/redis/addr) is unreachable`,
    );

    await servers.unpause('redis');
    const again = await runEngine(inputs);
    expect(again.report.error).toBeUndefined();
    await expectMigrated(admin, deployment, toml);
  });

  it('etcd frozen as image-metadata starts: the run ends within a few connect timeouts and names etcd; completed after it thaws', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const inputs = inputsFor(toml);
    let frozenAt = 0;
    const log = new TriggerLogger(/^changed: 21\.09 → 22\.03 redis-persistence:/, () => {
      servers.pause('etcd');
      frozenAt = Date.now();
    });
    const { report } = await runEngine(inputs, log);
    const elapsed = Date.now() - frozenAt;
    expect(log.fired).toBe(true);
    // Every etcd call is bounded by one connect timeout, the probe by one more.
    expect(elapsed).toBeLessThan(2 * CONNECT_TIMEOUT * 1000 + 3_000);
    expect(report.outcome).toBe('failure');
    expect(report.error).toContain(`21.09 → 22.03 image-metadata failed: Image metadata from etcd to PostgreSQL: ${named('etcd', deployment)}`);
    expect(report.error).toContain('is unreachable');

    await servers.unpause('etcd');
    expect(await imageRows(deployment)).toBe(0);
    const again = await runEngine(inputs);
    expect(again.report.error).toBeUndefined();
    await expectMigrated(admin, deployment, toml);
  });
});

describe('migrate with PostgreSQL frozen (docker pause): no hang', () => {
  it('PostgreSQL frozen as image-metadata starts: the run, and the release of its lock, end within a bound and name PostgreSQL', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const inputs = inputsFor(toml);
    let frozenAt = 0;
    const log = new TriggerLogger(/^changed: 21\.09 → 22\.03 redis-persistence:/, () => {
      servers.pause('postgres');
      frozenAt = Date.now();
    });
    const { report } = await runEngine(inputs, log);
    const elapsed = Date.now() - frozenAt;
    expect(log.fired).toBe(true);
    // The check that the lock is still held waits one connect timeout, the probe one, the lock's
    // unlock and close one each, closing the run's connection one more.
    expect(elapsed).toBeLessThan((1 + 1 + 2 + 1) * CONNECT_TIMEOUT * 1000 + 3_000);
    expect(report.outcome).toBe('failure');
    expect(report.errorCode).toBe('unreachable');
    // image-metadata did not start: the lock could not be confirmed before it.
    expect(report.error).toContain(`${named('postgres', deployment)}`);
    expect(report.error).toContain(
      `the migration lock was lost (its connection did not answer within ${CONNECT_TIMEOUT} s); no step ran after that; run migrate again\ndone: 21.09 → 22.03 schema, 21.09 → 22.03 concurrency-to-redis, 21.09 → 22.03 last-stat-sync, 21.09 → 22.03 redis-persistence\n`,
    );

    await servers.unpause('postgres');
    expect(await imageRows(deployment)).toBe(0);
    const again = await runEngine(inputs);
    expect(again.report.error).toBeUndefined();
    await expectMigrated(admin, deployment, toml);
  }, 90_000);
});

/** A 22.03 deployment with 3000 kernels of 90 days ago beside the seeded 40, and every kernel's stat key. */
async function deployHistory(): Promise<TestDeployment> {
  const deployment = await deploy({ schema: '81c264528f20' });
  await deployment.pg.query(
    `INSERT INTO kernels (id, session_id, access_key, status, architecture, terminated_at)
     SELECT gen_random_uuid(), gen_random_uuid(), 'AKTEST00000000000001', 'TERMINATED', 'x86_64', now() - interval '90 days' FROM generate_series(1, 3000)`,
  );
  const stats = admin.redis(0).pipeline();
  for (const { id } of (await deployment.pg.query<{ id: string }>('SELECT id FROM kernels')).rows) stats.set(id, '{}');
  await stats.exec();
  return deployment;
}

const historyInputs = (deployment: TestDeployment, extra: Record<string, string> = {}) => ({
  command: 'clear-history',
  'manager-config': deployment.writeManagerToml(),
  retention: '30d',
  'batch-size': '10',
  'connect-timeout': String(CONNECT_TIMEOUT),
  ...extra,
});

/** The end state of one clean clear-history with retention 30d: the last 30 days' kernels and exactly their stat keys. */
async function expectHistoryCleared(deployment: TestDeployment): Promise<void> {
  const { rows } = await deployment.pg.query<{ id: string; terminated_at: Date }>('SELECT id, terminated_at FROM kernels ORDER BY id');
  expect(rows).toHaveLength(29);
  expect(rows.every((k) => Date.now() - k.terminated_at.getTime() < 30 * 86_400_000)).toBe(true);
  const keys = (await admin.redis(0).keys('*')).filter((k) => UUID.test(k)).sort();
  expect(keys).toEqual(rows.map((k) => k.id).sort());
}

const kernelCount = async (client: pg.Client) => Number((await client.query('SELECT count(*) FROM kernels')).rows[0].count);

describe('clear-history with a server killed mid-run', () => {
  it('PostgreSQL killed between batches: named, deleted batches stay deleted, a re-run ends as one clean run', async () => {
    const deployment = await deployHistory();
    const initial = await kernelCount(deployment.pg);
    const inputs = historyInputs(deployment);
    const run = runEngine(inputs);
    expect(
      await whenProbe(
        run,
        async () => (await kernelCount(deployment.pg)) < initial,
        () => servers.kill('postgres'),
      ),
    ).toBe(true);
    const { report } = await run;
    expect(report.outcome).toBe('failure');
    expect(report.errorCode).toBe('unreachable');
    expect(report.error).toMatch(/^clear-history stopped: PostgreSQL at /);
    expect(report.error).toContain(`${named('postgres', deployment)}`);
    expect(report.error).toContain('is unreachable');

    await bringBack('postgres', deployment);
    const midway = await kernelCount(deployment.pg);
    expect(midway).toBeLessThan(initial);
    expect(midway).toBeGreaterThan(29);
    // Every batch is one statement: no kernel younger than the cutoff went, whatever was cut short.
    expect(Number((await deployment.pg.query(`SELECT count(*) FROM kernels WHERE terminated_at > now() - interval '30 days'`)).rows[0].count)).toBe(29);
    const again = await runEngine(inputs);
    expect(again.report.error).toBeUndefined();
    await expectHistoryCleared(deployment);
  });

  it('Redis (with AOF, as after the migration) killed mid-run: the database part finishes, Redis is named, a re-run with sweep-orphaned-stat-keys removes its keys', async () => {
    const deployment = await deployHistory();
    await admin.redis(0).config('SET', 'appendonly', 'yes');
    await admin.redis(0).config('REWRITE');
    await untilRedisPersisted();
    const initial = await kernelCount(deployment.pg);
    const inputs = historyInputs(deployment);
    const run = runEngine(inputs);
    expect(
      await whenProbe(
        run,
        async () => (await kernelCount(deployment.pg)) < initial,
        () => servers.kill('redis'),
      ),
    ).toBe(true);
    const { report } = await run;
    expect(report.outcome).toBe('failure');
    expect(report.error).toMatch(
      /^clear-history: Redis part not done \(.+\): stat keys of deleted kernels stay in Redis DB 0; a run with sweep-orphaned-stat-keys: true removes them once Redis is back$/,
    );
    expect(await kernelCount(deployment.pg)).toBe(29);

    await bringBack('redis', deployment);
    // AOF kept the stat keys the run could not remove.
    expect((await admin.redis(0).keys('*')).filter((k) => UUID.test(k)).length).toBeGreaterThan(29);
    const again = await runEngine({ ...inputs, 'sweep-orphaned-stat-keys': 'true' });
    expect(again.report.error).toBeUndefined();
    await expectHistoryCleared(deployment);
  });
});

describe('clear-history with a server frozen (docker pause): no hang', () => {
  it('PostgreSQL frozen between batches: the run ends within the query timeout and names PostgreSQL', async () => {
    const deployment = await deployHistory();
    const initial = await kernelCount(deployment.pg);
    const inputs = historyInputs(deployment);
    let frozenAt = 0;
    const run = runEngine(inputs);
    expect(
      await whenProbe(
        run,
        async () => (await kernelCount(deployment.pg)) < initial,
        () => {
          servers.pause('postgres');
          frozenAt = Date.now();
        },
      ),
    ).toBe(true);
    const { report } = await run;
    const elapsed = Date.now() - frozenAt;
    // A statement waits at most query_timeout (6 connect timeouts), the probe one more, closing the connections one more.
    expect(elapsed).toBeLessThan((6 + 1 + 1) * CONNECT_TIMEOUT * 1000 + 3_000);
    expect(report.outcome).toBe('failure');
    expect(report.error).toMatch(/^clear-history stopped: PostgreSQL at /);
    expect(report.error).toContain('is unreachable');

    await servers.unpause('postgres');
    // The batch in flight when PostgreSQL froze may have committed without its reply reaching the
    // run, so its stat keys were never unlinked: the sweep is what removes them.
    const again = await runEngine({ ...inputs, 'sweep-orphaned-stat-keys': 'true' });
    expect(again.report.error).toBeUndefined();
    await expectHistoryCleared(deployment);
  });
});
