/**
 * The apply-missing procedure: where a plain `alembic upgrade` would skip revisions, every target
 * revision the database lacks, applied by id in graph order (manager/apply-revisions.ts); the
 * step then collapses alembic_version to the head.
 */
import { parentsIn, revisionsToApply } from '../../releases/releases.js';
import { outsideDatabase } from '../../releases/outside-database.js';
import { applyRevisions } from '../../manager/apply-revisions.js';
import { offlineRevisions } from '../../manager/offline-sql.js';
import { byTarget, listed, sqlNotShown, sqlShown, type ApplyMissingNext, type ProcedureRules, type SchemaCommand } from './shared.js';

export const applyMissing: ProcedureRules = {
  action: 'Applies every revision of the target release the database lacks, including those alembic upgrade would skip, then sets alembic_version to the head.',
  whenSkipping: (hop, revisions, skipped) => ({ kind: 'apply-missing', revisions: revisionsToApply(hop.fromLine, hop.to.line, revisions, hop.to.head), skipped }),
};

export const applyMissingCommand: SchemaCommand<ApplyMissingNext> = {
  describe: (next, hop) =>
    `alembic upgrade would skip ${listed(next.skipped)}, so the ${next.revisions.length} revision(s) of ${hop.to.version} the database lacks will be applied one by one in graph order, then alembic_version set to ${hop.to.head}`,

  async dryRun(next, ctx, revisions) {
    const head = ctx.hop.to.head;
    if (ctx.venvToMake) return [sqlNotShown(ctx, `alembic ${next.kind} ${listed(revisions)} → ${head}`, 'venv')];
    const start = revisions.length === 1 ? revisions[0]! : undefined;
    // What a revision does outside PostgreSQL it would do offline too: those are named, never run.
    const withhold = outsideDatabase(next.revisions);
    const rendered = await offlineRevisions(ctx.alembic, ctx.deployment.targets.postgres!, next.revisions, start ?? '', withhold);
    return [sqlShown(rendered, `apply ${next.revisions.length} revision(s) by id, then collapse alembic_version`, revisions, head, `${next.kind} ${listed(revisions)} → ${head}`)];
  },

  async apply(next, ctx) {
    await applyRevisions(ctx.alembic, ctx.deployment.targets.postgres!, next.revisions);
    return `applied ${next.revisions.length} revision(s) by id (among them ${listed(next.skipped)}, which alembic upgrade would skip)`;
  },

  runs: (next, hop) => byTarget(next.revisions.map((revision) => ({ revision, from: parentsIn(hop.to.line, revision)[0] ?? 'base', to: revision }))),
};
