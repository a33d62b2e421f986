/**
 * The parts of a schema alembic's autogenerate compares (tables, columns and their nullability,
 * indexes, unique constraints, foreign keys), read from PostgreSQL's catalogue: an oracle for the
 * drift check's comparison with a release's models that shares none of its code.
 */
import type pg from 'pg';

export type Catalogue = ReadonlyMap<string, string>;

/** Each object as "kind name" → what must match, e.g. "column kernels.role" → "NOT NULL". */
export async function catalogueOf(client: pg.Client): Promise<Catalogue> {
  const entries = new Map<string, string>();
  const { rows: columns } = await client.query<{ name: string; nullable: string }>(
    `SELECT c.relname || '.' || a.attname AS name, CASE WHEN a.attnotnull THEN 'NOT NULL' ELSE 'nullable' END AS nullable
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND c.relname <> 'alembic_version'`,
  );
  for (const c of columns) {
    entries.set(`table ${c.name.split('.')[0]}`, '');
    entries.set(`column ${c.name}`, c.nullable);
  }
  // Indexes that back no constraint (those are compared as constraints).
  const { rows: indexes } = await client.query<{ name: string }>(
    `SELECT i.relname AS name FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
      WHERE t.relnamespace = 'public'::regnamespace AND t.relname <> 'alembic_version' AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)`,
  );
  for (const i of indexes) entries.set(`index ${i.name}`, '');
  const { rows: constraints } = await client.query<{ name: string; kind: string }>(
    `SELECT conname AS name, CASE contype WHEN 'u' THEN 'unique constraint' ELSE 'foreign key' END AS kind FROM pg_constraint
      WHERE connamespace = 'public'::regnamespace AND contype IN ('u', 'f')`,
  );
  for (const c of constraints) entries.set(`${c.kind} ${c.name}`, '');
  return entries;
}

/** What differs between `live` and `reference`, as "kind name" of each object missing, extra or unlike. */
export function catalogueDifferences(live: Catalogue, reference: Catalogue): string[] {
  const names = new Set([...live.keys(), ...reference.keys()]);
  // A missing table's columns are its own difference, not one each.
  const tableMissing = (key: string) => key.startsWith('column ') && [live, reference].some((side) => !side.has(`table ${key.slice(7).split('.')[0]}`));
  return [...names].filter((key) => !tableMissing(key) && live.get(key) !== reference.get(key)).sort();
}
