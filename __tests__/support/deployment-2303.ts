/**
 * A deployment built the way an operator's was: a fresh install by the real backend.ai-manager
 * 23.03.12 (`backend.ai mgr schema oneshot`, which creates the tables and stamps the head but
 * seeds no row), upgraded to 23.09 by bai-migrate's own migrate with the real 23.09.10 from PyPI
 * (manager-venv), then given years of data shaped as operators' are: registries of several shapes
 * in etcd config/docker/registry and their images, users of every status with their keypairs,
 * projects, vfolders, sessions and kernels over three years, model-service endpoints and their
 * routings, error logs, resource policies (a `default` project policy among them), and a
 * manager.toml with a manager secret.
 *
 * The base is built once per test run; every case gets a clone (`cloneBase`): a database made with
 * `CREATE DATABASE … TEMPLATE <base>` and a fresh etcd namespace holding the base's keys.
 * The seed returns what it planted (`Seed2303`), so tests compare runs with the seed, never with
 * numbers the product computed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { Report } from '../../src/core/report/index.js';
import { latestRelease } from '../../src/releases/releases.js';
import { connectAdmin, type Admin } from './deployment.js';
import { ensureRealManagerVenv, MANAGER_TOML_LOGGING, productVenvs, runInVenv, writeManagerFiles, type CommandResult, type RealManagerVenv } from './real-manager.js';
import { ranRealPackage } from './real-lines.js';
import { runEngine } from './run.js';
import { pyenvInterpreters } from '../../src/manager/venv.js';
import type { TestbedInfo } from './testbed.js';
import { databaseClient } from './operator-toml.js';
import { STORAGE_PROXY_SECRET, storageProxyKeys } from './installation-rows.js';

/** Distinctive, so that a test can search every report for it. */
export const MANAGER_SECRET = 'mgr-Secr3t-W7vq2LxP';
export const HARBOR_PASSWORD = 'harbor-Secr3t-R4nd0m';

/** Users of the domain "default" by status, and of another domain: 308bcecec5c2 makes every user of "default" a member of model-store, whatever its status. */
export const USERS_BY_STATUS = { active: 30, inactive: 5, deleted: 4, 'before-verification': 2 } as const;
export const OTHER_DOMAIN_USERS = 6;
/** One session (with one kernel) every eight hours over three years, the newest ones still running. */
export const SESSIONS = 3 * 365 * 3;
/** The sessions (by age: the n-th newest, eight hours apart) the model services' routings name: a destroyed service's, beyond a year, and a serving one's. */
export const ROUTED_OLD = [1500, 1503, 1506];
export const ROUTED_RECENT = [9, 12];
export const ERROR_LOGS = 1_200;
export const VFOLDERS_PER_USER = 2;

/** The registries of etcd config/docker/registry, in the shapes operators have them. */
export const REGISTRIES = {
  /** Harbor with two projects. */
  harbor: { key: 'cr.backend.ai', url: 'https://cr.backend.ai', type: 'harbor2', projects: ['stable', 'community'] },
  /** Harbor with credentials (a robot account). */
  private: { key: 'registry.example.com', url: 'https://registry.example.com', type: 'harbor2', projects: ['ml', 'research'], username: 'robot$ml' },
  /** Docker Hub without a project: 24.09 makes it "library". */
  hub: { key: 'index.docker.io', url: 'https://registry-1.docker.io', type: 'docker' },
  /** A plain registry with a port, so its etcd key is URL-quoted. */
  internal: { key: 'registry.internal%3A5000', name: 'registry.internal:5000', url: 'http://registry.internal:5000', type: 'docker', projects: ['team'] },
  /** The local registry (images built on the agents), of type local and without a project. */
  local: { key: 'local', url: 'http://localhost', type: 'local' },
} as const;

/** Images of the images table (architecture x86_64), one or more per registry and project; `legacy` is a project no registry lists. */
export const IMAGES = [
  'cr.backend.ai/stable/python:3.9-ubuntu20.04',
  'cr.backend.ai/stable/pytorch:2.0-py310-cuda11.8',
  'cr.backend.ai/stable/tensorflow:2.12-py310-cuda11.8',
  'cr.backend.ai/community/r-base:4.2-ubuntu22.04',
  'registry.example.com/ml/vllm:0.2.1',
  'registry.example.com/research/llm:1.0',
  'index.docker.io/library/ubuntu:22.04',
  'registry.internal:5000/team/app:2.1',
  'registry.internal:5000/legacy/old-app:1.0',
] as const;

