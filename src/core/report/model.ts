import type { ErrorCode } from '../errors.js';

/**
 * One report model for every command: a row per step and phase with a status and a short detail.
 * The Action renders it as a job summary and outputs, the CLI as text; both write it as JSON.
 */
export type Status = 'ok' | 'changed' | 'warning' | 'failed' | 'skipped';
export type Phase = 'setup' | 'rehearse' | 'snapshot' | 'connect' | 'plan' | 'preflight' | 'apply' | 'verify';

export interface ReportEntry {
  readonly phase: Phase;
  /** The hop, e.g. "21.09 → 22.03"; absent for rows about the whole run. */
  readonly hop?: string;
  readonly step: string;
  readonly status: Status;
  readonly detail: string;
}

/** How long one step of a migrate took, from the start of the migration (the lock held, preflight passed). */
export interface StepTiming {
  /** Absent for the backup, which belongs to no hop. */
  readonly hop?: string;
  readonly step: string;
  readonly startMs: number;
  readonly applyMs: number;
  readonly verifyMs: number;
}

/** plan's downtime forecast: the revisions on the path whose run time grows with the data, and the rows they will meet. */
export interface Forecast {
  readonly hops: ReadonlyArray<{
    readonly hop: string;
    readonly revisions: ReadonlyArray<{
      readonly revision: string;
      readonly firstRelease: string;
      readonly growth: 'quadratic' | 'linear' | 'rewrite';
      readonly work: string;
      readonly tables: readonly string[];
      /** Rows of each of those tables that exists now (none without a database). */
      readonly rows: Readonly<Record<string, { count: number; estimated: boolean }>>;
    }>;
  }>;
  /** Kernels now, and how many clear-history with the run's retention would remove first; when revisions on the path read them. */
  readonly history?: { kernels: number; removable: number; revisions: readonly string[] };
}

export type GrowthVerdict = 'faster than the data' | 'not faster than the data' | 'too short';

/** rehearse: the migration timed at two sizes of the history (the snapshot, and it with the older half cleared), hop by hop. */
export interface Growth {
  /** History rows (kernels, and sessions where they exist) each migration started from. */
  readonly rows: { readonly full: number; readonly smaller: number };
  readonly hops: ReadonlyArray<{
    readonly hop: string;
    readonly fullMs: number;
    readonly smallerMs: number;
    readonly schemaFullMs: number;
    readonly schemaSmallerMs: number;
    readonly verdict: GrowthVerdict;
  }>;
}

/** The innermost exception a Python program (alembic, the manager's CLI) ended with, taken apart (manager/cli.ts pythonCause). */
export interface FailureCause {
  /** Its class, e.g. "sqlalchemy.exc.IntegrityError". */
  readonly exception: string;
  /** The database driver's exception inside it: "asyncpg.exceptions.ForeignKeyViolationError", "psycopg2.errors.ForeignKeyViolation". */
  readonly driverException?: string;
  /** The message without the class names. */
  readonly message: string;
  /** The constraint PostgreSQL names in the message. */
  readonly constraint?: string;
  /** The table the failing statement wrote ("insert or update on table …", "… of relation …"). */
  readonly table?: string;
  /** PostgreSQL's DETAIL without its prefix, key values included ("Failing row contains (…)" never: the whole row). */
  readonly detail?: string;
}

/** What alembic was doing when a revision failed, read from its output (manager/revision-failure.ts). */
export interface RevisionFailure {
  /** The revision that was running: the one upgraded to, or the one whose downgrade ran. */
  readonly revision?: string;
  readonly direction?: 'upgrade' | 'downgrade';
  /** alembic's "Running upgrade A -> B, doc" without "Running ". */
  readonly running?: string;
  /** Where in the revision's script it stopped: "upgrade() line 42: op.execute(…)". */
  readonly doing?: string;
  /** The statement's kind and table, e.g. "INSERT INTO groups"; never the statement or its parameters. */
  readonly statement?: string;
  readonly cause?: FailureCause;
  /** The rows the DETAIL names by key: "(resource_policy)=(default)" and what is wrong with it. */
  readonly rows: ReadonlyArray<{ readonly table?: string; readonly key: string; readonly problem: string }>;
}

/** A change step that failed, with what to fix: the report's "What to fix". */
export interface StepFailure extends RevisionFailure {
  readonly hop?: string;
  readonly step: string;
  /** The preflight step that checks this revision's hazard (hops/guards.ts), and how it went in this run; absent when none does. */
  readonly preflight?: { readonly hop: string; readonly step: string; readonly hazard: string; readonly status: Status | 'not run'; readonly detail?: string };
  /** What to do, in one paragraph. */
  readonly remedy: string;
}

