/**
 * The rows a fresh installation holds before anyone uses it, for tests that start from a release's
 * own `mgr schema oneshot`: a domain, policies, users with a keypair each (the first a superadmin),
 * a project they all belong to, a scaling group whose app proxy is outside the loopback (TEST-NET),
 * and optionally one agent. Columns a line's schema lacks are left out.
 */
import type pg from 'pg';

/** A storage proxy's secret in etcd, which no snapshot or report may hold. */
export const STORAGE_PROXY_SECRET = 'storage-Secr3t-Q8zN4vKd';

/**
 * etcd's volumes/ as an install writes it for one storage proxy at `host` (loopback by default;
 * nothing listens there in the tests): the manager refuses to start without it (its storage_manager_ctx).
 */
export function storageProxyKeys(host = '127.0.0.1'): Readonly<Record<string, string>> {
  return {
    'volumes/default_host': 'local:volume1',
    'volumes/proxies/local/client_api': `http://${host}:6021`,
    'volumes/proxies/local/manager_api': `https://${host}:6022`,
    'volumes/proxies/local/secret': STORAGE_PROXY_SECRET,
    'volumes/proxies/local/ssl_verify': 'false',
  };
}

/**
 * INSERT of the columns `table` has of `row` (SQL expressions), and for every other NOT NULL column
 * without a default a value of its type, as insertFilled does: a later line's new required column
 * (26.4's scaling_groups.default_session_options, default_deployment_options) needs no seed of its own.
 */
export async function insertColumns(c: pg.Client, table: string, row: Record<string, string>, from = ''): Promise<void> {
  await insertRow(c, table, row, from, 'skip');
}

export interface InstallationRows {
  /** User names; the first is the superadmin. */
  readonly users: readonly string[];
  /** One ALIVE agent of this version, at a TEST-NET address. */
  readonly agent?: { readonly version: string };
}

