/**
 * clear-history on real servers: the cutoff boundary, Redis keys of kept kernels, the dry run, a
 * run killed mid-way, and a Redis that is down.
 */
import { describe, expect, it } from 'vitest';
import { snapshotState, useDeployments, type TestDeployment } from '../support/deployment.js';
import { killDistWhen, runEngine } from '../support/run.js';
import { retentionInterval } from '../../src/commands/clear-history.js';
import { parseRetention } from '../../src/releases/retention.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-/;

function inputs(deployment: TestDeployment, extra: Record<string, string> = {}) {
  return { command: 'clear-history', 'manager-config': deployment.writeManagerToml(), retention: '30d', ...extra };
}

/** Kernel ids with their terminated_at, and every key of Redis DB 0. */
async function state(deployment: TestDeployment) {
  const { rows } = await deployment.pg.query<{ id: string; terminated_at: Date }>('SELECT id, terminated_at FROM kernels ORDER BY id');
  return { kernels: rows, redisKeys: (await admin().redis(0).keys('*')).sort() };
}

describe('retention-policies on a release whose manager has none', () => {
  it('refuses retention-policies on a release before 26.8 (its manager has no policies) before deleting anything', async () => {
    const deployment = await deploy({ schema: '81c264528f20' });
    await deployment.pg.query(
      `INSERT INTO kernels (id, session_id, access_key, status, architecture, terminated_at)
       SELECT gen_random_uuid(), gen_random_uuid(), 'AKTEST00000000000001', 'TERMINATED', 'x86_64', now() - interval '100 days' FROM generate_series(1, 3)`,
    );
    const before = await state(deployment);
    const { report } = await runEngine(inputs(deployment, { 'retention-policies': 'sessions=90d' }));
    expect(report.error).toMatch(
      /^retention-policies: this database is at revision 81c264528f20 .*, whose manager has no retention policies \(they came with 26\.8\.0: before it, clear-history deletes by retention alone\); nothing was done\. Leave retention-policies empty for this release$/,
    );
    expect(report.errorCode).toBe('invalid-input');
    expect(await state(deployment)).toEqual(before);
  });
});