export interface Seed2303 {
  /** Users of the domain "default", every status. */
  readonly defaultDomainUsers: number;
  /** The rows 24.09's 1d42c726d8a3 makes, as "name/project" ("name (local)" for the local one), in its order; `automatic`: those it makes by itself. */
  readonly registryRows: readonly string[];
  readonly automaticRows: readonly string[];
  readonly images: number;
  readonly registries: number;
}

export interface Base2303 {
  /** The template database, at 23.09's head. */
  readonly template: string;
  /** The etcd keys of the base's namespace, relative to it. */
  readonly etcdKeys: Readonly<Record<string, string>>;
  /** The RPC key pair 23.09's CLI made during the upgrade (named in every clone's manager.toml). */
  readonly rpcKeyFile: string;
  readonly seed: Seed2303;
  /** The report of the 23.03 → 23.09 migrate that made it. */
  readonly upgrade: Report;
  readonly venv2303: RealManagerVenv;
  readonly oneshot: Installed2309['oneshot'];
}

export interface Clone2303 {
  readonly database: string;
  readonly namespace: string;
  readonly pg: pg.Client;
  /** manager.toml of this clone: what 24.09's loader requires, the RPC key pair, a manager secret. */
  readonly managerToml: string;
  close(): Promise<void>;
}

/** manager.toml as an operator keeps it: comments, the manager secret, what 24.09's loader requires. */
export function writeManagerToml2303(info: TestbedInfo, database: string, namespace: string, rpcKeyFile?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bai-2303-'));
  const path = join(dir, 'manager.toml');
  const { host, port, user, password } = info.postgres;
  writeFileSync(
    path,
    [
      '# Backend.AI manager configuration (installed with 23.03.12)',
      '[etcd]',
      `namespace = "${namespace}"`,
      `addr = { host = "${info.etcd.host}", port = ${info.etcd.port} }`,
      'user = ""',
      'password = ""',
      '',
      '[db]',
      'type = "postgresql"',
      `addr = { host = "${host}", port = ${port} }`,
      `name = "${database}"`,
      `user = "${user}"`,
      `password = "${password}"`,
      '',
      '[manager]',
      'num-proc = 1',
      'service-addr = { host = "0.0.0.0", port = 8080 }',
      'heartbeat-timeout = 30.0',
      `secret = "${MANAGER_SECRET}"  # for manager API`,
      ...(rpcKeyFile ? [`rpc-auth-manager-keypair = "${rpcKeyFile}"`] : []),
      MANAGER_TOML_LOGGING,
    ].join('\n'),
  );
  return path;
}

/**
 * SQL for a NOT NULL column without a default that a seeded row does not name: what the manager
 * itself would put there, by type. A type without one fails the seeding, naming the column.
 */
function filler(table: string, column: string, type: string, udt: string): string {
  if (type === 'uuid') return 'gen_random_uuid()';
  if (['character varying', 'text', 'character'].includes(type)) return `'-'`;
  if (type === 'json' || type === 'jsonb') return `'{}'`;
  if (['integer', 'bigint', 'smallint', 'numeric', 'double precision', 'real'].includes(type)) return '0';
  if (type === 'boolean') return 'false';
  if (type.startsWith('timestamp')) return 'now()';
  if (type === 'bytea') return `'\\x90'`;
  if (type === 'ARRAY') return `'{}'`;
  if (type === 'USER-DEFINED') return `(enum_range(NULL::"${udt}"))[1]`;
  throw new Error(`the seeding has no value for ${table}.${column} (${type} ${udt}, NOT NULL, no default)`);
}

const fillCache = new Map<string, Array<[string, string]>>();

/**
 * INSERT of `count` rows (`n` = 1…count in the expressions), or of a row per row of `from` (a FROM
 * clause), the columns not named filled as the manager would.
 */
async function insertRows(c: pg.Client, table: string, given: Record<string, string>, count: number | string = 1): Promise<void> {
  let fill = fillCache.get(table);
  if (!fill) {
    const { rows } = await c.query<{ column_name: string; data_type: string; udt_name: string }>(
      `SELECT column_name, data_type, udt_name FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = $1 AND is_nullable = 'NO' AND column_default IS NULL ORDER BY ordinal_position`,
      [table],
    );
    fill = rows.map((r) => [r.column_name, filler(table, r.column_name, r.data_type, r.udt_name)]);
    fillCache.set(table, fill);
  }
  const columns = { ...Object.fromEntries(fill.filter(([name]) => !(name in given))), ...given };
  await c.query(
    `INSERT INTO ${table} (${Object.keys(columns)
      .map((name) => `"${name}"`)
      .join(', ')}) SELECT ${Object.values(columns).join(', ')} FROM ${typeof count === 'number' ? `generate_series(1, ${count}) AS n` : count}`,
  );
}

