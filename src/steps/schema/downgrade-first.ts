/**
 * The downgrade-first procedure: with the source release's alembic, down to a revision both lines
 * agree on, then `alembic upgrade` with the target's. It also takes a database at a head the
 * target's scripts lack (24.09.6+'s ecc9f6322be4 for 24.12) past it the same way.
 */
import { appliedIn, revisionsOf } from '../../releases/releases.js';
import { runAlembic, type AlembicSetup } from '../../manager/alembic.js';
import { offlineSql } from '../../manager/offline-sql.js';
import { MigrationError } from '../../core/errors.js';
import { failed, skipped, type StepContext } from '../step.js';
import { alembicWorks, byTarget, downgradeSteps, listed, sqlNotShown, sqlShown, upgradeSteps, type DowngradeNext, type ProcedureRules, type SchemaCommand } from './shared.js';

export function downgradeFirst(downgradeTo: string): ProcedureRules {
  return {
    action: `Downgrades with the source release's alembic to ${downgradeTo}, then runs the target release's alembic upgrade to its head.`,
    // A head the target cannot start from: the source's own downgrade first.
    beyondTarget: (hop, revisions, unknown) =>
      revisions.every((r) => revisionsOf(hop.fromLine).has(r)) && appliedIn(hop.fromLine, revisions).has(downgradeTo) ? { kind: 'downgrade', to: downgradeTo, skipped: [], unknown } : undefined,
    whenSkipping(hop, revisions, skipped, skipNote) {
      if (!appliedIn(hop.fromLine, revisions).has(downgradeTo)) {
        return { kind: 'refuse', why: `${skipNote}, and the database is not past ${downgradeTo}, the revision this hop downgrades to first` };
      }
      return { kind: 'downgrade', to: downgradeTo, skipped };
    },
  };
}

const noSourceAlembic = (ctx: StepContext, to: string) =>
  `${ctx.hop.label} needs ${ctx.hop.fromLine}'s alembic for its downgrade to ${to}, and this run has only the target release's alembic; set manager-venv (bai-migrate makes a venv of each release it needs)`;

/** The source release's alembic, for a downgrade; undefined in a check when migrate is still to make its venv. */
async function sourceAlembic(ctx: StepContext, to: string): Promise<AlembicSetup | undefined> {
  if (!ctx.sourceAlembic) throw new MigrationError('unsupported', noSourceAlembic(ctx, to));
  return ctx.sourceAlembic();
}

export const downgradeCommand: SchemaCommand<DowngradeNext> = {
  describe: (next, hop) =>
    next.unknown && next.unknown.length > 0
      ? `${hop.to.version}'s migration scripts do not have ${listed(next.unknown)}, so ${hop.fromLine}'s alembic will first downgrade to ${next.to}, then ${hop.to.version}'s upgrade to ${hop.to.head}`
      : `alembic upgrade would skip ${listed(next.skipped)}, so ${hop.fromLine}'s alembic will first downgrade to ${next.to}, then ${hop.to.version}'s upgrade to ${hop.to.head}`,

  async preflight(next, ctx) {
    const source = ctx.sourceAlembic ? await ctx.sourceAlembic() : undefined;
    const name = `${ctx.hop.fromLine}'s alembic`;
    return [
      !ctx.sourceAlembic
        ? failed(noSourceAlembic(ctx, next.to))
        : source
          ? await alembicWorks(ctx, source, next.to, name)
          : skipped(`${name} will run from the manager venv preflight or migrate makes in ${ctx.venvToMake?.dir ?? 'manager-venv'}: not checked here`),
    ];
  },

  async dryRun(next, ctx, revisions) {
    const head = ctx.hop.to.head;
    const postgres = ctx.deployment.targets.postgres!;
    const source = await sourceAlembic(ctx, next.to);
    if (ctx.venvToMake || !source) {
      return [sqlNotShown(ctx, `${ctx.hop.fromLine}'s alembic downgrade ${listed(revisions)} → ${next.to}, then ${ctx.hop.to.version}'s alembic upgrade ${next.to} → ${head}`, 'venvs')];
    }
    // Offline mode takes a single start revision: after an interrupted upgrade, the first row.
    const from = revisions[0]!;
    const down = await offlineSql(source, postgres, 'downgrade', `${from}:${next.to}`, downgradeSteps(ctx.hop.fromLine, from, next.to));
    const up = await offlineSql(ctx.alembic, postgres, 'upgrade', `${next.to}:${head}`, upgradeSteps(ctx.hop.to.line, next.to, head));
    const rendered = { sql: down.sql + up.sql, cannot: [...down.cannot, ...up.cannot] };
    return [sqlShown(rendered, `alembic downgrade to ${next.to}, then upgrade`, revisions, head, `${next.kind} ${listed(revisions)} → ${head}`)];
  },

  async apply(next, ctx) {
    const source = await sourceAlembic(ctx, next.to);
    if (!source) throw new MigrationError('unsupported', noSourceAlembic(ctx, next.to));
    await runAlembic(source, ctx.deployment.targets.postgres!, ['downgrade', next.to]);
    return `${ctx.hop.fromLine}'s alembic downgrade to ${next.to}`;
  },

  runs: (next, hop, revisions) => [
    ...downgradeSteps(hop.fromLine, revisions[0]!, next.to).map((s) => ({ ...s, direction: 'down' as const, by: 'source' as const })),
    ...byTarget(upgradeSteps(hop.to.line, next.to, hop.to.head)),
  ],
};
