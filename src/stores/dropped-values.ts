/**
 * bai-migrate's own table of values a migration drops for good, in PostgreSQL beside the
 * manager's schema but outside it: the manager, its alembic and bai-migrate's snapshots read only
 * public. One row per (table, column, row); a backup bundle may be pruned, this table is not.
 * Values are kept as jsonb and put back cast to whatever type the column has then.
 */
import type pg from 'pg';
import { quoteIdent } from './sql.js';
import { tableExists } from './schema.js';

export const DROPPED_VALUES_SCHEMA = 'bai_migrate';
export const DROPPED_VALUES = `${DROPPED_VALUES_SCHEMA}.dropped_values`;

/** One column whose values are kept: rows are named by `key` (their primary key) as text. */
export interface KeptColumn {
  readonly table: string;
  readonly key: string;
  readonly column: string;
}

/** The schema exists and is usable, or this user may create it. */
export async function mayKeepDroppedValues(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(
    `SELECT CASE WHEN to_regnamespace($1) IS NULL THEN has_database_privilege(current_database(), 'CREATE')
                 ELSE has_schema_privilege($1, 'CREATE') AND has_schema_privilege($1, 'USAGE') END AS ok`,
    [DROPPED_VALUES_SCHEMA],
  );
  return rows[0]?.ok ?? false;
}

/** What to tell an operator whose user may not create the schema (a warning in preflight: read-only credentials pass it). */
export async function cannotKeepDroppedValues(client: pg.Client, what: string): Promise<string> {
  const { rows } = await client.query<{ user: string; db: string }>('SELECT current_user AS user, current_database() AS db');
  const { user, db } = rows[0] ?? { user: '?', db: '?' };
  return `${what} and migrate keeps its values in ${DROPPED_VALUES}, but user ${user} may not create schema ${DROPPED_VALUES_SCHEMA}, so migrate with this user would stop before its first change: GRANT CREATE ON DATABASE ${db} TO ${user}, or create the schema with that user as its owner`;
}

async function ensureTable(client: pg.Client): Promise<void> {
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${DROPPED_VALUES_SCHEMA}`);
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${DROPPED_VALUES} (
       table_name text NOT NULL, column_name text NOT NULL, row_key text NOT NULL, value jsonb,
       dropped_by text NOT NULL, saved_at timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (table_name, column_name, row_key))`,
  );
}

/**
 * Copies every row's value of the column into the table, idempotently: a re-run before the drop
 * (a run killed after this point) keeps the latest value, once per row. Returns how many are kept.
 */
export async function keepColumn(client: pg.Client, column: KeptColumn, droppedBy: string): Promise<number> {
  await ensureTable(client);
  const [table, key, name] = [quoteIdent(column.table), quoteIdent(column.key), quoteIdent(column.column)];
  await client.query(
    `INSERT INTO ${DROPPED_VALUES} (table_name, column_name, row_key, value, dropped_by)
     SELECT $1, $2, ${key}::text, to_jsonb(${name}), $3 FROM ${table}
     ON CONFLICT (table_name, column_name, row_key) DO UPDATE SET value = EXCLUDED.value, dropped_by = EXCLUDED.dropped_by, saved_at = now()
      WHERE dropped_values.value IS DISTINCT FROM EXCLUDED.value`,
    [column.table, column.column, droppedBy],
  );
  return keptCount(client, column);
}

/** How many values of the column are kept (0 when the table was never made). */
export async function keptCount(client: pg.Client, column: KeptColumn): Promise<number> {
  if (!(await tableExists(client, DROPPED_VALUES))) return 0;
  const { rows } = await client.query<{ count: string }>(`SELECT count(*) FROM ${DROPPED_VALUES} WHERE table_name = $1 AND column_name = $2`, [column.table, column.column]);
  return Number(rows[0]?.count ?? 0);
}

/** The kept value, cast to the column's current type (an enum, a timestamp, …), as an SQL expression over `d.value`. */
async function castOfKept(client: pg.Client, column: KeptColumn): Promise<string> {
  const { rows } = await client.query<{ type: string }>(
    `SELECT format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
      WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped`,
    [column.table, column.column],
  );
  const type = rows[0]?.type;
  if (!type) throw new Error(`${column.table}.${column.column} does not exist`);
  // format_type gives a type name that is valid SQL as it stands (quoted where needed).
  return `(d.value #>> '{}')::${type}`;
}

/** The kept value of each row (still there) and whether the row holds another, as SQL over the row and `d`. */
function comparison(column: KeptColumn, kept: string): { match: string; differs: string } {
  const [table, key, name] = [quoteIdent(column.table), quoteIdent(column.key), quoteIdent(column.column)];
  return {
    match: `d.table_name = $1 AND d.column_name = $2 AND d.row_key = ${table}.${key}::text`,
    differs: `${table}.${name} IS DISTINCT FROM ${kept}`,
  };
}

