/**
 * Benchmark of clear-history in the retention era (26.8.x: the manager's retention sweep over
 * `retention_policies`), on 26.8.3's real schema: its package's `mgr schema oneshot` in a venv
 * bai-migrate makes itself (pyenv's Python 3.13). The eight policies are inserted as a migrated
 * database holds them (SEEDED_RETENTION_POLICIES, disabled), then four categories enabled with
 * retentions: logs, reconcile_history, sessions (with their kernels), usage_records; the other four
 * stay disabled. N old rows (BENCH_RETENTION_ROWS, default 1,000,000 in total) are spread over the
 * enabled categories' tables, KEPT recent rows stay in each, and KEPT old login_history rows stay
 * because their category is disabled. Redis DB 0 holds a stat key per kernel. Every contender
 * starts from a copy of the same seeded template.
 *
 *   clear-history-retention/floor    bai-migrate's own mode (clearRetentionEra, vacuum: none) vs
 *                                    the floor of the same work: one UNLINK pipeline of the old
 *                                    kernels' keys, one DELETE per drain (no batching), the stamps.
 *                                    BENCH_ROUNDS rounds (default 3), the order alternating; the
 *                                    median round's ratio.
 *   clear-history-retention/manager  bai-migrate (vacuum: analyze) vs the real 26.8.3
 *                                    `backend.ai mgr clear-history -r 30d`, the whole process with
 *                                    its VACUUM, at BENCH_MANAGER_ROWS (default N: its sweep binds
 *                                    no ids, so it has no 32,767 limit). BENCH_MANAGER=0 leaves it out.
 *
 * It also prints bai-migrate's longest single statement at N: how long a row lock is held.
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { withTestbed, type Admin } from '../__tests__/support/deployment.js';
import { INSTALLATION_OWNER, insertFilled, insertTerminatedSessions, seedInstallation } from '../__tests__/support/installation-rows.js';
import { copyWithStatKeys, oneshotDatabase, type CopyWithStatKeys } from '../__tests__/support/oneshot.js';
import { databaseClient } from '../__tests__/support/operator-toml.js';
import { BAI_CACHE } from '../__tests__/support/real-manager.js';
import type { TestbedInfo } from '../__tests__/support/testbed.js';
import { clearRetentionEra, cutoffAndCount } from '../src/commands/clear-history.js';
import { MemoryLogger } from '../src/core/logger.js';
import { requireSuccess, runManagerCli } from '../src/manager/cli.js';
import { pyenvInterpreters, type ProvisionedVenv } from '../src/manager/venv.js';
import { ManagerVenvs } from '../src/manager/venvs.js';
import { parseOptions } from '../src/options/index.js';
import { clearHistoryPolicy } from '../src/releases/line-facts.js';
import { findRelease } from '../src/releases/releases.js';
import { SEEDED_RETENTION_POLICIES, type RetentionCategoryName } from '../src/releases/retention-sweep.js';
import { resolveTargets } from '../src/stores/connections.js';
import { Deployment } from '../src/stores/deployment.js';
import { benchMachine, printRatio } from './bench-support.js';

const RELEASE = '26.8.3';
const n = Number(process.env.BENCH_RETENTION_ROWS ?? 1_000_000);
const atManager = Number(process.env.BENCH_MANAGER_ROWS ?? n);
const KEPT = 1000;
/** Rounds of bai-migrate and the floor (BENCH_ROUNDS): the median round's ratio is printed. */
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
/** `-r`: governs the Redis part only (the stat keys of kernels terminated before it). */
const RETENTION = '30d';

/** The enabled categories, their retention_period and the days the manager subtracts (no months or years here: the same either way). */
const ENABLED: Partial<Record<RetentionCategoryName, { period: string; days: number }>> = {
  logs: { period: '30 days', days: 30 },
  reconcile_history: { period: '60 days', days: 60 },
  sessions: { period: '40 days', days: 40 },
  usage_records: { period: '45 days', days: 45 },
};

/** How the old rows are spread, as shares of the total; a session counts twice (itself and its kernel). */
const SPREAD: ReadonlyArray<{ table: string; category: RetentionCategoryName; share: number }> = [
  { table: 'event_logs', category: 'logs', share: 0.15 },
  { table: 'audit_logs', category: 'logs', share: 0.1 },
  { table: 'error_logs', category: 'logs', share: 0.05 },
  { table: 'session_scheduling_history', category: 'reconcile_history', share: 0.1 },
  { table: 'kernel_scheduling_history', category: 'reconcile_history', share: 0.1 },
  { table: 'sessions', category: 'sessions', share: 0.15 },
  { table: 'kernels', category: 'sessions', share: 0.15 },
  { table: 'kernel_usage_records', category: 'usage_records', share: 0.2 },
];
/** A disabled category's table: its old rows stay. */
const DISABLED_TABLE = 'login_history';
const SWEPT_TABLES = [...new Set(SPREAD.map((s) => s.table))];

