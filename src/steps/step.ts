/**
 * A migration step: one item of Backend.AI's upgrade guide, with its three phases side by side.
 * preflight reads and judges; apply changes the deployment (and must be idempotent); verify proves
 * the end state. A phase a step does not have is reported as skipped with the reason.
 */
import type { Deployment, Server } from '../stores/deployment.js';
import type { Logger } from '../core/logger.js';
import type { Options } from '../options/index.js';
import type { Release } from '../releases/catalogue.js';
import type { RevisionFailure, Status } from '../core/report/index.js';
import type { AlembicSetup } from '../manager/alembic.js';
import type { ManagerCli } from '../manager/cli.js';

export interface Hop {
  /** "21.09 → 22.03", or "21.09.2 → 21.09.9" for a patch upgrade. */
  readonly label: string;
  readonly fromLine: string;
  readonly to: Release;
  readonly steps: readonly Step[];
  /** Set when bai-migrate cannot take this hop yet: why, for the plan. */
  readonly unsupported?: string;
}

/**
 * The inputs steps read, and nothing else of the run's Options: a step that needs another input
 * names it here. Built once per run (stepSettings).
 */
export interface StepSettings {
  readonly toVersion: Options['toVersion'];
  readonly lockBackend: Options['lockBackend'];
  /** alembic-config, else with the target's manager venv made before the run, the venv's alembic.ini. */
  readonly alembicConfig: Options['alembicConfig'];
  readonly backupDir: string;
  readonly lockTimeoutSeconds: number;
  readonly allowRunningServices: boolean;
  readonly redisPersistence: Options['redisPersistence'];
  readonly imageRescan: boolean;
  readonly skipUnusableImages: boolean;
  readonly pruneEtcdImages: boolean;
  readonly dropDuplicateImages: boolean;
  readonly periodicSyncStats: Options['periodicSyncStats'];
  readonly startManager: boolean;
  readonly disposableCopy: Options['disposableCopy'];
  /** manager-venv is set and manager-command is not: the manager's CLI runs from bai-migrate's own venv of the hop's release. */
  readonly managerFromOwnVenv: boolean;
}

/** `alembicConfig`: the run's, as its tools resolved it (alembic-config, else the target venv's alembic.ini). */
export function stepSettings(options: Options, alembicConfig = options.alembicConfig): StepSettings {
  return {
    toVersion: options.toVersion,
    lockBackend: options.lockBackend,
    alembicConfig,
    backupDir: options.backupDir,
    lockTimeoutSeconds: options.lockTimeoutSeconds,
    allowRunningServices: options.allowRunningServices,
    redisPersistence: options.redisPersistence,
    imageRescan: options.imageRescan,
    skipUnusableImages: options.skipUnusableImages,
    pruneEtcdImages: options.pruneEtcdImages,
    dropDuplicateImages: options.dropDuplicateImages,
    periodicSyncStats: options.periodicSyncStats,
    startManager: options.startManager,
    disposableCopy: options.disposableCopy,
    managerFromOwnVenv: options.managerVenv !== undefined && options.managerCommand === undefined,
  };
}

/**
 * With manager-venv, the target release's venv while it is not made yet (a check, or a dry run,
 * before migrate made it): alembic, and the manager's CLI unless manager-command is given, will
 * run from it, so the steps say so instead of checking them.
 */
export interface VenvToMake {
  /** manager-venv: the folder preflight or migrate makes it in. */
  readonly dir: string;
  /** The manager's CLI runs from it too (no manager-command given). */
  readonly managerCli: boolean;
}

export interface StepContext {
  readonly deployment: Deployment;
  readonly settings: StepSettings;
  readonly venvToMake?: VenvToMake;
  readonly hop: Hop;
  readonly log: Logger;
  /** The target release's alembic. */
  readonly alembic: AlembicSetup;
  /**
   * The source release's alembic, where the run has one (a schema step that downgrades first
   * needs it; the drift check reads its models); it resolves to undefined in a dry run when the venv
   * preflight or migrate makes is not there yet. `purpose` is what the setup report says it is for.
   */
  readonly sourceAlembic?: (purpose?: 'downgrade' | 'models') => Promise<AlembicSetup | undefined>;
  readonly managerCli: ManagerCli;
  /**
   * Preflight and a dry run of several hops apply nothing, so a later hop starts where the schema
   * will be by then, the previous hop's head, not where it is now.
   */
  readonly assumedRevisions?: readonly string[];
}

