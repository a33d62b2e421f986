/**
 * clear-history of the eras whose manager purges sessions (24.03.4+) and error_logs (24.09.0+),
 * against the real manager: for 23.09.10, 24.03.11, 24.09.14, 24.12.1, 25.19.2 (whose Redis
 * count is summed over its chunks, and whose schema adds the scheduling history) and 26.4.16 (a
 * UTC cutoff; resource allocations, usage records and replica routings; a command that fails: see
 * below), the release's
 * own schema (its real package's `mgr schema oneshot` into an empty database) is seeded once with the same history;
 * the real `backend.ai mgr clear-history -r 30d` runs on one copy and bai-migrate's own mode on
 * another, and every table's rows and the Redis keys are compared.
 *
 * bai-migrate's copy also holds two old sessions that a model service's routings still point at
 * (on which the real manager stops half-way, long-lived-2303.test.ts shows it for 24.12.1): they
 * and their kernels stay, named with their endpoint; the rest is what the manager deletes.
 *
 * 26.1.0 to 26.7.0's own command fails after its Redis part, before any row goes (its models are
 * not all imported: src/releases/line-facts.ts, MANAGER_CLEAR_HISTORY_FAILS). The test shows that
 * failure, then compares bai-migrate with what that command deletes without it: the same real
 * command run with every model registered first (ensure_all_tables_registered, as 26.8.0 does).
 *
 * Last, 25.19.2 with more old sessions than its command can bind in one statement (32,767): the
 * real command fails, mode: manager is refused first, and own mode deletes them all.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectAdmin, type Admin } from '../support/deployment.js';
import { copyOfTemplate, oneshotDatabase, seedStatKeys } from '../support/oneshot.js';
import { productVenvs } from '../support/real-manager.js';
import { insertColumns, insertFilled, insertTerminatedSessions, seedInstallation } from '../support/installation-rows.js';
import { ranRealPackage } from '../support/real-lines.js';
import { runEngine } from '../support/run.js';
import { MemoryLogger } from '../../src/core/logger.js';
import { parseOptions } from '../../src/options/index.js';
import { ManagerVenvs } from '../../src/manager/venvs.js';
import { pyenvInterpreters, type ProvisionedVenv } from '../../src/manager/venv.js';
import { requireSuccess, runManagerCli, type CliResult } from '../../src/manager/cli.js';
import { cutoffAndCount } from '../../src/commands/clear-history.js';
import { parseRetention } from '../../src/releases/retention.js';
import { findRelease } from '../../src/releases/releases.js';
import { workerTestbed } from '../support/worker-testbed.js';
import { databaseClient, operatorManagerToml } from '../support/operator-toml.js';

const info = workerTestbed();
const client = (database: string) => databaseClient(info, database);
/** manager.toml as an operator's (from 24.03 the RPC key pair must be a file, `rpcKeyFile`). */
const managerToml = (database: string, namespace: string, rpcKeyFile?: string) =>
  operatorManagerToml(info, { database, namespace, prefix: 'bai-ch-eras-', managerLines: rpcKeyFile ? `rpc-auth-manager-keypair = "${rpcKeyFile}"\n` : '' });
const RETENTION_DAYS = 30;
let admin: Admin;
let venvs: string;
let python312: string;
let python313: string;
const databases: string[] = [];
const cleanups: Array<() => Promise<void>> = [];

async function venvOf(release: string, python: string): Promise<ProvisionedVenv> {
  const options = parseOptions({ command: 'clear-history', mode: 'manager', retention: '30d', 'to-version': release, 'manager-venv': venvs, python });
  return (await new ManagerVenvs(options.managerVenv!, 'make', new MemoryLogger(), () => undefined).get(release, { use: 'the test runs it', unchecked: '' }))!;
}

/** What every session and kernel row shares: the seeded installation's owner, project, group. */
const OWNER = {
  domain_name: `'default'`,
  group_id: `(SELECT id FROM groups LIMIT 1)`,
  user_uuid: `(SELECT uuid FROM users ORDER BY username LIMIT 1)`,
  access_key: `(SELECT access_key FROM keypairs ORDER BY user_id LIMIT 1)`,
  scaling_group_name: `'default'`,
};

/**
 * A session per row of `spec` ({status, created days ago, terminated days ago or null}) with its
 * kernels (their terminated_at: days ago or null, as listed). Returns the session ids.
 */
