/**
 * The fixture's alembic graph has only the columns bai-migrate reads; a real 21.09 database has
 * many more, and users type into some of them. This brings a seeded 21.09 deployment's kernels,
 * keypairs, agents and a users table to the full column set of backend.ai-manager@21.09.9
 * (src/ai/backend/manager/models/kernel.py, keypair.py, user.py, agent.py): same types, same
 * NOT NULL-ness, no server default where the manager sets the value itself.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { SNAPSHOT_ALLOWLIST } from '../../src/rehearsal/sanitize.js';

/** [table, column, definition]: added where missing; `fill` is what existing rows get before a client-side default is dropped. */
const COLUMNS_2109: ReadonlyArray<readonly [string, string, string, string?]> = [
  ['kernels', 'session_creation_id', 'varchar(32)'],
  ['kernels', 'session_type', `sessiontypes NOT NULL DEFAULT 'INTERACTIVE'`],
  ['kernels', 'cluster_mode', `varchar(16) NOT NULL DEFAULT 'SINGLE_NODE'`],
  ['kernels', 'cluster_size', 'integer NOT NULL', '1'],
  ['kernels', 'cluster_idx', 'integer NOT NULL', '0'],
  ['kernels', 'cluster_hostname', 'varchar(64) NOT NULL', `'main1'`],
  ['kernels', 'scaling_group', 'varchar(64) REFERENCES scaling_groups(name)'],
  ['kernels', 'agent_addr', 'varchar(128)'],
  ['kernels', 'domain_name', 'varchar(64) NOT NULL', `'default'`],
  ['kernels', 'group_id', 'uuid NOT NULL', `'2de2b9a3-2f2c-4d4c-9a35-8c8ff5a3e3c1'`],
  ['kernels', 'user_uuid', 'uuid NOT NULL', '(SELECT u.uuid FROM keypairs k JOIN users u ON u.email = k.user_id WHERE k.access_key = kernels.access_key)'],
  ['kernels', 'image', 'varchar(512)'],
  ['kernels', 'registry', 'varchar(512)'],
  ['kernels', 'tag', 'varchar(64)'],
  ['kernels', 'container_id', 'varchar(64)'],
  ['kernels', 'occupied_slots', 'jsonb NOT NULL', `'{}'`],
  ['kernels', 'occupied_shares', 'jsonb NOT NULL', `'{}'`],
  ['kernels', 'environ', 'varchar[]'],
  ['kernels', 'mounts', 'varchar[]'],
  ['kernels', 'mount_map', 'jsonb'],
  ['kernels', 'attached_devices', 'jsonb'],
  ['kernels', 'resource_opts', 'jsonb'],
  ['kernels', 'bootstrap_script', 'varchar(16384)'],
  ['kernels', 'kernel_host', 'varchar(128)'],
  ['kernels', 'repl_in_port', 'integer NOT NULL', '2000'],
  ['kernels', 'repl_out_port', 'integer NOT NULL', '2001'],
  ['kernels', 'stdin_port', 'integer NOT NULL', '2002'],
  ['kernels', 'stdout_port', 'integer NOT NULL', '2003'],
  ['kernels', 'service_ports', 'jsonb'],
  ['kernels', 'preopen_ports', 'integer[]'],
  ['kernels', 'starts_at', 'timestamptz'],
  ['kernels', 'status_changed', 'timestamptz'],
  ['kernels', 'status_info', 'varchar'],
  ['kernels', 'status_data', 'jsonb'],
  ['kernels', 'startup_command', 'text'],
  ['kernels', 'result', `sessionresult NOT NULL DEFAULT 'UNDEFINED'`],
  ['kernels', 'container_log', 'bytea'],
  ['kernels', 'num_queries', 'bigint'],
  ['keypairs', 'created_at', 'timestamptz DEFAULT now()'],
  ['keypairs', 'modified_at', 'timestamptz DEFAULT now()'],
  ['keypairs', 'last_used', 'timestamptz'],
  ['keypairs', 'rate_limit', 'integer'],
  ['keypairs', 'num_queries', 'integer DEFAULT 0'],
  ['keypairs', 'ssh_public_key', 'varchar(750)'],
  ['keypairs', 'ssh_private_key', 'varchar(2000)'],
  ['keypairs', 'user', 'uuid NOT NULL REFERENCES users(uuid)', '(SELECT u.uuid FROM users u WHERE u.email = keypairs.user_id)'],
  ['keypairs', 'dotfiles', 'bytea NOT NULL', `'\\x90'`],
  ['keypairs', 'bootstrap_script', 'varchar(65536) NOT NULL', `''`],
  ['agents', 'status_changed', 'timestamptz'],
  ['agents', 'region', 'varchar(64) NOT NULL', `'local'`],
  ['agents', 'schedulable', 'boolean NOT NULL DEFAULT true'],
  ['agents', 'available_slots', 'jsonb NOT NULL', `'{}'`],
  ['agents', 'occupied_slots', 'jsonb NOT NULL', `'{}'`],
  ['agents', 'first_contact', 'timestamptz DEFAULT now()'],
  ['agents', 'lost_at', 'timestamptz'],
  ['agents', 'version', 'varchar(64) NOT NULL', `'21.09.9'`],
  ['agents', 'compute_plugins', 'jsonb NOT NULL', `'{}'`],
];