const lit = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** The registries into etcd, the way operators' manager.toml-era installs have them. */
function registryKeys(): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const r of Object.values(REGISTRIES)) {
    const base = `config/docker/registry/${r.key}`;
    keys[base] = r.url;
    keys[`${base}/type`] = r.type;
    if ('projects' in r) keys[`${base}/project`] = r.projects.join(',');
    if ('username' in r) {
      keys[`${base}/username`] = r.username;
      keys[`${base}/password`] = HARBOR_PASSWORD;
    }
  }
  return keys;
}

/** What 1d42c726d8a3 will make of REGISTRIES and IMAGES, worked out by hand from its four phases (src/hops/24.03-24.09/registry-config.ts describes them). */
function expectedRegistryRows(): { rows: string[]; automatic: string[] } {
  // In etcd's order: by key.
  const byKey = Object.values(REGISTRIES).sort((a, b) => (a.key < b.key ? -1 : 1));
  const listed = byKey.flatMap((r) => {
    const name = 'name' in r ? r.name : r.key;
    if ('projects' in r) return r.projects.map((p) => `${name}/${p}`);
    return [r.type === 'local' ? `${name} (local)` : `${name}/library`];
  });
  // Images whose registry is known but whose project no registry lists get a row of their own.
  const automatic = [...new Set(IMAGES.map((i) => i.split('/').slice(0, 2).join('/')))].filter((prefix) => !listed.includes(prefix));
  return { rows: [...listed, ...automatic], automatic };
}