export async function seedInstallation(c: pg.Client, { users, agent }: InstallationRows): Promise<void> {
  await insertColumns(c, 'domains', { name: `'default'`, is_active: 'true', total_resource_slots: `'{}'`, allowed_vfolder_hosts: `'{}'`, allowed_docker_registries: `'{}'`, dotfiles: `'\\x90'` });
  await insertColumns(c, 'keypair_resource_policies', {
    name: `'default'`,
    default_for_unspecified: `'UNLIMITED'`,
    total_resource_slots: `'{}'`,
    max_concurrent_sessions: '30',
    max_containers_per_session: '1',
    idle_timeout: '0',
    allowed_vfolder_hosts: `'{}'`,
    max_vfolder_count: '0',
    max_vfolder_size: '0',
  });
  await insertColumns(c, 'user_resource_policies', {
    name: `'default'`,
    max_vfolder_count: '0',
    max_vfolder_size: '0',
    max_quota_scope_size: '-1',
    max_session_count_per_model_session: '10',
    max_customized_image_count: '3',
  });
  await insertColumns(c, 'project_resource_policies', { name: `'default'`, max_vfolder_count: '0', max_vfolder_size: '0', max_quota_scope_size: '-1', max_network_count: '3' });
  for (const [i, name] of users.entries()) {
    await insertColumns(c, 'users', {
      uuid: 'gen_random_uuid()',
      username: `'${name}'`,
      email: `'${name}@example.com'`,
      password: `'x'`,
      need_password_change: 'false',
      full_name: `'${name}'`,
      description: `''`,
      status: `'active'`,
      status_info: `'admin-requested'`,
      domain_name: `'default'`,
      // 26.9: users.domain_id (NOT NULL, onto domains.id) beside the deprecated domain_name.
      domain_id: `(SELECT id FROM domains WHERE name = 'default')`,
      role: i === 0 ? `'superadmin'` : `'user'`,
      resource_policy: `'default'`,
      sudo_session_enabled: 'false',
    });
  }
  await insertColumns(
    c,
    'keypairs',
    {
      user_id: 'email',
      access_key: `'AKIA' || upper(substr(md5(email), 1, 16))`,
      secret_key: `md5(email || 'secret')`,
      is_active: 'true',
      is_admin: `role = 'superadmin'`,
      resource_policy: `'default'`,
      user: 'uuid',
      rate_limit: '30000',
      num_queries: '0',
      dotfiles: `'\\x90'`,
      bootstrap_script: `''`,
    },
    'FROM users',
  );
  // 26.9's keypairs name their user by uuid only (no user_id), and the main key is keypairs.is_default (no users.main_access_key).
  const byEmail = (await c.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'keypairs' AND column_name = 'user_id'`)).rowCount! > 0;
  if (byEmail) await c.query(`UPDATE users u SET main_access_key = k.access_key FROM keypairs k WHERE k.user_id = u.email`);
  else await c.query(`UPDATE keypairs SET is_default = true`);
  await insertColumns(c, 'groups', {
    id: 'gen_random_uuid()',
    name: `'default'`,
    domain_name: `'default'`,
    resource_policy: `'default'`,
    allowed_vfolder_hosts: `'{}'`,
    dotfiles: `'\\x90'`,
    type: `'general'`,
    is_active: 'true',
    total_resource_slots: `'{}'`,
  });
  await c.query(`INSERT INTO association_groups_users (group_id, user_id) SELECT g.id, u.uuid FROM groups g, users u`);
  await insertColumns(c, 'scaling_groups', {
    name: `'default'`,
    is_active: 'true',
    driver: `'static'`,
    driver_opts: `'{}'`,
    scheduler: `'fifo'`,
    scheduler_opts: `'{}'`,
    use_host_network: 'false',
    wsproxy_addr: `'http://192.0.2.10:5050'`,
  });
  // 26.9: resource_group_id and domain_id (NOT NULL, onto the ids) beside the names.
  await insertColumns(c, 'sgroups_for_domains', {
    scaling_group: `'default'`,
    domain: `'default'`,
    resource_group_id: `(SELECT id FROM scaling_groups WHERE name = 'default')`,
    domain_id: `(SELECT id FROM domains WHERE name = 'default')`,
  });
  if (agent)
    await insertColumns(c, 'agents', {
      id: `'i-agent-1'`,
      status: `'ALIVE'`,
      region: `'local'`,
      scaling_group: `'default'`,
      available_slots: `'{"cpu": "4", "mem": "8589934592"}'`,
      occupied_slots: `'{"cpu": "0", "mem": "0"}'`,
      addr: `'tcp://192.0.2.11:6001'`,
      version: `'${agent.version}'`,
      architecture: `'x86_64'`,
      compute_plugins: `'{}'`,
      first_contact: 'now()',
    });
}

/**
 * INSERT INTO `table` one row per row of `from` (SQL after SELECT … ), with `values` (SQL
 * expressions) and, for every other NOT NULL column without a default, a value of its type: what
 * the manager would fill in. A column the table lacks is an error. For tables whose columns change
 * from line to line (sessions, kernels, vfolders), so one seed serves every release's schema.
 */
export async function insertFilled(c: pg.Client, table: string, values: Record<string, string>, from = ''): Promise<void> {
  await insertRow(c, table, values, from, 'error');
}

/** The INSERT of insertColumns and insertFilled: `values` of a column the table lacks are left out (skip) or an error. */
async function insertRow(c: pg.Client, table: string, values: Record<string, string>, from: string, lacking: 'skip' | 'error'): Promise<void> {
  const { rows } = await c.query<{ column_name: string; is_nullable: string; column_default: string | null; data_type: string; udt_name: string; is_identity: string; is_generated: string }>(
    `SELECT column_name, is_nullable, column_default, data_type, udt_name, is_identity, is_generated FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  if (rows.length === 0) throw new Error(`there is no table ${table}`);
  const columns: string[] = [];
  const exprs: string[] = [];
  for (const col of rows) {
    let expr = values[col.column_name];
    const required = col.is_nullable === 'NO' && col.column_default === null && col.is_identity === 'NO' && col.is_generated === 'NEVER';
    if (expr === undefined && required) expr = fillerOf(col.data_type, col.udt_name);
    if (expr === undefined) continue;
    columns.push(`"${col.column_name}"`);
    exprs.push(expr);
  }
  const unknown = Object.keys(values).filter((k) => !rows.some((r) => r.column_name === k));
  if (unknown.length > 0 && lacking === 'error') throw new Error(`${table} has no column ${unknown.join(', ')}`);
  await c.query(`INSERT INTO ${table} (${columns.join(', ')}) SELECT ${exprs.join(', ')} ${from}`);
}

function fillerOf(dataType: string, udt: string): string {
  if (dataType === 'USER-DEFINED') return `(SELECT enumlabel::${udt} FROM pg_enum WHERE enumtypid = '${udt}'::regtype ORDER BY enumsortorder LIMIT 1)`;
  if (dataType === 'ARRAY') return `'{}'`;
  if (udt === 'uuid') return 'gen_random_uuid()';
  if (udt === 'jsonb' || udt === 'json') return `'{}'`;
  if (udt === 'bool') return 'false';
  if (/^(int|float|numeric)/.test(udt)) return '0';
  if (udt.startsWith('timestamp')) return 'now()';
  if (udt === 'inet' || udt === 'cidr') return `'0.0.0.0'`;
  if (udt === 'bytea') return `'\\x'`;
  if (udt === 'interval') return `'0'`;
  return `'x'`;
}

/** Who owns the rows insertTerminatedSessions adds: SQL expressions (the seeded installation's by default). */
export const INSTALLATION_OWNER = {
  domain_name: `'default'`,
  group_id: `(SELECT id FROM groups LIMIT 1)`,
  user_uuid: `(SELECT uuid FROM users ORDER BY username LIMIT 1)`,
  access_key: `(SELECT access_key FROM keypairs ORDER BY user_id LIMIT 1)`,
};

/**
 * `count` TERMINATED single-node sessions, created and terminated `daysAgo` days (and g seconds)
 * ago, in one statement, each with its one kernel; for 24.03+ schemas (the columns a 25.19 one
 * requires are filled). `extra`: values of columns that a later schema requires of each table (26.8's
 * resource_group_id and the sessions' domain_id, keys onto scaling_groups and domains).
 */
export async function insertTerminatedSessions(
  c: pg.Client,
  count: number,
  daysAgo: number,
  extra: { readonly sessions?: Record<string, string>; readonly kernels?: Record<string, string> } = {},
): Promise<void> {
  await insertFilled(
    c,
    'sessions',
    {
      id: 'gen_random_uuid()',
      creation_id: `'c${daysAgo}-' || g`,
      name: `'s${daysAgo}-' || g`,
      session_type: `'INTERACTIVE'`,
      cluster_mode: `'single-node'`,
      cluster_size: '1',
      ...INSTALLATION_OWNER,
      scaling_group_name: `'default'`,
      status: `'TERMINATED'`,
      created_at: `now() - interval '${daysAgo} days' - g * interval '1 second'`,
      terminated_at: `now() - interval '${daysAgo} days' - g * interval '1 second'`,
      occupying_slots: `'{}'`,
      requested_slots: `'{}'`,
      ...extra.sessions,
    },
    `FROM generate_series(1, ${count}) g`,
  );
  await insertFilled(
    c,
    'kernels',
    {
      id: 's.id',
      session_id: 's.id',
      session_creation_id: 's.creation_id',
      session_name: 's.name',
      session_type: `'INTERACTIVE'`,
      cluster_mode: `'single-node'`,
      cluster_size: '1',
      cluster_role: `'main'`,
      cluster_idx: '1',
      local_rank: '0',
      cluster_hostname: `'main1'`,
      ...INSTALLATION_OWNER,
      scaling_group: `'default'`,
      image: `'cr.backend.ai/stable/python:3.9-ubuntu20.04'`,
      architecture: `'x86_64'`,
      registry: `'cr.backend.ai'`,
      status: `'TERMINATED'`,
      occupied_slots: `'{}'`,
      requested_slots: `'{}'`,
      created_at: 's.created_at',
      terminated_at: 's.terminated_at',
      ...extra.kernels,
    },
    `FROM sessions s WHERE s.creation_id LIKE 'c${daysAgo}-%' AND NOT EXISTS (SELECT 1 FROM kernels k WHERE k.session_id = s.id)`,
  );
}