export async function extendToReal2109(client: pg.Client): Promise<void> {
  await client.query(`CREATE TYPE sessiontypes AS ENUM ('INTERACTIVE', 'BATCH')`);
  await client.query(`CREATE TYPE sessionresult AS ENUM ('UNDEFINED', 'SUCCESS', 'FAILURE')`);
  await client.query(`CREATE TYPE userstatus AS ENUM ('active', 'inactive', 'deleted', 'before-verification')`);
  await client.query(`CREATE TYPE userrole AS ENUM ('superadmin', 'admin', 'user', 'monitor')`);
  await client.query(
    `CREATE TABLE users (uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(), username varchar(64) UNIQUE, email varchar(64) NOT NULL UNIQUE,
       password varchar, need_password_change boolean, full_name varchar(64), description varchar(500), status userstatus NOT NULL,
       status_info varchar, created_at timestamptz DEFAULT now(), modified_at timestamptz DEFAULT now(), integration_id varchar(512),
       domain_name varchar(64), role userrole)`,
  );
  await client.query(`CREATE INDEX ix_users_email ON users (email)`);
  await client.query(`INSERT INTO users (username, email, status, role) SELECT split_part(user_id, '@', 1), user_id, 'active', 'user' FROM keypairs`);
  for (const [table, column, definition, fill] of COLUMNS_2109) {
    if (fill === undefined) {
      await client.query(`ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS "${column}" ${definition}`);
      continue;
    }
    // NOT NULL with the manager filling it in: add nullable, fill, then require it.
    const [type, ...rest] = definition.replace(' NOT NULL', '').split(' REFERENCES ');
    await client.query(`ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS "${column}" ${type}${rest.length ? ` REFERENCES ${rest.join('')}` : ''}`);
    await client.query(`UPDATE ${table} SET "${column}" = ${fill}`);
    await client.query(`ALTER TABLE ${table} ALTER COLUMN "${column}" SET NOT NULL`);
  }
  await client.query(`UPDATE agents SET addr = coalesce(addr, 'tcp://0.0.0.0:6001'), scaling_group = coalesce(scaling_group, 'default')`);
  await client.query(`ALTER TABLE agents ALTER COLUMN addr SET NOT NULL, ALTER COLUMN scaling_group SET NOT NULL, ALTER COLUMN scaling_group SET DEFAULT 'default'`);
  await client.query(`ALTER TABLE agents ADD FOREIGN KEY (scaling_group) REFERENCES scaling_groups(name)`);
  await client.query(`ALTER TABLE keypairs ALTER COLUMN resource_policy SET NOT NULL`);
  await client.query(
    `ALTER TABLE kernels ADD FOREIGN KEY (access_key) REFERENCES keypairs(access_key), ADD FOREIGN KEY (agent) REFERENCES agents(id), ADD FOREIGN KEY (user_uuid) REFERENCES users(uuid)`,
  );
}