/** Years of data on the 23.09 schema. */
async function seed(c: pg.Client): Promise<void> {
  await insertRows(c, 'domains', { name: `'default'`, is_active: 'true', allowed_docker_registries: `ARRAY['cr.backend.ai', 'registry.example.com']` });
  await insertRows(c, 'domains', { name: `'research'`, is_active: 'true' });
  await insertRows(c, 'keypair_resource_policies', { name: `'default'`, max_concurrent_sessions: '30', total_resource_slots: `'{}'` });
  await insertRows(c, 'user_resource_policies', { name: `'default'` });
  await insertRows(c, 'project_resource_policies', { name: `'default'`, max_vfolder_size: '-1' });
  await insertRows(c, 'project_resource_policies', { name: `'team'`, max_vfolder_size: '1099511627776' });
  await insertRows(c, 'scaling_groups', { name: `'default'`, is_active: 'true', driver: `'static'`, scheduler: `'fifo'` });
  await insertRows(
    c,
    'agents',
    {
      id: `'i-agent-' || n`,
      status: `CASE WHEN n = 1 THEN 'TERMINATED' ELSE 'LOST' END::agentstatus`,
      region: `'local'`,
      scaling_group: `'default'`,
      addr: `'tcp://10.0.0.' || n || ':6001'`,
      architecture: `'x86_64'`,
      version: `'23.09.10'`,
      // What an agent reports of its host; the manager's agent_list reads every slot it knows (cpu, mem).
      available_slots: `'{"cpu": "8", "mem": "34359738368"}'::jsonb`,
      occupied_slots: `'{"cpu": "0", "mem": "0"}'::jsonb`,
    },
    3,
  );

  // Users of every status in "default", and some in another domain: 308bcecec5c2 counts the former only.
  let index = 0;
  for (const [status, count] of Object.entries(USERS_BY_STATUS)) {
    await insertRows(
      c,
      'users',
      {
        uuid: 'gen_random_uuid()',
        username: `'user${index} ' || n`,
        email: `'user' || (${index} + n) || '@example.com'`,
        status: `'${status}'::userstatus`,
        role: `CASE WHEN ${index} + n = 1 THEN 'superadmin' ELSE 'user' END::userrole`,
        domain_name: `'default'`,
        resource_policy: `'default'`,
        created_at: `now() - (${index} + n) * interval '20 days'`,
      },
      count,
    );
    index += count;
  }
  await insertRows(
    c,
    'users',
    {
      uuid: 'gen_random_uuid()',
      username: `'researcher' || n`,
      email: `'researcher' || n || '@example.org'`,
      status: `'active'::userstatus`,
      role: `'user'::userrole`,
      domain_name: `'research'`,
      resource_policy: `'default'`,
    },
    OTHER_DOMAIN_USERS,
  );
  // A keypair per user (its main one), a second one for some.
  const keypair = (prefix: string, secret: string, active: string, created: string): Record<string, string> => ({
    user_id: 'u.email',
    access_key: `'${prefix}' || upper(substr(md5(u.email), 1, ${20 - prefix.length}))`,
    secret_key: `'${secret}' || md5(u.email || 'secret')`,
    is_active: active,
    is_admin: `u.role = 'superadmin'`,
    resource_policy: `'default'`,
    user: 'u.uuid',
    rate_limit: '10000',
    num_queries: '0',
    created_at: created,
  });
  await insertRows(c, 'keypairs', keypair('AK', 'sk-', `u.status = 'active'`, 'u.created_at'), 'users u');
  await insertRows(c, 'keypairs', keypair('AK2', 'sk2-', 'false', `u.created_at + interval '300 days'`), `users u WHERE u.status = 'active' AND u.email LIKE 'user1%'`);
  await c.query(`UPDATE users SET main_access_key = 'AK' || upper(substr(md5(email), 1, 18))`);

  // Projects: the default one, a team with its own policy, one in the other domain.
  for (const [name, domain, policy] of [
    ['default', 'default', 'default'],
    ['ml-team', 'default', 'team'],
    ['default', 'research', 'default'],
  ] as const) {
    await insertRows(c, 'groups', { id: 'gen_random_uuid()', name: lit(name), domain_name: lit(domain), is_active: 'true', resource_policy: lit(policy) });
  }
  await c.query(`INSERT INTO association_groups_users (group_id, user_id) SELECT g.id, u.uuid FROM users u JOIN groups g ON g.domain_name = u.domain_name AND g.name = 'default'`);
  await c.query(
    `INSERT INTO association_groups_users (group_id, user_id) SELECT g.id, u.uuid FROM users u, groups g WHERE g.name = 'ml-team' AND u.domain_name = 'default' AND u.status = 'active' AND u.email LIKE 'user2%'`,
  );

  // The images of every registry and project, as 23.09 stores them.
  for (const name of IMAGES) {
    const [registry, ...rest] = name.split('/');
    const [image, tag] = rest.join('/').split(':');
    await insertRows(c, 'images', {
      id: 'gen_random_uuid()',
      name: lit(name),
      image: lit(image!),
      tag: lit(tag!),
      registry: lit(registry!),
      architecture: `'x86_64'`,
      config_digest: `'sha256:' || md5(${lit(name)}) || md5(${lit(name)})`,
      size_bytes: '1073741824',
      type: `'COMPUTE'::imagetype`,
      labels: `'{"ai.backend.kernelspec": "1", "ai.backend.features": "batch query uid-match"}'`,
      resources: `'{"cpu": {"min": "1"}, "mem": {"min": "1g"}}'`,
    });
  }

  // vfolders over the years: each user's, and the projects'; a model folder for the endpoints.
  await c.query(
    `INSERT INTO vfolders (id, host, quota_scope_id, name, usage_mode, permission, ownership_type, "user", creator, created_at, last_used, max_files, num_files, cur_size, cloneable, status)
     SELECT gen_random_uuid(), 'local:volume1', 'user:' || u.uuid::text, 'folder-' || k, CASE WHEN k = 1 THEN 'general' ELSE 'data' END::vfolderusagemode, 'rw'::vfolderpermission,
            'user'::vfolderownershiptype, u.uuid, u.email, u.created_at + k * interval '30 days', now() - k * interval '3 days', 0, 0, 0, false, 'ready'::vfolderoperationstatus
       FROM users u, generate_series(1, ${VFOLDERS_PER_USER}) AS k`,
  );
  await c.query(
    `INSERT INTO vfolders (id, host, quota_scope_id, name, usage_mode, permission, ownership_type, "group", creator, created_at, max_files, num_files, cur_size, cloneable, status)
     SELECT gen_random_uuid(), 'local:volume1', 'project:' || g.id::text, CASE WHEN g.name = 'ml-team' THEN 'llama-weights' ELSE 'shared' END,
            CASE WHEN g.name = 'ml-team' THEN 'model' ELSE 'data' END::vfolderusagemode, 'rw'::vfolderpermission, 'group'::vfolderownershiptype, g.id, 'user1@example.com', now() - interval '400 days', 0, 0, 0, false, 'ready'::vfolderoperationstatus
       FROM groups g`,
  );

  // Sessions and their kernels, one every eight hours over three years, all ended (services are stopped for the upgrade).
  await c.query(
    `CREATE TEMP TABLE seed_sessions AS
     SELECT n, gen_random_uuid() AS id, u.uuid AS user_uuid, u.main_access_key AS access_key, g.id AS group_id,
            now() - n * interval '8 hours' AS created_at, now() - n * interval '8 hours' + interval '2 hours' AS terminated_at,
            CASE WHEN n % 17 = 0 THEN 'CANCELLED' ELSE 'TERMINATED' END AS status,
            CASE WHEN n IN (${[...ROUTED_OLD, ...ROUTED_RECENT].join(', ')}) THEN 'INFERENCE' WHEN n % 5 = 0 THEN 'BATCH' ELSE 'INTERACTIVE' END AS session_type
       FROM generate_series(1, ${SESSIONS}) AS n
       JOIN LATERAL (SELECT uuid, main_access_key FROM users WHERE domain_name = 'default' AND status = 'active' ORDER BY email OFFSET (n % ${USERS_BY_STATUS.active}) LIMIT 1) u ON true
       JOIN groups g ON g.domain_name = 'default' AND g.name = 'default'`,
  );
  await insertRows(
    c,
    'sessions',
    {
      id: 's.id',
      creation_id: `substr(md5(s.id::text), 1, 22)`,
      name: `'session-' || s.n`,
      session_type: 's.session_type::sessiontypes',
      cluster_size: '1',
      domain_name: `'default'`,
      group_id: 's.group_id',
      user_uuid: 's.user_uuid',
      access_key: 's.access_key',
      scaling_group_name: `'default'`,
      agent_ids: `ARRAY['i-agent-1']`,
      images: `ARRAY['cr.backend.ai/stable/python:3.9-ubuntu20.04']`,
      created_at: 's.created_at',
      terminated_at: 's.terminated_at',
      status: 's.status::sessionstatus',
      status_history: `jsonb_build_object('PENDING', s.created_at, 'RUNNING', s.created_at + interval '1 minute', s.status, s.terminated_at)`,
    },
    'seed_sessions s',
  );
  await insertRows(
    c,
    'kernels',
    {
      id: 'gen_random_uuid()',
      session_id: 's.id',
      session_creation_id: `substr(md5(s.id::text), 1, 22)`,
      session_name: `'session-' || s.n`,
      session_type: 's.session_type::sessiontypes',
      cluster_size: '1',
      cluster_role: `'main'`,
      cluster_idx: '0',
      local_rank: '0',
      cluster_hostname: `'main1'`,
      scaling_group: `'default'`,
      agent: `'i-agent-1'`,
      domain_name: `'default'`,
      group_id: 's.group_id',
      user_uuid: 's.user_uuid',
      access_key: 's.access_key',
      image: `'cr.backend.ai/stable/python:3.9-ubuntu20.04'`,
      architecture: `'x86_64'`,
      registry: `'cr.backend.ai'`,
      repl_in_port: '2000',
      repl_out_port: '2001',
      stdin_port: '2002',
      stdout_port: '2003',
      created_at: 's.created_at',
      terminated_at: 's.terminated_at',
      status: 's.status::kernelstatus',
      environ: `ARRAY['HOME=/home/work']`,
    },
    'seed_sessions s',
  );

  // Model services of the ml-team project: one destroyed long ago whose routings still name its
  // old sessions (24.12.1's clear-history stops on them), and one serving, routed to recent sessions.
  for (const [name, routed, destroyed] of [
    ['llama-chat', ROUTED_OLD, true],
    ['summarizer', ROUTED_RECENT, false],
  ] as const) {
    await insertRows(c, 'endpoints', {
      id: 'gen_random_uuid()',
      name: lit(name),
      created_user: `(SELECT uuid FROM users WHERE email = 'user1@example.com')`,
      session_owner: `(SELECT uuid FROM users WHERE email = 'user1@example.com')`,
      desired_session_count: String(routed.length),
      image: `(SELECT id FROM images WHERE name = 'registry.example.com/ml/vllm:0.2.1')`,
      model: `(SELECT id FROM vfolders WHERE name = 'llama-weights')`,
      model_mount_destiation: `'/models'`,
      domain: `'default'`,
      project: `(SELECT id FROM groups WHERE name = 'ml-team')`,
      resource_group: `'default'`,
      resource_slots: `'{"cpu": "4", "mem": "16g", "cuda.shares": "1"}'`,
      url: `'https://${name}.models.example.com'`,
      cluster_mode: `'single-node'`,
      cluster_size: '1',
      created_at: `now() - interval '${destroyed ? 700 : 30} days'`,
      destroyed_at: destroyed ? `now() - interval '480 days'` : 'NULL',
      lifecycle_stage: `'${destroyed ? 'destroyed' : 'created'}'::endpointlifecycle`,
    });
    await c.query(
      `INSERT INTO routings (id, endpoint, session, session_owner, domain, project, status, traffic_ratio, created_at)
       SELECT gen_random_uuid(), e.id, s.id, s.user_uuid, 'default', e.project, 'healthy', 1.0, s.created_at FROM seed_sessions s, endpoints e WHERE e.name = $1 AND s.n = ANY($2::int[])`,
      [name, routed],
    );
  }

  // Error logs over the three years.
  await insertRows(
    c,
    'error_logs',
    {
      id: 'gen_random_uuid()',
      created_at: `now() - n * interval '${Math.floor((3 * 365 * 24) / ERROR_LOGS)} hours'`,
      severity: `(CASE WHEN n % 10 = 0 THEN 'critical' WHEN n % 3 = 0 THEN 'warning' ELSE 'error' END)::errorlog_severity`,
      source: `'manager'`,
      user: `(SELECT uuid FROM users WHERE email = 'user1@example.com')`,
      is_read: 'n % 2 = 0',
      is_cleared: 'n % 4 = 0',
      message: `'kernel creation failed: ' || n`,
      context_lang: `'python'`,
      context_env: `'{"ai.backend.manager": "23.09.10"}'`,
      request_url: `'/session'`,
      request_status: '500',
      traceback: `'Traceback (most recent call last): ...'`,
    },
    ERROR_LOGS,
  );
}

