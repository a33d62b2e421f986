/**
 * A step kind: the database schema, taken to the hop's target head with the manager's own alembic.
 * Before anything runs it works out, from the two lines' revision graphs, which revisions a plain
 * `alembic upgrade` would take as done although the database never ran them (the target line
 * re-parented them), and takes the hop's remedy for those:
 *   - upgrade:         plain `alembic upgrade`; refused when it would skip anything;
 *   - apply-missing:   every target revision the database lacks, applied by id in graph order
 *                      (manager/apply-revisions.ts), then alembic_version collapsed to the head;
 *   - downgrade-first: with the source release's alembic, down to a revision both lines agree on,
 *                      then `alembic upgrade` with the target's.
 * alembic runs each command in the manager's one transaction, so a killed run leaves the database
 * where a command started or where it ended, and a re-run picks the next command from there.
 * Verify reads alembic_version and the schema facts of the target head (releases/schema-facts.ts).
 */
import { resolve } from 'node:path';
import { probeHolds, readRevisions } from '../stores/schema.js';
import { appliedIn, parentsIn, pastIn, reaches, revisionsOf, revisionsToApply, upgradeSkips } from '../releases/releases.js';
import { SCHEMA_FACTS } from '../releases/schema-facts.js';
import { ALEMBIC_APPLICATION_NAME, AlembicError, runAlembic, type AlembicSetup } from '../manager/alembic.js';
import { applyRevisions } from '../manager/apply-revisions.js';
import { offlineRevisions, offlineSql, type OfflineSql, type RevisionStep } from '../manager/offline-sql.js';
import type { RevisionRun } from '../manager/revision-sql.js';
import { outsideDatabase } from '../releases/outside-database.js';
import { MigrationError } from '../core/errors.js';
import { sleep } from '../core/time.js';
import { changed, failed, ok, skipped, type Finding, type Hop, type Step, type StepContext } from './step.js';

export type SchemaProcedure = { readonly kind: 'upgrade' } | { readonly kind: 'apply-missing' } | { readonly kind: 'downgrade-first'; readonly downgradeTo: string };

/** What the next command is, from where the database stands. */
type Next =
  | { readonly kind: 'done' }
  /** A later hop of the run already took the database past this hop's head. */
  | { readonly kind: 'past'; readonly at: readonly string[] }
  /** apply-missing ran; its extra alembic_version rows remain. */
  | { readonly kind: 'collapse'; readonly rows: readonly string[] }
  | { readonly kind: 'upgrade'; readonly covered: ReadonlyArray<{ revision: string; twin: string }> }
  | { readonly kind: 'apply-missing'; readonly revisions: readonly string[]; readonly skipped: readonly string[] }
  | { readonly kind: 'downgrade'; readonly to: string; readonly skipped: readonly string[]; readonly unknown?: readonly string[] }
  /** Nothing this procedure may do takes the database to the head. */
  | { readonly kind: 'refuse'; readonly why: string };

const listed = (revisions: readonly string[]) => revisions.join(', ');

function nextCommand(procedure: SchemaProcedure, ctx: Pick<StepContext, 'hop'>, revisions: readonly string[]): Next {
  const head = ctx.hop.to.head;
  const fromLine = ctx.hop.fromSeries;
  const toLine = ctx.hop.to.series;
  if (revisions.length === 1 && revisions[0] === head) return { kind: 'done' };
  if (pastIn(fromLine, toLine, revisions, head)) return { kind: 'past', at: revisions };
  const target = revisionsOf(toLine);
  const unknown = revisions.filter((r) => !target.has(r));
  // A head the target cannot start from (24.09.6+'s ecc9f6322be4 for 24.12): the source's own downgrade first.
  if (unknown.length > 0 && procedure.kind === 'downgrade-first' && revisions.every((r) => revisionsOf(fromLine).has(r)) && appliedIn(fromLine, revisions).has(procedure.downgradeTo)) {
    return { kind: 'downgrade', to: procedure.downgradeTo, skipped: [], unknown };
  }
  if (unknown.length > 0) {
    return {
      kind: 'refuse',
      why: `alembic_version holds ${listed(unknown)}, which ${ctx.hop.to.version}'s migration scripts do not have (alembic would stop with "Can't locate revision"); a later release of ${toLine} or the next line may know it`,
    };
  }
  const headAncestors = appliedIn(toLine, [head]);
  if (revisions.length > 1 && revisions.includes(head) && revisions.every((r) => headAncestors.has(r))) return { kind: 'collapse', rows: revisions };
  // A database that already left the source line's graph follows the target's: nothing is skipped.
  const source = revisionsOf(fromLine);
  const followsSource = revisions.every((r) => source.has(r));
  const skips = followsSource ? upgradeSkips(fromLine, toLine, revisions, head) : { skipped: [], covered: [] };
  if (skips.skipped.length === 0) return { kind: 'upgrade', covered: skips.covered };
  const skipNote = `alembic upgrade would take ${skips.skipped.length} revision(s) of ${toLine} as done that the database never ran (${listed(skips.skipped)})`;
  switch (procedure.kind) {
    case 'upgrade':
      return { kind: 'refuse', why: `${skipNote}; this hop has no remedy for them` };
    case 'apply-missing':
      return { kind: 'apply-missing', revisions: revisionsToApply(fromLine, toLine, revisions, head), skipped: skips.skipped };
    case 'downgrade-first':
      if (!appliedIn(fromLine, revisions).has(procedure.downgradeTo)) {
        return { kind: 'refuse', why: `${skipNote}, and the database is not past ${procedure.downgradeTo}, the revision this hop downgrades to first` };
      }
      return { kind: 'downgrade', to: procedure.downgradeTo, skipped: skips.skipped };
  }
}

