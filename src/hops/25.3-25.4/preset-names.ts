/**
 * 25.4's d537c050dd8d gives resource_presets an id primary key and a nullable scaling_group_name in
 * place of the primary key on name; 9fc0e92ea510 then builds two partial unique indexes: name where
 * scaling_group_name IS NULL, and (name, scaling_group_name) where it is not
 * (backend.ai@25.4.0:src/ai/backend/manager/models/alembic/versions/d537c050dd8d_add_scaling_group_name_column_to_.py,
 * 9fc0e92ea510_add_unique_constraint.py). Up to 25.3 the name is the primary key, so only a table
 * whose key was loosened by hand can hold two presets of one name; every existing row gets a NULL
 * scaling_group_name, so the first index fails on them and stops the upgrade. d537c050dd8d drops the
 * primary key by its name, pk_resource_presets: a table without it stops the upgrade there.
 */
import type pg from 'pg';
import { columnExists, tableExists } from '../../stores/schema.js';
import { failed, firstFew, ok, REHEARSAL_FINDS_IT, skipped, type Finding, type Step } from '../../steps/step.js';

export const PRESET_NAME_REVISION = '9fc0e92ea510';
export const PRESET_KEY_REVISION = 'd537c050dd8d';

interface PresetGroup {
  readonly name: string;
  readonly scalingGroup: string | null;
  /** Each row by its id once d537c050dd8d made one, else by its physical location (ctid). */
  readonly rows: readonly string[];
}

/** Presets the indexes would find twice: by name among those without a scaling group (every row up to 25.3), by (name, scaling group) among the others. */
export async function duplicatePresetGroups(client: pg.Client): Promise<PresetGroup[]> {
  if (!(await columnExists(client, 'resource_presets', 'name'))) return [];
  const scoped = await columnExists(client, 'resource_presets', 'scaling_group_name');
  const rowId = (await columnExists(client, 'resource_presets', 'id')) ? `'id ' || id::text` : `'ctid ' || ctid::text`;
  const sg = scoped ? 'scaling_group_name' : 'NULL::text';
  const { rows } = await client.query<{ name: string; sg: string | null; rows: string[] }>(
    `SELECT name, ${sg} AS sg, array_agg(${rowId} ORDER BY ctid) AS rows FROM resource_presets
      WHERE name IS NOT NULL GROUP BY name, ${sg} HAVING count(*) > 1 ORDER BY name, 2 NULLS FIRST`,
  );
  return rows.map((r) => ({ name: r.name, scalingGroup: r.sg, rows: r.rows }));
}

export const presetNames: Step = {
  id: 'preset-names',
  title: 'Resource preset names are unique',
  kind: 'check',
  action: `Checks that no two resource presets share a name (per scaling group), which the unique indexes 25.4's ${PRESET_NAME_REVISION} builds require, and that the primary key ${PRESET_KEY_REVISION} drops by name is there; changes nothing.`,
  servers: ['postgres'],
  tables: ['resource_presets'],

  async preflight({ deployment }) {
    const pg = deployment.postgres;
    const findings: Finding[] = [];
    // Every resource_presets has a name (backend.ai@25.3.3:src/ai/backend/manager/models/resource_preset.py); one without is not what these revisions were written for.
    if (!(await columnExists(pg, 'resource_presets', 'name')))
      return [skipped(`${(await tableExists(pg, 'resource_presets')) ? 'resource_presets has no name column' : 'no resource_presets table'}: no preset names to compare`)];
    if (!(await columnExists(pg, 'resource_presets', 'id'))) {
      const { rows } = await pg.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = to_regclass('resource_presets') AND contype = 'p' AND conname = 'pk_resource_presets'`,
      );
      if (rows[0]!.n === 0) {
        findings.push(
          failed(
            `resource_presets has no primary key pk_resource_presets, which 25.4's ${PRESET_KEY_REVISION} drops by that name (stopping the upgrade when it is not there): once the names are unique, ALTER TABLE resource_presets ADD CONSTRAINT pk_resource_presets PRIMARY KEY (name). ${REHEARSAL_FINDS_IT}`,
          ),
        );
      }
    }
    const groups = await duplicatePresetGroups(pg);
    if (groups.length === 0) return [...findings, ok(`no two resource presets share a name: ${PRESET_NAME_REVISION}'s unique indexes can be built`)];
    const rows = groups.reduce((n, g) => n + g.rows.length, 0);
    return [
      ...findings,
      failed(
        `${groups.length} resource preset name(s) are held by ${rows} rows: ${firstFew(groups, (g) => `${g.name}${g.scalingGroup === null ? '' : ` in scaling group ${g.scalingGroup}`}: ${g.rows.join(', ')}`)}. 25.4's ${PRESET_NAME_REVISION} builds unique indexes on resource_presets(name) and (name, scaling_group_name) and stops the upgrade on them. Rename or delete all but one of each (e.g. DELETE FROM resource_presets WHERE ctid = '…'). ${REHEARSAL_FINDS_IT}`,
      ),
    ];
  },
};