/**
 * What `backend.ai mgr schema oneshot` of 23.03.12 says on any database: its group's callback takes
 * an argument click never passes (backend.ai@23.03.12:src/ai/backend/manager/cli/dbschema.py,
 * `def cli(args) -> None: pass`), so none of `mgr schema`'s commands runs.
 */

export const ONESHOT_2303_BROKEN = "TypeError: cli() missing 1 required positional argument: 'args'";

/**
 * The same `mgr schema oneshot` of 23.03.12, run by its own `mgr` entry point in its venv with the
 * group's callback (which does nothing but fail) replaced by one that does nothing: the release's
 * own create_all and stamp of the head, nothing of ours.
 */
const ONESHOT_PAST_GROUP = `
import sys
import ai.backend.manager.cli.dbschema as dbschema
dbschema.cli.callback = lambda *args, **kwargs: None
from ai.backend.manager.cli.__main__ import main
main(["schema", "oneshot", "-f", sys.argv[1]], prog_name="backend.ai mgr")
`;

/**
 * 23.03.12's oneshot into the empty `database`: first as an operator types it (which fails with
 * ONESHOT_2303_BROKEN, returned as \`cli\`), then past the group's callback.
 */
async function oneshot2303(venv: RealManagerVenv, info: TestbedInfo, database: string): Promise<{ cli: CommandResult; oneshot: CommandResult }> {
  const files = writeManagerFiles(info, database, 'local', venv.release);
  const options = { mounts: [files.dir], env: { BACKEND_CONFIG_FILE: files.managerToml }, workdir: files.dir };
  const cli = await runInVenv(venv, 'backend.ai', ['mgr', 'schema', 'oneshot', '-f', files.alembicIni], options);
  const oneshot = await runInVenv(venv, 'python', ['-c', ONESHOT_PAST_GROUP, files.alembicIni], options);
  if (oneshot.exitCode !== 0) throw new Error(`23.03.12's oneshot failed (exit ${oneshot.exitCode}):\n${`${oneshot.stdout}\n${oneshot.stderr}`.trim().split('\n').slice(-20).join('\n')}`);
  return { cli, oneshot };
}

