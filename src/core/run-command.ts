/**
 * The engine: validated options in, a report out. It knows nothing of GitHub; the Action and the
 * CLI are thin adapters around `runCommand`.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { invalidInput, MigrationError, messageOf } from './errors.js';
import { redactingLogger, type Logger } from './logger.js';
import type { Options } from './options.js';
import { resolveTargets, type Targets } from '../stores/connections.js';
import { Deployment, grpcCause, SERVER_NAMES, type Server } from '../stores/deployment.js';
import { detectPosition } from '../stores/schema.js';
import { makePlan, requireSupported, type Plan } from '../hops/plan.js';
import { acquireMigrationLock, tryMigrationLock, type MigrationLock } from '../stores/lock.js';
import { clearHistory, clearHistoryWithManager } from '../commands/clear-history.js';
import type { ManagerCli } from '../manager/cli.js';
import { takeSnapshot } from '../rehearsal/snapshot.js';
import { inspectManagerVenv, provisionManagerVenv, requireManagerRelease, type ProvisionedVenv } from '../manager/venv.js';
import { targetRelease } from '../releases/catalogue.js';
import { alembicConfigBeside, rehearse } from '../rehearsal/rehearse.js';
import { TABLES_STEPS_TOUCH } from '../hops/index.js';
import { newReport, redact, type Phase, type Report, type ReportEntry } from './report.js';
import type { AlembicSetup } from '../manager/alembic.js';
import type { SchemaPosition } from '../releases/catalogue.js';
import type { Finding, Hop, Step, StepContext } from '../steps/step.js';

export interface RunHooks {
  readonly log: Logger;
  /** Called for every secret as soon as it is known, before anything can print it. */
  readonly onSecret: (secret: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

export async function runCommand(given: Options, hooks: RunHooks): Promise<Report> {
  let options = given;
  const report = newReport(options.command, options.dryRun);
  const secrets = new Set<string>();
  const addSecret = (secret: string) => {
    if (secret && !secrets.has(secret)) {
      secrets.add(secret);
      hooks.onSecret(secret);
    }
  };
  await prepareReportFolder(options.reportFile);
  let deployment: Deployment | undefined;
  try {
    if (options.managerVenv && (needsManagerVenv(options) || checksWithManagerVenv(options))) {
      options = await withManagerVenv(options, report, redactingLogger(hooks.log, secrets));
    }
    if (options.command === 'rehearse') {
      // No production connection at all: everything happens on the disposable servers.
      const log = redactingLogger(hooks.log, secrets);
      await rehearse(options, report, log, addSecret, (inner) => runCommand(inner, { ...hooks, onSecret: addSecret }));
      return await finish(report, options, secrets, log);
    }
    const targets = resolveTargets(options, hooks.env);
    targets.secrets.forEach(addSecret);
    deployment = new Deployment(targets, options.connectTimeoutSeconds * 1000, addSecret, isReadOnly(options));
    await new Run(options, deployment, report, secrets, redactingLogger(hooks.log, secrets)).execute();
  } catch (error) {
    report.outcome = 'failure';
    // Outside a step (the lock, the backup) a lost server still gets named rather than called a bug.
    const down = error instanceof MigrationError || !deployment ? [] : await deployment.unreachable(['postgres', 'etcd', 'redis']);
    const message = error instanceof MigrationError ? error.message : down.length > 0 ? `${down.join('; ')}; the run stopped with: ${messageOf(error)}` : `unexpected error: ${messageOf(error)}`;
    report.error = redact(message, secrets);
    // A bug's stack, for whoever debugs it (redacted like every line; never in the report).
    if (!(error instanceof MigrationError) && error instanceof Error && error.stack) redactingLogger(hooks.log, secrets).debug(`stack of the unexpected error: ${error.stack}`);
    if (error instanceof MigrationError) report.errorCode = error.code;
    else if (down.length > 0) report.errorCode = 'unreachable';
    if (error instanceof MigrationError && error.summary) report.errorSummary = redact(error.summary, secrets);
  } finally {
    await deployment?.close();
  }
  return finish(report, options, secrets, redactingLogger(hooks.log, secrets));
}

/** Commands (and dry runs) that must not write: their PostgreSQL session cannot. */
export function isReadOnly(options: Options): boolean {
  return options.dryRun || ['plan', 'preflight', 'verify', 'snapshot'].includes(options.command);
}

/** The manager release a venv holds: the target's, or for clear-history the one the database is at. */
export function venvRelease(options: Options): string {
  if (options.toVersion) return targetRelease(options.toVersion).version;
  throw invalidInput('manager-venv with clear-history mode: manager needs to-version: the manager release installed (e.g. 22.03.14)');
}

/** The commands that make (or reuse) the venv; a dry run makes and caches nothing. */
export function needsManagerVenv(options: Options): boolean {
  if (options.dryRun && options.command !== 'rehearse') return false;
  return options.command === 'migrate' || options.command === 'rehearse' || (options.command === 'clear-history' && options.clearHistoryMode === 'manager');
}

/** preflight and the dry run check the tools of a venv an earlier run made, and make none. */
function checksWithManagerVenv(options: Options): boolean {
  return options.command === 'preflight' || (options.command === 'migrate' && options.dryRun);
}

/**
 * alembic from a venv bai-migrate makes (or made before) with the target release's manager,
 * proved to hold that release before anything else runs. preflight and dry runs only use a venv
 * that is there; without one, managerVenv stays set and the steps say what migrate will make.
 */
async function withManagerVenv(options: Options, report: Report, log: Logger): Promise<Options> {
  const venv = options.managerVenv!;
  const version = venvRelease(options);
  let provisioned: ProvisionedVenv;
  if (needsManagerVenv(options)) provisioned = await log.group('Manager venv', () => provisionManagerVenv(venv, version, log));
  else {
    const found = await inspectManagerVenv(venv, version);
    if (found.state !== 'ready') {
      const holds = found.state === 'stale' ? `holds ${found.holds}, so migrate will replace it with` : 'holds no venv yet; migrate will make it with';
      const detail = `${venv.dir} ${holds} ${found.requirement} (pip install ${found.requirement}); a ${options.command === 'preflight' ? 'preflight' : 'dry run'} makes and caches no venv, so alembic and the manager's CLI from it are not checked`;
      report.entries.push({ phase: 'setup', step: 'manager-venv', status: 'warning', detail });
      log.warning(`manager-venv: ${detail}`);
      return options;
    }
    provisioned = found.venv;
  }
  await requireManagerRelease(provisioned, version).catch((error: unknown) => {
    report.entries.push({ phase: 'setup', step: 'manager-venv', status: 'failed', detail: messageOf(error) });
    throw error;
  });
  report.managerVenv = { dir: venv.dir, requirement: provisioned.requirement, created: provisioned.created };
  report.entries.push({
    phase: 'setup',
    step: 'manager-venv',
    status: provisioned.created ? 'changed' : 'ok',
    detail: `${provisioned.created ? 'made' : 'reused'} ${venv.dir} with ${provisioned.requirement}; alembic runs from it`,
  });
  return {
    ...options,
    managerVenv: undefined,
    alembicCommand: provisioned.command,
    alembicConfig: options.alembicConfig ?? provisioned.config,
    managerCommand: options.managerCommand ?? [provisioned.managerCli],
  };
}

/**
 * Makes the report's folder (mkdir -p) before anything else is written, so that a run that did its
 * work can also write its report; a path that cannot be made a folder is an input error.
 */
async function prepareReportFolder(file: string): Promise<void> {
  const folder = dirname(resolve(file));
  try {
    await mkdir(folder, { recursive: true });
  } catch (error) {
    throw invalidInput(`report-file "${file}": its folder ${folder} cannot be created (${messageOf(error)}); give a path in a folder that exists or can be made`);
  }
  if ((await stat(file).catch(() => undefined))?.isDirectory()) throw invalidInput(`report-file "${file}" is a folder; give the path of a file, e.g. ${join(file, 'bai-migrate-report.json')}`);
}

/** The outcome is the work's: a report file that cannot be written is a warning, and the report stays in memory for the adapters. */
async function finish(report: Report, options: Options, secrets: ReadonlySet<string>, log: Logger): Promise<Report> {
  report.finishedAt ??= new Date().toISOString();
  report.reportFile = resolve(options.reportFile);
  try {
    await writeFile(options.reportFile, `${redact(JSON.stringify(report, null, 2), secrets)}\n`);
  } catch (error) {
    report.reportFile = undefined;
    log.warning(`the report file ${options.reportFile} was not written (${messageOf(error)}); the outcome stands: ${report.outcome}`);
  }
  return report;
}

class Run {
  private readonly alembic: AlembicSetup;
  /** migrate (not a dry run), clear-history and snapshot hold the migration lock for the whole run. */
  private lock: MigrationLock | undefined;

  constructor(
    private readonly options: Options,
    private readonly deployment: Deployment,
    private readonly report: Report,
    private readonly secrets: ReadonlySet<string>,
    private readonly log: Logger,
  ) {
    this.alembic = { command: options.alembicCommand, config: alembicConfigPath(options, deployment.targets), lockTimeoutSeconds: options.alembicLockTimeoutSeconds };
  }

  async execute(): Promise<void> {
    try {
      await this.run();
    } finally {
      await this.lock?.release();
    }
  }

  private async run(): Promise<void> {
    const { options } = this;
    if (options.command === 'clear-history') return this.clearHistory();
    if (options.command === 'snapshot') return this.snapshot();
    const servers = serversFor(options, this.deployment.targets);
    await this.connect(servers);
    // Before plan and preflight: a run that waited for another must judge what that one left.
    if (options.command === 'migrate' && !options.dryRun) this.lock = await this.waitForLock();
    let position: SchemaPosition | undefined;
    if (servers.includes('postgres')) {
      position = await detectPosition(this.deployment.postgres);
      this.report.currentRevision = position.revision;
    }
    const plan = makePlan(options.fromVersion, options.toVersion!, position);
    this.describePlan(plan);
    if (options.command !== 'plan') requireSupported(plan);

    switch (options.command) {
      case 'plan':
        return;
      case 'preflight':
        return this.checkPhase('preflight', plan);
      case 'verify':
        return this.checkPhase('verify', plan);
      case 'migrate':
        await this.checkPhase('preflight', plan);
        return options.dryRun ? this.dryRun(plan) : this.migrate(plan);
    }
  }

  private record(entry: ReportEntry, finding?: Finding): void {
    this.report.entries.push({ ...entry, detail: redact(entry.detail, this.secrets) });
    if (finding?.attachment) {
      this.report.attachments.push({ step: entry.step, name: finding.attachment.name, content: redact(finding.attachment.content, this.secrets) });
    }
    // The one place a finding is printed (and annotated, in the Action); errors and summaries only count them.
    const line = `${entry.hop ? `${entry.hop} ` : ''}${entry.step}: ${entry.detail}`;
    const title = `bai-migrate ${entry.phase}: ${entry.step}`;
    if (entry.status === 'failed') this.log.error(line, title);
    else if (entry.status === 'warning') this.log.warning(line, title);
    else if (entry.phase !== 'plan') this.log.info(`${entry.status}: ${line}`);
  }

  /** Connects; an unreachable server ends the run unless it is `optional` (then it is a warning). */
  private async connect(servers: Server[], optional: readonly Server[] = []): Promise<Set<Server>> {
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

  /** The nightly job: the database part needs only PostgreSQL; Redis trouble is reported after it. */
  private async clearHistory(): Promise<void> {
    const { options } = this;
    const servers: Server[] = this.deployment.targets.redis ? ['postgres', 'redis'] : ['postgres', 'etcd', 'redis'];
    const up = await this.connect(servers, ['etcd', 'redis']);
    if (!options.dryRun) {
      // Deleting history beside a migration would race its schema step: this run skips, the next one clears.
      const taken = await tryMigrationLock(this.deployment.targets.postgres!, options.connectTimeoutSeconds * 1000);
      if ('holder' in taken) {
        this.record({
          phase: 'apply',
          step: 'clear-history',
          status: 'skipped',
          detail: `skipped: another bai-migrate run (a migration or a snapshot) holds the migration lock: ${taken.holder}; nothing was deleted, the next run clears the history`,
        });
        return;
      }
      this.lock = taken.lock;
    }
    const position = await detectPosition(this.deployment.postgres);
    this.report.currentRevision = position.revision;
    const result = await this.log.group('Clear history', () =>
      (options.clearHistoryMode === 'manager'
        ? clearHistoryWithManager(this.deployment, options, this.managerCli(), this.log)
        : clearHistory(this.deployment, position, options, this.log, up.has('redis'))
      ).catch(async (error: unknown) => {
        if (error instanceof MigrationError) throw error;
        // Each batch is its own transaction: what was deleted stays deleted, the rest waits for the next run.
        const message = await withServersDown(this.deployment, [...up], messageOf(error));
        throw new MigrationError('unreachable', `clear-history stopped: ${message}. Batches already deleted stay deleted (each is one transaction); run clear-history again once the server is back`);
      }),
    );
    this.report.history = { cutoff: result.cutoff, kernels: result.kernels, redisKeys: result.redisKeys, sweptRedisKeys: result.sweptRedisKeys };
    for (const f of result.findings) this.record({ phase: 'apply', step: 'clear-history', status: f.status, detail: f.detail });
    const failures = result.findings.filter((f) => f.status === 'failed');
    if (failures.length > 0) throw new MigrationError('checks-failed', `clear-history: ${failures.map((f) => f.detail).join('; ')}`, `clear-history: ${problems(failures.length)}`);
  }

  /** Read-only: connects to all three servers and writes the snapshot file. */
  private async snapshot(): Promise<void> {
    await this.connect(['postgres', 'etcd', 'redis']);
    // A snapshot beside a migration would hold a half-migrated deployment: it waits, as migrate does.
    this.lock = await this.waitForLock();
    const manifest = await this.log.group('Snapshot', () =>
      takeSnapshot(this.deployment, TABLES_STEPS_TOUCH, this.options.snapshotFile, this.deployment.targets.managerConfig, this.log, this.options.snapshotKey),
    );
    this.report.currentRevision = manifest.release.revision;
    this.report.fromVersion = manifest.release.series;
    this.report.snapshot = { file: this.options.snapshotFile, manifest };
    const rows = Object.entries(manifest.postgres.rows)
      .map(([table, n]) => `${table} ${n}`)
      .join(', ');
    this.record({ phase: 'snapshot', step: 'postgres', status: 'ok', detail: `${manifest.release.description}; rows: ${rows}; schema only: ${manifest.postgres.schemaOnly.length} table(s)` });
    const columns = Object.entries(manifest.postgres.columns).map(
      ([table, c]) => `${table}: ${c.copied.length} copied, pseudonymised ${c.pseudonymised.join(' ') || 'none'}, neutralised ${c.neutralised.join(' ') || 'none'}`,
    );
    this.record({
      phase: 'snapshot',
      step: 'redacted',
      status: 'ok',
      detail: `columns (only allowlisted ones are copied): ${columns.join('; ') || 'none'}; etcd keys: ${manifest.etcd.redactedKeys.join(', ') || 'none'}${manifest.managerConfig ? `; manager.toml keys: ${manifest.managerConfig.redactedKeys.join(', ') || 'none'}` : ''}`,
    });
    this.record({ phase: 'snapshot', step: 'etcd', status: 'ok', detail: `${manifest.etcd.keys} key(s) under namespace "${manifest.etcd.namespace}" (etcd ${manifest.etcd.version})` });
    const keys = Object.entries(manifest.redis.keysPerDb)
      .map(([db, n]) => `DB ${db}: ${n}`)
      .join(', ');
    this.record({
      phase: 'snapshot',
      step: 'redis',
      status: 'ok',
      detail: `Redis ${manifest.redis.version}, appendonly ${manifest.redis.config?.appendonly ?? '(CONFIG disabled)'}, keys ${keys || 'none'} (only counted: rehearsal rebuilds Redis data)`,
    });
    const sealed = this.options.snapshotKey ? 'sealed with snapshot-key (AES-256-GCM)' : 'not sealed (no snapshot-key): keep it on this disk, mode 0600';
    this.record({ phase: 'snapshot', step: 'file', status: 'ok', detail: `written to ${this.options.snapshotFile}, ${sealed}` });
  }

  private describePlan(plan: Plan): void {
    const { report } = this;
    report.fromVersion = plan.from;
    report.toVersion = plan.to.version;
    report.targetRevision = plan.to.head;
    report.plan = plan.hops.map((hop) => ({
      hop: hop.label,
      targetRevision: hop.to.head,
      steps: hop.steps.map((s) => ({ id: s.id, title: s.title, action: s.action })),
    }));
    if (plan.note) this.record({ phase: 'plan', step: 'from-version', status: 'ok', detail: plan.note });
    if (plan.hops.length === 0) this.record({ phase: 'plan', step: 'hops', status: 'ok', detail: `already at ${plan.to.version}: nothing to migrate` });
    for (const hop of plan.hops) {
      if (hop.unsupported) this.record({ phase: 'plan', hop: hop.label, step: 'hop', status: 'warning', detail: hop.unsupported });
      for (const step of hop.steps) this.record({ phase: 'plan', hop: hop.label, step: step.id, status: 'ok', detail: step.action });
    }
    this.log.info(`Plan: ${plan.from} → ${plan.to.version} (${plan.hops.map((h) => h.label).join(', ') || 'nothing to do'})`);
  }

  private context(hop: Hop): StepContext {
    return { deployment: this.deployment, options: this.options, hop, log: this.log, alembic: this.alembic, managerCli: this.managerCli() };
  }

  /** The manager's CLI, handed manager.toml the way the manager finds it. */
  private managerCli(): ManagerCli {
    return { command: this.options.managerCommand ?? ['backend.ai'], configFile: this.deployment.targets.managerConfig?.path };
  }

  /**
   * Runs preflight or verify of every step, each once, in its last hop: they judge the deployment
   * as it stands and as it must end. Every step runs even when an earlier one fails, so that all
   * findings are reported; then the phase fails once.
   */
  private async checkPhase(phase: Extract<Phase, 'preflight' | 'verify'>, plan: Plan): Promise<void> {
    await this.log.group(phase === 'preflight' ? 'Preflight' : 'Verify', async () => {
      for (const { hop, step } of lastOccurrences(plan)) {
        const run = step[phase];
        const findings = run ? await safely(this.deployment, step, () => run.call(step, this.context(hop))) : [{ status: 'skipped' as const, detail: `${step.title} has no ${phase} phase` }];
        for (const f of findings) this.record({ phase, hop: hop.label, step: step.id, status: f.status, detail: f.detail }, f);
      }
    });
    const failures = this.report.entries.filter((e) => e.phase === phase && e.status === 'failed');
    if (failures.length > 0) {
      throw new MigrationError(
        'checks-failed',
        `${phase} found ${failures.length} problem(s):\n${failures.map((f) => `- ${f.hop ? `${f.hop} ` : ''}${f.step}: ${f.detail}`).join('\n')}`,
        `${phase} ${problems(failures.length)}`,
      );
    }
  }

  /** Reads only: what each step would change. */
  private async dryRun(plan: Plan): Promise<void> {
    await this.log.group('Dry run', async () => {
      for (const hop of plan.hops) {
        for (const step of hop.steps.filter((s) => s.kind === 'change')) {
          const findings = step.dryRun ? await safely(this.deployment, step, () => step.dryRun!(this.context(hop))) : [{ status: 'skipped' as const, detail: 'nothing to show without applying' }];
          for (const f of findings) this.record({ phase: 'apply', hop: hop.label, step: step.id, status: f.status === 'ok' ? 'skipped' : f.status, detail: `dry run: ${f.detail}` }, f);
        }
      }
    });
    const failures = this.report.entries.filter((e) => e.phase === 'apply' && e.status === 'failed');
    if (failures.length > 0)
      throw new MigrationError(
        'checks-failed',
        `the dry run found ${failures.length} problem(s):\n${failures.map((f) => `- ${f.step}: ${f.detail}`).join('\n')}`,
        `the dry run ${problems(failures.length)}`,
      );
  }

  /**
   * Under the migration lock: the backup bundle, then per hop and step apply and verify. The first
   * failure stops the run; what was done stays done (every apply is idempotent), so a re-run
   * completes it.
   */
  private async migrate(plan: Plan): Promise<void> {
    const missing = [...new Set(plan.hops.flatMap((hop) => hop.steps.filter((s) => s.kind === 'change' && !s.apply).map((s) => s.id)))];
    if (missing.length > 0) {
      throw new MigrationError('unsupported', `command "migrate" cannot run this plan yet: step(s) ${missing.join(', ')} have no apply phase in this build`);
    }
    const lock = this.lock!;
    const done: string[] = [];
    const changes = plan.hops.flatMap((h) => h.steps.filter((s) => s.kind === 'change').map((s) => `${h.label} ${s.id}`));
    const stillHeld = () => lock.ensureHeld().catch((error: unknown) => this.lockLost(error, done, changes));
    try {
      await stillHeld();
      await this.log.group('Backup', () => this.writeBackup(plan));
      for (const hop of plan.hops) {
        await this.log.group(`Migrate ${hop.label}`, async () => {
          for (const step of hop.steps.filter((s) => s.kind === 'change')) {
            await stillHeld();
            const ctx = this.context(hop);
            const applied = await safely(this.deployment, step, async () => [await step.apply!(ctx)]);
            for (const f of applied) this.record({ phase: 'apply', hop: hop.label, step: step.id, status: f.status, detail: f.detail }, f);
            const verified = applied.some((f) => f.status === 'failed') ? [] : await safely(this.deployment, step, () => (step.verify ? step.verify(ctx) : Promise.resolve([])));
            for (const f of verified) this.record({ phase: 'verify', hop: hop.label, step: step.id, status: f.status, detail: f.detail }, f);
            const failure = [...applied, ...verified].find((f) => f.status === 'failed');
            if (failure) {
              const remaining = plan.hops
                .flatMap((h) => h.steps.filter((s) => s.kind === 'change').map((s) => `${h.label} ${s.id}`))
                .filter((s) => !done.includes(s) && s !== `${hop.label} ${step.id}`);
              const progress = `done: ${done.join(', ') || 'nothing'}\nnot done: ${remaining.join(', ') || 'nothing'}\nFix the cause and run migrate again: finished steps are recognised and skipped.`;
              throw new MigrationError('checks-failed', `${hop.label} ${step.id} failed: ${failure.detail}\n${progress}`, `${hop.label} ${step.id} failed (reported above)\n${progress}`);
            }
            done.push(`${hop.label} ${step.id}`);
          }
        });
      }
    } finally {
      await lock.release();
    }
  }

  /** The migration lock, waiting up to lock-timeout for a run that holds it. */
  private waitForLock(): Promise<MigrationLock> {
    return acquireMigrationLock(this.deployment.targets.postgres!, this.options.lockTimeoutSeconds, this.options.connectTimeoutSeconds * 1000);
  }

  /** Ends the run when the lock is gone: another run may already be migrating. */
  private async lockLost(error: unknown, done: readonly string[], changes: readonly string[]): Promise<never> {
    if (!(error instanceof MigrationError)) throw error;
    const down = await this.deployment.unreachable(['postgres']);
    const notDone = changes.filter((s) => !done.includes(s));
    throw new MigrationError(
      down.length > 0 ? 'unreachable' : error.code,
      `${down.length > 0 ? `${down.join('; ')}; ` : ''}${error.message}\ndone: ${done.join(', ') || 'nothing'}\nnot done: ${notDone.join(', ') || 'nothing'}`,
    );
  }

  /**
   * Everything the steps may lose, saved before the first change, and only when some step has a
   * change to make: a run that changes nothing writes nothing. Named in the report.
   */
  private async writeBackup(plan: Plan): Promise<void> {
    const first = await this.firstPendingStep(plan);
    if (!first) {
      this.record({ phase: 'apply', step: 'backup', status: 'ok', detail: 'every step is already done: nothing to back up, no backup bundle written' });
      return;
    }
    const dir = resolve(this.options.backupDir, `backup-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    const saved: string[] = [];
    for (const { hop, step } of lastOccurrences(plan)) {
      const item = step.backup ? await step.backup(this.context(hop)) : undefined;
      // Steps that edit the same file (manager.toml) back it up once.
      if (!item || saved.includes(item.name)) continue;
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(join(dir, item.name), item.content, { mode: 0o600 });
      saved.push(item.name);
    }
    if (saved.length > 0) {
      this.report.backup = dir;
      this.record({ phase: 'apply', step: 'backup', status: 'ok', detail: `backup bundle ${dir}: ${saved.join(', ')} (first change: ${first})` });
    }
    // What a change drops for good is also kept in the database itself: a bundle may be pruned.
    for (const { hop, step } of lastOccurrences(plan)) {
      const kept = step.carryForward
        ? await step.carryForward(this.context(hop)).catch((error: unknown) => {
            throw new MigrationError(
              'checks-failed',
              `${step.title}: the values it drops could not be kept in PostgreSQL (${messageOf(error)}); nothing has been changed yet${saved.length > 0 ? ` (the backup bundle ${dir} was written)` : ''}`,
            );
          })
        : undefined;
      if (kept) this.record({ phase: 'apply', step: 'backup', status: kept.status, detail: kept.detail });
    }
  }

  /** "hop step" of the first change step whose apply has something to do; undefined when none has. */
  private async firstPendingStep(plan: Plan): Promise<string | undefined> {
    for (const hop of plan.hops) {
      for (const step of hop.steps.filter((s) => s.kind === 'change')) {
        if (await hasWork(step, this.context(hop))) return `${hop.label} ${step.id}`;
      }
    }
    return undefined;
  }
}

/** A step's own answer, else whether its verify still fails; a step that cannot tell is taken to have work. */
async function hasWork(step: Step, ctx: StepContext): Promise<boolean> {
  try {
    if (step.pending) return await step.pending(ctx);
    if (step.verify) return (await step.verify(ctx)).some((f) => f.status === 'failed');
    return true;
  } catch {
    return true;
  }
}

/** "found 3 problems (…)": the findings themselves were reported one by one as they were found. */
function problems(count: number): string {
  return `found ${count} problem${count === 1 ? '' : 's'} (each reported above; the report lists them)`;
}

function lastOccurrences(plan: Plan): Array<{ hop: Hop; step: Step }> {
  const last = new Map<string, Hop>();
  for (const hop of plan.hops) for (const step of hop.steps) last.set(step.id, hop);
  return plan.hops.flatMap((hop) => hop.steps.filter((step) => last.get(step.id) === hop).map((step) => ({ hop, step })));
}

/** plan reads only the schema revision, and works offline when from-version is given and no database is configured. */
function serversFor(options: Options, targets: Targets): Server[] {
  if (options.command === 'plan') return options.fromVersion && !targets.postgres ? [] : ['postgres'];
  return ['postgres', 'etcd', 'redis'];
}

/** alembic.ini beside manager.toml (where operators keep it), else in the working directory. */
function alembicConfigPath(options: Options, targets: Targets): string {
  return options.alembicConfig ?? alembicConfigBeside(targets.managerConfig?.path);
}

/**
 * A phase that throws is a failed finding that names the step, not the end of the run; when one
 * of the step's servers does not answer (any more), the finding names it and its address first.
 */
async function safely(deployment: Deployment, step: Step, body: () => Promise<Finding[]>): Promise<Finding[]> {
  try {
    return await body();
  } catch (error) {
    return [{ status: 'failed', detail: `${step.title}: ${await withServersDown(deployment, step.servers, messageOf(error))}` }];
  }
}

/** "PostgreSQL at h:p/db … is unreachable: …; it stopped with: <message>", or the message alone when every server answers. */
async function withServersDown(deployment: Deployment, servers: readonly Server[], message: string): Promise<string> {
  const down = await deployment.unreachable(servers);
  return down.length > 0 ? `${down.join('; ')}; it stopped with: ${grpcCause(message)}` : message;
}
