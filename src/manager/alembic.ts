/**
 * Runs the manager's own alembic (its venv, its alembic.ini) as a subprocess, without a shell.
 * alembic gets a private copy of alembic.ini whose sqlalchemy.url is the database bai-migrate
 * checked, so both always talk to the same database; the copy is 0600 and removed afterwards,
 * and the password never appears on a command line.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { MigrationError } from '../core/errors.js';
import type { PostgresTarget } from '../stores/connections.js';
import { CANNOT_RUN, runChild } from './child-env.js';
import type { AlembicDriver } from '../releases/line-facts.js';
import type { Logger } from '../core/logger.js';
import type { RevisionFailure } from '../core/report/model.js';
import { revisionFailure } from './revision-failure.js';

export interface AlembicSetup {
  /** argv prefix, e.g. ["/opt/backend.ai/bin/alembic"] or ["python3", "-m", "alembic"]. */
  readonly command: readonly string[];
  /** The operator's alembic.ini. */
  readonly config: string;
  /** PostgreSQL's lock_timeout for alembic's connection: how long one statement may wait for a table lock. */
  readonly lockTimeoutSeconds?: number;
  /** The driver of the release's env.py (releases/line-facts.ts); psycopg2 when not given. */
  readonly driver?: AlembicDriver;
  /**
   * Where a revision that reads the manager's own configuration finds it: 24.09's 1d42c726d8a3
   * loads manager.toml (BACKEND_CONFIG_FILE) to reach etcd, and writes a copy of what it moves
   * into BACKEND_ETCD_BACKUP_PATH. Paths only; never a secret.
   */
  readonly env?: Readonly<Record<string, string>>;
  /** Where a long run says that it is still running. */
  readonly log?: Logger;
}

/** A failed alembic run: what failed (the command, the config, alembic itself) and alembic's own last words. */
export class AlembicError extends MigrationError {
  constructor(
    code: 'invalid-input' | 'inconsistent-state',
    message: string,
    readonly kind: 'cannot-run' | 'no-config' | 'failed',
    /** The cause as the system or alembic said it (stderr's last lines). */
    readonly output: string,
    /** A failed run taken apart: the revision that was running, the cause, the rows (revision-failure.ts). */
    readonly failure?: RevisionFailure,
  ) {
    super(code, message);
  }
}

export async function runAlembic(setup: AlembicSetup, target: PostgresTarget, args: readonly string[]): Promise<string> {
  return runWithPrivateIni(setup, target, args.join(' '), (ini) => [...setup.command, '-c', ini, ...args]);
}

/**
 * Runs `argv(ini)` (alembic itself, or a program of bai-migrate's in alembic's Python) with the
 * private ini, under the watchdog; `what` names it in errors ("upgrade 81c264528f20").
 */