/**
 * No secret is planted in the columns a snapshot carries as they are, by design (the allowlist's
 * copies: keys, labels and numbers the steps, the target's data migrations and the manager need),
 * nor in the email columns: they keep their seeded addresses, which are secrets too, so that the
 * pseudonyms can be seen to stay emails.
 */
export const NOT_PLANTED: ReadonlySet<string> = new Set([
  'keypairs.user_id',
  'users.email',
  ...Object.entries(SNAPSHOT_ALLOWLIST).flatMap(([table, columns]) =>
    Object.entries(columns)
      .filter(([, allowed]) => allowed.rule === 'copy')
      .map(([column]) => `${table}.${column}`),
  ),
]);

/**
 * Writes a distinctive secret into every column that can hold free text (text, varchar, char,
 * json, jsonb, bytea, arrays of those) of every row of `tables`, except `keep` (the columns a
 * snapshot carries as they are: keys and labels the steps need). Returns the secrets.
 */
export async function plantSecrets(client: pg.Client, tables: readonly string[], keep: ReadonlySet<string>): Promise<string[]> {
  const tag = randomBytes(3).toString('hex');
  const secrets: string[] = [];
  let seq = 0;
  const next = () => {
    const secret = `Zq${tag}${(seq++).toString(36).padStart(4, '0')}`;
    secrets.push(secret);
    return secret;
  };
  for (const table of tables) {
    const { rows: columns } = await client.query<{ name: string; type: string; element: string }>(
      `SELECT column_name AS name, data_type AS type, udt_name AS element FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
      [table],
    );
    const planted = columns.filter((c) => !keep.has(`${table}.${c.name}`) && isFreeText(c.type, c.element));
    if (planted.length === 0) continue;
    const { rows } = await client.query<{ ctid: string }>(`SELECT ctid::text FROM ${table}`);
    for (const row of rows) {
      const sets = planted.map((c, i) => `"${c.name}" = ${valueOf(c.type, c.element, `$${i + 2}`)}`);
      await client.query(`UPDATE ${table} SET ${sets.join(', ')} WHERE ctid = $1::tid`, [row.ctid, ...planted.map(() => next())]);
    }
  }
  return secrets;
}

function isFreeText(type: string, element: string): boolean {
  if (type === 'ARRAY') return ['_varchar', '_text', '_bpchar', '_jsonb', '_json'].includes(element);
  return ['text', 'character varying', 'character', 'json', 'jsonb', 'bytea'].includes(type);
}

function valueOf(type: string, element: string, param: string): string {
  if (type === 'ARRAY') return element === '_jsonb' || element === '_json' ? `ARRAY[jsonb_build_object('note', ${param}::text)]` : `ARRAY[${param}::text, 'HOME=/home/work']`;
  if (type === 'json' || type === 'jsonb') return `jsonb_build_object('note', ${param}::text, 'nested', jsonb_build_array(${param}::text))`;
  if (type === 'bytea') return `convert_to('log: ' || ${param}::text || E'\\n', 'UTF8')`;
  return `${param}::text`;
}

/** A secret as the snapshot could hold it: as it is, hex-encoded (bytea) or inside base64 at any alignment. */
export function encodings(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const base64 = [0, 1, 2].map((shift) => {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    // Leave out the groups the shift or the end share with neighbouring bytes.
    return encoded.slice(shift === 0 ? 0 : 4, (shift + bytes.length) % 3 === 0 ? encoded.length : -4);
  });
  return [secret, bytes.toString('hex'), ...base64];
}
