/**
 * Every command, what it needs and what it may do, in one table: the engine looks a command up
 * here instead of branching on its name.
 */
import type { Logger } from '../core/logger.js';
import type { WrittenPath } from '../options/writable-paths.js';
import type { Command, Options } from '../options/index.js';
import type { Report } from '../core/report/index.js';
import { rehearse } from '../rehearsal/rehearse.js';
import type { RunInner } from '../rehearsal/growth.js';
import { checkCommand } from './check.js';
import { clearHistoryCommand } from './clear-history.js';
import { migrateCommand } from './migrate.js';
import { planCommand } from './plan.js';
import type { Session } from './session.js';
import { snapshotCommand } from './snapshot.js';

/** What a command does with manager-venv: make (or reuse) the venv, only check one an earlier run made (a dry run), or nothing. */
export type VenvUse = 'make' | 'check' | undefined;

interface CommandTraits {
  /** Writes nothing, whatever the options: its PostgreSQL session cannot write. A dry run of any command is read-only too. */
  readonly readOnly: boolean;
  readonly managerVenv: (options: Options) => VenvUse;
  /** The path inputs it writes to besides report-file and manager-venv (see writtenPaths). */
  readonly writes: (options: Options) => readonly WrittenPath[];
}

/** Works on the deployment the connection inputs name. */
export interface DeploymentCommand extends CommandTraits {
  readonly on: 'deployment';
  readonly run: (session: Session) => Promise<void>;
}

/** Never connects to the deployment: everything happens on disposable servers it starts. */
export interface DisposableCommand extends CommandTraits {
  readonly on: 'disposable-servers';
  readonly run: (options: Options, report: Report, log: Logger, addSecret: (secret: string) => void, runInner: RunInner) => Promise<void>;
}

export type CommandDefinition = DeploymentCommand | DisposableCommand;

const noVenv = (): VenvUse => undefined;
const writesNoMore = (): readonly WrittenPath[] => [];
const snapshotFile = (options: Options): WrittenPath => ({ input: 'snapshot-file', path: options.snapshotFile, is: 'file' });

export const COMMAND_DEFINITIONS: Readonly<Record<Command, CommandDefinition>> = {
  plan: { on: 'deployment', readOnly: true, managerVenv: noVenv, writes: writesNoMore, run: planCommand },
  // Preflight makes (or restores) every venv the run needs, so that every check runs on a fresh
  // runner as on a warm one, and migrate inside the maintenance window pays nothing for them.
  // Read-only is about the deployment: the venvs are the runner's tools.
  preflight: { on: 'deployment', readOnly: true, managerVenv: () => 'make', writes: writesNoMore, run: checkCommand('preflight') },
  verify: { on: 'deployment', readOnly: true, managerVenv: noVenv, writes: writesNoMore, run: checkCommand('verify') },
  // A dry run writes nothing anywhere, not even a venv: it checks the tools of one preflight or an earlier run made.
  migrate: {
    on: 'deployment',
    readOnly: false,
    managerVenv: (o) => (o.dryRun ? 'check' : 'make'),
    writes: (o) => (o.dryRun ? [] : [{ input: 'backup-dir', path: o.backupDir, is: 'folder' }]),
    run: migrateCommand,
  },
  'clear-history': { on: 'deployment', readOnly: false, managerVenv: (o) => (o.clearHistoryMode === 'manager' && !o.dryRun ? 'make' : undefined), writes: writesNoMore, run: clearHistoryCommand },
  snapshot: { on: 'deployment', readOnly: true, managerVenv: noVenv, writes: (o) => [snapshotFile(o)], run: snapshotCommand },
  // Its dry run still rehearses: the disposable servers are its own to write. The Action restores a cached snapshot into snapshot-file.
  rehearse: { on: 'disposable-servers', readOnly: false, managerVenv: () => 'make', writes: (o) => (o.snapshotCacheKey ? [snapshotFile(o)] : []), run: rehearse },
};

export function commandDefinition(command: Command): CommandDefinition {
  return COMMAND_DEFINITIONS[command];
}

/** Every path input a run writes to, to be checked before anything is read or written. */
export function writtenPaths(options: Options): WrittenPath[] {
  const command = commandDefinition(options.command);
  const venv = options.managerVenv && command.managerVenv(options) === 'make' ? [{ input: 'manager-venv', path: options.managerVenv.dir, is: 'folder' } as const] : [];
  const summary: WrittenPath[] = options.summaryFile ? [{ input: 'summary-file', path: options.summaryFile, is: 'file', inPlace: true }] : [];
  return [{ input: 'report-file', path: options.reportFile, is: 'file', inPlace: true }, ...summary, ...command.writes(options), ...venv];
}