export interface Finding {
  readonly status: Status;
  readonly detail: string;
  /** A longer artefact for the report, e.g. the offline SQL of a dry run. */
  readonly attachment?: { readonly name: string; readonly content: string };
  /** A phase that failed inside an alembic revision: that revision, the cause and the rows (manager/revision-failure.ts). */
  readonly revisionFailure?: RevisionFailure;
}

/** One key of manager.toml a step's apply sets. */
export interface ConfigEdit {
  readonly table: string;
  readonly key: string;
  readonly value: string | boolean;
}

export interface Step {
  readonly id: string;
  readonly title: string;
  /** change: apply writes to the deployment; check: only judges it; note: an item of the guide with nothing to run. */
  readonly kind: 'change' | 'check' | 'note';
  /** What the step does to the deployment, in one sentence, for the plan. */
  readonly action: string;
  /** The servers its phases talk to. */
  readonly servers: readonly Server[];
  /** The PostgreSQL tables its phases read or write; a snapshot for a rehearsal carries their rows. */
  readonly tables?: readonly string[];
  /**
   * Enum types its apply renames ahead of the hop's schema step, where the database has `from` and
   * not `to`: the drift check (commands/schema-drift.ts) plays the revisions over the schema as it
   * will be by then.
   */
  readonly renamesTypes?: ReadonlyArray<{ readonly from: string; readonly to: string }>;
  /**
   * The manager.toml keys apply will set: preflight loads manager.toml with the target release's
   * own loader as the hop's steps will leave it (steps/config-loads.ts), not as it is now.
   */
  configEdits?(ctx: StepContext): readonly ConfigEdit[];
  preflight?(ctx: StepContext): Promise<Finding[]>;
  /** What apply would do, found by reading only. */
  dryRun?(ctx: StepContext): Promise<Finding[]>;
  /** What apply may lose, saved into the backup bundle before the first change (JSON or text). */
  backup?(ctx: StepContext): Promise<{ name: string; content: string } | undefined>;
  /**
   * Whether apply has anything left to do, found by reading only; the backup bundle is written only
   * when some step has. Without it, verify decides: apply is needed while verify does not yet prove
   * the end state (a verify that throws counts as needed).
   */
  pending?(ctx: StepContext): Promise<boolean>;
  /**
   * Values a later change drops for good (a column alembic removes), copied into bai-migrate's own
   * table in PostgreSQL right after the backup bundle, so they outlive a pruned bundle. Idempotent;
   * undefined when there is nothing (left) to copy.
   */
  carryForward?(ctx: StepContext): Promise<Finding | undefined>;
  /** Idempotent: returns ok when there was nothing left to do, changed when it changed something. */
  apply?(ctx: StepContext): Promise<Finding>;
  verify?(ctx: StepContext): Promise<Finding[]>;
}

export const ok = (detail: string): Finding => ({ status: 'ok', detail });
export const failed = (detail: string): Finding => ({ status: 'failed', detail });
export const warning = (detail: string): Finding => ({ status: 'warning', detail });
export const skipped = (detail: string): Finding => ({ status: 'skipped', detail });
export const changed = (detail: string): Finding => ({ status: 'changed', detail });

/** The first `limit` items as `show` names them, "; "-separated, then how many more (with `more` after it). */
export function firstFew<T>(items: readonly T[], show: (item: T) => string, { limit = 5, more = '' } = {}): string {
  const shown = items.slice(0, limit).map(show).join('; ');
  return items.length > limit ? `${shown}; and ${items.length - limit} more${more}` : shown;
}

/**
 * Said with each refusal of a hazard upstream's revisions stop on: the PR check rehearses the
 * migration on a snapshot and meets the same stop, weeks before the maintenance window.
 */
export const REHEARSAL_FINDS_IT = 'A rehearsal of a nightly snapshot (bai-migrate rehearse, the PR check) finds this before the maintenance window.';
