/**
 * Benchmark of clear-history. In one run, on the same servers, every contender starts from the
 * same freshly seeded state: N terminated kernels (BENCH_KERNELS, default 1,000,000) older than
 * the retention, each with its Redis stat key, and 1,000 recent kernels that stay.
 *
 *   clear-history/floor    bai-migrate's clear-history on a 22.03 deployment vs the floor of the
 *                          same work: one bare DELETE … WHERE terminated_at < cutoff RETURNING id
 *                          and one pipelined UNLINK of exactly those keys, timed together.
 *   clear-history/manager  bai-migrate's clear-history vs the real `backend.ai mgr clear-history`
 *                          of backend.ai-manager 22.09.23 (scripts/bench-real-manager.ts) on the
 *                          same 22.03-schema deployment: both delete the same rows and their Redis
 *                          stat keys and vacuum (the manager always runs VACUUM of the database;
 *                          bai-migrate runs with vacuum: analyze). Set BENCH_MANAGER=0 to leave it out.
 *
 * It also reports the longest single statement and the heap bai-migrate holds at 100,000 and at N
 * kernels (garbage collected every 50 ms, separate runs). Each ratio is printed as a line
 * `ratio NAME VALUE` (lower is better).
 */
import { performance } from 'node:perf_hooks';
import { createDeployment, withTestbed, type Admin, type TestDeployment } from '../__tests__/support/deployment.js';
import { resolveTargets } from '../src/stores/connections.js';
import { Deployment } from '../src/stores/deployment.js';
import { MemoryLogger } from '../src/core/logger.js';
import { parseOptions } from '../src/options/index.js';
import { detectPosition } from '../src/stores/schema.js';
import { clearHistory } from '../src/commands/clear-history.js';
import { benchMachine, printRatio } from './bench-support.js';

const n = Number(process.env.BENCH_KERNELS ?? 1_000_000);
const KEPT = 1000;
const RETENTION_DAYS = 30;
const cutoffSql = `now() - interval '${RETENTION_DAYS} days'`;