async function addSessions(c: pg.Client, specs: ReadonlyArray<{ status: string; created: number; terminated: number | null; kernels: ReadonlyArray<number | null> }>): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, s] of specs.entries()) {
    const { rows } = await c.query<{ id: string }>('SELECT gen_random_uuid()::text AS id');
    const id = rows[0]!.id;
    ids.push(id);
    const terminated = s.terminated === null ? 'NULL' : `now() - interval '${s.terminated} days'`;
    await insertFilled(c, 'sessions', {
      id: `'${id}'`,
      creation_id: `'c${i}'`,
      name: `'s-${id.slice(0, 8)}'`,
      session_type: `'INTERACTIVE'`,
      cluster_mode: `'single-node'`,
      cluster_size: `${s.kernels.length}`,
      ...OWNER,
      status: `'${s.status}'`,
      created_at: `now() - interval '${s.created} days'`,
      terminated_at: terminated,
      occupying_slots: `'{}'`,
      requested_slots: `'{}'`,
    });
    for (const [k, kt] of s.kernels.entries()) {
      await insertFilled(c, 'kernels', {
        id: k === 0 ? `'${id}'` : 'gen_random_uuid()',
        session_id: `'${id}'`,
        session_creation_id: `'c${i}'`,
        session_name: `'s-${id.slice(0, 8)}'`,
        session_type: `'INTERACTIVE'`,
        cluster_mode: `'single-node'`,
        cluster_size: `${s.kernels.length}`,
        cluster_role: k === 0 ? `'main'` : `'sub'`,
        cluster_idx: `${k + 1}`,
        local_rank: `${k}`,
        cluster_hostname: `'${k === 0 ? 'main1' : `sub${k}`}'`,
        domain_name: OWNER.domain_name,
        group_id: OWNER.group_id,
        user_uuid: OWNER.user_uuid,
        access_key: OWNER.access_key,
        scaling_group: `'default'`,
        image: `'cr.backend.ai/stable/python:3.9-ubuntu20.04'`,
        architecture: `'x86_64'`,
        registry: `'cr.backend.ai'`,
        status: `'${s.status}'`,
        occupied_slots: `'{}'`,
        requested_slots: `'{}'`,
        created_at: `now() - interval '${s.created} days'`,
        terminated_at: kt === null ? 'NULL' : `now() - interval '${kt} days'`,
      });
    }
  }
  return ids;
}

/**
 * The history both copies hold. Retention 30 days: sessions terminated 40–400 days ago (one of
 * them with a kernel still unterminated, one with a kernel terminated only 2 days ago), cancelled
 * ones, recent ones, sessions created a year ago that still run (one of whose kernels terminated
 * long ago: its stat key goes, its row stays), session dependencies across the cutoff, and
 * error_logs on both sides of it.
 */
async function seedHistory(c: pg.Client): Promise<{ old: string[]; recent: string[]; running: string[] }> {
  const old = await addSessions(c, [
    ...Array.from({ length: 12 }, (_, i) => ({ status: 'TERMINATED', created: 40 + i * 30, terminated: 40 + i * 30, kernels: i % 3 === 0 ? [40 + i * 30, 40 + i * 30] : [40 + i * 30] })),
    { status: 'TERMINATED', created: 90, terminated: 80, kernels: [80, null] },
    { status: 'TERMINATED', created: 70, terminated: 60, kernels: [60, 2] },
    { status: 'CANCELLED', created: 50, terminated: 50, kernels: [50] },
    { status: 'CANCELLED', created: 45, terminated: 45, kernels: [] },
    // Multi-node sessions: more than 32 old kernels in all, so the manager's Redis part takes several chunks of 32.
    ...Array.from({ length: 4 }, (_, i) => ({ status: 'TERMINATED', created: 100 + i * 7, terminated: 95 + i * 7, kernels: [95 + i * 7, 95 + i * 7, 95 + i * 7, 95 + i * 7] })),
  ]);
  const recent = await addSessions(c, [
    ...Array.from({ length: 5 }, (_, i) => ({ status: 'TERMINATED', created: 3 + i, terminated: 2 + i, kernels: [2 + i] })),
    // Terminated at the cutoff's far side by a day: kept.
    { status: 'TERMINATED', created: 40, terminated: RETENTION_DAYS - 1, kernels: [RETENTION_DAYS - 1] },
  ]);
  const running = await addSessions(c, [
    { status: 'RUNNING', created: 365, terminated: null, kernels: [null] },
    { status: 'RUNNING', created: 200, terminated: null, kernels: [null, 150] },
    { status: 'PENDING', created: 100, terminated: null, kernels: [null] },
  ]);
  // Dependencies across the cutoff (ON DELETE CASCADE: both copies lose the same ones).
  await c.query('INSERT INTO session_dependencies (session_id, depends_on) VALUES ($1, $2), ($3, $4), ($5, $6)', [recent[0], old[0], old[1], old[2], running[0], old[3]]);
  if ((await c.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'error_logs'`)).rowCount) {
    for (const days of [400, 90, 45, 31, 29, 5, 1]) {
      await insertFilled(c, 'error_logs', {
        created_at: `now() - interval '${days} days'`,
        severity: `'error'`,
        source: `'manager'`,
        user: OWNER.user_uuid,
        message: `'failed ${days} days ago'`,
        is_read: 'false',
        is_cleared: 'false',
      });
    }
  }
  // From 25.x the scheduler records each session's and kernel's transitions in tables that carry
  // their ids without a foreign key: the manager leaves those rows, old sessions' too.
  for (const table of ['session_scheduling_history', 'kernel_scheduling_history']) {
    if (!(await c.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name = $1`, [table])).rowCount) continue;
    const kernel: Record<string, string> = table === 'kernel_scheduling_history' ? { kernel_id: 'k.id' } : {};
    await insertFilled(
      c,
      table,
      { ...kernel, session_id: 's.id', phase: `'terminate'`, result: `'SUCCESS'`, message: `'done'`, created_at: 's.created_at' },
      `FROM sessions s${table === 'kernel_scheduling_history' ? ' JOIN kernels k ON k.session_id = s.id' : ''} WHERE s.id = ANY('{${[...old, ...recent, ...running].join(',')}}'::uuid[])`,
    );
  }
  const seededIds = `'{${[...old, ...recent, ...running].join(',')}}'::uuid[]`;
  // 26.x: what each kernel was allocated (resource_allocations, ON DELETE CASCADE from kernels: both
  // copies lose the old kernels' rows) and its usage records (kernel and session ids without a
  // foreign key: the manager leaves them).
  if (await tableExists(c, 'resource_allocations')) {
    if (!(await c.query(`SELECT 1 FROM resource_slot_types WHERE slot_name = 'cpu'`)).rowCount) await insertFilled(c, 'resource_slot_types', { slot_name: `'cpu'`, slot_type: `'count'` });
    await insertFilled(
      c,
      'resource_allocations',
      { kernel_id: 'k.id', slot_name: `'cpu'`, requested: '1', used: '1', created_at: 'k.created_at' },
      `FROM kernels k WHERE k.session_id = ANY(${seededIds})`,
    );
  }
  if (await tableExists(c, 'kernel_usage_records')) {
    await insertFilled(
      c,
      'kernel_usage_records',
      {
        kernel_id: 'k.id',
        session_id: 'k.session_id',
        user_uuid: 'k.user_uuid',
        project_id: 'k.group_id',
        domain_name: 'k.domain_name',
        resource_group: `'default'`,
        period_start: 'k.created_at',
        period_end: 'coalesce(k.terminated_at, now())',
        resource_usage: `'{"cpu": "60"}'`,
      },
      `FROM kernels k WHERE k.session_id = ANY(${seededIds})`,
    );
  }
  // 26.4+: a model service whose replica a recent session serves (routings.session, RESTRICT onto it;
  // sessions.replica_id, SET NULL onto the routing), which an old session names as its replica too: it goes, the routing stays.
  if ((await c.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'sessions' AND column_name = 'replica_id'`)).rowCount) {
    const { endpoint } = await addEndpoint(c, 'replica-service', 'ready');
    const routing = await addRouting(c, endpoint, recent[1]!);
    await c.query('UPDATE sessions SET replica_id = $1 WHERE id = ANY($2::uuid[])', [routing, [recent[1], old[4]]]);
  }
  return { old, recent, running };
}

async function tableExists(c: pg.Client, table: string): Promise<boolean> {
  return ((await c.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name = $1`, [table])).rowCount ?? 0) > 0;
}

