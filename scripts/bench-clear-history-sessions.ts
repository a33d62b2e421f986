/**
 * Benchmark of clear-history in the sessions era (24.03.4 to 26.7: old sessions with their kernels
 * and their kernels' Redis stat keys), on 25.19.2's real schema: its package's `mgr schema oneshot`
 * in a venv bai-migrate makes itself (pyenv's Python 3.13). Every contender starts from a copy of
 * the same seeded database and the same Redis keys: N old sessions (BENCH_SESSIONS, default
 * 1,000,000), each with its kernel and the kernel's stat key, and 1,000 recent ones that stay.
 *
 *   clear-history-sessions/floor    bai-migrate's own mode vs the floor of the same work: one DELETE
 *                                   of the old sessions' kernels RETURNING id, one DELETE of the
 *                                   sessions, one pipelined UNLINK of those keys.
 *   clear-history-sessions/manager  bai-migrate (vacuum: analyze) vs the real 25.19.2
 *                                   `backend.ai mgr clear-history` (which VACUUMs the database) at
 *                                   BENCH_MANAGER_SESSIONS (default 30,000): past 32,767 old sessions
 *                                   that command fails (src/releases/line-facts.ts), so it cannot
 *                                   take N. Set BENCH_MANAGER=0 to leave it out.
 *
 * It also reports bai-migrate's longest single statement at N: how long a row lock is held.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { withTestbed, type Admin } from '../__tests__/support/deployment.js';
import { insertTerminatedSessions, seedInstallation } from '../__tests__/support/installation-rows.js';
import { copyWithStatKeys, oneshotDatabase, type CopyWithStatKeys } from '../__tests__/support/oneshot.js';
import { databaseClient } from '../__tests__/support/operator-toml.js';
import { BAI_CACHE } from '../__tests__/support/real-manager.js';
import type { TestbedInfo } from '../__tests__/support/testbed.js';
import { clearHistory } from '../src/commands/clear-history.js';
import { MemoryLogger } from '../src/core/logger.js';
import { requireSuccess, runManagerCli } from '../src/manager/cli.js';
import { pyenvInterpreters, type ProvisionedVenv } from '../src/manager/venv.js';
import { ManagerVenvs } from '../src/manager/venvs.js';
import { parseOptions } from '../src/options/index.js';
import { resolveTargets } from '../src/stores/connections.js';
import { Deployment } from '../src/stores/deployment.js';
import { detectPosition } from '../src/stores/schema.js';
import { benchMachine, printRatio } from './bench-support.js';

const RELEASE = '25.19.2';
const n = Number(process.env.BENCH_SESSIONS ?? 1_000_000);
const atManager = Number(process.env.BENCH_MANAGER_SESSIONS ?? 30_000);
const KEPT = 1000;
const RETENTION_DAYS = 30;

async function venvOf(): Promise<ProvisionedVenv> {
  process.env.UV_CACHE_DIR = join(BAI_CACHE, 'uv');
  process.env.PIP_CACHE_DIR = join(BAI_CACHE, 'pip');
  const python = pyenvInterpreters('3.13')[0];
  if (!python) throw new Error('pyenv has no Python 3.13');
  const dir = mkdtempSync(join(tmpdir(), 'bai-bench-venvs-'));
  const options = parseOptions({ command: 'clear-history', mode: 'manager', retention: '30d', 'to-version': RELEASE, 'manager-venv': dir, python });
  return (await new ManagerVenvs(options.managerVenv!, 'make', new MemoryLogger(), () => undefined).get(RELEASE, { use: 'the benchmark runs it', unchecked: '' }))!;
}

/** `count` old sessions (terminated 40+ days ago) and KEPT recent ones, each with one kernel, into a database made by 25.19.2's own oneshot. */
async function seededTemplate(info: TestbedInfo, admin: Admin, venv: ProvisionedVenv, name: string, count: number): Promise<void> {
  await admin.pg.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await oneshotDatabase(info, admin.pg, venv.managerCli, name);
  const c = databaseClient(info, name);
  await c.connect();
  try {
    // Parallel workers share memory through /dev/shm, which a test bed container keeps small.
    await c.query('SET max_parallel_workers_per_gather = 0; SET max_parallel_maintenance_workers = 0');
    await seedInstallation(c, { users: ['user0'] });
    await insertTerminatedSessions(c, count, 40);
    await insertTerminatedSessions(c, KEPT, 1);
    await c.query('VACUUM ANALYZE');
  } finally {
    await c.end();
  }
}

/** Fails unless exactly the old sessions, their kernels and their keys are gone. */
async function expectCleared(copy: CopyWithStatKeys, admin: Admin, label: string): Promise<void> {
  const { rows } = await copy.pg.query<{ sessions: number; kernels: number }>('SELECT (SELECT count(*)::int FROM sessions) AS sessions, (SELECT count(*)::int FROM kernels) AS kernels');
  const keys = await admin.redis(0).dbsize();
  if (rows[0]!.sessions !== KEPT || rows[0]!.kernels !== KEPT || keys !== KEPT) throw new Error(`${label}: ${JSON.stringify(rows[0])} rows and ${keys} Redis keys left, expected ${KEPT} of each`);
}

interface Measured {
  readonly ms: number;
  readonly longestMs: number;
}