export async function runWithPrivateIni(setup: AlembicSetup, target: PostgresTarget, what: string, argv: (ini: string) => readonly string[]): Promise<string> {
  const original = resolve(setup.config);
  let text: string;
  try {
    text = await readFile(original, 'utf8');
  } catch (error) {
    const cause = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : ((error as NodeJS.ErrnoException).code ?? String(error));
    throw new AlembicError('invalid-input', `alembic-config "${setup.config}" cannot be read; accepted: the path of the manager's alembic.ini`, 'no-config', cause);
  }
  const dir = await mkdtemp(join(tmpdir(), 'bai-migrate-alembic-'));
  const ini = join(dir, 'alembic.ini');
  try {
    await writeFile(ini, privateIni(text, dirname(original), sqlalchemyUrl(setup.driver ?? 'psycopg2', target, await privateTlsFiles(target, dir), setup.lockTimeoutSeconds)), { mode: 0o600 });
    // The environment is an allowlist (child-env.ts): the database URL reaches alembic only through the private ini.
    const result = await runChild('alembic', process.execPath, ['-e', WATCHDOG, '--', ...argv(ini)], {
      cwd: dirname(original),
      env: { ...setup.env },
      progress: setup.log && { log: setup.log, what: `alembic ${what}` },
    });
    if (result.exitCode === CANNOT_RUN) {
      throw new AlembicError(
        'invalid-input',
        `alembic-command "${setup.command.join(' ')}" cannot be run (${result.stderr.trim()}); accepted: the manager venv's alembic, e.g. /opt/backend.ai/bin/alembic`,
        'cannot-run',
        result.stderr.trim(),
      );
    }
    if (result.exitCode !== 0) {
      // alembic prints its own "FAILED: …" on stdout (some releases), tracebacks on stderr.
      const said = `${result.stderr}\n${result.stdout
        .split('\n')
        .filter((line) => line.includes('FAILED: '))
        .join('\n')}`;
      const failure = /FAILED: (.*)/.exec(said)?.[1] ?? pythonException(result.stderr) ?? result.stderr.trim().split('\n').slice(-3).join(' ');
      const tail = said
        .split('\n')
        .filter((line) => line.trim() !== '')
        .slice(-3)
        .map((line) => line.trim())
        .join(' | ');
      const lockWait = /canceling statement due to lock timeout/.test(result.stderr)
        ? `; a table lock it needed was held by another session for longer than alembic-lock-timeout (${setup.lockTimeoutSeconds} s): find the holder in pg_locks, end it, and run migrate again`
        : '';
      // A statement that waited for a lock: the holder is the cause, not the revision or its rows.
      const taken = lockWait ? undefined : revisionFailure(result.stderr);
      const where = taken?.revision ? ` in revision ${taken.revision}` : '';
      throw new AlembicError('inconsistent-state', `alembic ${what} failed (exit ${result.exitCode})${where}: ${failure}${lockWait}`, 'failed', `exit ${result.exitCode}: ${tail || failure}`, taken);
    }
    return result.stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The last "module.SomeError: message" line of a traceback: the cause, where the last lines are
 * only SQLAlchemy's "[SQL: …]" and "(Background on this error at: …)".
 */
function pythonException(stderr: string): string | undefined {
  return stderr
    .split('\n')
    .filter((line) => /^[A-Za-z_][\w.]*(Error|Exception): /.test(line))
    .at(-1)
    ?.trim();
}

/**
 * alembic runs under a small Node watchdog that stops it when bai-migrate dies (its parent pid
 * changes): a killed runner must not leave an alembic behind to race the next run. alembic's
 * transaction is then rolled back by PostgreSQL when its connection closes. alembic's standard
 * input is empty: a revision that asks a question (the manager's 2018 revision f8a71c3bffa2 asks
 * how to convert user ids when alembic replays it) gets end-of-file and fails, instead of waiting
 * for an answer forever.
 */
const WATCHDOG = `
const { spawn } = require('node:child_process');
const [program, ...args] = process.argv.slice(1);
const parent = process.ppid;
const child = spawn(program, args, { stdio: ['ignore', 'inherit', 'inherit'] });
const timer = setInterval(() => { if (process.ppid !== parent) child.kill('SIGTERM'); }, 100);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal));
child.on('error', (error) => { console.error(error.message); process.exit(${CANNOT_RUN}); });
child.on('exit', (code, signal) => { clearInterval(timer); process.exit(code ?? (signal ? 128 : 1)); });
`;

/** The ini with sqlalchemy.url replaced and %(here)s pinned to the original's folder. */
function privateIni(text: string, originalDir: string, url: string): string {
  const pinned = text.replaceAll('%(here)s', originalDir.replaceAll('%', '%%'));
  const line = `sqlalchemy.url = ${url.replaceAll('%', '%%')}`;
  if (/^sqlalchemy\.url\s*=.*$/m.test(pinned)) return pinned.replace(/^sqlalchemy\.url\s*=.*$/m, line);
  return pinned.replace(/^\[alembic\]\s*$/m, `[alembic]\n${line}`);
}

/** How alembic's own connection is named in pg_stat_activity, so that a later run can see it. */
export const ALEMBIC_APPLICATION_NAME = 'bai-migrate-alembic';

/**
 * The URL alembic's env.py connects with. Up to 22.03 env.py is synchronous (psycopg2), which takes
 * libpq's parameters from the URL's query. From 22.09 it is asyncpg, to which SQLAlchemy hands the
 * query as keyword arguments (application_name is none of asyncpg.connect's), so the libpq-style URL
 * goes whole as asyncpg's own dsn: asyncpg reads the ssl* parameters from it and sends the others
 * (application_name, options) as startup settings, as libpq does. The application name lets a later
 * run see an alembic that outlived its killed parent.
 */
function sqlalchemyUrl(driver: AlembicDriver, target: PostgresTarget, tls: Record<string, string>, lockTimeoutSeconds?: number): string {
  const auth = `${encodeURIComponent(target.user)}${target.password ? `:${encodeURIComponent(target.password)}` : ''}`;
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  // libpq's options parameter: a setting for the session.
  const options: Record<string, string> = lockTimeoutSeconds ? { options: `-c lock_timeout=${Math.round(lockTimeoutSeconds * 1000)}` } : {};
  const libpq = `postgresql://${auth}@${host}:${target.port}/${encodeURIComponent(target.database)}?${query({ application_name: ALEMBIC_APPLICATION_NAME, ...tls, ...options })}`;
  return driver === 'asyncpg' ? `postgresql+asyncpg://?${query({ dsn: libpq })}` : libpq;
}

/** %20 rather than URLSearchParams' "+" for a space (a literal "+" is %2B either way). */
const query = (params: Record<string, string>) => new URLSearchParams(params).toString().replaceAll('+', '%20');

/**
 * psycopg2's (libpq's) TLS parameters, with private 0600 copies of the files: libpq refuses a key
 * that others can read, and the operator's copy may well be group-readable.
 */
async function privateTlsFiles(target: PostgresTarget, dir: string): Promise<Record<string, string>> {
  const tls = target.tls;
  if (!tls) return {};
  const params: Record<string, string> = { sslmode: tls.mode };
  for (const [param, file] of [
    ['sslrootcert', tls.ca],
    ['sslcert', tls.cert],
    ['sslkey', tls.key],
  ] as const) {
    if (!file) continue;
    const path = join(dir, param);
    await writeFile(path, file.pem, { mode: 0o600 });
    params[param] = path;
  }
  return params;
}

/** Where operators keep alembic.ini: beside manager.toml; else the working directory's. */
export function alembicConfigBeside(managerConfig: string | undefined): string {
  const beside = managerConfig ? join(dirname(managerConfig), 'alembic.ini') : undefined;
  return beside && existsSync(beside) ? beside : 'alembic.ini';
}
