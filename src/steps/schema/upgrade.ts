/**
 * The upgrade procedure: plain `alembic upgrade`, refused when it would skip anything. Its command
 * is every procedure's where the upgrade skips nothing.
 */
import { appliedIn, parentsIn, revisionsToApply } from '../../releases/releases.js';
import { outsideDatabase } from '../../releases/outside-database.js';
import { runAlembic } from '../../manager/alembic.js';
import { offlineSql } from '../../manager/offline-sql.js';
import { skipped } from '../step.js';
import { byTarget, listed, sqlNotShown, sqlShown, upgradeSteps, type ProcedureRules, type SchemaCommand, type UpgradeNext } from './shared.js';

export const upgrade: ProcedureRules = {
  action: "Runs alembic upgrade to the target release's head revision under a PostgreSQL session advisory lock.",
  whenSkipping: (_hop, _revisions, _skipped, skipNote) => ({ kind: 'refuse', why: `${skipNote}; this hop has no remedy for them` }),
};

export const upgradeCommand: SchemaCommand<UpgradeNext> = {
  describe: (next, hop) =>
    `alembic upgrade will take it to ${hop.to.head} (${hop.to.version})${next.covered.length > 0 ? `; it skips ${next.covered.map((c) => `${c.revision} (the same change as ${c.twin})`).join(', ')}, which is harmless` : ''}`,

  async dryRun(_next, ctx, revisions) {
    const head = ctx.hop.to.head;
    const postgres = ctx.deployment.targets.postgres!;
    if (ctx.venvToMake) return [sqlNotShown(ctx, `alembic upgrade ${listed(revisions)} → ${head}`, 'venv')];
    // Offline mode takes a single start revision; after an interrupted upgrade there may be two.
    const start = revisions.length === 1 ? revisions[0]! : undefined;
    // What a revision does outside PostgreSQL it would do offline too: those are named, never run.
    const have = appliedIn(ctx.hop.to.line, revisions);
    const withhold = outsideDatabase([...appliedIn(ctx.hop.to.line, [head])].filter((r) => !have.has(r)));
    const steps = start ? upgradeSteps(ctx.hop.to.line, start, head) : [];
    if (!start && withhold.length > 0)
      return [
        skipped(
          `would run alembic upgrade ${listed(revisions)} → ${head}; its SQL is not shown: alembic_version holds several rows, and ${withhold.map((w) => w.revision).join(', ')} must not run offline`,
        ),
      ];
    const rendered = start
      ? await offlineSql(ctx.alembic, postgres, 'upgrade', `${start}:${head}`, steps, withhold)
      : { sql: await runAlembic(ctx.alembic, postgres, ['upgrade', head, '--sql']), cannot: [] };
    return [sqlShown(rendered, 'alembic upgrade', revisions, head, `upgrade ${start ? `${start}:${head}` : head}`)];
  },

  async apply(_next, ctx, revisions) {
    const head = ctx.hop.to.head;
    await runAlembic(ctx.alembic, ctx.deployment.targets.postgres!, ['upgrade', head]);
    return `alembic upgrade ${listed(revisions)} → ${head}`;
  },

  runs(_next, hop, revisions) {
    const head = hop.to.head;
    const toLine = hop.to.line;
    return byTarget(
      revisions.length === 1
        ? upgradeSteps(toLine, revisions[0]!, head)
        : revisionsToApply(toLine, toLine, revisions, head).map((revision) => ({ revision, from: parentsIn(toLine, revision)[0] ?? 'base', to: revision })),
    );
  },
};
