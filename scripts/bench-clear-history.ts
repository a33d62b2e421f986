/**
 * Benchmark of clear-history on a 22.03 deployment: N terminated kernels (BENCH_KERNELS, default
 * 200,000) and their N Redis stat keys, plus 1,000 recent kernels that stay. In one run, on the
 * same servers, each strategy starts from the same freshly seeded state:
 *   (a) the manager's: SELECT every id, one DELETE … WHERE terminated_at < cutoff, DEL in chunks of 32;
 *   (b) bai-migrate's clear-history (batches of 1,000);
 *   (c) a bare DELETE alone, the floor.
 * It prints wall time, rows/s, the longest single statement, peak heap growth and the ratios.
 */
import { performance } from 'node:perf_hooks';
import { createDeployment, withTestbed, type Admin, type TestDeployment } from '../__tests__/support/deployment.js';
import { resolveTargets } from '../src/stores/connections.js';
import { Deployment } from '../src/stores/deployment.js';
import { MemoryLogger } from '../src/core/logger.js';
import { parseOptions } from '../src/core/options.js';
import { detectPosition } from '../src/stores/schema.js';
import { clearHistory } from '../src/commands/clear-history.js';

const n = Number(process.env.BENCH_KERNELS ?? 200_000);
const RETENTION = "interval '30 days'";

async function seed(admin: Admin, deployment: TestDeployment): Promise<void> {
  const pg = deployment.pg;
  await pg.query('DELETE FROM kernels');
  await pg.query(
    `INSERT INTO kernels (id, session_id, access_key, status, architecture, terminated_at)
     SELECT gen_random_uuid(), gen_random_uuid(), 'AKTEST00000000000001', 'TERMINATED'::kernelstatus, 'x86_64', now() - interval '90 days' - n * interval '1 second'
       FROM generate_series(1, $1) AS n
     UNION ALL
     SELECT gen_random_uuid(), gen_random_uuid(), 'AKTEST00000000000001', 'TERMINATED'::kernelstatus, 'x86_64', now() - interval '1 day'
       FROM generate_series(1, 1000)`,
    [n],
  );
  await pg.query('VACUUM ANALYZE kernels');
  const redis = admin.redis(0);
  await redis.flushdb();
  const cursor = await pg.query<{ id: string }>('SELECT id::text FROM kernels');
  for (let i = 0; i < cursor.rows.length; i += 10_000) {
    const pipe = redis.pipeline();
    for (const { id } of cursor.rows.slice(i, i + 10_000)) pipe.set(id, '{"cpu_util":{"current":"12.5"}}');
    await pipe.exec();
  }
}

/**
 * Runs `body`, sampling heap use every 10 ms; returns wall time and peak growth. With `retained`,
 * each sample first collects garbage (node --expose-gc), so the peak is what the strategy really
 * holds; that slows it down, so wall times come from runs without it.
 */
async function measure(body: () => Promise<number>, retained = false): Promise<{ ms: number; longestMs: number; peakMiB: number }> {
  global.gc?.();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const sampler = setInterval(
    () => {
      if (retained) global.gc?.();
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    },
    retained ? 50 : 10,
  );
  const start = performance.now();
  const longestMs = await body();
  const ms = performance.now() - start;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  return { ms, longestMs, peakMiB: (peak - base) / 1024 / 1024 };
}

await withTestbed(async (info, admin) => {
  const seeded = await createDeployment(admin, info, { schema: '81c264528f20' });
  const pg = seeded.pg;
  const redis = admin.redis(0);
  const check = async (label: string) => {
    const left = Number((await pg.query(`SELECT count(*) FROM kernels WHERE terminated_at < now() - ${RETENTION}`)).rows[0].count);
    const kept = Number((await pg.query('SELECT count(*) FROM kernels')).rows[0].count);
    if (left !== 0 || kept !== 1000) throw new Error(`${label}: ${left} old rows left, ${kept} rows in all`);
  };

  console.log(`Seeding ${n} terminated kernels and ${n} Redis stat keys for each strategy…`);
  await seed(admin, seeded);
  const manager = await measure(async () => {
    const { rows } = await pg.query<{ id: string }>(`SELECT id::text FROM kernels WHERE terminated_at < now() - ${RETENTION}`);
    const start = performance.now();
    await pg.query(`DELETE FROM kernels WHERE terminated_at < now() - ${RETENTION}`);
    const longest = performance.now() - start;
    for (let i = 0; i < rows.length; i += 32)
      await redis
        .pipeline()
        .del(...rows.slice(i, i + 32).map((r) => r.id))
        .exec();
    return longest;
  });
  await check('manager');
  if ((await redis.dbsize()) !== 1000 + 0) throw new Error(`manager: ${await redis.dbsize()} Redis keys left`);

  const runOurs = async (retained: boolean) => {
    await seed(admin, seeded);
    const deployment = new Deployment(resolveTargets(options, {}), 30_000, () => undefined);
    await deployment.connect(['postgres', 'etcd', 'redis']);
    const position = await detectPosition(deployment.postgres);
    const measured = await measure(async () => {
      const result = await clearHistory(deployment, position, options, new MemoryLogger(), true);
      if (result.kernels !== n || result.redisKeys !== n) throw new Error(`bai-migrate deleted ${result.kernels} rows and ${result.redisKeys} keys`);
      return result.longestStatementMs;
    }, retained);
    await deployment.close();
    await check('bai-migrate');
    return measured;
  };
  const options = parseOptions({ command: 'clear-history', retention: '30d', 'manager-config': seeded.writeManagerToml() });
  const ours = await runOurs(false);
  const oursRetained = global.gc ? await runOurs(true) : undefined;

  await seed(admin, seeded);
  const bare = await measure(async () => {
    const start = performance.now();
    await pg.query(`DELETE FROM kernels WHERE terminated_at < now() - ${RETENTION}`);
    return performance.now() - start;
  });
  await check('bare DELETE');

  const line = (label: string, r: { ms: number; longestMs: number; peakMiB: number }) =>
    `  ${label.padEnd(44)} ${r.ms.toFixed(0).padStart(7)} ms ${Math.round((n / r.ms) * 1000)
      .toString()
      .padStart(9)} rows/s   longest statement ${r.longestMs.toFixed(0).padStart(6)} ms   peak heap incl. garbage +${r.peakMiB.toFixed(1)} MiB`;
  console.log(`\nclear-history of ${n} kernels (and ${n} Redis stat keys), 1,000 kept; PostgreSQL 15 and Redis 7 on this machine`);
  console.log(line('(a) manager: one DELETE, DEL in chunks of 32', manager));
  console.log(line('(b) bai-migrate clear-history', ours));
  console.log(line('(c) bare DELETE (database only, the floor)', bare));
  if (oursRetained) console.log(`  (b) heap actually held at its peak (garbage collected every 50 ms, separate run): +${oursRetained.peakMiB.toFixed(1)} MiB`);
  console.log(
    `  (b)/(a) wall time ${(ours.ms / manager.ms).toFixed(2)}×   (b)/(c) ${(ours.ms / bare.ms).toFixed(2)}×   longest statement (b) ${ours.longestMs.toFixed(0)} ms vs (a) ${manager.longestMs.toFixed(0)} ms`,
  );
  await seeded.close();
});
