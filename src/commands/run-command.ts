/**
 * The engine: validated options in, a report out. It knows nothing of GitHub; the Action and the
 * CLI are thin adapters around `runCommand`. What each command does lives in the files beside it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { invalidInput, MigrationError, messageOf } from '../core/errors.js';
import { redactingLogger, type Logger } from '../core/logger.js';
import type { Options } from '../options/index.js';
import { resolveTargets } from '../stores/connections.js';
import { Deployment } from '../stores/deployment.js';
import { ManagerVenvs, type VenvCache } from '../manager/venvs.js';
import { publishedRelease } from '../releases/manager-python.js';
import { targetRelease } from '../releases/catalogue.js';
import { commandDefinition, writtenPaths } from './registry.js';
import { checkWritablePaths } from '../options/writable-paths.js';
import { inputTools, Session, type RunTools } from './session.js';
import { newReport, redact, renderMarkdown, type Report } from '../core/report/index.js';

export interface RunHooks {
  readonly log: Logger;
  /** Called for every secret as soon as it is known, before anything can print it. */
  readonly onSecret: (secret: string) => void;
  readonly env?: NodeJS.ProcessEnv;
  /** Where manager venvs outlive the runner (the Action's cache). */
  readonly venvCache?: VenvCache;
}

export async function runCommand(options: Options, hooks: RunHooks): Promise<Report> {
  const report = newReport(options.command, options.dryRun);
  const secrets = new Set<string>();
  const addSecret = (secret: string) => {
    if (secret && !secrets.has(secret)) {
      secrets.add(secret);
      hooks.onSecret(secret);
    }
  };
  checkWrittenPaths(options);
  await prepareReportFolder(options.reportFile);
  let deployment: Deployment | undefined;
  let venvs: ManagerVenvs | undefined;
  try {
    const log = redactingLogger(hooks.log, secrets);
    let tools = inputTools(options);
    const command = commandDefinition(options.command);
    const venvUse = command.managerVenv(options);
    if (options.managerVenv && venvUse) {
      const record = (entry: Report['entries'][number]) => report.entries.push(entry);
      venvs = new ManagerVenvs(options.managerVenv, venvUse, log, record, hooks.venvCache);
      if (command.on === 'disposable-servers') {
        // The rehearsal's own runs take manager-venv as migrate does (each hop's venvs, a downgrade's
        // source release's too); the target's is made first, so that their dry run can show its SQL.
        await venvs.get(venvRelease(options), { use: 'the rehearsal runs alembic from it', unchecked: 'not checked' });
      } else {
        tools = await targetVenvTools(options, venvs, report);
      }
    }
    if (command.on === 'disposable-servers') {
      // No production connection at all: everything happens on the disposable servers.
      await command.run(options, report, log, addSecret, (inner) => runCommand(inner, { ...hooks, onSecret: addSecret }));
      return await finish(report, options, secrets, log);
    }
    const targets = resolveTargets(options, hooks.env);
    targets.secrets.forEach(addSecret);
    deployment = new Deployment(targets, options.connectTimeoutSeconds * 1000, addSecret, isReadOnly(options));
    const session = new Session(options, deployment, report, secrets, log, venvs, tools);
    try {
      await command.run(session);
    } finally {
      await session.lock?.release();
    }
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
    if (venvs && venvs.used.length > 0) report.venvSetup = venvs.summary();
  }
  return finish(report, options, secrets, redactingLogger(hooks.log, secrets));
}

/** Refuses, before anything is read or written, a path input the run would write to but cannot. */
export function checkWrittenPaths(options: Options): void {
  checkWritablePaths(writtenPaths(options));
}

/** Commands (and dry runs) that must not write: their PostgreSQL session cannot. */
export function isReadOnly(options: Options): boolean {
  return options.dryRun || commandDefinition(options.command).readOnly;
}

/** The manager release a venv holds: the target's, or for clear-history the one the database is at. */
export function venvRelease(options: Options): string {
  if (options.toVersion) return publishedRelease(targetRelease(options.toVersion).version);
  throw invalidInput('manager-venv with clear-history mode: manager needs to-version: the manager release installed (e.g. 22.03.14)');
}

/**
 * alembic and the manager's CLI from the target release's venv, made (or made before) and proved
 * to hold that release before anything else runs. Without one (a check before any migrate made
 * it), the tools keep the venv to make, and the steps say what migrate will make.
 */
async function targetVenvTools(options: Options, venvs: ManagerVenvs, report: Report): Promise<RunTools> {
  const version = venvRelease(options);
  const venv = await venvs.get(version, { use: 'alembic runs from it', unchecked: "alembic and the manager's CLI from it are not checked" });
  if (!venv) return inputTools(options);
  report.managerVenv = { dir: venvs.dirFor(version), requirement: venv.requirement, created: venv.created };
  return {
    alembicCommand: venv.command,
    alembicConfig: options.alembicConfig ?? venv.config,
    managerCommand: options.managerCommand ?? [venv.managerCli],
  };
}

/**
 * Makes the report's folder (mkdir -p) before anything else is written, so that a run that did its
 * work can also write its report; checkWritablePaths has refused a path where it cannot be made.
 */
async function prepareReportFolder(file: string): Promise<void> {
  const folder = dirname(resolve(file));
  try {
    await mkdir(folder, { recursive: true });
  } catch (error) {
    throw invalidInput(`report-file "${file}": its folder ${folder} cannot be created (${messageOf(error)}); give a path in a folder that exists or can be made`);
  }
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
  if (options.summaryFile) {
    await mkdir(dirname(resolve(options.summaryFile)), { recursive: true })
      .then(() => writeFile(options.summaryFile!, redact(renderMarkdown(report), secrets)))
      .catch((error: unknown) => log.warning(`the summary file ${options.summaryFile} was not written (${messageOf(error)}); the outcome stands: ${report.outcome}`));
  }
  return report;
}