export interface Report {
  readonly tool: 'bai-migrate';
  readonly command: string;
  readonly dryRun: boolean;
  fromVersion?: string;
  toVersion?: string;
  currentRevision?: string;
  targetRevision?: string;
  readonly startedAt: string;
  finishedAt?: string;
  outcome: 'success' | 'failure';
  /** The one message that says why the run failed, and its kind. */
  error?: string;
  errorCode?: ErrorCode;
  /** `error` without the findings it lists (each is a row, reported as it was found): what the adapters print. */
  errorSummary?: string;
  /** migrate (and rehearse, from its migration): the step that failed inside an alembic revision, taken apart. */
  failure?: StepFailure;
  /** Longer artefacts: offline SQL, diffs. */
  attachments: Array<{ step: string; name: string; content: string }>;
  /** What clear-history deleted (or would delete, in a dry run). */
  history?: {
    cutoff: string;
    /** The clear-history era applied, e.g. "24.09.0 to before 25.19.0" (src/releases/line-facts.ts). */
    semantics: string;
    kernels: number;
    /** Session rows deleted (24.03.4+); null where the release's manager leaves sessions alone. */
    sessions: number | null;
    /** error_logs rows deleted (24.09.0+); null where the release's manager leaves them alone. */
    errorLogs: number | null;
    /** Sessions before the cutoff left in place because rows (model-service routings) still refer to them. */
    heldSessions: number;
    redisKeys: number | null;
    sweptRedisKeys: number | null;
    /** From 26.8.0 (own mode): the retention policies as found, changed (retention-policies) and swept. */
    retention?: RetentionSweepReported;
  };
  /** snapshot: the file written and its manifest. */
  snapshot?: { file: string; manifest: ReportedManifest };
  /** The manager venv alembic ran from, when bai-migrate made or reused it. */
  managerVenv?: { dir: string; requirement: string; cacheKey?: string; created: boolean };
  /** rehearse: the restored deployment's etcd namespace (one PR comment per namespace). */
  rehearsal?: { namespace: string };
  /** rehearse: the pull-request comment, once the Action has written it. */
  commentUrl?: string;
  /** Where this report was written as JSON; absent when the file could not be written. */
  reportFile?: string;
  /** Where the backup bundle of this run was written. */
  backup?: string;
  /** plan (and every command that plans): the heavy revisions on the path and the rows they will meet. */
  forecast?: Forecast;
  /** migrate: the backup and each change step, in the order they ran: the downtime, measured. */
  timings?: StepTiming[];
  /** With manager-venv: the venvs the run made or reused and how long they took, before the lock (not downtime). */
  venvSetup?: { made: number; reused: number; ms: number };
  /** rehearse: how each hop's time grew with the history, where the snapshot held enough of it. */
  growth?: Growth;
  plan: Array<{ hop: string; targetRevision: string; steps: Array<{ id: string; title: string; action: string }> }>;
  readonly entries: ReportEntry[];
}

/**
 * A snapshot's manifest as the report carries it into its JSON, whole (its type is
 * src/rehearsal/snapshot-file.ts's SnapshotManifest); the report names only what identifies it, so
 * that the base layer needs nothing from the rehearsal.
 */
export interface ReportedManifest {
  readonly format: string;
  readonly formatVersion: number;
  readonly takenAt: string;
}

export function newReport(command: string, dryRun: boolean): Report {
  return { tool: 'bai-migrate', command, dryRun, startedAt: new Date().toISOString(), outcome: 'success', plan: [], entries: [], attachments: [] };
}

/**
 * A dry run's apply rows are skipped (nothing was written), but those that say what would change
 * are changes to come, not skips: summaries show them apart.
 */
export function wouldChange(report: Report, entry: ReportEntry): boolean {
  return report.dryRun && entry.phase === 'apply' && entry.status === 'skipped' && /\bwould\b/.test(entry.detail) && !/\bwould (do nothing|change nothing)\b/.test(entry.detail);
}

/** A real migrate that changed nothing: the deployment was already at the target. */
export function changedNothing(report: Report): boolean {
  return report.command === 'migrate' && !report.dryRun && report.outcome === 'success' && !report.entries.some((e) => e.status === 'changed');
}

export function countByStatus(report: Report): Record<Status, number> {
  const counts: Record<Status, number> = { ok: 0, changed: 0, warning: 0, failed: 0, skipped: 0 };
  for (const entry of report.entries) counts[entry.status]++;
  return counts;
}

/** clear-history from 26.8.0: the manager's retention sweep as bai-migrate did it (src/commands/clear-history-retention.ts). */
export interface RetentionSweepReported {
  /** The sweep's one "now" (ISO, UTC); each threshold is it less the policy's retention. */
  readonly now: string;
  readonly perTickBudget: number | null;
  /** What retention-policies changed: before (null: no row) and after. */
  readonly changes: ReadonlyArray<{
    readonly category: string;
    readonly before: { readonly enabled: boolean; readonly period: string } | null;
    readonly after: { readonly enabled: boolean; readonly period: string };
  }>;
  /** Every category: the enabled ones in the order swept, then the rest. */
  readonly categories: readonly RetentionCategoryReported[];
}

export type RetentionCategoryState = 'swept' | 'disabled' | 'missing' | 'deferred' | 'failed' | 'not-implemented';

/** One retention policy category as the sweep found and swept it. */
export interface RetentionCategoryReported {
  readonly category: string;
  readonly state: RetentionCategoryState;
  readonly enabled: boolean;
  /** retention_period as PostgreSQL writes it, e.g. "1 year"; null without a row. */
  readonly period: string | null;
  /** The days the manager subtracts for the period (asyncpg's reading: 30 per month, 365 per year). */
  readonly days: number | null;
  /** now - period (ISO). */
  readonly threshold: string | null;
  readonly lastSweptAt: string | null;
  /** Rows deleted (a dry run: that it would delete) per table, by the category's own statements (cascades apart). */
  readonly deleted: Readonly<Record<string, number>>;
  readonly total: number;
  readonly reason?: string;
}

/** The retention-sweep output: each category's state, policy and rows deleted per table, keyed by category. */
export function retentionSweepOutput(sweep: RetentionSweepReported): Record<string, { state: string; enabled: boolean; period: string | null; deleted: Readonly<Record<string, number>> }> {
  return Object.fromEntries(sweep.categories.map((c) => [c.category, { state: c.state, enabled: c.enabled, period: c.period, deleted: c.deleted }]));
}
