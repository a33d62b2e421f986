/**
 * `command: snapshot`: what a rehearsal needs from a live deployment, read-only. PostgreSQL is read
 * in one REPEATABLE READ READ ONLY transaction, so the schema, the counts and the rows agree; etcd
 * at one revision; Redis only for its configuration and key counts (its data is rebuilt by the
 * steps). Rows come through a cursor, so memory does not grow with the tables.
 */
import type pg from 'pg';
import type { Deployment } from '../stores/deployment.js';
import { detectPosition } from '../stores/schema.js';
import { describePosition } from '../releases/catalogue.js';
import type { Logger } from '../core/logger.js';
import { isSecretEtcdKey, neutralValue, planColumns, redactToml, REDACTED, Sanitizer, stripUrlPassword, type ColumnPlan, type KeyInfo } from './sanitize.js';
import { MigrationError } from '../core/errors.js';
import { SNAPSHOT_FORMAT, SNAPSHOT_FORMAT_VERSION, SnapshotWriter, type SchemaDump, type SnapshotManifest } from './snapshot-file.js';
import type { ManagerConfig } from '../stores/connections.js';
import { quoteIdent } from '../stores/sql.js';
import { redisConfigFile } from '../stores/redis.js';

const ROWS_PER_RECORD = 2_000;
const ETCD_KEYS_PER_RECORD = 5_000;
/** Only persistence-related settings: never requirepass or masterauth. */
const REDIS_SETTINGS = ['appendonly', 'appendfsync', 'save', 'dir', 'maxmemory', 'maxmemory-policy'];

export async function takeSnapshot(
  deployment: Deployment,
  dataTables: readonly string[],
  path: string,
  managerConfig: ManagerConfig | undefined,
  log: Logger,
  key?: Buffer,
): Promise<SnapshotManifest> {
  const client = deployment.postgres;
  const writer = new SnapshotWriter(path, key);
  let closed = false;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query('SET LOCAL search_path TO public');
    const position = await detectPosition(client);
    const schema = await dumpSchema(client);
    const tables = await closeOverForeignKeys(client, schema, dataTables);
    const rows: Record<string, number> = {};
    for (const table of tables) {
      const { rows: counted } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteIdent(table)}`);
      rows[table] = Number(counted[0]!.n);
    }
    const copied = schema.tables.filter((t) => tables.includes(t.name));
    const plans = planColumns(copied, await readKeys(client));
    const columns: Record<string, { copied: string[]; pseudonymised: string[]; neutralised: string[] }> = {};
    for (const table of copied) {
      const kept = plans.get(table.name)!.filter((c) => !table.columns.find((d) => d.name === c.name)!.generated);
      columns[table.name] = {
        copied: kept.filter((c) => c.treatment === 'copy').map((c) => c.name),
        pseudonymised: kept.filter((c) => c.treatment === 'pseudonym').map((c) => c.name),
        neutralised: kept.filter((c) => c.treatment === 'neutral').map((c) => c.name),
      };
    }
    const etcd = await readEtcd(deployment);
    const redis = await readRedis(deployment);
    const toml = managerConfig ? redactToml(managerConfig.text, managerConfig.path) : undefined;
    const { rows: versions } = await client.query<{ server_version: string }>('SHOW server_version');
    const { rows: live } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM kernels WHERE status::text NOT IN ('TERMINATED', 'CANCELLED')`);
    const manifest: SnapshotManifest = {
      format: SNAPSHOT_FORMAT,
      formatVersion: SNAPSHOT_FORMAT_VERSION,
      takenAt: new Date().toISOString(),
      release: {
        revision: position.revision,
        series: (position.releases[0] ?? position.between?.[0])!.line,
        description: describePosition(position),
      },
      postgres: {
        version: versions[0]?.server_version ?? '?',
        rows,
        schemaOnly: schema.tables.map((t) => t.name).filter((t) => !tables.includes(t)),
        columns,
      },
      etcd: { version: etcd.version, namespace: deployment.namespace!, keys: etcd.kvs.length, redactedKeys: etcd.redactedKeys },
      redis,
      managerConfig: managerConfig && toml ? { name: managerConfig.path.split('/').pop()!, redactedKeys: toml.redacted } : undefined,
      liveness: { managersRegistered: etcd.kvs.filter(([k]) => k.startsWith('nodes/manager/')).length, liveKernels: Number(live[0]!.n) },
    };
    await writer.write(manifest);
    await writer.write({ t: 'schema', schema });
    const sanitizer = new Sanitizer();
    const enums = new Map(schema.enums.map((e) => [e.name, e.labels]));
    for (const table of copied) {
      await copyRows(client, table, plans.get(table.name)!, enums, sanitizer, writer);
      log.info(`snapshot: ${table.name}: ${rows[table.name]} row(s)`);
    }
    for (let i = 0; i < etcd.kvs.length; i += ETCD_KEYS_PER_RECORD) await writer.write({ t: 'etcd', kvs: etcd.kvs.slice(i, i + ETCD_KEYS_PER_RECORD) });
    if (toml) await writer.write({ t: 'manager-toml', text: toml.text });
    await writer.close();
    closed = true;
    return manifest;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    if (!closed) await writer.abandon();
  }
}

