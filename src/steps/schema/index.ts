/**
 * A step kind: the database schema, taken to the hop's target head with the manager's own alembic.
 * Before anything runs it works out, from the two lines' revision graphs, which revisions a plain
 * `alembic upgrade` would take as done although the database never ran them (the target line
 * re-parented them), and takes the hop's remedy for those, one module per procedure:
 *   - upgrade.ts:         plain `alembic upgrade`; refused when it would skip anything;
 *   - apply-missing.ts:   every target revision the database lacks, applied by id in graph order
 *                         (manager/apply-revisions.ts), then alembic_version collapsed to the head;
 *   - downgrade-first.ts: with the source release's alembic, down to a revision both lines agree
 *                         on, then `alembic upgrade` with the target's.
 * alembic runs each command in the manager's one transaction, so a killed run leaves the database
 * where a command started or where it ended, and a re-run picks the next command from there.
 * Verify reads alembic_version and the schema facts of the target head (releases/schema-facts.ts).
 */
import { probeHolds, readRevisions } from '../../stores/schema.js';
import { appliedIn, pastIn, reaches, revisionsOf, upgradeSkips } from '../../releases/releases.js';
import { SCHEMA_FACTS } from '../../releases/schema-facts.js';
import { ALEMBIC_APPLICATION_NAME } from '../../manager/alembic.js';
import { MigrationError } from '../../core/errors.js';
import { sleep } from '../../core/time.js';
import { changed, failed, ok, type Finding, type Hop, type Step, type StepContext } from '../step.js';
import { alembicWorks, listed, type CommandNext, type Next, type ProcedureRules, type SchemaCommand, type SchemaProcedure, type SchemaRevisionRun } from './shared.js';
import { upgrade, upgradeCommand } from './upgrade.js';
import { applyMissing, applyMissingCommand } from './apply-missing.js';
import { downgradeFirst, downgradeCommand } from './downgrade-first.js';

export type { SchemaProcedure } from './shared.js';

function rulesOf(procedure: SchemaProcedure): ProcedureRules {
  switch (procedure.kind) {
    case 'upgrade':
      return upgrade;
    case 'apply-missing':
      return applyMissing;
    case 'downgrade-first':
      return downgradeFirst(procedure.downgradeTo);
  }
}

/** Each command, by the kind of `Next` that names it. */
const COMMANDS: { readonly [K in CommandNext['kind']]: SchemaCommand<Extract<CommandNext, { kind: K }>> } = {
  upgrade: upgradeCommand,
  'apply-missing': applyMissingCommand,
  downgrade: downgradeCommand,
};

function commandOf<N extends CommandNext>(next: N): SchemaCommand<N> {
  return COMMANDS[next.kind] as unknown as SchemaCommand<N>;
}

function nextCommand(rules: ProcedureRules, hop: Hop, revisions: readonly string[]): Next {
  const head = hop.to.head;
  const fromLine = hop.fromLine;
  const toLine = hop.to.line;
  if (revisions.length === 1 && revisions[0] === head) return { kind: 'done' };
  if (pastIn(fromLine, toLine, revisions, head)) return { kind: 'past', at: revisions };
  const target = revisionsOf(toLine);
  const unknown = revisions.filter((r) => !target.has(r));
  if (unknown.length > 0) {
    return (
      rules.beyondTarget?.(hop, revisions, unknown) ?? {
        kind: 'refuse',
        why: `alembic_version holds ${listed(unknown)}, which ${hop.to.version}'s migration scripts do not have (alembic would stop with "Can't locate revision"); a later release of ${toLine} or the next line may know it`,
      }
    );
  }
  const headAncestors = appliedIn(toLine, [head]);
  if (revisions.length > 1 && revisions.includes(head) && revisions.every((r) => headAncestors.has(r))) return { kind: 'collapse', rows: revisions };
  // A database that already left the source line's graph follows the target's: nothing is skipped.
  const source = revisionsOf(fromLine);
  const followsSource = revisions.every((r) => source.has(r));
  const skips = followsSource ? upgradeSkips(fromLine, toLine, revisions, head) : { skipped: [], covered: [] };
  if (skips.skipped.length === 0) return { kind: 'upgrade', covered: skips.covered };
  const skipNote = `alembic upgrade would take ${skips.skipped.length} revision(s) of ${toLine} as done that the database never ran (${listed(skips.skipped)})`;
  return rules.whenSkipping(hop, revisions, skips.skipped, skipNote);
}

