/** Reads of the PostgreSQL schema that several steps share. */
import type pg from 'pg';
import { MigrationError } from '../core/errors.js';
import { betweenReleases, describeAcceptedVersions, isSchemaPosition, locateRevision, type SchemaPosition } from '../releases/catalogue.js';
import { linesHolding, sameLine } from '../releases/releases.js';
import { factsAt, type SchemaProbe } from '../releases/schema-facts.js';

/** The rows of alembic_version; more than one means several heads. */
export async function readRevisions(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ exists: boolean }>(`SELECT to_regclass('alembic_version') IS NOT NULL AS exists`);
  if (!rows[0]?.exists) {
    throw new MigrationError(
      'inconsistent-state',
      'the database has no alembic_version table: it is not a Backend.AI manager database, or its schema was never stamped (backend.ai mgr schema oneshot)',
    );
  }
  const result = await client.query<{ version_num: string }>('SELECT version_num FROM alembic_version ORDER BY version_num');
  return result.rows.map((r) => r.version_num);
}

/** What the server says it is, e.g. "15.18 (Debian 15.18-0+deb12u1)". */
export async function serverVersion(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
  return rows[0]!.server_version;
}

/** Where the database stands among known releases; anything bai-migrate cannot place is an error. */
export async function detectPosition(client: pg.Client): Promise<SchemaPosition> {
  const revisions = await readRevisions(client);
  if (revisions.length === 0) {
    throw new MigrationError('inconsistent-state', "alembic_version is empty: the schema revision is unknown. Stamp it with the installed release's head (alembic stamp <revision>) and run again");
  }
  // Several rows, each inside a known graph: an upgrade stopped between a fork and its merge
  // (21.09 → 22.03 forks twice), placed between the releases all of them lie between.
  if (revisions.length > 1 && revisions.every((r) => linesHolding(r).length > 0)) {
    const between = betweenReleases(revisions);
    if (between) return { revision: revisions[0]!, releases: [], between };
  }
  if (revisions.length > 1) {
    throw new MigrationError(
      'inconsistent-state',
      `alembic_version holds ${revisions.length} revisions (${revisions.join(', ')}): the schema has several heads. Resolve them with the manager's alembic (alembic merge or stamp) before migrating`,
    );
  }
  const located = locateRevision(revisions[0]!);
  if (isSchemaPosition(located)) return sharedHead(client, located);
  if (located.otherRelease) {
    throw new MigrationError(
      'unsupported',
      `the database is at revision ${located.revision}, the head of Backend.AI ${located.otherRelease}, older than any release bai-migrate knows (${describeAcceptedVersions()})`,
    );
  }
  throw new MigrationError('inconsistent-state', `the database is at revision ${located.revision}, which is no revision of a known Backend.AI release; known: ${describeAcceptedVersions()}`);
}

/**
 * A head that releases of several lines end at over different histories (ecc9f6322be4: 24.09.6–24.09.14,
 * and 25.2.0, which ran 24.12's and 25.1's revisions under it): the schema facts each line's history
 * implies tell them apart. The releases of the line with the most facts, all of which hold, are kept;
 * where the lines imply the same facts (8679d0a7e22b: 21.03.3+ and 21.09.0–2, one schema), or none
 * of them holds, the position stays as the head alone places it.
 */
async function sharedHead(client: pg.Client, position: SchemaPosition): Promise<SchemaPosition> {
  const lines = [...new Set(position.releases.map((r) => r.line))];
  const factsOf = new Map(lines.map((line) => [line, factsAt(line, position.revision)]));
  if (new Set([...factsOf.values()].map((facts) => facts.map((f) => f.since).join())).size <= 1) return position;
  const holding: string[] = [];
  for (const line of lines) {
    const probes = factsOf.get(line)!.flatMap((fact) => fact.probes);
    if ((await Promise.all(probes.map((probe) => probeHolds(client, probe)))).every(Boolean)) holding.push(line);
  }
  if (holding.length === 0) return position;
  const chosen = holding.reduce((best, line) => (factsOf.get(line)!.length > factsOf.get(best)!.length ? line : best));
  return { ...position, releases: position.releases.filter((r) => sameLine(r, chosen)) };
}

/** Whether the table or column a schema fact names is there (or gone) as it says. */
export async function probeHolds(client: pg.Client, probe: SchemaProbe): Promise<boolean> {
  const present = probe.column ? await columnExists(client, probe.table, probe.column) : await tableExists(client, probe.table);
  return present === probe.exists;
}

export async function tableExists(client: pg.Client, table: string): Promise<boolean> {
  const { rows } = await client.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [table]);
  return rows[0]?.exists ?? false;
}

export async function columnExists(client: pg.Client, table: string, column: string): Promise<boolean> {
  const { rows } = await client.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`, [table, column]);
  return rows.length > 0;
}