/** Old rows per table for `total` in all (sessions and kernels alike). */
function oldRows(total: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { table, share } of SPREAD) out[table] = Math.round(total * share);
  // The rounding's leftover goes to event_logs, so that the tables add up to `total` exactly.
  out.event_logs! += total - Object.values(out).reduce((a, b) => a + b, 0);
  return out;
}

async function venvOf(): Promise<ProvisionedVenv> {
  process.env.UV_CACHE_DIR = join(BAI_CACHE, 'uv');
  process.env.PIP_CACHE_DIR = join(BAI_CACHE, 'pip');
  const python = pyenvInterpreters('3.13')[0];
  if (!python) throw new Error('pyenv has no Python 3.13');
  const dir = mkdtempSync(join(tmpdir(), 'bai-bench-venvs-'));
  const options = parseOptions({ command: 'clear-history', mode: 'manager', retention: RETENTION, 'to-version': RELEASE, 'manager-venv': dir, python });
  return (await new ManagerVenvs(options.managerVenv!, 'make', new MemoryLogger(), () => undefined).get(RELEASE, { use: 'the benchmark runs it', unchecked: '' }))!;
}

/** `now() - days` less g seconds: g = 1… spreads the rows over the seconds before that instant. */
const ago = (days: number) => `now() - interval '${days} days' - g * interval '1 second'`;

/** Rows of `table` whose boundary is `days` (and g seconds) ago. */
async function insertAged(c: pg.Client, table: string, count: number, days: number): Promise<void> {
  if (count === 0) return;
  const from = `FROM generate_series(1, ${count}) g`;
  switch (table) {
    case 'event_logs':
    case 'audit_logs':
      return insertFilled(c, table, { created_at: ago(days) }, from);
    case 'error_logs':
      return insertFilled(
        c,
        table,
        { created_at: ago(days), severity: `'error'`, source: `'manager'`, user: INSTALLATION_OWNER.user_uuid, message: `'failed ' || g`, is_read: 'false', is_cleared: 'false' },
        from,
      );
    case 'session_scheduling_history':
    case 'kernel_scheduling_history':
      return insertFilled(c, table, { created_at: ago(days + 100), updated_at: ago(days) }, from);
    case 'kernel_usage_records':
      return insertFilled(c, table, { period_start: `${ago(days)} - interval '5 minutes'`, period_end: ago(days) }, from);
    case DISABLED_TABLE:
      return insertFilled(c, table, { user_id: INSTALLATION_OWNER.user_uuid, created_at: ago(days) }, from);
    default:
      throw new Error(`no seed for ${table}`);
  }
}

/** `total` old rows spread over the enabled categories (plus KEPT recent ones per table, and KEPT old ones of a disabled category) on 26.8.3's own schema. */
async function seededTemplate(info: TestbedInfo, admin: Admin, venv: ProvisionedVenv, name: string, total: number): Promise<string> {
  await admin.pg.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  const rpcKeyFile = await oneshotDatabase(info, admin.pg, venv.managerCli, name);
  const c = databaseClient(info, name);
  await c.connect();
  try {
    // Parallel workers share memory through /dev/shm, which a test bed container keeps small.
    await c.query('SET max_parallel_workers_per_gather = 0; SET max_parallel_maintenance_workers = 0');
    await seedInstallation(c, { users: ['user0'] });
    // The policies as a migrated 26.8 database holds them (oneshot seeds none), then the operator's choice.
    for (const { category, period } of SEEDED_RETENTION_POLICIES)
      await c.query('INSERT INTO retention_policies (category, retention_period, enabled) VALUES ($1, $2::interval, false)', [category, period]);
    for (const [category, { period }] of Object.entries(ENABLED))
      await c.query('UPDATE retention_policies SET enabled = true, retention_period = $2::interval WHERE category = $1', [category, period]);
    const old = oldRows(total);
    for (const { table, category } of SPREAD) {
      if (table === 'sessions' || table === 'kernels') continue;
      const days = ENABLED[category]!.days;
      await insertAged(c, table, old[table]!, days + 1);
      await insertAged(c, table, KEPT, 1);
    }
    // Sessions: each with its one kernel (the same count of both), terminated a day past the threshold (and g seconds), or a day ago.
    if (old.sessions !== old.kernels) throw new Error('sessions and kernels must be seeded alike');
    // 26.8's sessions and kernels name their scaling group by id too, and sessions their domain (keys onto scaling_groups and domains).
    const resourceGroup = { resource_group_id: `(SELECT id FROM scaling_groups WHERE name = 'default')` };
    const extra = { sessions: { ...resourceGroup, domain_id: `(SELECT id FROM domains WHERE name = 'default')` }, kernels: resourceGroup };
    await insertTerminatedSessions(c, old.sessions!, ENABLED.sessions!.days + 1, extra);
    await insertTerminatedSessions(c, KEPT, 1, extra);
    await insertAged(c, DISABLED_TABLE, KEPT, 400);
    await c.query('VACUUM ANALYZE');
  } finally {
    await c.end();
  }
  return rpcKeyFile;
}