function describeNext(next: Next, ctx: StepContext): string {
  const head = ctx.hop.to.head;
  switch (next.kind) {
    case 'done':
      return `already at ${head}`;
    case 'past':
      return `already past ${head}, at ${listed(next.at)} of a later release`;
    case 'collapse':
      return `the missing revisions were applied; alembic_version's ${next.rows.length} rows will be collapsed to ${head}`;
    case 'upgrade':
      return `alembic upgrade will take it to ${head} (${ctx.hop.to.version})${next.covered.length > 0 ? `; it skips ${next.covered.map((c) => `${c.revision} (the same change as ${c.twin})`).join(', ')}, which is harmless` : ''}`;
    case 'apply-missing':
      return `alembic upgrade would skip ${listed(next.skipped)}, so the ${next.revisions.length} revision(s) of ${ctx.hop.to.version} the database lacks will be applied one by one in graph order, then alembic_version set to ${head}`;
    case 'downgrade':
      return next.unknown && next.unknown.length > 0
        ? `${ctx.hop.to.version}'s migration scripts do not have ${listed(next.unknown)}, so ${ctx.hop.fromSeries}'s alembic will first downgrade to ${next.to}, then ${ctx.hop.to.version}'s upgrade to ${head}`
        : `alembic upgrade would skip ${listed(next.skipped)}, so ${ctx.hop.fromSeries}'s alembic will first downgrade to ${next.to}, then ${ctx.hop.to.version}'s upgrade to ${head}`;
    case 'refuse':
      return next.why;
  }
}

const noSourceAlembic = (ctx: StepContext, to: string) =>
  `${ctx.hop.label} needs ${ctx.hop.fromSeries}'s alembic for its downgrade to ${to}, and this run has only the target release's alembic; set manager-venv (bai-migrate makes a venv of each release it needs)`;

/** The source release's alembic, for a downgrade; undefined in a check when migrate is still to make its venv. */
async function sourceAlembic(ctx: StepContext, to: string): Promise<AlembicSetup | undefined> {
  if (!ctx.sourceAlembic) throw new MigrationError('unsupported', noSourceAlembic(ctx, to));
  return ctx.sourceAlembic();
}

/** Each schema step's procedure, for the revisions a run would take (schemaRevisionRuns). */
const procedures = new WeakMap<Step, SchemaProcedure>();

/** The schema step of `hop`, if it has one. */
export function schemaStepOf(hop: Hop): Step | undefined {
  return hop.steps.find((step) => procedures.has(step));
}

/**
 * The revisions `hop`'s schema step would run from `revisions`, in order, and whose alembic runs
 * each (the source release's for a downgrade): what the drift check renders and plays.
 */