/** A model service's endpoint (24.03's with the image row its NOT NULL foreign key needs); the rows it made. */
async function addEndpoint(c: pg.Client, name: string, lifecycle: string): Promise<{ endpoint: string; others: string[] }> {
  const { rows } = await c.query<{ id: string }>('SELECT gen_random_uuid()::text AS id');
  const endpoint = rows[0]!.id;
  // 24.03's endpoints name their image by a foreign key onto images (NOT NULL): one image row for it.
  const imageFk = await c.query(
    `SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'endpoints' AND column_name = 'image' AND is_nullable = 'NO' AND udt_name = 'uuid'`,
  );
  const image: Record<string, string> = {};
  if (imageFk.rowCount) {
    const { rows: made } = await c.query<{ id: string }>('SELECT gen_random_uuid()::text AS id');
    await insertFilled(c, 'images', { id: `'${made[0]!.id}'`, name: `'cr.backend.ai/stable/python:3.9-ubuntu20.04'`, registry: `'cr.backend.ai'`, architecture: `'x86_64'` });
    image.image = `'${made[0]!.id}'`;
  }
  // The columns each line's endpoints have (26.4 moved the image, slots and mounts to deployment revisions).
  await insertColumns(c, 'endpoints', {
    ...image,
    id: `'${endpoint}'`,
    name: `'${name}'`,
    created_user: OWNER.user_uuid,
    session_owner: OWNER.user_uuid,
    domain: `'default'`,
    project: OWNER.group_id,
    resource_group: `'default'`,
    lifecycle_stage: `'${lifecycle}'`,
    resource_slots: `'{}'`,
    model_mount_destination: `'/models'`,
  });
  return { endpoint, others: [endpoint, ...(image.image ? [image.image.slice(1, -1)] : [])] };
}

/** A routing of `endpoint` onto `session`; its id. */
async function addRouting(c: pg.Client, endpoint: string, session: string): Promise<string> {
  const { rows } = await c.query<{ id: string }>('SELECT gen_random_uuid()::text AS id');
  await insertColumns(c, 'routings', {
    id: `'${rows[0]!.id}'`,
    endpoint: `'${endpoint}'`,
    session: `'${session}'`,
    session_owner: OWNER.user_uuid,
    domain: `'default'`,
    project: OWNER.group_id,
    traffic_ratio: '1.0',
  });
  return rows[0]!.id;
}

