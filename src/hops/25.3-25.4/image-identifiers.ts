/**
 * 25.4's c002140f14d3 adds images.status and the unique constraint uq_image_identifier over
 * (registry, project, name, tag, architecture) without removing duplicates first
 * (backend.ai@25.4.0:src/ai/backend/manager/models/alembic/versions/c002140f14d3_add_status_column_to_the_image_table.py):
 * PostgreSQL refuses to build it while two rows share those five values ("could not create unique
 * index … is duplicated"), and the upgrade stops. Rows with a NULL among them never collide (the
 * constraint is not NULLS NOT DISTINCT).
 *
 * Up to 25.3 nothing prevents duplicates, and the manager copes with them by taking whichever row
 * its lookup returns first: ImageRow.from_image_identifier and a rescan's commit select by
 * (name, architecture) without an order and use the first row
 * (backend.ai@25.3.3:src/ai/backend/manager/models/image.py, container_registry/base.py).
 *
 * Preflight names every group, its ids (newest first) and the row the manager's lookup returns
 * today, and refuses. With drop-duplicate-images, bai-migrate keeps the newest row of each group
 * (created_at, then id), points what refers to a dropped row at it (foreign keys to images.id, and
 * endpoints.image, whose foreign key 25.2 dropped), and deletes the others in one transaction;
 * every deleted row, with the rows that referred to it, is in the backup bundle and in
 * bai_migrate.dropped_values first.
 */
import type pg from 'pg';
import { columnExists, tableExists } from '../../stores/schema.js';
import { quoteIdent } from '../../stores/sql.js';
import { cannotKeepDroppedValues, DROPPED_VALUES, keepRows, keptRows, mayKeepDroppedValues } from '../../stores/dropped-values.js';
import { changed, failed, firstFew, ok, REHEARSAL_FINDS_IT, skipped, warning, type Finding, type Step } from '../../steps/step.js';

export const IMAGE_IDENTIFIER_REVISION = 'c002140f14d3';
export const IMAGE_IDENTIFIER = ['registry', 'project', 'name', 'tag', 'architecture'] as const;
const INPUT = 'drop-duplicate-images';

export interface DuplicateGroup {
  readonly registry: string;
  readonly project: string;
  readonly name: string;
  readonly tag: string;
  readonly architecture: string;
  /** Newest first (created_at, then id): the first is the one drop-duplicate-images keeps. */
  readonly ids: readonly string[];
  /** The row the manager's own lookup by (name, architecture) returns first today. */
  readonly managerUses: string | undefined;
}

/** The columns of uq_image_identifier images lacks (all five when there is no images table). */
async function absentColumns(client: pg.Client): Promise<string[]> {
  if (!(await tableExists(client, 'images'))) return [...IMAGE_IDENTIFIER];
  const absent: string[] = [];
  for (const column of IMAGE_IDENTIFIER) if (!(await columnExists(client, 'images', column))) absent.push(column);
  return absent;
}

/** Every group of images that share the five values of uq_image_identifier, none of them NULL (none where images lacks one of them). */
export async function duplicateImageGroups(client: pg.Client): Promise<DuplicateGroup[]> {
  if ((await absentColumns(client)).length > 0) return [];
  const notNull = IMAGE_IDENTIFIER.map((c) => `${c} IS NOT NULL`).join(' AND ');
  const { rows } = await client.query<Omit<DuplicateGroup, 'managerUses'>>(
    `SELECT registry, project, name, tag, architecture, array_agg(id::text ORDER BY created_at DESC NULLS LAST, id DESC) AS ids
       FROM images WHERE ${notNull} GROUP BY ${IMAGE_IDENTIFIER.join(', ')} HAVING count(*) > 1 ORDER BY name, architecture, registry, project, tag`,
  );
  const groups: DuplicateGroup[] = [];
  for (const group of rows) {
    // The manager's query as it runs it: no order, the first row wins.
    const { rows: found } = await client.query<{ id: string }>('SELECT id::text AS id FROM images WHERE name = $1 AND architecture = $2', [group.name, group.architecture]);
    groups.push({ ...group, managerUses: found[0]?.id });
  }
  return groups;
}

const describeGroup = (g: DuplicateGroup) =>
  `${g.name} (${g.architecture}; registry ${g.registry}, project ${g.project}, tag ${g.tag}): ${g.ids.length} rows ${g.ids.join(', ')}; the manager's lookup uses ${g.managerUses ?? 'none of them'}, drop-duplicate-images would keep ${g.ids[0]}`;

const report = (groups: readonly DuplicateGroup[]) => ({ name: `duplicate images (${IMAGE_IDENTIFIER_REVISION}).txt`, content: groups.map(describeGroup).join('\n') + '\n' });

