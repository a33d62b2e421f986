/**
 * The manager's own CLI (`backend.ai mgr …`), for the two jobs where an operator may prefer it:
 * a registry rescan after the image import, and clear-history in `mode: manager`. It runs without
 * a shell, with BACKEND_CONFIG_FILE pointing at the deployment's manager.toml (where the manager
 * looks first, backend.ai-common@22.03.1:src/ai/backend/common/config.py, find_config_file) and an allowlisted environment (child-env.ts), without alembic's watchdog: these
 * commands are idempotent, so a killed run is simply run again.
 */
import { MigrationError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { FailureCause } from '../core/report/index.js';
import { CANNOT_RUN, runChild } from './child-env.js';
import type pg from 'pg';
import { lineFacts, SERVER_VERSION_FIXED_IN, unparsableServerVersion } from '../releases/line-facts.js';
import { serverVersion } from '../stores/schema.js';

export interface ManagerCli {
  /** argv prefix, e.g. ["backend.ai"] or ["/opt/backend.ai/bin/backend.ai"]. */
  readonly command: readonly string[];
  /** manager.toml, handed over as BACKEND_CONFIG_FILE. */
  readonly configFile?: string;
  /** Where a long run (a rescan, a clear-history) says that it is still running. */
  readonly log?: Logger;
}

export interface CliResult {
  readonly exitCode: number;
  /** stdout and stderr together: the manager logs to stderr. */
  readonly output: string;
}

export async function runManagerCli(cli: ManagerCli, args: readonly string[]): Promise<CliResult> {
  const [program, ...prefix] = cli.command;
  const result = await runChild('manager-cli', program!, [...prefix, ...args], {
    env: cli.configFile ? { BACKEND_CONFIG_FILE: cli.configFile } : {},
    progress: cli.log && { log: cli.log, what: `${cli.command.join(' ')} ${args.join(' ')}` },
  });
  return { exitCode: result.exitCode, output: `${result.stdout}\n${result.stderr}`.trim() };
}

/** Fails with the command line and the output's last lines when the CLI did not succeed. */
export function requireSuccess(cli: ManagerCli, args: readonly string[], result: CliResult): void {
  if (result.exitCode === 0) return;
  const what = `${cli.command.join(' ')} ${args.join(' ')}`;
  if (result.exitCode === CANNOT_RUN) {
    throw new MigrationError(
      'invalid-input',
      `manager-command "${cli.command.join(' ')}" cannot be run (${result.output}); accepted: the manager venv's backend.ai, e.g. /opt/backend.ai/bin/backend.ai (or set manager-venv)`,
    );
  }
  throw new MigrationError('inconsistent-state', `${what} failed (exit ${result.exitCode}): ${pythonFailure(result.output) ?? lastLines(result.output)}`);
}

/** The innermost exception a Python program ended with, taken apart (pythonCause). */
export interface PythonCause extends FailureCause {
  /** The traceback's last "module.SomeError: message" line, as printed (SQL and parameters never follow it here). */
  readonly line: string;
}

/**
 * The cause of a Python program's failure as its traceback ends: the last "SomeError: message"
 * with its DETAIL, never SQLAlchemy's statement and parameters (which hold row data, and run to
 * megabytes: "[SQL: DELETE FROM sessions WHERE sessions.id IN (…" with every id). Undefined when the
 * output names no exception.
 */
export function pythonCause(output: string): PythonCause | undefined {
  const text = output.replace(/\[SQL: [\s\S]*?\](?=\s*(?:\[parameters:|\(Background on|$))/g, '').replace(/\[parameters: [\s\S]*?\](?=\s*(?:\(Background on|$))/g, '');
  const lines = text.split('\n').map((line) => line.trim());
  // "module.SomeError: …", and Python's bare "Exception: …" that a revision raises itself (a bare "Error: …" is click's usage message).
  const at = lines.findLastIndex((line) => /^(?:[A-Za-z_][\w.]*(?:Error|Exception|Violation)|Exception)\b.*?: \S/.test(line));
  if (at < 0) return undefined;
  const line = lines[at]!;
  const [, exception = '', rest = ''] = /^([A-Za-z_][\w.]*?): (.*)$/.exec(line) ?? [];
  // SQLAlchemy wraps the driver's: "(psycopg2.errors.X) message", "(…asyncpg.IntegrityError) <class 'asyncpg.exceptions.X'>: message".
  const wrapped = /^\(([\w.]+)\) (?:<class '([\w.]+)'>: )?(.*)$/.exec(rest);
  const driverException = wrapped ? (wrapped[2] ?? wrapped[1]) : undefined;
  const message = wrapped ? wrapped[3]! : rest;
  const detailLine = lines.slice(at + 1, at + 4).find((l) => l.startsWith('DETAIL:'));
  const detail = detailLine?.replace(/^DETAIL:\s*/, '').replace(/^Failing row contains \(.*\)\.?$/, "Failing row contains (…: the row's values are left out)");
  return {
    line,
    exception,
    ...(driverException && { driverException }),
    message: message.length > 400 ? `${message.slice(0, 400)}…` : message,
    ...optional('constraint', /constraint "([^"]+)"/.exec(message)?.[1]),
    ...optional('table', /(?:on table|of relation) "([^"]+)"/.exec(message)?.[1]),
    ...optional('detail', detail && (detail.length > 400 ? `${detail.slice(0, 400)}…` : detail)),
  };
}

const optional = <K extends string>(key: K, value: string | undefined) => (value === undefined ? {} : ({ [key]: value } as Record<K, string>));

/**
 * pythonCause as one line: the exception and its DETAIL with the key values left out (a cause for a
 * log line, where a DETAIL's ids say nothing).
 */
export function pythonFailure(output: string): string | undefined {
  const cause = pythonCause(output);
  if (!cause) return undefined;
  const detail = cause.detail && `DETAIL:  ${cause.detail.replace(/Key \(([^)]*)\)=\((?:[^()]|\([^)]*\))*\)/g, 'Key ($1)=(…)')}`;
  const text = [cause.line, detail].filter(Boolean).join(' ');
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

/** Why `who` (a manager) cannot connect to a server reporting `reported` (src/releases/line-facts.ts, managerFailsOnServerVersion). */
export function cannotConnect(who: string, reported: string): string {
  return `${who} cannot connect to this PostgreSQL: it reads server_version "${reported}" as numbers and fails on the suffix (fixed in ${SERVER_VERSION_FIXED_IN.join(', ')})`;
}

/** The cause when the manager's output shows its version parse failing on this server's version string; undefined otherwise. */
export async function serverVersionCause(postgres: pg.Client, output: string, who: string): Promise<string | undefined> {
  if (!output.includes('invalid literal for int()')) return undefined;
  const reported = await serverVersion(postgres);
  return unparsableServerVersion(reported) ? cannotConnect(who, reported) : undefined;
}

/** requireSuccess for a command that connects to PostgreSQL: a failure on the server's version string is named, with `remedy`. */
export async function requireConnectedSuccess(cli: ManagerCli, args: readonly string[], result: CliResult, postgres: pg.Client, who: string, remedy: string): Promise<void> {
  try {
    requireSuccess(cli, args, result);
  } catch (error) {
    const cause = error instanceof MigrationError ? await serverVersionCause(postgres, result.output, who) : undefined;
    if (!cause) throw error;
    throw new MigrationError((error as MigrationError).code, `${(error as MigrationError).message} (${cause}; ${remedy})`);
  }
}

export function lastLines(output: string, count = 3): string {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-count)
    .join(' | ');
}

/** The rescan command of the release line whose manager runs it (src/releases/line-facts.ts). */
export function imageRescanArgs(line: string, registry: string): string[] {
  return [...lineFacts(line).imageRescanCommand, registry];
}

/** `-v` takes a value (backend.ai-manager@22.03.3:src/ai/backend/manager/cli/__main__.py, `type=bool`); the manager has VACUUM or VACUUM FULL, nothing lighter. */
export function clearHistoryArgs(retention: string, vacuum: 'none' | 'analyze' | 'full'): string[] {
  return ['mgr', 'clear-history', '-r', retention, '-v', vacuum === 'full' ? 'true' : 'false'];
}

/** What the manager logs, and then exits 0, when its Redis part fails (a bare except in backend.ai-manager@22.03.3:src/ai/backend/manager/cli/__main__.py). */
export const HIDDEN_REDIS_FAILURE = 'Unexpected error while cleaning up redis history';

/** The line of the manager's log that reports the Redis failure it does not turn into an exit code. */
export function hiddenRedisFailure(output: string): string | undefined {
  return hiddenFailure(output, [HIDDEN_REDIS_FAILURE]);
}

/** The rescan's logged failure, which its exit code does not show (src/releases/line-facts.ts, imageRescanFailures). */
export function hiddenRescanFailure(line: string, output: string): string | undefined {
  return hiddenFailure(output, lineFacts(line).imageRescanFailures);
}

/**
 * The first line of the manager's log that holds one of `markers`, with the innermost exception
 * that follows it (the last "SomethingError: message" of its traceback; a task group prints its
 * sub-errors inside its own message), e.g. "ClientConnectorError: Cannot connect to host …".
 */
export function hiddenFailure(output: string, markers: readonly string[]): string | undefined {
  const lines = output.split('\n');
  const at = lines.findIndex((line) => markers.some((marker) => line.includes(marker)));
  if (at < 0) return undefined;
  const after = lines.slice(at + 1).join('\n');
  // Up to the end of the line, or of the line inside a repr (a literal backslash-n); \' unescaped.
  const raised = [...after.matchAll(/([A-Za-z_][\w.]*(?:Error|Exception)): ((?:[^\n\\]|\\(?!n))+)/g)].at(-1);
  const cause = raised ? `${raised[1]}: ${raised[2]!.replace(/\\(['"])/g, '$1').trim()}` : undefined;
  return cause ? `${lines[at]!.trim()} (${cause.length > 240 ? `${cause.slice(0, 240)}…` : cause})` : lines[at]!.trim();
}