export interface Installed2309 {
  readonly database: string;
  readonly namespace: string;
  readonly managerToml: string;
  readonly upgrade: Report;
  readonly venv2303: RealManagerVenv;
  /** `backend.ai mgr schema oneshot` as typed (it fails: ONESHOT_2303_BROKEN), and the oneshot past the group's callback. */
  readonly oneshot: { cli: CommandResult; oneshot: CommandResult };
}

/**
 * A fresh install by the real 23.03.12 (`mgr schema oneshot` into an empty database, the Redis
 * address in etcd), taken to 23.09 by bai-migrate's migrate with the real 23.09.10 from
 * manager-venv `productVenvs`.
 */
export async function install2303To2309(admin: Admin, info: TestbedInfo, productVenvs: string, database: string): Promise<Installed2309> {
  const venv2303 = await ensureRealManagerVenv('23.03.12');
  const namespace = `ns-${database}`;
  await admin.pg.query(`CREATE DATABASE ${database}`);
  const oneshot = await oneshot2303(venv2303, info, database);
  ranRealPackage('23.03.12', 'mgr schema oneshot (its own command, invoked past the broken group callback)');
  const etcd = admin.etcd.namespace(`/sorna/${namespace}/`);
  await etcd.put('config/redis/addr').value(`${info.redis.host}:${info.redis.port}`);
  await etcd.put('config/redis/password').value(info.redis.password);
  // The storage proxy, as every install configures it: the manager refuses to start without volumes/ (its storage_manager_ctx).
  for (const [key, value] of Object.entries(storageProxyKeys())) await etcd.put(key).value(value);
  const managerToml = writeManagerToml2303(info, database, namespace);
  const { report } = await runEngine({
    command: 'migrate',
    'from-version': '23.03',
    'to-version': '23.09',
    'manager-config': managerToml,
    'manager-venv': productVenvs,
    python: '/usr/bin/python3.11',
    'backup-dir': mkdtempSync(join(tmpdir(), 'bai-2303-backup-')),
  });
  expect(report.error).toBeUndefined();
  ranRealPackage('23.09.10', 'alembic upgrade of a 23.03.12 oneshot install');
  return { database, namespace, managerToml, upgrade: report, venv2303, oneshot };
}