describe('clear-history on a 22.03 deployment', () => {
  it('deletes exactly the kernels terminated before the cutoff, and only their Redis stat keys', async () => {
    const deployment = await deploy({ schema: '81c264528f20' });
    // Kernels every 50 ms across ±2 s around where the cutoff will fall (retention 1 h).
    await deployment.pg.query(
      `INSERT INTO kernels (id, session_id, access_key, status, architecture, terminated_at)
       SELECT gen_random_uuid(), gen_random_uuid(), 'AKTEST00000000000001', 'TERMINATED', 'x86_64', now() - interval '1 hour' + n * interval '50 ms'
       FROM generate_series(-40, 40) AS n`,
    );
    const before = await state(deployment);
    await admin().redis(0).set('i-agent-1', '{"agent":"stats"}');
    const { report } = await runEngine(inputs(deployment, { retention: '1h', 'allow-short-retention': 'true', 'batch-size': '7' }));
    expect(report.error).toBeUndefined();
    const cutoff = new Date(report.history!.cutoff);
    const expectedKept = before.kernels.filter((k) => !(k.terminated_at < cutoff));
    const after = await state(deployment);
    expect(after.kernels.map((k) => k.id)).toEqual(expectedKept.map((k) => k.id));
    expect(report.history!.kernels).toBe(before.kernels.length - expectedKept.length);
    // Both sides of the boundary were exercised.
    expect(expectedKept.some((k) => k.terminated_at.getTime() - cutoff.getTime() < 1_000)).toBe(true);
    expect(before.kernels.some((k) => k.terminated_at < cutoff && cutoff.getTime() - k.terminated_at.getTime() < 1_000)).toBe(true);
    // Stat keys: those of kept kernels stay, the rest go; other keys of DB 0 are untouched.
    const seededStatKeys = before.redisKeys.filter((k) => UUID.test(k));
    const keptIds = new Set(expectedKept.map((k) => k.id));
    expect(after.redisKeys.filter((k) => UUID.test(k))).toEqual(seededStatKeys.filter((k) => keptIds.has(k)));
    expect(after.redisKeys).toContain('i-agent-1');
    expect(after.redisKeys).toContain('keypair.concurrency_used.AKTEST00000000000001');
    expect(report.entries.map((e) => e.detail)).toContain('asked Redis for a snapshot (BGSAVE SCHEDULE)');
    const details = report.entries.filter((e) => e.step === 'clear-history').map((e) => e.detail);
    // 22.03.0's manager added the stat keys to what it deletes; 22.09.0's accepts the s unit.
    expect(details[0]).toBe('clear-history semantics of Backend.AI 22.03.0 to before 22.09.0, the release of revision 81c264528f20 (Backend.AI 22.03.0–22.03.14)');
    // 22.03's manager subtracts from its host's naive local time; the detail says where that can differ.
    expect(details[1]).toMatch(/^cutoff \S+Z = PostgreSQL's now\(\) - 1h \(this release's manager subtracts from its host's naive local time/);
    expect(report.history?.semantics).toBe('22.03.0 to before 22.09.0');
  });

  it('dry run reports what a real run then deletes, and changes nothing', async () => {
    const deployment = await deploy({ schema: '81c264528f20' });
    const before = await snapshotState(admin(), deployment);
    const dry = await runEngine(inputs(deployment, { 'dry-run': 'true' }));
    expect(dry.report.error).toBeUndefined();
    expect(await snapshotState(admin(), deployment)).toEqual(before);
    const real = await runEngine(inputs(deployment));
    expect(real.report.history).toMatchObject({ kernels: dry.report.history!.kernels, redisKeys: dry.report.history!.redisKeys });
    expect(real.report.history!.kernels).toBeGreaterThan(5);
  });

  it('a run killed mid-way, run again, ends as one clean run does', async () => {
    const deployment = await deploy({ schema: '81c264528f20' });
    await deployment.pg.query(
      `INSERT INTO kernels (id, session_id, access_key, status, architecture, terminated_at)
       SELECT gen_random_uuid(), gen_random_uuid(), 'AKTEST00000000000001', 'TERMINATED', 'x86_64', now() - interval '90 days' FROM generate_series(1, 3000)`,
    );
    const stats = admin().redis(0).pipeline();
    for (const { id } of (await deployment.pg.query<{ id: string }>('SELECT id FROM kernels')).rows) stats.set(id, '{}');
    await stats.exec();
    const count = async () => Number((await deployment.pg.query('SELECT count(*) FROM kernels')).rows[0].count);
    const initial = await count();
    const raw = inputs(deployment, { 'batch-size': '10' });
    const args = Object.entries(raw).flatMap(([k, v]) => (k === 'command' ? [v] : [`--${k}`, v]));
    const { killed } = await killDistWhen(args, {}, async () => (await count()) < initial);
    expect(killed).toBe(true);
    const midway = await count();
    expect(midway).toBeLessThan(initial);
    // The killed batch's keys may outlive its rows: the sweep is what removes them.
    const { report } = await runEngine({ ...raw, 'sweep-orphaned-stat-keys': 'true' });
    expect(report.error).toBeUndefined();
    // The end state of one clean run: kernels from the last 30 days and their stat keys, nothing else.
    const after = await state(deployment);
    expect(after.kernels.every((k) => Date.now() - k.terminated_at.getTime() < 30 * 86_400_000)).toBe(true);
    expect(after.kernels).toHaveLength(29);
    expect(after.redisKeys.filter((k) => UUID.test(k))).toEqual(after.kernels.map((k) => k.id).sort());
  });

  it('with Redis down, deletes nothing and names Redis; with redis-failure: warn, clears the database part and warns', async () => {
    const deployment = await deploy({ schema: '81c264528f20' });
    const before = await state(deployment);
    const down = 'redis://127.0.0.1:1';
    for (const dryRun of ['true', 'false']) {
      const { report } = await runEngine(inputs(deployment, { 'redis-url': down, 'connect-timeout': '2', 'dry-run': dryRun }));
      expect(report.outcome).toBe('failure');
      expect(report.errorCode).toBe('unreachable');
      expect(report.error).toMatch(
        /^Redis: Redis at 127\.0\.0\.1:1 \(from redis-url\) is unreachable: .*\nthe manager of revision 81c264528f20 .* also removes the deleted kernels' stat keys from Redis; nothing was deleted \(redis-failure: warn would clear the database part alone\)$/s,
      );
      expect(report.history).toBeUndefined();
      expect(await state(deployment)).toEqual(before);
    }
    // Warn instead of fail, when asked: the database part is done; a later run with Redis back leaves
    // the orphaned keys unless asked to sweep them, as the manager would, and then counts them apart.
    const warned = await runEngine(inputs(deployment, { 'redis-url': down, 'connect-timeout': '2', 'redis-failure': 'warn' }));
    expect(warned.report.outcome).toBe('success');
    expect(warned.report.entries.find((e) => e.step === 'clear-history' && e.status === 'warning')?.detail).toBe(
      'Redis part not done (Redis is unreachable): stat keys of deleted kernels stay in Redis DB 0; a run with sweep-orphaned-stat-keys: true removes them once Redis is back',
    );
    expect(warned.report.history!.kernels).toBeGreaterThan(5);
    expect((await state(deployment)).kernels).toHaveLength(29);
    const plain = await runEngine(inputs(deployment));
    expect(plain.report.history).toMatchObject({ kernels: 0, redisKeys: 0, sweptRedisKeys: null });
    const swept = await runEngine(inputs(deployment, { 'sweep-orphaned-stat-keys': 'true' }));
    expect(swept.report.error).toBeUndefined();
    expect(swept.report.history).toMatchObject({ kernels: 0, redisKeys: 0, sweptRedisKeys: warned.report.history!.kernels });
  });

  it('a nightly job whose etcd namespace is missing (an unset variable) deletes nothing and says so, whatever redis-failure says', async () => {
    const deployment = await deploy({ schema: '81c264528f20' });
    const before = await state(deployment);
    const { postgres, etcd } = info;
    const nightly = {
      command: 'clear-history',
      retention: '30d',
      'postgres-url': `postgresql://${encodeURIComponent(postgres.user)}:${encodeURIComponent(postgres.password)}@${postgres.host}:${postgres.port}/${deployment.database}`,
      'etcd-endpoints': `${etcd.host}:${etcd.port}`,
    };
    for (const extra of [{}, { 'redis-failure': 'warn' }]) {
      const { report } = await runEngine({ ...nightly, ...extra });
      expect(report.outcome).toBe('failure');
      expect(report.errorCode).toBe('invalid-input');
      expect(report.error).toMatch(
        /^clear-history cannot find Redis: the manager of revision 81c264528f20 \(.*\) also removes the deleted kernels' stat keys from Redis, whose address is read from etcd config\/redis, and etcd is not configured \(no etcd-namespace and no \[etcd\] namespace in manager\.toml\); nothing was deleted\. Accepted: etcd-endpoints and etcd-namespace \(or manager-config naming them\), or redis-url$/,
      );
      expect(await state(deployment)).toEqual(before);
    }
  });
});

describe('the cutoff', () => {
  it.each([
    ['1mo', '2021-03-31', '2021-02-28'],
    ['1yr', '2024-02-29', '2023-02-28'],
    ['4yr', '2024-02-29', '2020-02-29'],
    ['3mo', '2021-05-31', '2021-02-28'],
    ['0.5d', '2021-03-01', '2021-02-28 12:00'],
  ])("now - %s from %s is %s: calendar months clamp like the manager's relativedelta", async (retention, now, expected) => {
    const client = admin().pg;
    const { rows } = await client.query<{ cutoff: string }>(`SELECT to_char(($1::timestamp - $2::interval), 'YYYY-MM-DD HH24:MI') AS cutoff`, [
      now,
      retentionInterval(parseRetention(retention, { allowShort: true })),
    ]);
    expect(rows[0]?.cutoff).toBe(expected.length === 10 ? `${expected} 00:00` : expected);
  });
});

describe('clear-history on a 21.09 deployment', () => {
  it('deletes kernel rows only, as the 21.09 manager does', async () => {
    const deployment = await deploy();
    const keysBefore = await admin().redis(0).keys('*');
    const { report } = await runEngine(inputs(deployment));
    expect(report.error).toBeUndefined();
    expect(report.history!.redisKeys).toBe(0);
    expect((await admin().redis(0).keys('*')).sort()).toEqual(keysBefore.sort());
  });
});
