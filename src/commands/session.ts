/**
 * What every command that works on a deployment shares: its options, the open connections, the
 * report it fills, the migration lock it may hold, and the one place a finding is recorded.
 */
import { resolve } from 'node:path';
import { MigrationError, messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { whileWaiting } from '../core/progress.js';
import type { Options } from '../options/index.js';
import { redact, type Report, type ReportEntry } from '../core/report/index.js';
import { grpcCause, SERVER_NAMES, type Deployment, type Server } from '../stores/deployment.js';
import { acquireMigrationLock, type MigrationLock } from '../stores/lock.js';
import { AlembicError, alembicConfigBeside, type AlembicSetup } from '../manager/alembic.js';
import type { ManagerCli } from '../manager/cli.js';
import type { ManagerVenvs } from '../manager/venvs.js';
import type { ProvisionedVenv } from '../manager/venv.js';
import { latestRelease } from '../releases/releases.js';
import { targetRelease } from '../releases/catalogue.js';
import { alembicDriverOf } from '../releases/line-facts.js';
import { publishedRelease } from '../releases/manager-python.js';
import { stepSettings, type Finding, type Hop, type Step, type StepContext, type StepSettings, type VenvToMake } from '../steps/step.js';

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

/** The manager's tools a hop runs: its target release's alembic and CLI. */
interface HopTools {
  readonly alembic: AlembicSetup;
  readonly managerCli: ManagerCli;
}

export class Session {
  readonly alembic: AlembicSetup;
  /** What the steps read of the options. */
  private readonly settings: StepSettings;
  /** With manager-venv, the tools of each hop whose target is not the run's (prepareHops). */
  private readonly hopTools = new Map<string, HopTools>();
  /** migrate (not a dry run), clear-history and snapshot hold the migration lock for the whole run. */
  lock: MigrationLock | undefined;

  constructor(
    readonly options: Options,
    readonly deployment: Deployment,
    readonly report: Report,
    private readonly secrets: ReadonlySet<string>,
    readonly log: Logger,
    /** The run's manager venvs, with manager-venv: a hop that downgrades first takes its source release's alembic from them. */
    private readonly venvs?: ManagerVenvs,
    readonly tools: RunTools = inputTools(options),
  ) {
    // alembic.ini beside manager.toml (where operators keep it), else in the working directory.
    const config = tools.alembicConfig ?? alembicConfigBeside(deployment.targets.managerConfig?.path);
    // The target release's env.py decides the driver (an operator's alembic-command included).
    const driver = options.toVersion ? alembicDriverOf(targetRelease(options.toVersion).version) : undefined;
    this.alembic = { command: tools.alembicCommand, config, lockTimeoutSeconds: options.alembicLockTimeoutSeconds, driver };
    this.settings = stepSettings(options, tools.alembicConfig);
  }

  /** Warnings already annotated: verify finding what preflight found is said again in the log, not annotated twice. */
  private readonly warned = new Set<string>();

  /** Adds a finding to the report and prints it: the one place a finding is printed (and annotated, in the Action). */
  record(entry: ReportEntry, finding?: Finding): void {
    this.report.entries.push({ ...entry, detail: redact(entry.detail, this.secrets) });
    if (finding?.attachment) {
      this.report.attachments.push({ step: entry.step, name: finding.attachment.name, content: redact(finding.attachment.content, this.secrets) });
    }
    // Errors and summaries only count findings; the lines below are the only ones that show them.
    const line = `${entry.hop ? `${entry.hop} ` : ''}${entry.step}: ${entry.detail}`;
    const title = `bai-migrate ${entry.phase}: ${entry.step}`;
    if (entry.status === 'failed') this.log.error(line, title);
    else if (entry.status === 'warning' && this.warned.has(line)) this.log.info(`warning (as in an earlier phase): ${line}`);
    else if (entry.status === 'warning') {
      this.warned.add(line);
      this.log.warning(line, title);
    } else if (entry.phase !== 'plan') this.log.info(`${entry.status}: ${line}`);
  }

  /** `value` with every secret masked in each of its strings. */
  redacted<T>(value: T): T {
    return JSON.parse(JSON.stringify(value), (_key, v: unknown) => (typeof v === 'string' ? redact(v, this.secrets) : v)) as T;
  }

  /** Connects; an unreachable server ends the run unless it is `optional` (then it is a warning). */
  async connect(servers: readonly Server[], optional: readonly Server[] = []): Promise<Set<Server>> {
    if (servers.length === 0) return new Set();
    const results = await this.log.group('Connect', async () => {
      const outcome = await this.deployment.connect(servers);
      for (const r of outcome) {
        const status = r.ok ? 'ok' : optional.includes(r.server) ? 'warning' : 'failed';
        this.record({ phase: 'connect', step: SERVER_NAMES[r.server], status, detail: r.detail });
      }
      return outcome;
    });
    const down = results.filter((r) => !r.ok && !optional.includes(r.server));
    if (down.length > 0) {
      // A server out of reach comes first; otherwise the cause (credentials, an empty namespace) is the code.
      const codes = down.flatMap((r) => (r.code ? [r.code] : []));
      const code = codes.length === 0 || codes.includes('unreachable') ? 'unreachable' : codes[0]!;
      throw new MigrationError(
        code,
        down.map((r) => `${SERVER_NAMES[r.server]}: ${r.detail}`).join('\n'),
        `${down.map((r) => SERVER_NAMES[r.server]).join(', ')} ${code === 'unreachable' ? 'unreachable' : 'refused the connection'} (reported above)`,
      );
    }
    return new Set(results.filter((r) => r.ok).map((r) => r.server));
  }

  /** The migration lock, waiting up to lock-timeout for a run that holds it. */
  waitForLock(): Promise<MigrationLock> {
    return whileWaiting({ log: this.log, what: `the migration lock (another bai-migrate run holds it; lock-timeout ${this.options.lockTimeoutSeconds} s)` }, () =>
      acquireMigrationLock(this.deployment.targets.postgres!, this.options.lockTimeoutSeconds, this.options.connectTimeoutSeconds * 1000),
    );
  }

  /**
   * Each hop runs with its own target line's final release: its scripts (a revision imports the
   * manager's code of the package it runs in) and its Python (one venv cannot serve 3.11 and 3.13
   * lines). With manager-venv, a hop whose target is not the run's gets that release's venv; the
   * run's own target comes from the venv made before the run (run-command.ts). Without
   * manager-venv, alembic-command serves every hop.
   */
  async prepareHops(hops: readonly Hop[], runTarget: string): Promise<void> {
    if (!this.venvs) return;
    for (const hop of hops) {
      if (hop.to.version === runTarget || this.hopTools.has(hop.label)) continue;
      const venv = await this.venvs.get(publishedRelease(hop.to.version), {
        use: `${hop.to.series}'s alembic and CLI run from it for ${hop.label}`,
        unchecked: `${hop.to.series}'s alembic and CLI from it are not checked`,
      });
      if (!venv) continue;
      this.hopTools.set(hop.label, {
        alembic: this.alembicOf(venv),
        managerCli: { command: [venv.managerCli], configFile: this.deployment.targets.managerConfig?.path, log: this.log },
      });
    }
  }

  /** What a step's phases get. */
  stepContext(hop: Hop): StepContext {
    const tools = this.hopTools.get(hop.label);
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
    return this.venvs ? { ...context, sourceAlembic: (purpose?: 'downgrade' | 'models') => this.sourceAlembic(hop, purpose) } : context;
  }

  /** The alembic of the source line's final release (the one the database was last upgraded with), from its own venv. */
  private async sourceAlembic(hop: Hop, purpose: 'downgrade' | 'models' = 'downgrade'): Promise<AlembicSetup | undefined> {
    const source = publishedRelease(latestRelease(hop.fromSeries).version);
    const venv = await this.venvs!.get(source, {
      use:
        purpose === 'downgrade'
          ? `${hop.fromSeries}'s alembic runs from it for the downgrade of ${hop.label}`
          : `${source}'s models are compared with the live schema from it (the drift check); its alembic runs nothing`,
      unchecked: `${hop.fromSeries}'s alembic from it is not checked`,
    });
    return venv ? this.alembicOf(venv) : undefined;
  }

  private alembicOf(venv: ProvisionedVenv): AlembicSetup {
    return { command: venv.command, config: venv.config, lockTimeoutSeconds: this.options.alembicLockTimeoutSeconds, driver: venv.driver };
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
  async withServersDown(servers: readonly Server[], message: string): Promise<string> {
    const down = await this.deployment.unreachable(servers);
    return down.length > 0 ? `${down.join('; ')}; it stopped with: ${grpcCause(message)}` : message;
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
