/**
 * What every command that works on a deployment shares: its options, the open connections, the
 * report it fills, the migration lock it may hold, and the one place a finding is recorded. The
 * session ties them together for the steps (stepContext); what each part does lives apart:
 * recording findings (session-findings.ts), the servers and the lock (session-servers.ts), the
 * hops' manager venvs (session-venvs.ts).
 */
import { resolve } from 'node:path';
import { MigrationError, messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Options } from '../options/index.js';
import type { Report, ReportEntry } from '../core/report/index.js';
import type { Deployment, Server } from '../stores/deployment.js';
import type { MigrationLock } from '../stores/lock.js';
import { AlembicError, alembicConfigBeside, type AlembicSetup } from '../manager/alembic.js';
import type { ManagerCli } from '../manager/cli.js';
import type { ManagerVenvs } from '../manager/venvs.js';
import { targetRelease } from '../releases/catalogue.js';
import { alembicDriverOf } from '../releases/line-facts.js';
import { stepSettings, type Finding, type Hop, type Step, type StepContext, type StepSettings, type VenvToMake } from '../steps/step.js';
import { Findings } from './session-findings.js';
import { connectServers, waitForMigrationLock, withServersDown } from './session-servers.js';
import { HopVenvs } from './session-venvs.js';

/**
 * Where the run's alembic and the manager's CLI come from, resolved once before the run: the
 * inputs (inputTools), or the target release's venv once it is made (run-command.ts).
 */
export interface RunTools {
  readonly alembicCommand: readonly string[];
  /** alembic-config, else the target venv's alembic.ini; without either, the one beside manager.toml. */
  readonly alembicConfig?: string;
  /** manager-command, else the target venv's backend.ai; without either, backend.ai on PATH. */
  readonly managerCommand?: readonly string[];
  /** With manager-venv, the target's venv while it is not made yet (a check before migrate made it). */
  readonly venvToMake?: VenvToMake;
}

/** The tools the inputs name, before (or without) a manager venv. */
export function inputTools(options: Options): RunTools {
  return {
    alembicCommand: options.alembicCommand,
    alembicConfig: options.alembicConfig,
    managerCommand: options.managerCommand,
    venvToMake: options.managerVenv && { dir: options.managerVenv.dir, managerCli: options.managerCommand === undefined },
  };
}

export class Session {
  readonly alembic: AlembicSetup;
  /** What the steps read of the options. */
  private readonly settings: StepSettings;
  private readonly findings: Findings;
  /** With manager-venv, the tools each hop runs from its own release's venvs. */
  private readonly hopVenvs?: HopVenvs;
  /** migrate (not a dry run), clear-history and snapshot hold the migration lock for the whole run. */
  lock: MigrationLock | undefined;

  constructor(
    readonly options: Options,
    readonly deployment: Deployment,
    readonly report: Report,
    secrets: ReadonlySet<string>,
    readonly log: Logger,
    /** The run's manager venvs, with manager-venv: a hop that downgrades first takes its source release's alembic from them. */
    venvs?: ManagerVenvs,
    readonly tools: RunTools = inputTools(options),
  ) {
    // alembic.ini beside manager.toml (where operators keep it), else in the working directory.
    const config = tools.alembicConfig ?? alembicConfigBeside(deployment.targets.managerConfig?.path);
    // The target release's env.py decides the driver (an operator's alembic-command included).
    const driver = options.toVersion ? alembicDriverOf(targetRelease(options.toVersion).version) : undefined;
    this.alembic = { command: tools.alembicCommand, config, lockTimeoutSeconds: options.alembicLockTimeoutSeconds, driver };
    this.settings = stepSettings(options, tools.alembicConfig);
    this.findings = new Findings(report, secrets, log);
    if (venvs) this.hopVenvs = new HopVenvs(venvs, options.alembicLockTimeoutSeconds, deployment.targets.managerConfig?.path, log);
  }

  /** Adds a finding to the report and prints it: the one place a finding is printed (and annotated, in the Action). */
  record(entry: ReportEntry, finding?: Finding): void {
    this.findings.record(entry, finding);
  }

