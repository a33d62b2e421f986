/**
 * Puts a snapshot into disposable servers: the schema as it was (types, sequences, tables, then the
 * rows, then constraints and indexes, as pg_dump orders them), in one transaction; etcd's keys under
 * the snapshot's namespace with config/redis pointing at the disposable Redis; Redis's persistence
 * setting as it was.
 */
import type pg from 'pg';
import type { Etcd3 } from 'etcd3';
import type { Redis } from 'ioredis';
import { readSnapshot, type SchemaDump, type SnapshotManifest } from './snapshot-file.js';
import { quoteIdent } from '../stores/sql.js';

export interface RestoreTargets {
  readonly postgres: pg.Client;
  readonly etcd: Etcd3;
  readonly redis: Redis;
  /** Where the restored deployment's Redis is, written to etcd config/redis. */
  readonly redisAddress: { readonly host: string; readonly port: number; readonly password?: string };
}

export interface RestoreResult {
  readonly manifest: SnapshotManifest;
  readonly rows: number;
  readonly etcdKeys: number;
  readonly managerToml?: string;
}

const ETCD_WRITES_AT_ONCE = 100;

export async function restoreSnapshot(path: string, targets: RestoreTargets): Promise<RestoreResult> {
  const { postgres } = targets;
  let manifest: SnapshotManifest | undefined;
  let schema: SchemaDump | undefined;
  let rows = 0;
  let etcdKeys = 0;
  let managerToml: string | undefined;
  await postgres.query('BEGIN');
  try {
    for await (const record of readSnapshot(path)) {
      if ('format' in record) {
        manifest = record;
        continue;
      }
      switch (record.t) {
        case 'schema':
          schema = record.schema;
          for (const statement of createStatements(schema, postgres)) await postgres.query(statement);
          break;
        case 'rows':
          rows += await insertRows(postgres, schema!, record.table, record.columns, record.rows);
          break;
        case 'etcd':
          etcdKeys += await putEtcd(targets, manifest!.etcd.namespace, record.kvs);
          break;
        case 'manager-toml':
          managerToml = record.text;
          break;
        case 'end':
          break;
      }
    }
    for (const statement of finishStatements(schema!, postgres)) await postgres.query(statement);
    await postgres.query('COMMIT');
  } catch (error) {
    await postgres.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  await pointEtcdAtRedis(targets, manifest!.etcd.namespace);
  const appendonly = manifest!.redis.config?.appendonly;
  if (appendonly) await targets.redis.config('SET', 'appendonly', appendonly);
  return { manifest: manifest!, rows, etcdKeys, managerToml };
}

function createStatements(schema: SchemaDump, client: pg.Client): string[] {
  const literal = (value: string) => client.escapeLiteral(value);
  return [
    ...schema.extensions.map((e) => `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(e)}`),
    ...schema.enums.map((e) => `CREATE TYPE ${quoteIdent(e.name)} AS ENUM (${e.labels.map(literal).join(', ')})`),
    ...schema.sequences.map(
      (s) => `CREATE SEQUENCE ${quoteIdent(s.name)} AS ${s.type} START ${s.start} INCREMENT ${s.increment} MINVALUE ${s.min} MAXVALUE ${s.max} ${s.cycle ? 'CYCLE' : 'NO CYCLE'}`,
    ),
    ...schema.tables.map((t) => {
      const columns = t.columns.map((c) =>
        [
          quoteIdent(c.name),
          c.type,
          c.identity ? `GENERATED ${c.identity} AS IDENTITY` : '',
          c.generated !== undefined ? `GENERATED ALWAYS AS (${c.generated}) STORED` : '',
          c.default !== undefined ? `DEFAULT ${c.default}` : '',
          c.notNull ? 'NOT NULL' : '',
        ]
          .filter((part) => part !== '')
          .join(' '),
      );
      return `CREATE TABLE ${quoteIdent(t.name)} (${columns.join(', ')})`;
    }),
  ];
}

function finishStatements(schema: SchemaDump, client: pg.Client): string[] {
  return [
    ...schema.constraints.map((c) => `ALTER TABLE ${quoteIdent(c.table)} ADD CONSTRAINT ${quoteIdent(c.name)} ${c.definition}`),
    ...schema.indexes,
    // Identity columns own a sequence the dump leaves out: it continues after the restored rows.
    ...schema.tables.flatMap((t) =>
      t.columns
        .filter((c) => c.identity)
        .map(
          (c) =>
            `SELECT setval(pg_get_serial_sequence(${client.escapeLiteral(quoteIdent(t.name))}, ${client.escapeLiteral(c.name)}), coalesce(max(${quoteIdent(c.name)}), 1), max(${quoteIdent(c.name)}) IS NOT NULL) FROM ${quoteIdent(t.name)}`,
        ),
    ),
    ...schema.sequences.flatMap((s) => [
      ...(s.lastValue !== null ? [`SELECT setval(${client.escapeLiteral(quoteIdent(s.name))}, ${s.lastValue}, true)`] : []),
      ...(s.ownedBy ? [`ALTER SEQUENCE ${quoteIdent(s.name)} OWNED BY ${s.ownedBy}`] : []),
    ]),
  ];
}

/** Values travel as text and PostgreSQL parses each into its column's type (enums, uuid, jsonb, arrays). */
async function insertRows(client: pg.Client, schema: SchemaDump, table: string, columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | null>>): Promise<number> {
  const identity = schema.tables.find((t) => t.name === table)?.columns.some((c) => c.identity === 'ALWAYS');
  const perStatement = Math.max(1, Math.min(1000, Math.floor(60_000 / Math.max(1, columns.length))));
  for (let start = 0; start < rows.length; start += perStatement) {
    const chunk = rows.slice(start, start + perStatement);
    const values = chunk.map((_, r) => `(${columns.map((__, c) => `$${r * columns.length + c + 1}`).join(', ')})`);
    await client.query(`INSERT INTO ${quoteIdent(table)} (${columns.map(quoteIdent).join(', ')})${identity ? ' OVERRIDING SYSTEM VALUE' : ''} VALUES ${values.join(', ')}`, chunk.flat());
  }
  return rows.length;
}

async function putEtcd(targets: RestoreTargets, namespace: string, kvs: ReadonlyArray<readonly [string, string]>): Promise<number> {
  const etcd = targets.etcd.namespace(`/sorna/${namespace}/`);
  for (let i = 0; i < kvs.length; i += ETCD_WRITES_AT_ONCE) {
    await Promise.all(kvs.slice(i, i + ETCD_WRITES_AT_ONCE).map(([key, value]) => etcd.put(key).value(value)));
  }
  return kvs.length;
}

/**
 * The restored deployment finds its Redis where the manager looks: etcd config/redis. Every role
 * goes to the disposable Redis, in plain text: the per-role instances of override_configs (25.4+;
 * 25.13's container logs) and the TLS options (25.13+) would point the rehearsal at the operator's
 * own servers, so they are removed from the copy. So are the database and Redis settings that a
 * 25.8+ manager merges over manager.toml from etcd's config/db/, ai/backend/config/common/ and
 * ai/backend/config/manager/ (releases/merged-config.ts): on the copy, config/redis/ and the
 * rehearsal's manager.toml name the disposable servers.
 */
async function pointEtcdAtRedis(targets: RestoreTargets, namespace: string): Promise<void> {
  const etcd = targets.etcd.namespace(`/sorna/${namespace}/`);
  const { host, port, password } = targets.redisAddress;
  await etcd.delete().key('config/redis/sentinel');
  await etcd.delete().key('config/redis/service_name');
  await etcd.delete().key('config/redis/service-name');
  for (const prefix of ['config/redis/override_configs/', 'config/redis/override-configs/']) await etcd.delete().prefix(prefix);
  for (const key of ['use_tls', 'use-tls', 'tls_skip_verify', 'tls-skip-verify']) await etcd.delete().key(`config/redis/${key}`);
  for (const prefix of ['config/db/', 'ai/backend/config/common/db/', 'ai/backend/config/manager/db/', 'ai/backend/config/common/redis/', 'ai/backend/config/manager/redis/'])
    await etcd.delete().prefix(prefix);
  await etcd.put('config/redis/addr').value(`${host}:${port}`);
  if (password) await etcd.put('config/redis/password').value(password);
  else await etcd.delete().key('config/redis/password');
}