/** Two old sessions a model service's routings still point at, with their kernels; in bai-migrate's copy only. */
async function addRoutedSessions(c: pg.Client): Promise<{ sessions: string[]; kernels: string[]; endpoint: string; others: string[] }> {
  const sessions = await addSessions(c, [
    { status: 'TERMINATED', created: 120, terminated: 100, kernels: [100] },
    { status: 'TERMINATED', created: 60, terminated: 55, kernels: [55, 55] },
  ]);
  const { endpoint, others } = await addEndpoint(c, 'llm-service', 'destroyed');
  const routings: string[] = [];
  for (const session of sessions) routings.push(await addRouting(c, endpoint, session));
  const kernels = (await c.query<{ id: string }>('SELECT id::text FROM kernels WHERE session_id = ANY($1::uuid[]) ORDER BY id', [sessions])).rows.map((r) => r.id);
  // The endpoint, its routings and (24.03) its image: rows only this copy has.
  return { sessions, kernels, endpoint, others: [...others, ...routings] };
}

/** Every table's rows, each as JSON text, sorted. */
async function tables(c: pg.Client): Promise<Record<string, string[]>> {
  const { rows } = await c.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`);
  const out: Record<string, string[]> = {};
  for (const { table_name } of rows) {
    const { rows: data } = await c.query<{ j: string }>(`SELECT row_to_json(t)::text AS j FROM "${table_name}" t`);
    out[table_name] = data.map((r) => r.j).sort();
  }
  return out;
}

/** Redis DB 0 as the manager sees it: a stat key per kernel, and keys that are no kernel's. */
async function seedRedis(c: pg.Client): Promise<void> {
  await seedStatKeys(admin, c, { 'keypair.concurrency_used.AKTEST00000000000001': '1', 'i-agent-1': '{}' });
}

interface Copy {
  readonly database: string;
  readonly toml: string;
  readonly pg: pg.Client;
}

async function copyOf(template: string, rpcKeyFile: string): Promise<Copy> {
  const copy = await copyOfTemplate(info, admin, template, 'bai_che');
  cleanups.push(copy.drop);
  return { database: copy.database, toml: managerToml(copy.database, copy.namespace, rpcKeyFile), pg: copy.pg };
}

beforeAll(async () => {
  admin = await connectAdmin(info);
  venvs = productVenvs();
  python312 = pyenvInterpreters('3.12')[0]!;
  expect(python312, 'pyenv has no Python 3.12').toBeDefined();
  python313 = pyenvInterpreters('3.13')[0]!;
  expect(python313, 'pyenv has no Python 3.13').toBeDefined();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  for (const name of databases) await admin.pg.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin?.close();
});

/**
 * One release per era bai-migrate's own mode does, with the Python its venv is made with elsewhere
 * in the same run (long-lived-2303 makes 23.09.10's with /usr/bin/python3.11).
 */
const ERAS = [
  { release: '23.09.10', python: '/usr/bin/python3.11', semantics: '22.09.0 to before 24.03.4', purge: 'kernels', errorLogs: false, summedRedisCount: false, managerFails: false },
  { release: '24.03.11', python: 'pyenv 3.12', semantics: '24.03.4 to before 24.09.0', purge: 'sessions', errorLogs: false, summedRedisCount: false, managerFails: false },
  { release: '24.09.14', python: 'pyenv 3.12', semantics: '24.09.0 to before 25.19.0', purge: 'sessions', errorLogs: true, summedRedisCount: false, managerFails: false },
  // The same era; also where the manager's own run with the routed sessions is shown to stop half-way.
  { release: '24.12.1', python: 'pyenv 3.12', semantics: '24.09.0 to before 25.19.0', purge: 'sessions', errorLogs: true, summedRedisCount: false, managerFails: false },
  // 25.1–25.18 delete as 24.12 does, on schemas whose new session tables (scheduling history) have no foreign key;
  // 25.19 sums its Redis count over the chunks. Python 3.13, as the chain tests make 25.19.2's venv.
  { release: '25.19.2', python: 'pyenv 3.13', semantics: '25.19.0 to before 26.1.0', purge: 'sessions', errorLogs: true, summedRedisCount: true, managerFails: false },
  // 26.1–26.7: a UTC cutoff; the newest of them, 26.4's last patch, whose own command fails (MANAGER_CLEAR_HISTORY_FAILS).
  { release: '26.4.16', python: 'pyenv 3.13', semantics: '26.1.0 to before 26.8.0', purge: 'sessions', errorLogs: true, summedRedisCount: true, managerFails: true },
] as const;

/**
 * The release's own CLI with every model registered first (ensure_all_tables_registered, which its
 * `mgr schema oneshot` calls too): its clear-history without the mapper failure of 26.1–26.7.
 * Run as `python -c REGISTERED <venv>/bin/backend.ai mgr …`.
 */
const REGISTERED = [
  'import runpy, sys',
  'from ai.backend.manager.models.base import ensure_all_tables_registered',
  'ensure_all_tables_registered()',
  'sys.argv = sys.argv[1:]',
  "runpy.run_path(sys.argv[0], run_name='__main__')",
].join('\n');

/** Runs `body` with the runner's TZ set to `tz` (Node reads TZ again when it changes); undefined: as it is. */
async function inTimeZone<T>(tz: string | undefined, body: () => Promise<T>): Promise<T> {
  if (tz === undefined) return body();
  const before = process.env.TZ;
  process.env.TZ = tz;
  try {
    return await body();
  } finally {
    if (before === undefined) delete process.env.TZ;
    else process.env.TZ = before;
  }
}

/**
 * From 26.1 the manager's cutoff is datetime.now(UTC) - retention: calendar units on UTC's wall
 * clock. bai-migrate's cutoff against the real package's arithmetic (its TimeDuration, as its
 * clear_history parses -r, subtracted from an aware UTC datetime) at month ends and across DST,
 * with PostgreSQL's TimeZone and the runner's TZ elsewhere than UTC.
 */
async function checkUtcCutoff(release: string, venv: ProvisionedVenv, template: string): Promise<void> {
  const nows = ['2026-03-30T20:00:00+00:00', '2026-03-31T23:30:00+00:00', '2026-11-01T05:30:00+00:00', '2028-02-29T12:00:00+00:00', '2026-12-31T16:00:00+00:00'];
  const retentions = ['1mo', '3mo', '1yr', '30d', '2w', '36h'];
  // The real package's arithmetic: its TimeDuration (as its clear_history parses -r) subtracted from an aware UTC datetime.
  const script = [
    'import json, sys',
    'from datetime import datetime',
    'from ai.backend.common.validators import TimeDuration',
    'd = TimeDuration()',
    'print(json.dumps([[(datetime.fromisoformat(n) - d.check_and_return(r)).isoformat() for r in sys.argv[2].split(",")] for n in sys.argv[1].split(",")]))',
  ].join('\n');
  const out = execFileSync(join(dirname(venv.managerCli), 'python'), ['-c', script, nows.join(','), retentions.join(',')], { encoding: 'utf8' });
  const expected = JSON.parse(out.trim().split('\n').at(-1)!) as string[][];
  const c = client(template);
  await c.connect();
  try {
    let localDiffers = false;
    for (const [pgTz, runnerTz] of [
      ['Asia/Seoul', 'America/New_York'],
      ['America/New_York', 'Asia/Seoul'],
      ['UTC', 'Europe/Berlin'],
    ] as const) {
      await c.query(`SET TimeZone = '${pgTz}'`);
      await inTimeZone(runnerTz, async () => {
        for (const [i, now] of nows.entries()) {
          for (const [j, text] of retentions.entries()) {
            const retention = parseRetention(text, { release: findRelease(release)!, allowShort: true });
            const { cutoff } = await cutoffAndCount({ postgres: c }, retention, 'utc', new Date(now));
            expect(cutoff.toISOString(), `${now} - ${text}, PostgreSQL in ${pgTz}, runner in ${runnerTz}`).toBe(new Date(expected[i]![j]!).toISOString());
            // Before 26.1 the calendar arithmetic follows the connection's TimeZone: somewhere here that differs, which this test would see.
            const local = await cutoffAndCount({ postgres: c }, retention, 'local', new Date(now));
            if (local.cutoff.getTime() !== cutoff.getTime()) localDiffers = true;
          }
        }
      });
    }
    expect(localDiffers).toBe(true);
  } finally {
    await c.end();
  }
}

describe.each(ERAS)('clear-history of $release: the real manager and bai-migrate on its own schema', ({ release, python, semantics, purge, errorLogs, summedRedisCount, managerFails }) => {
  let venv: ProvisionedVenv;
  let template: string;
  let seeded: Awaited<ReturnType<typeof seedHistory>>;
  let rpcKeyFile: string;

  beforeAll(async () => {
    const started = Date.now();
    venv = await venvOf(release, python === 'pyenv 3.12' ? python312 : python === 'pyenv 3.13' ? python313 : python);
    template = `tmpl_che_${randomBytes(3).toString('hex')}`;
    databases.push(template);
    // The release's own schema, and the RPC key pair as its own CLI makes it (an operator's manager.toml names it).
    rpcKeyFile = await oneshotDatabase(info, admin.pg, venv.managerCli, template);
    ranRealPackage(release, 'mgr schema oneshot (clear-history eras)');
    const c = client(template);
    await c.connect();
    try {
      await seedInstallation(c, { users: ['user0', 'user1'] });
      seeded = await seedHistory(c);
    } finally {
      await c.end();
    }
    console.log(`${release}: venv and seeded schema in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }, 900_000);

  it("the real `mgr clear-history -r 30d` and bai-migrate leave the same rows in every table and the same Redis keys; bai-migrate leaves routed sessions and names them; its dry run reports what its run deletes; from 26.1 its cutoff is the manager's UTC one", async () => {
    const cutoffDays = `now() - interval '${RETENTION_DAYS} days'`;
    // The manager's copy.
    let one = await copyOf(template, rpcKeyFile);
    await seedRedis(one.pg);
    const beforeOne = await tables(one.pg);
    // What this era's manager deletes, counted from the seed by SQL of its own (not bai-migrate's).
    const counted = async (c: pg.Client) =>
      (
        await c.query<{ sessions: number | null; kernels: number; error_logs: number | null }>(
          purge === 'sessions'
            ? `SELECT (SELECT count(*)::int FROM sessions WHERE terminated_at < ${cutoffDays}) AS sessions,
                      (SELECT count(*)::int FROM kernels WHERE session_id IN (SELECT id FROM sessions WHERE terminated_at < ${cutoffDays})) AS kernels,
                      ${errorLogs ? `(SELECT count(*)::int FROM error_logs WHERE created_at < ${cutoffDays})` : 'NULL::int'} AS error_logs`
            : `SELECT NULL::int AS sessions, (SELECT count(*)::int FROM kernels WHERE terminated_at < ${cutoffDays}) AS kernels, NULL::int AS error_logs`,
        )
      ).rows[0]!;
    const expected = await counted(one.pg);
    const oldKernels = (await one.pg.query<{ id: string }>(`SELECT id::text FROM kernels WHERE terminated_at < ${cutoffDays}`)).rows.map((r) => r.id);
    expect(expected.kernels).toBeGreaterThan(0);
    if (purge === 'sessions') expect(expected.sessions).toBe(seeded.old.length);
    const args = ['mgr', 'clear-history', '-r', `${RETENTION_DAYS}d`];
    if (managerFails) {
      // The release's own command as an operator runs it: it removes the old kernels' stat keys, then fails before any row goes.
      const failing = Date.now();
      const failed = await runManagerCli({ command: [venv.managerCli], configFile: one.toml }, args);
      console.log(`${release}: the manager's failing clear-history in ${Date.now() - failing} ms`);
      expect(failed.exitCode, failed.output).toBe(1);
      expect(failed.output).toMatch(/Mapper\[KernelRow\(kernels\)\], expression 'AgentRow' failed to locate a name/);
      expect(failed.output).not.toContain('Unexpected error while cleaning up redis history');
      ranRealPackage(release, 'mgr clear-history (fails on its mapper)');
      expect(await tables(one.pg)).toEqual(beforeOne);
      expect((await admin.redis(0).keys('*')).some((k) => oldKernels.includes(k))).toBe(false);
      // What it deletes without that failure: the same command on a fresh copy, with every model registered first.
      one = await copyOf(template, rpcKeyFile);
      await seedRedis(one.pg);
      expect(await tables(one.pg)).toEqual(beforeOne);
    }
    const cli = { command: managerFails ? [join(dirname(venv.managerCli), 'python'), '-c', REGISTERED, venv.managerCli] : [venv.managerCli], configFile: one.toml };
    const started = Date.now();
    const manager: CliResult = await runManagerCli(cli, args);
    requireSuccess(cli, args, manager);
    console.log(`${release}: the manager's clear-history in ${Date.now() - started} ms`);
    expect(manager.output).not.toContain('Unexpected error while cleaning up redis history');
    ranRealPackage(release, 'mgr clear-history');
    const byManager = await tables(one.pg);
    const keysByManager = (await admin.redis(0).keys('*')).sort();
    // The manager did what the seed says, nothing else: the old sessions (or, before 24.03.4, the old kernels) are gone.
    expect(beforeOne.sessions!.length - byManager.sessions!.length).toBe(expected.sessions ?? 0);
    expect(beforeOne.kernels!.length - byManager.kernels!.length).toBe(expected.kernels);
    expect(beforeOne.error_logs!.length - byManager.error_logs!.length).toBe(expected.error_logs ?? 0);
    for (const id of seeded.running) expect(byManager.sessions!.some((r) => r.includes(id))).toBe(true);
    // The stat keys of the kernels terminated before the cutoff went, and only they.
    expect(keysByManager.some((k) => oldKernels.includes(k))).toBe(false);
    expect(keysByManager.length).toBe(beforeOne.kernels!.length + 2 - oldKernels.length);
    // What the manager logs it removed from Redis: from 25.19 the sum over its chunks of 32, which is every key it removed.
    // (Before, the count of the last chunk only: the seed has more than 32 such kernels.)
    expect(oldKernels.length).toBeGreaterThan(32);
    const managerCount = [...manager.output.matchAll(/Cleaned up ([\d,]+) redis statistics records/g)].map((m) => Number(m[1]!.replaceAll(',', '')));
    if (summedRedisCount) expect(managerCount).toEqual([oldKernels.length]);
    // The scheduling history (25.x) names sessions without a foreign key: the manager leaves every row of it.
    for (const table of ['session_scheduling_history', 'kernel_scheduling_history'].filter((t) => t in beforeOne)) {
      expect(beforeOne[table]!.length, table).toBeGreaterThan(0);
      expect(byManager[table], table).toEqual(beforeOne[table]);
    }
    // 26.x: the deleted kernels' allocations went with them (ON DELETE CASCADE); the usage records and the replica's routing stay.
    if ('resource_allocations' in beforeOne) {
      expect(beforeOne.resource_allocations!.length - byManager.resource_allocations!.length).toBe(expected.kernels);
      expect(beforeOne.kernel_usage_records!.length).toBeGreaterThan(0);
      expect(byManager.kernel_usage_records).toEqual(beforeOne.kernel_usage_records);
      expect(beforeOne.routings).toHaveLength(1);
      expect(byManager.routings).toEqual(beforeOne.routings);
    }
    if (managerFails) {
      // mode: manager through bai-migrate is refused before anything is done, naming bai-migrate's own mode.
      const third = await copyOf(template, rpcKeyFile);
      await seedRedis(third.pg);
      const keysBeforeThird = (await admin.redis(0).keys('*')).sort();
      const viaManager = await runEngine({ command: 'clear-history', mode: 'manager', 'manager-config': third.toml, retention: `${RETENTION_DAYS}d`, 'manager-venv': venvs, 'to-version': release });
      expect(viaManager.report.error).toMatch(
        new RegExp(
          `^clear-history mode: manager cannot work on Backend\\.AI ${release.replaceAll('.', '\\.')}: its \`backend\\.ai mgr clear-history\` exits 1 .*AgentRow.*; nothing was done\\. Use mode: bai-migrate`,
        ),
      );
      expect(await tables(third.pg)).toEqual(beforeOne);
      expect((await admin.redis(0).keys('*')).sort()).toEqual(keysBeforeThird);
    } else if (summedRedisCount) {
      // mode: manager through bai-migrate reports the manager's own Redis count, now right, and counts the rows as the seed says.
      const third = await copyOf(template, rpcKeyFile);
      await seedRedis(third.pg);
      const keysBeforeThird = (await admin.redis(0).keys('*')).length;
      const viaManager = await runEngine({ command: 'clear-history', mode: 'manager', 'manager-config': third.toml, retention: `${RETENTION_DAYS}d`, 'manager-venv': venvs, 'to-version': release });
      expect(viaManager.report.error).toBeUndefined();
      expect(viaManager.report.history).toMatchObject({
        semantics,
        kernels: expected.kernels,
        sessions: expected.sessions,
        errorLogs: expected.error_logs,
        redisKeys: keysBeforeThird - (await admin.redis(0).keys('*')).length,
      });
      expect(viaManager.report.history!.redisKeys).toBe(oldKernels.length);
      expect(await tables(third.pg)).toEqual(byManager);
    }

    if (release === '24.12.1') {
      // The manager on a copy with the routed sessions too: it deletes every old session's kernels, then stops on the routings' foreign key.
      const halfway = await copyOf(template, rpcKeyFile);
      const routedHere = await addRoutedSessions(halfway.pg);
      await seedRedis(halfway.pg);
      const failed = await runManagerCli({ command: [venv.managerCli], configFile: halfway.toml }, args);
      expect(failed.exitCode).not.toBe(0);
      expect(failed.output).toContain('fk_routings_session_sessions');
      const left = await halfway.pg.query<{ sessions: number; kernels: number }>(
        `SELECT (SELECT count(*)::int FROM sessions WHERE terminated_at < ${cutoffDays}) AS sessions, (SELECT count(*)::int FROM kernels WHERE id = ANY($1::uuid[])) AS kernels`,
        [routedHere.kernels],
      );
      expect(left.rows[0]).toEqual({ sessions: expected.sessions! + routedHere.sessions.length, kernels: 0 });
    }

    // bai-migrate's copy; from 24.03.4 with routed old sessions besides.
    const other = await copyOf(template, rpcKeyFile);
    const routed = purge === 'sessions' ? await addRoutedSessions(other.pg) : { sessions: [], kernels: [], endpoint: '', others: [] };
    await seedRedis(other.pg);
    const inputs = { command: 'clear-history', 'manager-config': other.toml, retention: `${RETENTION_DAYS}d`, 'batch-size': '3' };
    const beforeOther = await tables(other.pg);
    const keysBefore = (await admin.redis(0).keys('*')).sort();
    // From 26.1 the cutoff is UTC's: neither PostgreSQL's TimeZone nor the runner's TZ may move it (both set elsewhere than UTC here).
    const utc = findRelease(release)!.line.startsWith('26.');
    if (utc) await admin.pg.query(`ALTER DATABASE ${other.database} SET timezone TO 'Asia/Seoul'`);
    const runnerTz = utc ? 'America/New_York' : undefined;
    const dry = await inTimeZone(runnerTz, () => runEngine({ ...inputs, 'dry-run': 'true' }));
    expect(dry.report.error).toBeUndefined();
    expect(await tables(other.pg)).toEqual(beforeOther);
    expect((await admin.redis(0).keys('*')).sort()).toEqual(keysBefore);
    const { report } = await inTimeZone(runnerTz, () => runEngine(inputs));
    expect(report.error).toBeUndefined();
    expect(report.outcome).toBe('success');
    const held = routed.sessions.length;
    const history = {
      kernels: expected.kernels,
      sessions: expected.sessions,
      errorLogs: expected.error_logs,
      heldSessions: held,
      semantics,
      redisKeys: keysBefore.length - (await admin.redis(0).keys('*')).length,
    };
    expect(report.history).toMatchObject(history);
    expect(dry.report.history).toMatchObject(history);
    const details = report.entries.filter((e) => e.step === 'clear-history').map((e) => e.detail);
    expect(details[0]).toMatch(new RegExp(`^clear-history semantics of Backend\\.AI ${semantics.replaceAll('.', '\\.')}, the release of revision `));
    expect(details.some((d) => /longest statement \d+ ms/.test(d))).toBe(true);
    if (held > 0) {
      const warning = report.entries.find((e) => e.step === 'clear-history' && e.status === 'warning')!.detail;
      expect(warning).toMatch(
        /^left 2 session\(s\) terminated before the cutoff, and their 3 kernel\(s\), in place: rows still refer to them through routings\.session \(fk_routings_session_sessions\)/,
      );
      for (const id of routed.sessions) expect(warning).toContain(`session ${id} (routed by endpoint llm-service ${routed.endpoint})`);
    }

    // Every table as the manager left it, besides the routed sessions, their kernels and the endpoint's rows, which stay.
    const byBaiMigrate = await tables(other.pg);
    const extra = (row: string) => [...routed.sessions, ...routed.kernels, ...routed.others].some((id) => row.includes(id));
    expect(Object.keys(byBaiMigrate)).toEqual(Object.keys(byManager));
    for (const [table, rows] of Object.entries(byBaiMigrate))
      expect(
        rows.filter((r) => !extra(r)),
        table,
      ).toEqual(byManager[table]);
    expect(byBaiMigrate.sessions!.filter(extra)).toHaveLength(routed.sessions.length);
    expect(byBaiMigrate.kernels!.filter(extra)).toHaveLength(routed.kernels.length);
    if (held > 0) expect(byBaiMigrate.routings!.filter(extra)).toHaveLength(2);
    // The same Redis keys: the routed kernels' keys go as the manager's would (it deletes every old kernel's first).
    expect((await admin.redis(0).keys('*')).sort()).toEqual(keysByManager);
    if (utc) await checkUtcCutoff(release, venv, template);
  }, 900_000);
});