  /** `value` with every secret masked in each of its strings. */
  redacted<T>(value: T): T {
    return this.findings.redacted(value);
  }

  /** Connects; an unreachable server ends the run unless it is `optional` (then it is a warning). */
  connect(servers: readonly Server[], optional: readonly Server[] = []): Promise<Set<Server>> {
    return connectServers(this.deployment, this.log, (entry) => this.record(entry), servers, optional);
  }

  /** The migration lock, waiting up to lock-timeout for a run that holds it. */
  waitForLock(): Promise<MigrationLock> {
    return waitForMigrationLock(this.deployment, this.options, this.log);
  }

  /**
   * With manager-venv, each hop whose target is not the run's gets that release's venv (session-venvs.ts).
   * Without manager-venv, alembic-command serves every hop.
   */
  async prepareHops(hops: readonly Hop[], runTarget: string): Promise<void> {
    await this.hopVenvs?.prepare(hops, runTarget);
  }

  /** What a step's phases get: the hop's own tools where it has them, else the run's. */
  stepContext(hop: Hop): StepContext {
    const tools = this.hopVenvs?.toolsOf(hop);
    const alembic = tools?.alembic ?? this.alembic;
    const context = {
      deployment: this.deployment,
      settings: this.settings,
      venvToMake: this.tools.venvToMake,
      hop,
      log: this.log,
      alembic: { ...alembic, env: { ...alembic.env, ...this.managerConfigEnv() }, log: this.log },
      managerCli: tools?.managerCli ?? this.managerCli(),
    };
    const hopVenvs = this.hopVenvs;
    return hopVenvs ? { ...context, sourceAlembic: (purpose?: 'downgrade' | 'models') => hopVenvs.sourceAlembic(hop, purpose) } : context;
  }

  /** What a revision that loads the manager's configuration needs (alembic.ts, AlembicSetup.env): the checked manager.toml, and the backup folder. */
  private managerConfigEnv(): Record<string, string> {
    const config = this.deployment.targets.managerConfig?.path;
    return { ...(config ? { BACKEND_CONFIG_FILE: resolve(config) } : {}), BACKEND_ETCD_BACKUP_PATH: resolve(this.options.backupDir) };
  }

  /** The manager's CLI, handed manager.toml the way the manager finds it. */
  managerCli(): ManagerCli {
    return { command: this.tools.managerCommand ?? ['backend.ai'], configFile: this.deployment.targets.managerConfig?.path, log: this.log };
  }

  /**
   * A phase that throws is a failed finding that names the step, not the end of the run; when one
   * of the step's servers does not answer (any more), the finding names it and its address first.
   */
  async safely(step: Step, body: () => Promise<Finding[]>): Promise<Finding[]> {
    try {
      return await body();
    } catch (error) {
      const detail = `${step.title}: ${await this.withServersDown(step.servers, messageOf(error))}`;
      return [{ status: 'failed', detail, ...(error instanceof AlembicError && error.failure && { revisionFailure: error.failure }) }];
    }
  }

  /** "PostgreSQL at h:p/db … is unreachable: …; it stopped with: <message>", or the message alone when every server answers. */
  withServersDown(servers: readonly Server[], message: string): Promise<string> {
    return withServersDown(this.deployment, servers, message);
  }

  /** Ends a phase once, after every one of its findings was recorded, when any of them failed. */
  failIfAny(phase: ReportEntry['phase'], label: string): void {
    const failures = this.report.entries.filter((e) => e.phase === phase && e.status === 'failed');
    if (failures.length === 0) return;
    throw new MigrationError(
      'checks-failed',
      `${label} found ${failures.length} problem(s):\n${failures.map((f) => `- ${f.hop ? `${f.hop} ` : ''}${f.step}: ${f.detail}`).join('\n')}`,
      `${label} ${problems(failures.length)}`,
    );
  }
}

/** "found 3 problems (…)": the findings themselves were reported one by one as they were found. */
export function problems(count: number): string {
  return `found ${count} problem${count === 1 ? '' : 's'} (each reported above; the report lists them)`;
}