/** The row counts a contender left: each swept table, the disabled category's table, the stamped policies and the Redis keys. */
async function leftOf(copy: CopyWithStatKeys, admin: Admin): Promise<Record<string, number>> {
  const tables = [...SWEPT_TABLES, DISABLED_TABLE];
  const { rows } = await copy.pg.query<Record<string, number>>(
    `SELECT ${tables.map((t) => `(SELECT count(*)::int FROM ${t}) AS ${t}`).join(', ')},
            (SELECT count(*)::int FROM retention_policies WHERE last_swept_at IS NOT NULL) AS stamped_policies`,
  );
  return { ...rows[0]!, redis_keys: await admin.redis(0).dbsize() };
}

/** What every contender must leave: KEPT rows of each table (the disabled one's old rows too), KEPT keys, the enabled policies stamped. */
function expectedLeft(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of [...SWEPT_TABLES, DISABLED_TABLE]) out[t] = KEPT;
  return { ...out, stamped_policies: Object.keys(ENABLED).length, redis_keys: KEPT };
}

/** Fails unless `left` is what every contender must leave (and so what the other contender left). */
function expectLeft(left: Record<string, number>, label: string): void {
  const expected = expectedLeft();
  if (JSON.stringify(left) !== JSON.stringify(expected)) throw new Error(`${label} left ${JSON.stringify(left)}, expected ${JSON.stringify(expected)}`);
}

interface Measured {
  readonly ms: number;
  readonly longestMs: number;
}

/** bai-migrate's own mode of this era through the engine's function, on the connections a run makes. */
async function ours(copy: CopyWithStatKeys, total: number, vacuum: 'none' | 'analyze'): Promise<Measured> {
  const options = parseOptions({ command: 'clear-history', retention: RETENTION, vacuum, 'manager-config': copy.toml });
  const connected = new Deployment(resolveTargets(options, {}), 60_000, () => undefined);
  await connected.connect(['postgres', 'etcd', 'redis']);
  try {
    const policy = clearHistoryPolicy(findRelease(RELEASE)!);
    const start = performance.now();
    const { cutoff } = await cutoffAndCount(connected, options.retention, policy.cutoffClock);
    const result = await clearRetentionEra(connected, policy, cutoff, `${RELEASE} (benchmark)`, options, new MemoryLogger(), true, []);
    const ms = performance.now() - start;
    const deleted = result.retention.categories.reduce((sum, c) => sum + c.total, 0);
    const failed = result.findings.filter((f) => f.status === 'failed');
    if (deleted !== total || failed.length > 0) throw new Error(`bai-migrate deleted ${deleted} of ${total} rows; ${failed.map((f) => f.detail).join('; ')}`);
    return { ms, longestMs: result.longestStatementMs };
  } finally {
    await connected.close();
  }
}