async function copyRows(
  client: pg.Client,
  table: SchemaDump['tables'][number],
  plans: readonly ColumnPlan[],
  enums: ReadonlyMap<string, readonly string[]>,
  sanitizer: Sanitizer,
  writer: SnapshotWriter,
): Promise<void> {
  const columns = table.columns.filter((c) => !c.generated);
  const plan = columns.map((c) => plans.find((p) => p.name === c.name)!);
  const neutral = plan.map((p) => neutralValue(p.type, enums));
  const missing = plan.find((p, i) => p.notNull && neutral[i] === undefined && (p.treatment === 'neutral' || (p.treatment === 'pseudonym' && /\[\]$|^(jsonb?|bytea|xml)$/.test(p.type))));
  if (missing) {
    throw new MigrationError(
      'unsupported',
      `snapshot: ${table.name}.${missing.name} is NOT NULL and of type ${missing.type}, which has no neutral value; it is not allowlisted, so it cannot be copied either`,
    );
  }
  // Only what leaves as it is, or as a pseudonym, is read at all; neutral columns are not fetched.
  const select = columns.map((c, i) => (plan[i]!.treatment === 'neutral' ? 'NULL' : `${quoteIdent(c.name)}::text`)).join(', ');
  await client.query(`DECLARE bai_snapshot NO SCROLL CURSOR FOR SELECT ${select} FROM ${quoteIdent(table.name)}`);
  try {
    for (;;) {
      const { rows } = await client.query({ text: `FETCH ${ROWS_PER_RECORD} FROM bai_snapshot`, rowMode: 'array' });
      if (rows.length === 0) return;
      const clean = (rows as Array<Array<string | null>>).map((row) => row.map((value, i) => sanitizer.value(plan[i]!, value, neutral[i])));
      await writer.write({ t: 'rows', table: table.name, columns: columns.map((c) => c.name), rows: clean });
    }
  } finally {
    // After a failed FETCH the transaction is aborted and CLOSE would fail too, hiding the cause.
    await client.query('CLOSE bai_snapshot').catch(() => undefined);
  }
}

/** The tables asked for that exist, and every table they reference, so that foreign keys hold on restore. */
async function closeOverForeignKeys(client: pg.Client, schema: SchemaDump, wanted: readonly string[]): Promise<string[]> {
  const { rows } = await client.query<{ child: string; parent: string }>(
    `SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent
       FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
      WHERE c.contype = 'f' AND n.nspname = 'public'`,
  );
  const existing = new Set(schema.tables.map((t) => t.name));
  const out = new Set(wanted.filter((t) => existing.has(t)));
  for (let grew = true; grew;) {
    grew = false;
    for (const { child, parent } of rows) {
      const [c, p] = [unquote(child), unquote(parent)];
      if (out.has(c) && !out.has(p) && existing.has(p)) {
        out.add(p);
        grew = true;
      }
    }
  }
  return schema.tables.map((t) => t.name).filter((t) => out.has(t));
}

/** Primary keys, unique constraints and indexes, foreign keys and CHECK constraints of public, by column name. */
async function readKeys(client: pg.Client): Promise<KeyInfo[]> {
  const { rows } = await client.query<{ kind: KeyInfo['kind']; table: string; columns: string[]; refTable: string | null; refColumns: string[] | null }>(
    `SELECT CASE c.contype WHEN 'p' THEN 'primary' WHEN 'f' THEN 'foreign' WHEN 'c' THEN 'check' ELSE 'unique' END AS kind,
            t.relname AS table,
            array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i) AS columns,
            r.relname AS "refTable",
            array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i) AS "refColumns"
       FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
       LEFT JOIN pg_class r ON r.oid = c.confrelid
      WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'f', 'c', 'x')
     UNION ALL
     -- Columns a unique index covers, also those only in its expressions or its WHERE clause (pg_depend).
     SELECT 'unique', t.relname,
            array(SELECT a.attname::text FROM pg_attribute a
                   WHERE a.attrelid = i.indrelid AND a.attnum > 0
                     AND (a.attnum = ANY (i.indkey::int2[])
                          OR EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                                        AND d.refobjid = i.indrelid AND d.refobjsubid = a.attnum))),
            NULL, NULL
       FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = 'public' AND i.indisunique AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`,
  );
  return rows.map((r) => ({ kind: r.kind, table: r.table, columns: r.columns, ...(r.refTable ? { refTable: r.refTable, refColumns: r.refColumns ?? [] } : {}) }));
}