/**
 * The base: 23.03.12's oneshot into an empty database, 23.09 by bai-migrate's migrate with the
 * real 23.09.10 (manager-venv `productVenvs`), then the seed; made once per test run.
 */
export async function buildBase2303(admin: Admin, info: TestbedInfo, productVenvs: string): Promise<Base2303> {
  const installed = await install2303To2309(admin, info, productVenvs, `tmpl_2303_${randomBytes(3).toString('hex')}`);
  const { database: template, namespace } = installed;
  const c = databaseClient(info, template);
  await c.connect();
  try {
    expect((await c.query('SELECT version_num FROM alembic_version')).rows).toEqual([{ version_num: latestRelease('23.09').head }]);
    await seed(c);
    const etcd = admin.etcd.namespace(`/sorna/${namespace}/`);
    for (const [key, value] of Object.entries(registryKeys())) await etcd.put(key).value(value);
    const etcdKeys = await etcd.getAll().prefix('').strings();
    const rpcKeyFile = join(installed.managerToml, '..', 'rpc-keypair', 'manager.key_secret');
    const { rows } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM users WHERE domain_name = 'default'`);
    const expected = expectedRegistryRows();
    await c.end();
    await admin.etcd.delete().prefix(`/sorna/${namespace}/`);
    return {
      template,
      etcdKeys,
      rpcKeyFile,
      venv2303: installed.venv2303,
      oneshot: installed.oneshot,
      upgrade: installed.upgrade,
      seed: { defaultDomainUsers: rows[0]!.n, registryRows: expected.rows, automaticRows: expected.automatic, images: IMAGES.length, registries: Object.keys(REGISTRIES).length },
    };
  } catch (error) {
    await c.end().catch(() => undefined);
    throw error;
  }
}

/**
 * A clone of the base for one case: its own database (a copy of the template) and etcd namespace
 * (the base's keys put again), and a manager.toml naming both. A case that changes the deployment
 * (a removed constraint, an extra image) changes its clone only.
 */
export async function cloneBase(admin: Admin, info: TestbedInfo, base: Base2303): Promise<Clone2303> {
  const suffix = randomBytes(4).toString('hex');
  const database = `bai2303_${suffix}`;
  const namespace = `ns-2303-${suffix}`;
  await admin.pg.query(`CREATE DATABASE ${database} TEMPLATE ${base.template}`);
  const etcd = admin.etcd.namespace(`/sorna/${namespace}/`);
  for (const [key, value] of Object.entries(base.etcdKeys)) await etcd.put(key).value(value);
  const c = databaseClient(info, database);
  await c.connect();
  return {
    database,
    namespace,
    pg: c,
    managerToml: writeManagerToml2303(info, database, namespace, base.rpcKeyFile),
    async close() {
      await c.end();
      await admin.pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.etcd.delete().prefix(`/sorna/${namespace}/`);
    },
  };
}

/**
 * What a run could have written to a clone: the schema (columns, constraints, indexes),
 * alembic_version, each table's row count and a hash of its rows, and every etcd key of its
 * namespace with its value.
 */
export async function stateOf(admin: Admin, clone: Clone2303): Promise<Record<string, unknown>> {
  const c = clone.pg;
  const { rows: columns } = await c.query(`SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2`);
  const { rows: constraints } = await c.query(
    `SELECT conrelid::regclass::text AS table, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2`,
  );
  const { rows: indexes } = await c.query(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`);
  const { rows: types } = await c.query(`SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY 1 ORDER BY 1`);
  const tables = [...new Set(columns.map((r: { table_name: string }) => r.table_name))];
  const rows: Record<string, unknown> = {};
  for (const table of tables) {
    const { rows: result } = await c.query(`SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS hash FROM "${table}" t`);
    rows[table] = result[0];
  }
  const { rows: alembic } = await c.query('SELECT version_num FROM alembic_version ORDER BY 1');
  const etcd = await admin.etcd.namespace(`/sorna/${clone.namespace}/`).getAll().prefix('').strings();
  return { alembic, columns, constraints, indexes, types, rows, etcd };
}