function describeNext(next: Next, hop: Hop): string {
  const head = hop.to.head;
  switch (next.kind) {
    case 'done':
      return `already at ${head}`;
    case 'past':
      return `already past ${head}, at ${listed(next.at)} of a later release`;
    case 'collapse':
      return `the missing revisions were applied; alembic_version's ${next.rows.length} rows will be collapsed to ${head}`;
    case 'refuse':
      return next.why;
    default:
      return commandOf(next).describe(next, hop);
  }
}

/**
 * For the plan, before any database is read: from each place the hop may start (`sources`, each
 * an alembic_version), which revisions a plain `alembic upgrade` would skip and what the hop's
 * schema step does then, or that it skips none. The operator sees why the procedure is what it is.
 */
export function describeSchemaPlan(hop: Hop, sources: ReadonlyArray<readonly string[]>): string | undefined {
  const step = schemaStepOf(hop);
  if (!step) return undefined;
  const rules = procedures.get(step)!;
  const byText = new Map<string, string[]>();
  for (const revisions of sources) {
    const next = nextCommand(rules, hop, revisions);
    const text =
      next.kind === 'upgrade'
        ? `a plain alembic upgrade to ${hop.to.head} skips no revision${next.covered.length > 0 ? ` but ${next.covered.map((c) => `${c.revision} (the same change as ${c.twin})`).join(', ')}, which is harmless` : ''}`
        : describeNext(next, hop);
    byText.set(text, [...(byText.get(text) ?? []), listed(revisions)]);
  }
  return [...byText].map(([text, from]) => `from ${from.join(', ')}: ${text}`).join('; ');
}

/** Each schema step's procedure, for the revisions a run would take (schemaRevisionRuns). */
const procedures = new WeakMap<Step, ProcedureRules>();

/** The schema step of `hop`, if it has one. */
export function schemaStepOf(hop: Hop): Step | undefined {
  return hop.steps.find((step) => procedures.has(step));
}

/**
 * The revisions `hop`'s schema step would run from `revisions`, in order, and whose alembic runs
 * each (the source release's for a downgrade): what the drift check renders and plays.
 */
export function schemaRevisionRuns(hop: Hop, revisions: readonly string[]): SchemaRevisionRun[] {
  const step = schemaStepOf(hop);
  if (!step) return [];
  const next = nextCommand(procedures.get(step)!, hop, revisions);
  switch (next.kind) {
    case 'done':
    case 'past':
    case 'collapse':
    case 'refuse':
      return [];
    default:
      return commandOf(next).runs(next, hop, revisions);
  }
}

/** The revisions the target release's own alembic runs upward in this hop, from where the database stands (or will, in a plan of several hops). */
export async function revisionsTheTargetRuns(ctx: StepContext): Promise<string[]> {
  const revisions = ctx.assumedRevisions ?? (await readRevisions(ctx.deployment.postgres));
  return schemaRevisionRuns(ctx.hop, revisions)
    .filter((run) => run.by === 'target' && run.direction === 'up')
    .map((run) => run.revision);
}