const droppedCount = (groups: readonly DuplicateGroup[]) => groups.reduce((n, g) => n + g.ids.length - 1, 0);

/** Columns that hold an image's id: every single-column foreign key to images, and endpoints.image (whose foreign key 25.2's ecc9f6322be4 dropped). */
async function referencingColumns(client: pg.Client): Promise<Array<{ table: string; column: string }>> {
  const { rows } = await client.query<{ table: string; column: string }>(
    `SELECT c.conrelid::regclass::text AS table, a.attname AS column FROM pg_constraint c
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
      WHERE c.contype = 'f' AND c.confrelid = to_regclass('images') AND array_length(c.conkey, 1) = 1 ORDER BY 1, 2`,
  );
  const columns = rows.map((r) => ({ table: r.table, column: r.column }));
  if ((await columnExists(client, 'endpoints', 'image')) && !columns.some((c) => c.table === 'endpoints' && c.column === 'image')) columns.push({ table: 'endpoints', column: 'image' });
  return columns;
}

/** Each row to drop: itself, the row kept instead, and the rows that refer to it, as jsonb. */
async function rowsToDrop(client: pg.Client, groups: readonly DuplicateGroup[]): Promise<Array<{ key: string; value: unknown }>> {
  const drops = groups.flatMap((g) => g.ids.slice(1).map((id) => ({ id, kept: g.ids[0]! })));
  if (drops.length === 0) return [];
  const ids = drops.map((d) => d.id);
  const { rows } = await client.query<{ id: string; row: unknown }>('SELECT id::text AS id, to_jsonb(i) AS row FROM images i WHERE id = ANY($1::uuid[])', [ids]);
  const referencing: Record<string, Record<string, unknown[]>> = {};
  for (const { table, column } of await referencingColumns(client)) {
    const { rows: refs } = await client.query<{ image: string; row: unknown }>(
      `SELECT t.${quoteIdent(column)}::text AS image, to_jsonb(t) AS row FROM ${table} t WHERE t.${quoteIdent(column)} = ANY($1::uuid[])`,
      [ids],
    );
    for (const ref of refs) ((referencing[ref.image] ??= {})[`${table}.${column}`] ??= []).push(ref.row);
  }
  return rows.map((r) => ({ key: r.id, value: { row: r.row, keptInstead: drops.find((d) => d.id === r.id)!.kept, referencedBy: referencing[r.id] ?? {} } }));
}