/**
 * From 24.03.4 the manager deletes the old sessions' kernels, then them, with one statement each
 * that binds every old session's id; asyncpg sends at most 32,767 parameters. An operator whose
 * nightly job has fallen behind by more old sessions than that (or who first runs it after years)
 * has a command that fails every night. Seen with the real 25.19.2 (24.03.11's and 26.4.10's
 * scripts bind the same way).
 */
describe('clear-history of 25.19.2 with more old sessions than its manager can delete in one run', () => {
  const release = '25.19.2';
  const old = 32_768 + 232;
  let venv: ProvisionedVenv;
  let template: string;
  let rpcKeyFile: string;

  beforeAll(async () => {
    venv = await venvOf(release, python313);
    template = `tmpl_chm_${randomBytes(3).toString('hex')}`;
    databases.push(template);
    rpcKeyFile = await oneshotDatabase(info, admin.pg, venv.managerCli, template);
    const c = client(template);
    await c.connect();
    try {
      await seedInstallation(c, { users: ['user0'] });
      // The old sessions, each with one kernel, in bulk; and a few recent ones that stay.
      await insertTerminatedSessions(c, old, 40);
      await insertTerminatedSessions(c, 10, 2);
    } finally {
      await c.end();
    }
  }, 900_000);

  const counts = async (c: pg.Client) =>
    (await c.query<{ sessions: number; kernels: number }>('SELECT (SELECT count(*)::int FROM sessions) AS sessions, (SELECT count(*)::int FROM kernels) AS kernels')).rows[0]!;

  it('the real command exits 1 on asyncpg’s limit and deletes no row; mode: manager is refused before anything is done; bai-migrate’s own mode deletes them all in batches, its dry run counting the same', async () => {
    const args = ['mgr', 'clear-history', '-r', `${RETENTION_DAYS}d`];
    const seeded = { sessions: old + 10, kernels: old + 10 };

    // The manager's own command: its Redis part runs, then the kernels' DELETE fails, and no row goes.
    const one = await copyOf(template, rpcKeyFile);
    await seedRedis(one.pg);
    const failed = await runManagerCli({ command: [venv.managerCli], configFile: one.toml }, args);
    expect(failed.exitCode).toBe(1);
    expect(failed.output).toContain('the number of query arguments cannot exceed 32767');
    expect(failed.output).toMatch(new RegExp(`Cleaned up ${old.toLocaleString('en-US')} redis statistics records`));
    ranRealPackage(release, 'mgr clear-history (more old sessions than one statement binds)');
    expect(await counts(one.pg)).toEqual(seeded);

    // mode: manager through bai-migrate: refused before the manager runs, Redis and the rows untouched.
    const two = await copyOf(template, rpcKeyFile);
    await seedRedis(two.pg);
    const keysBefore = (await admin.redis(0).keys('*')).length;
    const viaManager = await runEngine({ command: 'clear-history', mode: 'manager', 'manager-config': two.toml, retention: `${RETENTION_DAYS}d`, 'manager-venv': venvs, 'to-version': release });
    expect(viaManager.report.error).toMatch(
      new RegExp(`^clear-history mode: manager cannot work on this deployment: ${old} session\\(s\\) were terminated before .*, more than the 32767 .*; nothing was done\\. Use mode: bai-migrate`),
    );
    expect(await counts(two.pg)).toEqual(seeded);
    expect((await admin.redis(0).keys('*')).length).toBe(keysBefore);

    // bai-migrate's own mode: every old session and kernel, in batches; the dry run counts the same and deletes nothing.
    const inputs = { command: 'clear-history', 'manager-config': two.toml, retention: `${RETENTION_DAYS}d`, 'batch-size': '5000' };
    const dry = await runEngine({ ...inputs, 'dry-run': 'true' });
    expect(dry.report.error).toBeUndefined();
    expect(await counts(two.pg)).toEqual(seeded);
    const { report } = await runEngine(inputs);
    expect(report.error).toBeUndefined();
    const history = { sessions: old, kernels: old, errorLogs: 0, heldSessions: 0, redisKeys: old };
    expect(report.history).toMatchObject(history);
    expect(dry.report.history).toMatchObject(history);
    expect(await counts(two.pg)).toEqual({ sessions: 10, kernels: 10 });
    expect((await admin.redis(0).keys('*')).length).toBe(keysBefore - old);
  }, 900_000);
});
