/**
 * Every command, what it needs and what it may do, in one table: the engine looks a command up
 * here instead of branching on its name.
 */
import type { Logger } from '../core/logger.js';
import type { Command, Options } from '../core/options.js';
import type { Report } from '../core/report/index.js';
import { rehearse, type RunInner } from '../rehearsal/rehearse.js';
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

export const COMMAND_DEFINITIONS: Readonly<Record<Command, CommandDefinition>> = {
  plan: { on: 'deployment', readOnly: true, managerVenv: noVenv, run: planCommand },
  // Preflight makes (or restores) every venv the run needs, so that every check runs on a fresh
  // runner as on a warm one, and migrate inside the maintenance window pays nothing for them.
  // Read-only is about the deployment: the venvs are the runner's tools.
  preflight: { on: 'deployment', readOnly: true, managerVenv: () => 'make', run: checkCommand('preflight') },
  verify: { on: 'deployment', readOnly: true, managerVenv: noVenv, run: checkCommand('verify') },
  // A dry run writes nothing anywhere, not even a venv: it checks the tools of one preflight or an earlier run made.
  migrate: { on: 'deployment', readOnly: false, managerVenv: (o) => (o.dryRun ? 'check' : 'make'), run: migrateCommand },
  'clear-history': { on: 'deployment', readOnly: false, managerVenv: (o) => (o.clearHistoryMode === 'manager' && !o.dryRun ? 'make' : undefined), run: clearHistoryCommand },
  snapshot: { on: 'deployment', readOnly: true, managerVenv: noVenv, run: snapshotCommand },
  // Its dry run still rehearses: the disposable servers are its own to write.
  rehearse: { on: 'disposable-servers', readOnly: false, managerVenv: () => 'make', run: rehearse },
};

export function commandDefinition(command: Command): CommandDefinition {
  return COMMAND_DEFINITIONS[command];
}
