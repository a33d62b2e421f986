/**
 * A step kind: columns a downgrade-first schema step drops and the target's upgrade adds again,
 * empty or back-filled by a guess (a re-added users.password_changed_at is now() for everyone).
 * Their values are kept in bai-migrate's own table (stores/dropped-values.ts) before anything
 * changes, and put back once the schema is at the target head. It comes after the schema step.
 *
 * The values are kept only while the database still stands where the source release left it:
 * after the downgrade the columns are gone, and after the upgrade they hold the guesses, so a
 * resumed run never overwrites what was kept.
 */
import { appliedIn, pastIn, revisionsOf } from '../releases/releases.js';
import { columnExists, readRevisions } from '../stores/schema.js';
import { cannotKeepDroppedValues, countDiffering, DROPPED_VALUES, keepColumn, keptCount, mayKeepDroppedValues, restoreColumn, type KeptColumn } from '../stores/dropped-values.js';
import { quoteIdent } from '../stores/sql.js';
import { MigrationError } from '../core/errors.js';
import { changed, failed, ok, skipped, warning, type Finding, type Step, type StepContext } from './step.js';

export interface ColumnAcrossDowngrade extends KeptColumn {
  /** The source line's revision that adds the column: its downgrade drops it. */
  readonly addedBy: string;
}

const named = (c: KeptColumn) => `${c.table}.${c.column}`;

/** The columns still hold the source release's values: the revision adding each is applied and the database has not left the source line. */
async function columnsAtSource(ctx: StepContext, columns: readonly ColumnAcrossDowngrade[]): Promise<ColumnAcrossDowngrade[]> {
  const revisions = await readRevisions(ctx.deployment.postgres);
  const source = revisionsOf(ctx.hop.fromLine);
  if (revisions.length === 0 || !revisions.every((r) => source.has(r))) return [];
  const applied = appliedIn(ctx.hop.fromLine, revisions);
  const atSource: ColumnAcrossDowngrade[] = [];
  for (const column of columns) {
    if (applied.has(column.addedBy) && (await columnExists(ctx.deployment.postgres, column.table, column.column))) atSource.push(column);
  }
  return atSource;
}

/**
 * Where the schema stands against the hop's head: not there yet, at it, or past it. Past: a later
 * hop of the run took it further, after the values were put back; that hop's revisions own the
 * columns now (24.03's 3596bc12ec09 turns kernels.role into session types and drops it), so a
 * repeated run leaves them alone.
 */
async function standing(ctx: StepContext): Promise<'before' | 'at' | 'past'> {
  const revisions = await readRevisions(ctx.deployment.postgres);
  if (revisions.length === 1 && revisions[0] === ctx.hop.to.head) return 'at';
  return pastIn(ctx.hop.fromLine, ctx.hop.to.line, revisions, ctx.hop.to.head) ? 'past' : 'before';
}

async function rowCount(ctx: StepContext, table: string): Promise<number> {
  const { rows } = await ctx.deployment.postgres.query<{ count: string }>(`SELECT count(*) FROM ${quoteIdent(table)}`);
  return Number(rows[0]?.count ?? 0);
}

export interface ColumnsAcrossDowngradeStep extends Step {
  readonly columns: readonly ColumnAcrossDowngrade[];
}

/** The columns a step of this kind keeps; none for a step of another kind. */
export function columnsKeptBy(step: Step): readonly ColumnAcrossDowngrade[] {
  return 'columns' in step ? (step as ColumnsAcrossDowngradeStep).columns : [];
}