/** The same work without batching: one UNLINK pipeline of the old kernels' keys, one DELETE per drain, the stamps. */
async function floorOf(copy: CopyWithStatKeys, admin: Admin): Promise<Measured> {
  const start = performance.now();
  let longest = 0;
  const timed = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => {
    const t = performance.now();
    const result = await copy.pg.query<T>(sql, params);
    longest = Math.max(longest, performance.now() - t);
    return result;
  };
  const { rows: clock } = await timed<{ now: string }>('SELECT now()::text AS now');
  const now = clock[0]!.now;
  const { rows: gone } = await timed<{ id: string }>(`SELECT id::text FROM kernels WHERE terminated_at < $1::timestamptz - interval '30 days'`, [now]);
  const pipe = admin.redis(0).pipeline();
  for (const { id } of gone) pipe.unlink(id);
  await pipe.exec();
  const before = (days: number) => `$1::timestamptz - interval '${days} days'`;
  const terminal = `('ERROR', 'TERMINATED', 'CANCELLED')`;
  const drains: Record<string, string[]> = {
    logs: ['event_logs', 'audit_logs', 'error_logs'].map((t) => `DELETE FROM ${t} WHERE created_at < ${before(ENABLED.logs!.days)}`),
    reconcile_history: ['session_scheduling_history', 'kernel_scheduling_history', 'deployment_history', 'route_history', 'replica_group_history'].map(
      (t) => `DELETE FROM ${t} WHERE updated_at < ${before(ENABLED.reconcile_history!.days)}`,
    ),
    sessions: [
      `DELETE FROM kernels WHERE terminated_at < ${before(ENABLED.sessions!.days)} AND status IN ${terminal}`,
      `DELETE FROM sessions s WHERE s.terminated_at < ${before(ENABLED.sessions!.days)} AND s.status IN ${terminal}
          AND NOT EXISTS (SELECT 1 FROM kernels k WHERE k.session_id = s.id) AND NOT EXISTS (SELECT 1 FROM routings r WHERE r.session = s.id)`,
    ],
    usage_records: [`DELETE FROM kernel_usage_records WHERE period_end < ${before(ENABLED.usage_records!.days)}`],
  };
  for (const [category, statements] of Object.entries(drains)) {
    for (const sql of statements) await timed(sql, [now]);
    await timed('UPDATE retention_policies SET last_swept_at = $1::timestamptz, updated_at = $1::timestamptz WHERE category = $2', [now, category]);
  }
  return { ms: performance.now() - start, longestMs: longest };
}