/** A report's entries of one phase and step (and hop). */
export const entries = (report: Report, phase: string, step: string, hop?: string) => report.entries.filter((e) => e.phase === phase && e.step === step && (hop === undefined || e.hop === hop));
/** What failed, as [hop, step]. */
export const failures = (report: Report) => report.entries.filter((e) => e.status === 'failed').map((e) => [e.hop, e.step]);
/** None of the base's secrets is anywhere in the report. */
export const noSecrets = (report: Report) => {
  const text = JSON.stringify(report);
  expect(text).not.toContain(MANAGER_SECRET);
  expect(text).not.toContain(HARBOR_PASSWORD);
  expect(text).not.toContain(STORAGE_PROXY_SECRET);
};

/** 308bcecec5c2 counts every user of the domain "default"; what the seed put there, by status, in the order the check reads them (by status). */
export function modelStoreMembers(): { total: number; others: string } {
  const total = Object.values(USERS_BY_STATUS).reduce((a, b) => a + b, 0);
  const others = Object.entries(USERS_BY_STATUS)
    .filter(([status]) => status !== 'active')
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  return { total, others };
}

/**
 * The hooks of a test file on this deployment: the base built once (beforeAll), a clone per call
 * of `clone()`, dropped after each test. A case of its own (a schema drift: a removed constraint)
 * is one test: `const c = await clone(); await c.pg.query('ALTER TABLE … DROP CONSTRAINT …'); …`.
 */
export function useDeployment2303(info: TestbedInfo): {
  admin: () => Admin;
  base: () => Base2303;
  clone: () => Promise<Clone2303>;
  /** The product's manager-venv of the run (shared with the other real tests). */
  productVenvs: () => string;
  /** The `python` input toward 24.x: 3.11 for 23.09, pyenv's 3.12 for 24.03–24.12. */
  pythons: () => string;
  python312: () => string;
  /** migrate or preflight of a clone toward 24.12.1 with the real packages; from-version is not given: it is read from the database. */
  toward2412: (c: Clone2303, command: 'preflight' | 'migrate') => Record<string, string>;
} {
  let admin: Admin | undefined;
  let base: Base2303 | undefined;
  let venvs = '';
  let python312 = '';
  const clones: Clone2303[] = [];
  beforeAll(async () => {
    venvs = productVenvs();
    const found = pyenvInterpreters('3.12')[0];
    if (!found) throw new Error('the machine has no Python 3.12 (pyenv) for 24.03–24.12');
    python312 = found;
    admin = await connectAdmin(info);
    base = await buildBase2303(admin, info, venvs);
  }, 1_800_000);
  afterEach(async () => {
    for (const c of clones.splice(0)) await c.close();
  });
  afterAll(async () => {
    if (base) await admin!.pg.query(`DROP DATABASE IF EXISTS ${base.template} WITH (FORCE)`);
    await admin?.close();
  });
  return {
    admin: () => admin!,
    base: () => base!,
    async clone() {
      const made = await cloneBase(admin!, info, base!);
      clones.push(made);
      return made;
    },
    productVenvs: () => venvs,
    pythons: () => `/usr/bin/python3.11,${python312}`,
    python312: () => python312,
    toward2412: (c, command) => ({
      command,
      'to-version': '24.12',
      'manager-config': c.managerToml,
      'manager-venv': venvs,
      python: `/usr/bin/python3.11,${python312}`,
      'backup-dir': mkdtempSync(join(tmpdir(), 'bai-2303-backup-')),
    }),
  };
}