/** Puts the kept values back into the column (which a later revision added again); returns how many rows changed. */
export async function restoreColumn(client: pg.Client, column: KeptColumn): Promise<number> {
  const kept = await castOfKept(client, column);
  const { match, differs } = comparison(column, kept);
  const { rowCount } = await client.query(`UPDATE ${quoteIdent(column.table)} SET ${quoteIdent(column.column)} = ${kept} FROM ${DROPPED_VALUES} d WHERE ${match} AND ${differs}`, [
    column.table,
    column.column,
  ]);
  return rowCount ?? 0;
}

/** How many rows hold another value than the kept one. */
export async function countDiffering(client: pg.Client, column: KeptColumn): Promise<number> {
  const kept = await castOfKept(client, column);
  const { match, differs } = comparison(column, kept);
  const { rows } = await client.query<{ count: string }>(`SELECT count(*) FROM ${quoteIdent(column.table)} JOIN ${DROPPED_VALUES} d ON ${match} WHERE ${differs}`, [column.table, column.column]);
  return Number(rows[0]?.count ?? 0);
}

/** etcd keys a revision deletes, kept as rows of table_name "etcd", column_name their prefix. */
const ETCD = 'etcd';

/** Keeps every key of `entries` (relative to the namespace) under `prefix`, idempotently; returns how many are kept. */
export async function keepEtcdKeys(client: pg.Client, prefix: string, entries: Readonly<Record<string, string>>, droppedBy: string): Promise<number> {
  await ensureTable(client);
  await client.query(
    `INSERT INTO ${DROPPED_VALUES} (table_name, column_name, row_key, value, dropped_by)
     SELECT $1, $2, e.key, to_jsonb(e.value), $3 FROM jsonb_each_text($4::jsonb) AS e
     ON CONFLICT (table_name, column_name, row_key) DO UPDATE SET value = EXCLUDED.value, dropped_by = EXCLUDED.dropped_by, saved_at = now()
      WHERE dropped_values.value IS DISTINCT FROM EXCLUDED.value`,
    [ETCD, prefix, droppedBy, JSON.stringify(entries)],
  );
  return Object.keys(await keptEtcdKeys(client, prefix)).length;
}

/** The kept keys under `prefix` with their values ({} when none were kept). */
export async function keptEtcdKeys(client: pg.Client, prefix: string): Promise<Record<string, string>> {
  if (!(await tableExists(client, DROPPED_VALUES))) return {};
  const { rows } = await client.query<{ key: string; value: string }>(
    `SELECT row_key AS key, value #>> '{}' AS value FROM ${DROPPED_VALUES} WHERE table_name = $1 AND column_name = $2 ORDER BY row_key`,
    [ETCD, prefix],
  );
  return Object.fromEntries(rows.map((r) => [r.key, r.value]));
}

/** Whole rows a step deletes are kept under this column name, keyed by the row's id. */
export const WHOLE_ROW = '(row)';

/** Keeps whole rows of `table` (each as jsonb, with whatever else the step needs to say about it), idempotently; returns how many of the table's rows are kept. */
export async function keepRows(client: pg.Client, table: string, rows: ReadonlyArray<{ readonly key: string; readonly value: unknown }>, droppedBy: string): Promise<number> {
  await ensureTable(client);
  await client.query(
    `INSERT INTO ${DROPPED_VALUES} (table_name, column_name, row_key, value, dropped_by)
     SELECT $1, $2, r.key, r.value, $3 FROM jsonb_to_recordset($4::jsonb) AS r(key text, value jsonb)
     ON CONFLICT (table_name, column_name, row_key) DO UPDATE SET value = EXCLUDED.value, dropped_by = EXCLUDED.dropped_by, saved_at = now()
      WHERE dropped_values.value IS DISTINCT FROM EXCLUDED.value`,
    [table, WHOLE_ROW, droppedBy, JSON.stringify(rows)],
  );
  return keptCount(client, { table, key: 'id', column: WHOLE_ROW });
}

/** The kept whole rows of `table`, by key ({} when none were kept). */
export async function keptRows(client: pg.Client, table: string): Promise<Record<string, unknown>> {
  if (!(await tableExists(client, DROPPED_VALUES))) return {};
  const { rows } = await client.query<{ key: string; value: unknown }>(`SELECT row_key AS key, value FROM ${DROPPED_VALUES} WHERE table_name = $1 AND column_name = $2 ORDER BY row_key`, [
    table,
    WHOLE_ROW,
  ]);
  return Object.fromEntries(rows.map((r) => [r.key, r.value]));
}