export function schemaRevisionRuns(hop: Hop, revisions: readonly string[]): Array<RevisionRun & { readonly by: 'source' | 'target' }> {
  const step = schemaStepOf(hop);
  if (!step) return [];
  const next = nextCommand(procedures.get(step)!, { hop }, revisions);
  const head = hop.to.head;
  const toLine = hop.to.series;
  const target = (steps: readonly RevisionStep[]) => steps.map((s) => ({ ...s, direction: 'up' as const, by: 'target' as const }));
  switch (next.kind) {
    case 'upgrade':
      return target(
        revisions.length === 1
          ? upgradeSteps(toLine, revisions[0]!, head)
          : revisionsToApply(toLine, toLine, revisions, head).map((revision) => ({ revision, from: parentsIn(toLine, revision)[0] ?? 'base', to: revision })),
      );
    case 'apply-missing':
      return target(next.revisions.map((revision) => ({ revision, from: parentsIn(toLine, revision)[0] ?? 'base', to: revision })));
    case 'downgrade':
      return [...downgradeSteps(hop.fromSeries, revisions[0]!, next.to).map((s) => ({ ...s, direction: 'down' as const, by: 'source' as const })), ...target(upgradeSteps(toLine, next.to, head))];
    default:
      return [];
  }
}

export function schemaStep(procedure: SchemaProcedure = { kind: 'upgrade' }): Step {
  const step: Step = {
    id: 'schema',
    title: 'Database schema (alembic upgrade)',
    kind: 'change',
    action:
      procedure.kind === 'upgrade'
        ? "Runs alembic upgrade to the target release's head revision under a PostgreSQL session advisory lock."
        : procedure.kind === 'apply-missing'
          ? 'Applies every revision of the target release the database lacks, including those alembic upgrade would skip, then sets alembic_version to the head.'
          : `Downgrades with the source release's alembic to ${procedure.downgradeTo}, then runs the target release's alembic upgrade to its head.`,
    servers: ['postgres'],
    tables: ['alembic_version'],

    async preflight(ctx) {
      const revisions = ctx.assumedRevisions ?? (await readRevisions(ctx.deployment.postgres));
      const next = nextCommand(procedure, ctx, revisions);
      const head = ctx.hop.to.head;
      if (next.kind === 'done') return [ok(`already at ${head}, the head of ${ctx.hop.to.version}; alembic is not run`)];
      if (next.kind === 'past') return [ok(`${describeNext(next, ctx)}; alembic is not run for ${ctx.hop.label}`)];
      if (next.kind === 'refuse') return [failed(`at ${listed(revisions)}: ${next.why}`)];
      const findings = [ok(`${ctx.assumedRevisions ? `from ${listed(revisions)}, where the hops before ${ctx.hop.label} leave it` : `at ${listed(revisions)}`}; ${describeNext(next, ctx)}`)];
      if (next.kind !== 'collapse') findings.push(await alembicWorks(ctx, ctx.alembic, head, 'alembic'));
      if (next.kind === 'downgrade') {
        const source = ctx.sourceAlembic ? await ctx.sourceAlembic() : undefined;
        const name = `${ctx.hop.fromSeries}'s alembic`;
        findings.push(
          !ctx.sourceAlembic
            ? failed(noSourceAlembic(ctx, next.to))
            : source
              ? await alembicWorks(ctx, source, next.to, name)
              : skipped(`${name} will run from the manager venv preflight or migrate makes in ${ctx.options.managerVenv?.dir ?? 'manager-venv'}: not checked here`),
        );
      }
      return findings;
    },

    async dryRun(ctx) {
      const revisions = ctx.assumedRevisions ?? (await readRevisions(ctx.deployment.postgres));
      const next = nextCommand(procedure, ctx, revisions);
      const head = ctx.hop.to.head;
      const postgres = ctx.deployment.targets.postgres!;
      if (next.kind === 'done') return [ok(`already at ${head}: nothing to run`)];
      if (next.kind === 'past') return [ok(`${describeNext(next, ctx)}: nothing to run`)];
      if (next.kind === 'refuse') return [failed(next.why)];
      if (next.kind === 'collapse') return [ok(`would collapse alembic_version (${listed(next.rows)}) to ${head}`)];
      const source = next.kind === 'downgrade' ? await sourceAlembic(ctx, next.to) : undefined;
      if (ctx.options.managerVenv || (next.kind === 'downgrade' && !source)) {
        return [
          skipped(
            `would run ${
              next.kind === 'downgrade'
                ? `${ctx.hop.fromSeries}'s alembic downgrade ${listed(revisions)} → ${next.to}, then ${ctx.hop.to.version}'s alembic upgrade ${next.to} → ${head}`
                : `alembic ${next.kind === 'upgrade' ? 'upgrade' : next.kind} ${listed(revisions)} → ${head}`
            } from the manager venv${next.kind === 'downgrade' ? 's' : ''} preflight or migrate makes in ${ctx.options.managerVenv?.dir ?? 'manager-venv'} (a dry run makes none, so no SQL is shown)`,
          ),
        ];
      }
      // Offline mode takes a single start revision; after an interrupted upgrade there may be two.
      const start = revisions.length === 1 ? revisions[0]! : undefined;
      let rendered: OfflineSql;
      // What a revision does outside PostgreSQL it would do offline too: those are named, never run.
      const have = appliedIn(ctx.hop.to.series, revisions);
      const withhold = outsideDatabase(next.kind === 'apply-missing' ? next.revisions : [...appliedIn(ctx.hop.to.series, [head])].filter((r) => !have.has(r)));
      if (next.kind === 'apply-missing') {
        rendered = await offlineRevisions(ctx.alembic, postgres, next.revisions, start ?? '', withhold);
      } else if (next.kind === 'downgrade') {
        const from = start ?? revisions[0]!;
        const down = await offlineSql(source!, postgres, 'downgrade', `${from}:${next.to}`, downgradeSteps(ctx.hop.fromSeries, from, next.to));
        const up = await offlineSql(ctx.alembic, postgres, 'upgrade', `${next.to}:${head}`, upgradeSteps(ctx.hop.to.series, next.to, head));
        rendered = { sql: down.sql + up.sql, cannot: [...down.cannot, ...up.cannot] };
      } else {
        const steps = start ? upgradeSteps(ctx.hop.to.series, start, head) : [];
        if (!start && withhold.length > 0)
          return [
            skipped(
              `would run alembic upgrade ${listed(revisions)} → ${head}; its SQL is not shown: alembic_version holds several rows, and ${withhold.map((w) => w.revision).join(', ')} must not run offline`,
            ),
          ];
        rendered = start
          ? await offlineSql(ctx.alembic, postgres, 'upgrade', `${start}:${head}`, steps, withhold)
          : { sql: await runAlembic(ctx.alembic, postgres, ['upgrade', head, '--sql']), cannot: [] };
      }
      const statements = rendered.sql.split('\n').filter((line) => /;\s*$/.test(line) && !/^(BEGIN|COMMIT);/.test(line)).length;
      const how =
        next.kind === 'upgrade'
          ? 'alembic upgrade'
          : next.kind === 'apply-missing'
            ? `apply ${next.revisions.length} revision(s) by id, then collapse alembic_version`
            : `alembic downgrade to ${next.to}, then upgrade`;
      // A back-fill reads the data it migrates, which offline mode cannot: named, not a failure of the dry run.
      const offline =
        (rendered.cannot.length > 0
          ? `; ${rendered.cannot.length} revision(s) read the data they migrate and cannot be shown offline: ${rendered.cannot.map((c) => `${c.revision} (${c.why})`).join(', ')}`
          : '') + (rendered.withheld && rendered.withheld.length > 0 ? `; not run, not even offline: ${rendered.withheld.map((w) => `${w.revision} (it ${w.why})`).join(', ')}` : '');
      return [
        {
          status: rendered.cannot.length > 0 ? 'warning' : 'ok',
          detail: `would run ${how} ${listed(revisions)} → ${head}: ${statements} SQL statement(s), shown in the report${offline}`,
          attachment: { name: `alembic ${next.kind === 'upgrade' ? `upgrade ${start ? `${start}:${head}` : head}` : `${next.kind} ${listed(revisions)} → ${head}`} --sql`, content: rendered.sql },
        },
      ];
    },

    async apply(ctx) {
      await waitForOrphanedAlembic(ctx);
      const postgres = ctx.deployment.targets.postgres!;
      const head = ctx.hop.to.head;
      const before = await readRevisions(ctx.deployment.postgres);
      const done: string[] = [];
      // At most three commands (downgrade, upgrade; or apply, collapse), each from where the last left it.
      for (let revisions = before; ; revisions = await readRevisions(ctx.deployment.postgres)) {
        const next = nextCommand(procedure, ctx, revisions);
        if (next.kind === 'done') break;
        if (next.kind === 'past') return ok(describeNext(next, ctx));
        if (next.kind === 'refuse') throw new MigrationError('inconsistent-state', `at ${listed(revisions)}: ${next.why}`);
        if (done.length >= 3) throw new MigrationError('inconsistent-state', `alembic_version is ${listed(revisions)} after ${done.join(', ')}; expected ${head}`);
        if (next.kind === 'collapse') {
          await ctx.deployment.postgres.query('DELETE FROM alembic_version WHERE version_num <> $1', [head]);
          done.push(`alembic_version collapsed to ${head}`);
        } else if (next.kind === 'apply-missing') {
          await applyRevisions(ctx.alembic, postgres, next.revisions);
          done.push(`applied ${next.revisions.length} revision(s) by id (among them ${listed(next.skipped)}, which alembic upgrade would skip)`);
        } else if (next.kind === 'downgrade') {
          const source = await sourceAlembic(ctx, next.to);
          if (!source) throw new MigrationError('unsupported', noSourceAlembic(ctx, next.to));
          await runAlembic(source, postgres, ['downgrade', next.to]);
          done.push(`${ctx.hop.fromSeries}'s alembic downgrade to ${next.to}`);
        } else {
          await runAlembic(ctx.alembic, postgres, ['upgrade', head]);
          done.push(`alembic upgrade ${listed(revisions)} → ${head}`);
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
      if (pastIn(ctx.hop.fromSeries, ctx.hop.to.series, revisions, target)) return [ok(`alembic_version is ${listed(revisions)}, past ${target} (${ctx.hop.to.version})`)];
      findings.push(
        revisions.length === 1 && revisions[0] === target
          ? ok(`alembic_version is ${target}, the head of ${ctx.hop.to.version}`)
          : failed(`alembic_version is ${revisions.join(', ') || 'empty'}; expected ${target}, the head of ${ctx.hop.to.version}`),
      );
      for (const fact of SCHEMA_FACTS.filter((f) => reaches(ctx.hop.to.series, target, f.since))) {
        const holds = (await Promise.all(fact.probes.map((probe) => probeHolds(ctx.deployment.postgres, probe)))).every(Boolean);
        findings.push(holds ? ok(fact.describe) : failed(`expected: ${fact.describe}`));
      }
      return findings;
    },
  };
  procedures.set(step, procedure);
  return step;
}

/** The revisions `alembic upgrade from:to` runs in `line`'s graph, each as its own range (a merge's from is its first parent). */
function upgradeSteps(line: string, from: string, to: string): RevisionStep[] {
  return revisionsToApply(line, line, [from], to).map((revision) => ({ revision, from: parentsIn(line, revision)[0] ?? 'base', to: revision }));
}

/** The revisions `alembic downgrade from:to` undoes in `line`'s graph, newest first, each as its own range. */
function downgradeSteps(line: string, from: string, to: string): RevisionStep[] {
  return upgradeSteps(line, to, from)
    .reverse()
    .map((step) => ({ revision: step.revision, from: step.to, to: step.from }));
}

/** The plain `alembic upgrade` schema step, which most hops take. */
export const schema: Step = schemaStep();

/**
 * Before the lock and the backup: alembic starts, reads its config and knows the revision
 * (`alembic show` reads the scripts only, it does not connect). A wrong alembic-command or a
 * missing alembic.ini would otherwise be found in the apply phase.
 */
async function alembicWorks(ctx: StepContext, setup: AlembicSetup, revision: string, name: string): Promise<Finding> {
  if (ctx.options.managerVenv) return skipped(`${name} will run from the manager venv preflight or migrate makes in ${ctx.options.managerVenv.dir}: not checked here`);
  const command = setup.command.join(' ');
  const config = resolve(setup.config);
  try {
    await runAlembic(setup, ctx.deployment.targets.postgres!, ['show', revision]);
    return ok(`${name} runs: "${command}" with ${config} knows revision ${revision}`);
  } catch (error) {
    if (!(error instanceof AlembicError)) throw error;
    const what =
      error.kind === 'cannot-run'
        ? `"${command}" cannot be run (${error.output})`
        : error.kind === 'no-config'
          ? `its config ${config} cannot be read (${error.output})`
          : `"${command} -c <private copy of ${config}> show ${revision}" failed (${error.output})`;
    return failed(
      `${name} does not work as configured: ${what}; command: ${command}, config: ${config}. Set alembic-command (the manager venv's alembic, e.g. /opt/backend.ai/bin/alembic), alembic-config (the manager's alembic.ini, by default the one beside manager.toml) or manager-venv (bai-migrate makes the venv)`,
    );
  }
}

/**
 * alembic's watchdog stops it soon after a killed runner, but its connection may still be closing
 * (or an alembic was started by hand). The migration lock died with the runner, so wait here
 * until no alembic of an earlier run is connected, instead of racing it.
 */
async function waitForOrphanedAlembic(ctx: StepContext): Promise<void> {
  const deadline = Date.now() + ctx.options.lockTimeoutSeconds * 1000;
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