async function seed(admin: Admin, deployment: TestDeployment, count: number, withKeys: boolean): Promise<void> {
  const pg = deployment.pg;
  await pg.query('DELETE FROM kernels');
  // kernels.architecture exists (NOT NULL, no default) from 22.03 on.
  const { rowCount: hasArchitecture } = await pg.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'kernels' AND column_name = 'architecture'`);
  const [column, value] = hasArchitecture ? [', architecture', `, 'x86_64'`] : ['', ''];
  await pg.query(
    `INSERT INTO kernels (id, session_id, access_key, status, terminated_at${column})
     SELECT gen_random_uuid(), gen_random_uuid(), 'AKTEST00000000000001', 'TERMINATED'::kernelstatus, now() - interval '90 days' - n * interval '1 second'${value}
       FROM generate_series(1, $1) AS n
     UNION ALL
     SELECT gen_random_uuid(), gen_random_uuid(), 'AKTEST00000000000001', 'TERMINATED'::kernelstatus, now() - interval '1 day'${value}
       FROM generate_series(1, $2)`,
    [count, KEPT],
  );
  await pg.query('VACUUM ANALYZE kernels');
  const redis = admin.redis(0);
  await redis.flushdb();
  if (!withKeys) return;
  const { rows } = await pg.query<{ id: string }>('SELECT id::text FROM kernels');
  for (let i = 0; i < rows.length; i += 10_000) {
    const pipe = redis.pipeline();
    for (const { id } of rows.slice(i, i + 10_000)) pipe.set(id, '{"cpu_util":{"current":"12.5"}}');
    await pipe.exec();
  }
}

interface Measured {
  ms: number;
  longestMs: number;
  peakMiB: number;
}

/**
 * Runs `body`, sampling heap use; returns wall time and peak growth. With `retained`, each sample
 * first collects garbage (node --expose-gc), so the peak is what is really held; that slows the
 * run down, so wall times come from runs without it.
 */
async function measure(body: () => Promise<number>, retained = false): Promise<Measured> {
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
  const redis = admin.redis(0);
  const expectCleared = async (deployment: TestDeployment, label: string, keysLeft: number | undefined) => {
    const { rows } = await deployment.pg.query<{ old: string; all: string }>(`SELECT count(*) FILTER (WHERE terminated_at < ${cutoffSql}) AS old, count(*) AS all FROM kernels`);
    if (Number(rows[0]!.old) !== 0 || Number(rows[0]!.all) !== KEPT) throw new Error(`${label}: ${rows[0]!.old} old rows left, ${rows[0]!.all} rows in all`);
    if (keysLeft !== undefined && (await redis.dbsize()) !== keysLeft) throw new Error(`${label}: ${await redis.dbsize()} Redis keys left, expected ${keysLeft}`);
  };

  /** bai-migrate's clear-history through the engine's own function, on a freshly seeded deployment (`withKeys`: a 22.03 one, whose stat keys go too). */
  const ours = async (deployment: TestDeployment, count: number, { retained = false, vacuum = 'none', withKeys = true } = {}) => {
    await seed(admin, deployment, count, withKeys);
    const options = parseOptions({ command: 'clear-history', retention: `${RETENTION_DAYS}d`, vacuum, 'manager-config': deployment.writeManagerToml() });
    const connected = new Deployment(resolveTargets(options, {}), 60_000, () => undefined);
    await connected.connect(['postgres', 'etcd', 'redis']);
    const position = await detectPosition(connected.postgres);
    const measured = await measure(async () => {
      const result = await clearHistory(connected, position, options, new MemoryLogger(), true);
      if (result.kernels !== count) throw new Error(`bai-migrate deleted ${result.kernels} rows of ${count}`);
      if (withKeys && result.redisKeys !== count) throw new Error(`bai-migrate unlinked ${result.redisKeys} keys of ${count}`);
      return result.longestStatementMs;
    }, retained);
    await connected.close();
    await expectCleared(deployment, 'bai-migrate', withKeys ? KEPT : undefined);
    return measured;
  };

  const line = (label: string, r: Measured) =>
    `  ${label.padEnd(58)} ${r.ms.toFixed(0).padStart(7)} ms ${Math.round((n / r.ms) * 1000)
      .toString()
      .padStart(9)} rows/s   longest statement ${r.longestMs.toFixed(0).padStart(6)} ms`;

  // 22.03: the database rows and their Redis stat keys.
  const at2203 = await createDeployment(admin, info, { schema: '81c264528f20' });
  console.log(`Seeding ${n} terminated kernels and ${n} Redis stat keys (plus ${KEPT} kept) before each contender…`);
  const mine = await ours(at2203, n);
  await seed(admin, at2203, n, true);
  const floor = await measure(async () => {
    const start = performance.now();
    const { rows } = await at2203.pg.query<{ id: string }>(`DELETE FROM kernels WHERE terminated_at < ${cutoffSql} RETURNING id::text`);
    const longest = performance.now() - start;
    const pipe = redis.pipeline();
    for (const { id } of rows) pipe.unlink(id);
    await pipe.exec();
    return longest;
  });
  await expectCleared(at2203, 'floor', KEPT);
  const held = global.gc ? { small: await ours(at2203, 100_000, { retained: true }), large: await ours(at2203, n, { retained: true }) } : undefined;
  await at2203.close();

  console.log(`\n${benchMachine()}`);
  console.log(`clear-history of ${n} kernels with as many Redis stat keys, ${KEPT} kept (22.03 schema)`);
  console.log(line('bai-migrate clear-history (batches of 1,000)', mine));
  console.log(line('floor: one DELETE … RETURNING id + one pipelined UNLINK', floor));
  if (held) console.log(`  heap bai-migrate holds at its peak: +${held.small.peakMiB.toFixed(1)} MiB at 100,000 kernels, +${held.large.peakMiB.toFixed(1)} MiB at ${n}`);
  else console.log('  (run with node --expose-gc to measure the heap bai-migrate holds)');
  printRatio(
    'clear-history/floor',
    mine.ms / floor.ms,
    `bai-migrate ${mine.ms.toFixed(0)} ms vs floor ${floor.ms.toFixed(0)} ms; longest statement ${mine.longestMs.toFixed(0)} ms vs ${floor.longestMs.toFixed(0)} ms`,
  );

  if (process.env.BENCH_MANAGER === '0') return;
  const { realManagerClearHistory, REAL_CLEAR_HISTORY_RELEASE } = await import('./bench-real-manager.js');
  const againAt2203 = await createDeployment(admin, info, { schema: '81c264528f20' });
  console.log(`\nSeeding ${n} terminated kernels and ${n} Redis stat keys (plus ${KEPT} kept) before each contender…`);
  const mineVacuum = await ours(againAt2203, n, { vacuum: 'analyze' });
  await seed(admin, againAt2203, n, true);
  const manager = await measure(async () => {
    const start = performance.now();
    await realManagerClearHistory(againAt2203, `${RETENTION_DAYS}d`);
    // The manager's one DELETE is the statement; its process start is part of what an operator waits for.
    return performance.now() - start;
  });
  await expectCleared(againAt2203, 'backend.ai mgr clear-history', KEPT);
  await againAt2203.close();
  console.log(`\nclear-history of ${n} kernels with as many Redis stat keys, ${KEPT} kept (22.03 schema), each followed by a VACUUM`);
  console.log(line('bai-migrate clear-history (vacuum: analyze)', mineVacuum));
  console.log(line(`backend.ai mgr clear-history ${REAL_CLEAR_HISTORY_RELEASE} (one DELETE, DEL by 32, VACUUM)`, manager));
  printRatio('clear-history/manager', mineVacuum.ms / manager.ms, `bai-migrate ${mineVacuum.ms.toFixed(0)} ms vs the real manager ${REAL_CLEAR_HISTORY_RELEASE} ${manager.ms.toFixed(0)} ms`);
});