function unquote(name: string): string {
  return name.startsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name;
}

export async function dumpSchema(client: pg.Client): Promise<SchemaDump> {
  const extensions = await client.query<{ extname: string }>(`SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1`);
  const enums = await client.query<{ name: string; labels: string[] }>(
    `SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = 'public' GROUP BY t.typname ORDER BY 1`,
  );
  const sequences = await client.query(
    `SELECT s.sequencename AS name, s.data_type::text AS type, s.start_value::text AS start, s.increment_by::text AS increment,
            s.min_value::text AS min, s.max_value::text AS max, s.cycle, s.last_value::text AS "lastValue",
            (SELECT quote_ident(t.relname) || '.' || quote_ident(a.attname)
               FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
               JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
              WHERE d.objid = format('%I', s.sequencename)::regclass AND d.deptype = 'a' AND d.classid = 'pg_class'::regclass) AS "ownedBy"
       FROM pg_sequences s
      WHERE s.schemaname = 'public'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = format('%I', s.sequencename)::regclass AND d.deptype = 'i')
      ORDER BY 1`,
  );
  const columns = await client.query<{ table: string; name: string; type: string; notNull: boolean; default: string | null; identity: string; generated: string }>(
    `SELECT c.relname AS table, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS "notNull",
            pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity AS identity, a.attgenerated AS generated
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
      ORDER BY c.relname, a.attnum`,
  );
  const tables = new Map<string, SchemaDump['tables'][number]['columns'][number][]>();
  for (const c of columns.rows) {
    const list = tables.get(c.table) ?? [];
    list.push({
      name: c.name,
      type: c.type,
      notNull: c.notNull,
      ...(c.default !== null && !c.generated ? { default: c.default } : {}),
      ...(c.identity === 'a' ? { identity: 'ALWAYS' as const } : c.identity === 'd' ? { identity: 'BY DEFAULT' as const } : {}),
      ...(c.generated === 's' ? { generated: c.default ?? '' } : {}),
    });
    tables.set(c.table, list);
  }
  const constraints = await client.query<{ table: string; name: string; definition: string }>(
    `SELECT t.relname AS table, c.conname AS name, pg_get_constraintdef(c.oid) AS definition
       FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'c', 'x', 'f')
      ORDER BY CASE c.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'x' THEN 2 WHEN 'c' THEN 3 ELSE 4 END, t.relname, c.conname`,
  );
  const indexes = await client.query<{ definition: string }>(
    `SELECT pg_get_indexdef(i.indexrelid) AS definition
       FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))
      ORDER BY 1`,
  );
  return {
    extensions: extensions.rows.map((r) => r.extname),
    enums: enums.rows,
    sequences: sequences.rows,
    tables: [...tables].map(([name, cols]) => ({ name, columns: cols })),
    constraints: constraints.rows,
    indexes: indexes.rows.map((r) => r.definition),
  };
}

async function readEtcd(deployment: Deployment): Promise<{ version: string; kvs: Array<[string, string]>; redactedKeys: string[] }> {
  const all = await deployment.etcdPrefix('');
  const redactedKeys: string[] = [];
  const kvs: Array<[string, string]> = Object.entries(all).map(([key, value]) => {
    if (isSecretEtcdKey(key)) {
      redactedKeys.push(key);
      return [key, REDACTED];
    }
    const clean = stripUrlPassword(value);
    if (clean !== value) redactedKeys.push(key);
    return [key, clean];
  });
  const status = await deployment.etcdStatus();
  return { version: status.version, kvs, redactedKeys };
}

async function readRedis(deployment: Deployment): Promise<SnapshotManifest['redis']> {
  const client = await deployment.redis(0);
  const server = await client.info('server');
  const keyspace = await client.info('keyspace');
  const keysPerDb: Record<string, number> = {};
  for (const match of keyspace.matchAll(/^db(\d+):keys=(\d+)/gm)) keysPerDb[match[1]!] = Number(match[2]);
  let config: Record<string, string> | undefined;
  try {
    config = {};
    for (const name of REDIS_SETTINGS) {
      const pair = (await client.config('GET', name)) as string[];
      if (pair.length >= 2) config[name] = pair[1]!;
    }
  } catch {
    // CONFIG renamed away (managed Redis): the manifest says so by leaving config out.
    config = undefined;
  }
  return {
    version: /redis_version:(\S+)/.exec(server)?.[1] ?? '?',
    configFile: redisConfigFile(server) !== '',
    ...(config ? { config } : {}),
    keysPerDb,
  };
}