export function columnsAcrossDowngrade(columns: readonly ColumnAcrossDowngrade[]): ColumnsAcrossDowngradeStep {
  const list = columns.map(named).join(', ');
  return {
    id: 'columns-across-downgrade',
    columns,
    title: 'Columns the downgrade drops',
    kind: 'change',
    action: `Keeps ${list} in ${DROPPED_VALUES} before the schema step's downgrade drops them, and puts them back once the target release has added them again.`,
    servers: ['postgres'],
    tables: [...new Set(columns.map((c) => c.table))],

    async preflight(ctx) {
      const pg = ctx.deployment.postgres;
      const atSource = await columnsAtSource(ctx, columns);
      if (atSource.length === 0) {
        const kept = await Promise.all(columns.map((c) => keptCount(pg, c)));
        return [ok(`the columns are no longer where ${ctx.hop.fromLine} left them; ${kept.reduce((a, b) => a + b, 0)} value(s) kept earlier will be put back`)];
      }
      const counts = await Promise.all(atSource.map(async (c) => `${await rowCount(ctx, c.table)} of ${named(c)}`));
      const findings: Finding[] = [ok(`${counts.join(', ')} will be kept before the downgrade and put back after the upgrade`)];
      if (!(await mayKeepDroppedValues(pg))) findings.push(warning(await cannotKeepDroppedValues(pg, `${list} are dropped by the downgrade`)));
      return findings;
    },

    async dryRun(ctx) {
      const atSource = await columnsAtSource(ctx, columns);
      if (atSource.length === 0) {
        const differing = await Promise.all(
          columns.map(async (c) =>
            (await keptCount(ctx.deployment.postgres, c)) > 0 && (await columnExists(ctx.deployment.postgres, c.table, c.column)) ? countDiffering(ctx.deployment.postgres, c) : 0,
          ),
        );
        return [ok(`would put back ${differing.reduce((a, b) => a + b, 0)} kept value(s) once the schema is at ${ctx.hop.to.head}`)];
      }
      const counts = await Promise.all(atSource.map(async (c) => `${await rowCount(ctx, c.table)} of ${named(c)}`));
      return [ok(`would keep ${counts.join(', ')} in ${DROPPED_VALUES}, then put them back after ${ctx.hop.to.version}'s upgrade adds the columns again`)];
    },

    async backup(ctx) {
      const atSource = await columnsAtSource(ctx, columns);
      if (atSource.length === 0) return undefined;
      const content: Record<string, unknown[]> = {};
      for (const c of atSource) {
        const { rows } = await ctx.deployment.postgres.query(`SELECT ${quoteIdent(c.key)} AS key, ${quoteIdent(c.column)} AS value FROM ${quoteIdent(c.table)} ORDER BY 1`);
        content[named(c)] = rows;
      }
      return { name: 'columns-across-downgrade.json', content: JSON.stringify(content, null, 2) };
    },

    async carryForward(ctx) {
      const atSource = await columnsAtSource(ctx, columns);
      if (atSource.length === 0) return undefined;
      const kept = [];
      for (const c of atSource) kept.push(`${await keepColumn(ctx.deployment.postgres, c, c.addedBy)} of ${named(c)}`);
      return ok(`${kept.join(', ')} kept in PostgreSQL as ${DROPPED_VALUES} (the downgrade drops them)`);
    },

    async pending(ctx) {
      const where = await standing(ctx);
      if (where !== 'at') return where === 'before';
      for (const c of columns) if ((await keptCount(ctx.deployment.postgres, c)) > 0 && (await countDiffering(ctx.deployment.postgres, c)) > 0) return true;
      return false;
    },

    async apply(ctx) {
      const where = await standing(ctx);
      if (where === 'before') {
        throw new MigrationError('inconsistent-state', `the kept values of ${list} are put back at ${ctx.hop.to.head}, and the schema is not there yet; run the schema step first`);
      }
      if (where === 'past') return ok(`the schema is past ${ctx.hop.to.head} (${ctx.hop.to.version}): later revisions own ${list}; nothing to put back`);
      const pg = ctx.deployment.postgres;
      const restored: string[] = [];
      let kept = 0;
      for (const c of columns) {
        const count = await keptCount(pg, c);
        kept += count;
        if (count === 0) continue;
        if (!(await columnExists(pg, c.table, c.column))) return failed(`${named(c)} is not in ${ctx.hop.to.version}'s schema, so its ${count} kept value(s) cannot be put back`);
        const changedRows = await restoreColumn(pg, c);
        if (changedRows > 0) restored.push(`${changedRows} of ${named(c)}`);
      }
      if (kept === 0) return warning(`no values of ${list} were kept (the database had left ${ctx.hop.fromLine}'s schema before bai-migrate ran): the upgrade's defaults stay`);
      return restored.length > 0 ? changed(`put back ${restored.join(', ')} from ${DROPPED_VALUES}`) : ok('every kept value is already in place');
    },

    async verify(ctx) {
      const pg = ctx.deployment.postgres;
      const findings: Finding[] = [];
      // migrate checked them right after putting them back, before the later hop ran.
      if ((await standing(ctx)) === 'past') return [ok(`the schema is past ${ctx.hop.to.head} (${ctx.hop.to.version}): later revisions own ${list}`)];
      for (const c of columns) {
        const count = await keptCount(pg, c);
        if (count === 0) {
          findings.push(skipped(`no values of ${named(c)} are kept: nothing to put back`));
        } else if (!(await columnExists(pg, c.table, c.column))) {
          findings.push(failed(`${named(c)} does not exist, so its ${count} kept value(s) are not in place`));
        } else {
          const differing = await countDiffering(pg, c);
          findings.push(differing === 0 ? ok(`the ${count} kept value(s) of ${named(c)} are in place`) : failed(`${differing} row(s) of ${named(c)} differ from the value kept before the downgrade`));
        }
      }
      return findings;
    },
  };
}
