/**
 * Rows a revision stops on when the hop's target package runs it without a guard (src/releases/
 * cannot-run.ts, UNGUARDED_REVISIONS: 26.4.4–26.4.12's 8c1f7d3a9e2b on a stored model definition that
 * is not a JSON object; every text of c7d8e9f0a1b2 on a deployment revision whose image is gone, and
 * of d8e9f0a1b2c3 on one whose runtime variant no row names when there is no `custom` variant).
 * Found before anything is written, with the releases whose text passes over them and what to do.
 */
import { UNGUARDED_REVISIONS, unguardedRuns } from '../releases/cannot-run.js';
import { columnExists } from '../stores/schema.js';
import { quoteIdent } from '../stores/sql.js';
import { revisionsTheTargetRuns } from './schema/index.js';
import { failed, ok, type Finding, type Step } from './step.js';

export const unguardedRevisions: Step = {
  id: 'unguarded-revisions',
  title: "Rows the target package's revisions stop on",
  kind: 'check',
  action:
    "Checks for rows that a revision the target release's package runs stops on where no guard of its text passes over them (8c1f7d3a9e2b of 26.4.4–26.4.12 on a model definition that is not a JSON object; c7d8e9f0a1b2 on a deployment revision whose image is gone; d8e9f0a1b2c3 on one whose runtime variant no row names, without a `custom` one); changes nothing.",
  servers: ['postgres'],
  tables: [...new Set(UNGUARDED_REVISIONS.flatMap((u) => u.stopsOn.map((s) => s.table)))],

  async preflight(ctx) {
    const pg = ctx.deployment.postgres;
    const found = unguardedRuns(ctx.hop.to.version, await revisionsTheTargetRuns(ctx));
    if (found.length === 0) return [ok(`backend.ai-manager ${ctx.hop.to.version} runs no revision here without a guard a later text of it has`)];
    const findings: Finding[] = [];
    for (const unguarded of found) {
      const rows: string[] = [];
      for (const { table, column, where, onlyIf } of unguarded.stopsOn) {
        if (!(await columnExists(pg, table, column))) continue;
        if (onlyIf && !(await pg.query<{ stops: boolean }>(`SELECT ${onlyIf} AS stops`)).rows[0]!.stops) continue;
        const { rows: counted } = await pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${quoteIdent(table)} WHERE ${where}`);
        if (counted[0]!.n > 0) rows.push(`${counted[0]!.n} row(s) of ${table} where ${where}`);
      }
      findings.push(
        rows.length === 0
          ? ok(`${unguarded.revision} runs with ${ctx.hop.to.version}'s text, which has no guard; no row here stops it`)
          : failed(
              `${unguarded.revision} runs with backend.ai-manager ${ctx.hop.to.version}'s text, which stops on ${rows.join('; ')} (${unguarded.error}). ${
                unguarded.guardedIn.length > 0
                  ? `Choose a to-version whose text passes over them (${unguarded.guardedIn.join(', ')}), or ${unguarded.remedy}`
                  : `No release's text passes over them: ${unguarded.remedy}`
              }; nothing was changed (source: ${unguarded.source})`,
            ),
      );
    }
    return findings;
  },
};
