/**
 * Rows a revision of the hop's target package deletes without error and without a downgrade
 * (src/releases/cannot-run.ts, DELETING_REVISIONS: 26.4's 045b0e0e4384 deletes every image whose
 * container registry is gone). Preflight names them; the backup bundle keeps them, whole, so that
 * an operator can put back what they need.
 */
import { deletingRuns, type DeletingRevision } from '../releases/cannot-run.js';
import { columnExists, tableExists } from '../stores/schema.js';
import { quoteIdent } from '../stores/sql.js';
import { revisionsTheTargetRuns } from './schema/index.js';
import { firstFew, ok, warning, type Finding, type Step, type StepContext } from './step.js';

async function deletions(ctx: StepContext): Promise<DeletingRevision[]> {
  const found: DeletingRevision[] = [];
  for (const d of deletingRuns(ctx.hop.to.version, await revisionsTheTargetRuns(ctx))) if (await tableExists(ctx.deployment.postgres, d.table)) found.push(d);
  return found;
}

export const revisionDeletes: Step = {
  id: 'revision-deletes',
  title: "Rows the target's revisions delete",
  kind: 'check',
  action: "Lists the rows a revision of the target release deletes for good (26.4's 045b0e0e4384: images whose container registry is gone), which the backup bundle keeps; changes nothing.",
  servers: ['postgres'],
  tables: ['images', 'container_registries'],

  async preflight(ctx) {
    const found = await deletions(ctx);
    if (found.length === 0) return [ok(`backend.ai-manager ${ctx.hop.to.version} deletes no rows here that it cannot put back`)];
    const findings: Finding[] = [];
    for (const d of found) {
      const named = (await columnExists(ctx.deployment.postgres, d.table, d.name)) ? d.name : 'ctid::text';
      const { rows } = await ctx.deployment.postgres.query<{ name: string }>(`SELECT (${named})::text AS name FROM ${quoteIdent(d.table)} WHERE ${d.where} ORDER BY 1`);
      findings.push(
        rows.length === 0
          ? ok(`${d.revision} deletes ${d.rows}: none here`)
          : warning(`${d.revision} deletes ${rows.length} ${d.rows}; ${d.consequence}: ${firstFew(rows, (r) => r.name)}. migrate keeps them whole in the backup bundle (source: ${d.source})`),
      );
    }
    return findings;
  },

  async backup(ctx) {
    const content: Record<string, unknown[]> = {};
    for (const d of await deletions(ctx)) {
      const { rows } = await ctx.deployment.postgres.query<{ row: unknown }>(`SELECT row_to_json(t) AS row FROM ${quoteIdent(d.table)} t WHERE ${d.where}`);
      if (rows.length > 0) content[`${d.revision} ${d.table}`] = rows.map((r) => r.row);
    }
    return Object.keys(content).length === 0 ? undefined : { name: 'revision-deletes.json', content: JSON.stringify(content, null, 2) };
  },
};