await withTestbed(async (info, admin) => {
  const started = performance.now();
  const venv = await venvOf();
  console.log(`${RELEASE} venv made in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const line = (label: string, rows: number, r: Measured) =>
    `  ${label.padEnd(66)} ${r.ms.toFixed(0).padStart(7)} ms ${Math.round((rows / r.ms) * 1000)
      .toString()
      .padStart(8)} rows/s   longest statement ${r.longestMs.toFixed(0).padStart(6)} ms`;
  const spread = (total: number) =>
    Object.entries(oldRows(total))
      .map(([t, k]) => `${k} ${t}`)
      .join(', ');
  const what = (total: number) =>
    `clear-history -r ${RETENTION} of ${total} old rows in 4 enabled categories (${spread(total)}), ${KEPT} kept per table, ${KEPT} old ${DISABLED_TABLE} of a disabled one (${RELEASE} schema)`;

  const big = 'bai_bench_tmpl_retention';
  console.log(`Seeding ${n} old rows over ${Object.keys(ENABLED).join(', ')} (plus ${KEPT} kept per table) on ${RELEASE}'s own schema…`);
  let t = performance.now();
  const rpcKeyFile = await seededTemplate(info, admin, venv, big, n);
  console.log(`  seeded in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  const loadStart = loadavg()[0]!.toFixed(2);
  // Rounds of both contenders, the order alternating (a shared machine's load moves every figure): the median round's ratio.
  const rounds: Array<{ mine: Measured; floor: Measured }> = [];
  let left: Record<string, number> = {};
  let copy: CopyWithStatKeys;
  for (let round = 0; round < ROUNDS; round++) {
    const measured: { mine?: Measured; floor?: Measured } = {};
    for (const contender of round % 2 === 0 ? (['mine', 'floor'] as const) : (['floor', 'mine'] as const)) {
      copy = await copyWithStatKeys(info, admin, big);
      measured[contender] = contender === 'mine' ? await ours(copy, n, 'none') : await floorOf(copy, admin);
      left = await leftOf(copy, admin);
      expectLeft(left, contender === 'mine' ? 'bai-migrate' : 'floor');
      await copy.drop();
    }
    rounds.push({ mine: measured.mine!, floor: measured.floor! });
  }
  const ratios = rounds.map((r) => r.mine.ms / r.floor.ms);
  const median = [...rounds].sort((a, b) => a.mine.ms / a.floor.ms - b.mine.ms / b.floor.ms)[Math.floor(rounds.length / 2)]!;
  const { mine, floor } = median;

  console.log(`\n${benchMachine([`load average (1 min) at the start of the rounds and at their end: ${loadStart} and ${loadavg()[0]!.toFixed(2)}`])}`);
  console.log(what(n));
  console.log(line(`bai-migrate clear-history (batches of 1,000, vacuum: none), median round`, n, mine));
  console.log(line('floor: one UNLINK pipeline, one DELETE per drain, the stamps, same round', n, floor));
  console.log(`  every contender left ${JSON.stringify(left)}`);
  console.log(
    `  rounds: ${rounds.map((r) => `${r.mine.ms.toFixed(0)} vs ${r.floor.ms.toFixed(0)} ms`).join(', ')}; ratios ${ratios.map((r) => r.toFixed(2)).join(', ')}; bai-migrate's longest statement in any round ${Math.max(...rounds.map((r) => r.mine.longestMs)).toFixed(0)} ms`,
  );
  printRatio(
    'clear-history-retention/floor',
    mine.ms / floor.ms,
    `median of ${ROUNDS} rounds: bai-migrate ${mine.ms.toFixed(0)} ms vs floor ${floor.ms.toFixed(0)} ms; longest statement ${mine.longestMs.toFixed(0)} ms vs ${floor.longestMs.toFixed(0)} ms`,
  );

  if (process.env.BENCH_MANAGER === '0') {
    await admin.pg.query(`DROP DATABASE IF EXISTS ${big} WITH (FORCE)`);
    return;
  }
  let template = big;
  let keyFile = rpcKeyFile;
  if (atManager !== n) {
    await admin.pg.query(`DROP DATABASE IF EXISTS ${big} WITH (FORCE)`);
    template = 'bai_bench_tmpl_retention_small';
    console.log(`\nSeeding ${atManager} old rows over ${Object.keys(ENABLED).join(', ')} (plus ${KEPT} kept per table) on ${RELEASE}'s own schema…`);
    keyFile = await seededTemplate(info, admin, venv, template, atManager);
  }
  copy = await copyWithStatKeys(info, admin, template);
  const mineVacuum = await ours(copy, atManager, 'analyze');
  const mineVacuumLeft = await leftOf(copy, admin);
  expectLeft(mineVacuumLeft, 'bai-migrate (vacuum: analyze)');
  await copy.drop();
  // The manager reads the RPC key pair's path from manager.toml from 23.09 on: the one its own CLI made with the schema.
  copy = await copyWithStatKeys(info, admin, template, `rpc-auth-manager-keypair = "${keyFile}"\n`);
  const cli = { command: [venv.managerCli], configFile: copy.toml };
  const args = ['mgr', 'clear-history', '-r', RETENTION];
  t = performance.now();
  const run = await runManagerCli(cli, args);
  requireSuccess(cli, args, run);
  // Its sweep deletes in batches of 1,000 too, but in one transaction that holds every deleted row locked until it commits
  // (backend.ai-manager 26.8.3 wheel: ai/backend/manager/repositories/retention/db_source/db_source.py, sweep): its whole
  // process, start and VACUUM included, stands for that here (an upper bound); the process is what an operator waits for.
  const manager = { ms: performance.now() - t, longestMs: performance.now() - t };
  const loadEnd = loadavg()[0]!.toFixed(2);
  const failedCategories = [...run.output.matchAll(/retention sweep failed for category (\w+)/g)].map((m) => m[1]);
  if (failedCategories.length > 0) throw new Error(`the manager's sweep failed for ${failedCategories.join(', ')}`);
  const managerLeft = await leftOf(copy, admin);
  expectLeft(managerLeft, `backend.ai mgr clear-history ${RELEASE}`);
  await copy.drop();
  await admin.pg.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
  console.log(`\n${what(atManager)}, each followed by a VACUUM; load average (1 min) after the manager: ${loadEnd}`);
  console.log(line('bai-migrate clear-history (vacuum: analyze)', atManager, mineVacuum));
  console.log(line(`backend.ai mgr clear-history ${RELEASE} (DEL by 32, batches in one transaction, VACUUM)`, atManager, manager));
  console.log(`  both left ${JSON.stringify(managerLeft)}`);
  printRatio(
    'clear-history-retention/manager',
    mineVacuum.ms / manager.ms,
    `bai-migrate ${mineVacuum.ms.toFixed(0)} ms vs the real manager ${RELEASE} ${manager.ms.toFixed(0)} ms; bai-migrate's longest statement ${mineVacuum.longestMs.toFixed(0)} ms`,
  );
});