export const imageIdentifiers: Step = {
  id: 'image-identifiers',
  title: 'No two images share what 25.4 makes unique',
  kind: 'change',
  action: `Finds images that share (${IMAGE_IDENTIFIER.join(', ')}), which 25.4's ${IMAGE_IDENTIFIER_REVISION} makes unique without removing duplicates; refuses them, or with ${INPUT} keeps the newest row of each group, points what referred to the others at it and deletes them (kept in the backup bundle and ${DROPPED_VALUES}).`,
  servers: ['postgres'],
  tables: ['images', 'image_aliases', 'endpoints'],

  async preflight({ deployment, settings }) {
    const pg = deployment.postgres;
    const absent = await absentColumns(pg);
    // Every 25.3 schema has them (backend.ai@25.3.3:src/ai/backend/manager/models/image.py); one without them is not what c002140f14d3 was written for.
    if (absent.length > 0) return [skipped(`images has no ${absent.join(', ')}: no duplicates of (${IMAGE_IDENTIFIER.join(', ')}) to look for`)];
    const groups = await duplicateImageGroups(pg);
    if (groups.length === 0) return [ok(`no two images share (${IMAGE_IDENTIFIER.join(', ')}): ${IMAGE_IDENTIFIER_REVISION}'s uq_image_identifier can be built`)];
    const count = `${groups.length} group(s) of images share (${IMAGE_IDENTIFIER.join(', ')}), ${droppedCount(groups)} row(s) more than the constraint allows: ${firstFew(groups, describeGroup)}`;
    if (!settings.dropDuplicateImages) {
      return [
        {
          status: 'failed',
          detail: `${count}. 25.4's ${IMAGE_IDENTIFIER_REVISION} adds the unique constraint uq_image_identifier over them and stops the upgrade ("could not create unique index"). Delete the rows you do not want by hand, or set ${INPUT}: true to keep the newest row of each group (references moved to it, the others kept in the backup bundle and ${DROPPED_VALUES}). ${REHEARSAL_FINDS_IT}`,
          attachment: report(groups),
        },
      ];
    }
    const findings: Finding[] = [{ status: 'ok', detail: `${count}. ${INPUT}: migrate keeps the newest row of each group and deletes the other ${droppedCount(groups)}`, attachment: report(groups) }];
    const differs = groups.filter((g) => g.managerUses !== undefined && g.managerUses !== g.ids[0]);
    if (differs.length > 0) {
      findings.push(
        warning(
          `in ${differs.length} group(s) the manager's lookup uses another row than the newest, which is the one kept: ${firstFew(differs, (g) => `${g.name} (${g.architecture}): uses ${g.managerUses}, keeps ${g.ids[0]}`)}`,
        ),
      );
    }
    if (!(await mayKeepDroppedValues(pg))) findings.push(warning(await cannotKeepDroppedValues(pg, `${INPUT} deletes ${droppedCount(groups)} image row(s)`)));
    return findings;
  },

  async dryRun({ deployment, settings }) {
    const groups = await duplicateImageGroups(deployment.postgres);
    if (groups.length === 0) return [ok('no duplicate images: nothing to delete')];
    if (!settings.dropDuplicateImages) return [skipped(`${INPUT} not set: ${groups.length} group(s) of duplicate images stay, and preflight refuses them`)];
    return [
      {
        status: 'ok',
        detail: `would keep ${droppedCount(groups)} image row(s) in ${DROPPED_VALUES} and delete them, keeping the newest of each of ${groups.length} group(s)`,
        attachment: report(groups),
      },
    ];
  },

  async pending({ deployment, settings }) {
    return settings.dropDuplicateImages && (await duplicateImageGroups(deployment.postgres)).length > 0;
  },

  async backup({ deployment, settings }) {
    if (!settings.dropDuplicateImages) return undefined;
    const rows = await rowsToDrop(deployment.postgres, await duplicateImageGroups(deployment.postgres));
    if (rows.length === 0) return undefined;
    return { name: 'images-duplicates.json', content: JSON.stringify(Object.fromEntries(rows.map((r) => [r.key, r.value])), null, 2) };
  },

  async carryForward({ deployment, settings }) {
    if (!settings.dropDuplicateImages) return undefined;
    const rows = await rowsToDrop(deployment.postgres, await duplicateImageGroups(deployment.postgres));
    if (rows.length === 0) return undefined;
    const kept = await keepRows(deployment.postgres, 'images', rows, IMAGE_IDENTIFIER_REVISION);
    return ok(`${rows.length} duplicate image row(s) kept in PostgreSQL as ${DROPPED_VALUES} (${kept} image row(s) kept there in all), with the rows that referred to them`);
  },

  async apply({ deployment, settings }) {
    const pg = deployment.postgres;
    const groups = await duplicateImageGroups(pg);
    if (groups.length === 0) return ok('no duplicate images left');
    if (!settings.dropDuplicateImages) return failed(`${groups.length} group(s) of duplicate images and ${INPUT} is not set`);
    const drops = groups.flatMap((g) => g.ids.slice(1).map((id) => [id, g.ids[0]!] as const));
    const kept = await keptRows(pg, 'images');
    const unkept = drops.filter(([id]) => !(id in kept));
    if (unkept.length > 0) return failed(`${unkept.length} duplicate image row(s) are not kept in ${DROPPED_VALUES}: ${firstFew(unkept, ([id]) => id)}; nothing deleted`);
    const moved: string[] = [];
    await pg.query('BEGIN');
    try {
      const params = [drops.map(([id]) => id), drops.map(([, keep]) => keep)];
      for (const { table, column } of await referencingColumns(pg)) {
        const col = quoteIdent(column);
        const { rowCount } = await pg.query(`UPDATE ${table} t SET ${col} = m.kept FROM unnest($1::uuid[], $2::uuid[]) AS m(dropped, kept) WHERE t.${col} = m.dropped`, params);
        if (rowCount) moved.push(`${rowCount} ${table}.${column}`);
      }
      const { rowCount } = await pg.query('DELETE FROM images WHERE id = ANY($1::uuid[])', [params[0]]);
      await pg.query('COMMIT');
      return changed(
        `deleted ${rowCount ?? 0} duplicate image row(s), keeping the newest of each of ${groups.length} group(s)${moved.length > 0 ? `; pointed ${moved.join(', ')} at the kept rows` : ''}; the deleted rows are in ${DROPPED_VALUES}`,
      );
    } catch (error) {
      await pg.query('ROLLBACK');
      throw error;
    }
  },

  async verify({ deployment }) {
    const groups = await duplicateImageGroups(deployment.postgres);
    return [
      groups.length === 0
        ? ok(`no two images share (${IMAGE_IDENTIFIER.join(', ')})`)
        : failed(`${groups.length} group(s) of images still share (${IMAGE_IDENTIFIER.join(', ')}): ${firstFew(groups, describeGroup)}`),
    ];
  },
};