export function schemaStep(procedure: SchemaProcedure = { kind: 'upgrade' }): Step {
  const rules = rulesOf(procedure);
  const step: Step = {
    id: 'schema',
    title: 'Database schema (alembic upgrade)',
    kind: 'change',
    action: rules.action,
    servers: ['postgres'],
    tables: ['alembic_version'],

    async preflight(ctx) {
      const revisions = ctx.assumedRevisions ?? (await readRevisions(ctx.deployment.postgres));
      const next = nextCommand(rules, ctx.hop, revisions);
      const head = ctx.hop.to.head;
      if (next.kind === 'done') return [ok(`already at ${head}, the head of ${ctx.hop.to.version}; alembic is not run`)];
      if (next.kind === 'past') return [ok(`${describeNext(next, ctx.hop)}; alembic is not run for ${ctx.hop.label}`)];
      if (next.kind === 'refuse') return [failed(`at ${listed(revisions)}: ${next.why}`)];
      const findings = [ok(`${ctx.assumedRevisions ? `from ${listed(revisions)}, where the hops before ${ctx.hop.label} leave it` : `at ${listed(revisions)}`}; ${describeNext(next, ctx.hop)}`)];
      if (next.kind === 'collapse') return findings;
      findings.push(await alembicWorks(ctx, ctx.alembic, head, 'alembic'));
      findings.push(...((await commandOf(next).preflight?.(next, ctx)) ?? []));
      return findings;
    },

    async dryRun(ctx) {
      const revisions = ctx.assumedRevisions ?? (await readRevisions(ctx.deployment.postgres));
      const next = nextCommand(rules, ctx.hop, revisions);
      const head = ctx.hop.to.head;
      if (next.kind === 'done') return [ok(`already at ${head}: nothing to run`)];
      if (next.kind === 'past') return [ok(`${describeNext(next, ctx.hop)}: nothing to run`)];
      if (next.kind === 'refuse') return [failed(next.why)];
      if (next.kind === 'collapse') return [ok(`would collapse alembic_version (${listed(next.rows)}) to ${head}`)];
      return commandOf(next).dryRun(next, ctx, revisions);
    },

    async apply(ctx) {
      await waitForOrphanedAlembic(ctx);
      const head = ctx.hop.to.head;
      const before = await readRevisions(ctx.deployment.postgres);
      const done: string[] = [];
      // At most three commands (downgrade, upgrade; or apply, collapse), each from where the last left it.
      for (let revisions = before; ; revisions = await readRevisions(ctx.deployment.postgres)) {
        const next = nextCommand(rules, ctx.hop, revisions);
        if (next.kind === 'done') break;
        if (next.kind === 'past') return ok(describeNext(next, ctx.hop));
        if (next.kind === 'refuse') throw new MigrationError('inconsistent-state', `at ${listed(revisions)}: ${next.why}`);
        if (done.length >= 3) throw new MigrationError('inconsistent-state', `alembic_version is ${listed(revisions)} after ${done.join(', ')}; expected ${head}`);
        if (next.kind === 'collapse') {
          await ctx.deployment.postgres.query('DELETE FROM alembic_version WHERE version_num <> $1', [head]);
          done.push(`alembic_version collapsed to ${head}`);
        } else {
          done.push(await commandOf(next).apply(next, ctx, revisions));
        }
      }
      if (done.length === 0) return ok(`already at ${head} (${ctx.hop.to.version})`);
      // The plain case keeps its one-line message: "alembic upgrade A → B (release)".
      return changed(`${done.join('; then ')} (${ctx.hop.to.version})`);
    },

    async verify(ctx) {
      const revisions = await readRevisions(ctx.deployment.postgres);
      const target = ctx.hop.to.head;
      const findings: Finding[] = [];
      // A later hop of the run has taken it further; that hop's schema step verifies its own head.
      if (pastIn(ctx.hop.fromLine, ctx.hop.to.line, revisions, target)) return [ok(`alembic_version is ${listed(revisions)}, past ${target} (${ctx.hop.to.version})`)];
      findings.push(
        revisions.length === 1 && revisions[0] === target
          ? ok(`alembic_version is ${target}, the head of ${ctx.hop.to.version}`)
          : failed(`alembic_version is ${revisions.join(', ') || 'empty'}; expected ${target}, the head of ${ctx.hop.to.version}`),
      );
      for (const fact of SCHEMA_FACTS.filter((f) => reaches(ctx.hop.to.line, target, f.since))) {
        const holds = (await Promise.all(fact.probes.map((probe) => probeHolds(ctx.deployment.postgres, probe)))).every(Boolean);
        findings.push(holds ? ok(fact.describe) : failed(`expected: ${fact.describe}`));
      }
      return findings;
    },
  };
  procedures.set(step, rules);
  return step;
}

/** The plain `alembic upgrade` schema step, which most hops take. */
export const schema: Step = schemaStep();

/**
 * alembic's watchdog stops it soon after a killed runner, but its connection may still be closing
 * (or an alembic was started by hand). The migration lock died with the runner, so wait here
 * until no alembic of an earlier run is connected, instead of racing it.
 */
async function waitForOrphanedAlembic(ctx: StepContext): Promise<void> {
  const deadline = Date.now() + ctx.settings.lockTimeoutSeconds * 1000;
  for (;;) {
    const { rows } = await ctx.deployment.postgres.query<{ pid: number; seconds: number }>(
      `SELECT pid, round(extract(epoch FROM now() - backend_start))::int AS seconds
         FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`,
      [ALEMBIC_APPLICATION_NAME],
    );
    if (rows.length === 0) return;
    if (Date.now() > deadline) {
      const { pid, seconds } = rows[0]!;
      throw new MigrationError(
        'inconsistent-state',
        `an alembic started by an earlier bai-migrate run is still connected (backend pid ${pid}, for ${seconds} s); let it finish, or stop it with SELECT pg_terminate_backend(${pid}), then run again`,
      );
    }
    ctx.log.info(`waiting for an alembic started by an earlier run (backend pid ${rows[0]!.pid}) to finish`);
    await sleep(500);
  }
}