/** bai-migrate's own mode through the engine's function. */
async function ours(copy: CopyWithStatKeys, count: number, vacuum: 'none' | 'analyze'): Promise<Measured> {
  const options = parseOptions({ command: 'clear-history', retention: `${RETENTION_DAYS}d`, vacuum, 'manager-config': copy.toml });
  const connected = new Deployment(resolveTargets(options, {}), 60_000, () => undefined);
  await connected.connect(['postgres', 'etcd', 'redis']);
  try {
    const position = await detectPosition(connected.postgres);
    const start = performance.now();
    const result = await clearHistory(connected, position, options, new MemoryLogger(), true);
    const ms = performance.now() - start;
    if (result.sessions !== count || result.kernels !== count || result.redisKeys !== count)
      throw new Error(`bai-migrate deleted ${result.sessions} sessions, ${result.kernels} kernels, ${result.redisKeys} keys of ${count}`);
    return { ms, longestMs: result.longestStatementMs };
  } finally {
    await connected.close();
  }
}

await withTestbed(async (info, admin) => {
  const started = performance.now();
  const venv = await venvOf();
  console.log(`${RELEASE} venv made in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const line = (label: string, rows: number, r: Measured) =>
    `  ${label.padEnd(66)} ${r.ms.toFixed(0).padStart(7)} ms ${Math.round((rows / r.ms) * 1000)
      .toString()
      .padStart(8)} sessions/s   longest statement ${r.longestMs.toFixed(0).padStart(6)} ms`;

  const big = 'bai_bench_tmpl_sessions';
  console.log(`Seeding ${n} old sessions with their kernels (plus ${KEPT} kept) on ${RELEASE}'s own schema…`);
  await seededTemplate(info, admin, venv, big, n);
  let copy = await copyWithStatKeys(info, admin, big);
  const mine = await ours(copy, n, 'none');
  await expectCleared(copy, admin, 'bai-migrate');
  await copy.drop();
  copy = await copyWithStatKeys(info, admin, big);
  const cutoff = `now() - interval '${RETENTION_DAYS} days'`;
  const floorStart = performance.now();
  let longest = 0;
  const timed = async <T extends pg.QueryResultRow>(sql: string) => {
    const t = performance.now();
    const result = await copy.pg.query<T>(sql);
    longest = Math.max(longest, performance.now() - t);
    return result;
  };
  const { rows: gone } = await timed<{ id: string }>(`DELETE FROM kernels WHERE session_id IN (SELECT id FROM sessions WHERE terminated_at < ${cutoff}) RETURNING id::text`);
  await timed(`DELETE FROM sessions WHERE terminated_at < ${cutoff}`);
  const pipe = admin.redis(0).pipeline();
  for (const { id } of gone) pipe.unlink(id);
  await pipe.exec();
  const floor = { ms: performance.now() - floorStart, longestMs: longest };
  await expectCleared(copy, admin, 'floor');
  await copy.drop();
  await admin.pg.query(`DROP DATABASE IF EXISTS ${big} WITH (FORCE)`);

  console.log(`\n${benchMachine()}`);
  console.log(`clear-history of ${n} old sessions, each with its kernel and its Redis stat key, ${KEPT} kept (${RELEASE} schema)`);
  console.log(line('bai-migrate clear-history (batches of 1,000 sessions)', n, mine));
  console.log(line('floor: DELETE kernels … RETURNING id, DELETE sessions, one UNLINK pipeline', n, floor));
  printRatio(
    'clear-history-sessions/floor',
    mine.ms / floor.ms,
    `bai-migrate ${mine.ms.toFixed(0)} ms vs floor ${floor.ms.toFixed(0)} ms; longest statement ${mine.longestMs.toFixed(0)} ms vs ${floor.longestMs.toFixed(0)} ms`,
  );

  if (process.env.BENCH_MANAGER === '0') return;
  const small = 'bai_bench_tmpl_sessions_small';
  console.log(`\nSeeding ${atManager} old sessions with their kernels (plus ${KEPT} kept) on ${RELEASE}'s own schema…`);
  await seededTemplate(info, admin, venv, small, atManager);
  copy = await copyWithStatKeys(info, admin, small);
  const mineVacuum = await ours(copy, atManager, 'analyze');
  await expectCleared(copy, admin, 'bai-migrate');
  await copy.drop();
  // The manager reads the RPC key pair's path from manager.toml from 23.09 on: one made by its own CLI.
  const keys = mkdtempSync(join(tmpdir(), 'bai-bench-rpc-'));
  const keygen = ['mgr', 'generate-rpc-keypair', keys, 'manager'];
  requireSuccess({ command: [venv.managerCli] }, keygen, await runManagerCli({ command: [venv.managerCli] }, keygen));
  copy = await copyWithStatKeys(info, admin, small, `rpc-auth-manager-keypair = "${join(keys, 'manager.key_secret')}"\n`);
  const cli = { command: [venv.managerCli], configFile: copy.toml };
  const args = ['mgr', 'clear-history', '-r', `${RETENTION_DAYS}d`];
  const managerStart = performance.now();
  requireSuccess(cli, args, await runManagerCli(cli, args));
  // Its two DELETEs are the statements; its process start is part of what an operator waits for.
  const manager = { ms: performance.now() - managerStart, longestMs: performance.now() - managerStart };
  await expectCleared(copy, admin, `backend.ai mgr clear-history ${RELEASE}`);
  await copy.drop();
  await admin.pg.query(`DROP DATABASE IF EXISTS ${small} WITH (FORCE)`);
  console.log(`\nclear-history of ${atManager} old sessions, each with its kernel and its Redis stat key, ${KEPT} kept (${RELEASE} schema), each followed by a VACUUM`);
  console.log(line('bai-migrate clear-history (vacuum: analyze)', atManager, mineVacuum));
  console.log(line(`backend.ai mgr clear-history ${RELEASE} (one DELETE per table, DEL by 32, VACUUM)`, atManager, manager));
  printRatio('clear-history-sessions/manager', mineVacuum.ms / manager.ms, `bai-migrate ${mineVacuum.ms.toFixed(0)} ms vs the real manager ${RELEASE} ${manager.ms.toFixed(0)} ms`);
});
