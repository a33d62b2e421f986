/**
 * What the schema step's procedures share: where the database stands and which command takes it
 * on (`Next`), what a procedure decides and what each of its commands does in every phase, and the
 * helpers those phases have in common.
 */
import { resolve } from 'node:path';
import { parentsIn, revisionsToApply } from '../../releases/releases.js';
import { AlembicError, runAlembic, type AlembicSetup } from '../../manager/alembic.js';
import type { OfflineSql, RevisionStep } from '../../manager/offline-sql.js';
import type { RevisionRun } from '../../manager/revision-sql.js';
import { failed, ok, skipped, type Finding, type Hop, type StepContext } from '../step.js';

export type SchemaProcedure = { readonly kind: 'upgrade' } | { readonly kind: 'apply-missing' } | { readonly kind: 'downgrade-first'; readonly downgradeTo: string };

/** Plain `alembic upgrade`: every procedure's command when it would skip nothing (upgrade.ts). */
export type UpgradeNext = { readonly kind: 'upgrade'; readonly covered: ReadonlyArray<{ revision: string; twin: string }> };
/** The revisions the database lacks, applied by id (apply-missing.ts). */
export type ApplyMissingNext = { readonly kind: 'apply-missing'; readonly revisions: readonly string[]; readonly skipped: readonly string[] };
/** The source release's downgrade, before the target's upgrade (downgrade-first.ts). */
export type DowngradeNext = { readonly kind: 'downgrade'; readonly to: string; readonly skipped: readonly string[]; readonly unknown?: readonly string[] };
/** Nothing this procedure may do takes the database to the head. */
export type Refusal = { readonly kind: 'refuse'; readonly why: string };

/** The commands that run alembic or its revisions, each in the module of the procedure that runs it. */
export type CommandNext = UpgradeNext | ApplyMissingNext | DowngradeNext;

/** What the next command is, from where the database stands. */
export type Next =
  | { readonly kind: 'done' }
  /** A later hop of the run already took the database past this hop's head. */
  | { readonly kind: 'past'; readonly at: readonly string[] }
  /** apply-missing ran; its extra alembic_version rows remain. */
  | { readonly kind: 'collapse'; readonly rows: readonly string[] }
  | CommandNext
  | Refusal;

/** What one procedure decides where a plain `alembic upgrade` cannot take the database to the head. */
export interface ProcedureRules {
  /** What the step does to the deployment, in one sentence, for the plan. */
  readonly action: string;
  /** alembic_version holds `unknown`, which the target's scripts lack: this procedure's command past them, if it has one. */
  beyondTarget?(hop: Hop, revisions: readonly string[], unknown: readonly string[]): CommandNext | undefined;
  /** A plain upgrade would take `skipped` as done although the database never ran them (`skipNote` says so): its remedy or its refusal. */
  whenSkipping(hop: Hop, revisions: readonly string[], skipped: readonly string[], skipNote: string): CommandNext | Refusal;
}

export type SchemaRevisionRun = RevisionRun & { readonly by: 'source' | 'target' };

/** One command in every phase of the schema step. */
export interface SchemaCommand<N extends CommandNext> {
  /** What it will do, from where the database stands. */
  describe(next: N, hop: Hop): string;
  /** preflight: what it checks beyond the target's alembic (that it starts and knows the head). */
  preflight?(next: N, ctx: StepContext): Promise<Finding[]>;
  /** What it would run: its SQL, rendered offline where it can be. */
  dryRun(next: N, ctx: StepContext, revisions: readonly string[]): Promise<Finding[]>;
  /** Runs it, and says what it did. */
  apply(next: N, ctx: StepContext, revisions: readonly string[]): Promise<string>;
  /** The revisions it runs from `revisions`, in order, and whose alembic runs each: what the drift check renders and plays. */
  runs(next: N, hop: Hop, revisions: readonly string[]): SchemaRevisionRun[];
}

export const listed = (revisions: readonly string[]) => revisions.join(', ');

/** The revisions `alembic upgrade from:to` runs in `line`'s graph, each as its own range (a merge's from is its first parent). */
export function upgradeSteps(line: string, from: string, to: string): RevisionStep[] {
  return revisionsToApply(line, line, [from], to).map((revision) => ({ revision, from: parentsIn(line, revision)[0] ?? 'base', to: revision }));
}

/** The revisions `alembic downgrade from:to` undoes in `line`'s graph, newest first, each as its own range. */
export function downgradeSteps(line: string, from: string, to: string): RevisionStep[] {
  return upgradeSteps(line, to, from)
    .reverse()
    .map((step) => ({ revision: step.revision, from: step.to, to: step.from }));
}

/** Revision steps the target release's alembic runs upwards. */
export const byTarget = (steps: readonly RevisionStep[]): SchemaRevisionRun[] => steps.map((s) => ({ ...s, direction: 'up' as const, by: 'target' as const }));

/** A dry run before the manager venv alembic will run from is made: what would run, without its SQL. */
export function sqlNotShown(ctx: StepContext, wouldRun: string, venvs: 'venv' | 'venvs'): Finding {
  return skipped(`would run ${wouldRun} from the manager ${venvs} preflight or migrate makes in ${ctx.venvToMake?.dir ?? 'manager-venv'} (a dry run makes none, so no SQL is shown)`);
}

/** A dry run's finding for the SQL a command would run (`how`), attached to the report as `alembic <name> --sql`. */
export function sqlShown(rendered: OfflineSql, how: string, revisions: readonly string[], head: string, name: string): Finding {
  const statements = rendered.sql.split('\n').filter((line) => /;\s*$/.test(line) && !/^(BEGIN|COMMIT);/.test(line)).length;
  // A back-fill reads the data it migrates, which offline mode cannot: named, not a failure of the dry run.
  const offline =
    (rendered.cannot.length > 0
      ? `; ${rendered.cannot.length} revision(s) read the data they migrate and cannot be shown offline: ${rendered.cannot.map((c) => `${c.revision} (${c.why})`).join(', ')}`
      : '') + (rendered.withheld && rendered.withheld.length > 0 ? `; not run, not even offline: ${rendered.withheld.map((w) => `${w.revision} (it ${w.why})`).join(', ')}` : '');
  return {
    status: rendered.cannot.length > 0 ? 'warning' : 'ok',
    detail: `would run ${how} ${listed(revisions)} → ${head}: ${statements} SQL statement(s), shown in the report${offline}`,
    attachment: { name: `alembic ${name} --sql`, content: rendered.sql },
  };
}

/**
 * Before the lock and the backup: alembic starts, reads its config and knows the revision
 * (`alembic show` reads the scripts only, it does not connect). A wrong alembic-command or a
 * missing alembic.ini would otherwise be found in the apply phase.
 */
export async function alembicWorks(ctx: StepContext, setup: AlembicSetup, revision: string, name: string): Promise<Finding> {
  if (ctx.venvToMake) return skipped(`${name} will run from the manager venv preflight or migrate makes in ${ctx.venvToMake.dir}: not checked here`);
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
