/**
 * Raw inputs (the Action's, the CLI's) to validated options: every problem is found before anything
 * is read or written, and reported at once. Booleans, choices and numbers are checked by their kind
 * in spec.ts; the rest (versions, URLs, files) by their own parsers.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { invalidInput, invalidInputs, MigrationError } from '../core/errors.js';
import { decodeUrlPart, tryDecodeURIComponent } from '../core/uri.js';
import { parseVersion, type VersionRef } from '../releases/catalogue.js';
import { compareLines } from '../releases/releases.js';
import { parseRetention, type Retention } from '../releases/retention.js';
import { readTlsFiles, type TlsFiles } from './tls-files.js';
import { parseSnapshotKey } from './snapshot-key.js';
import {
  acceptedText,
  CLEAR_HISTORY_MODES,
  COMMANDS,
  FROM_MANAGER_CONFIG,
  inputSpec,
  INPUTS,
  LOCK_BACKENDS,
  REDIS_FAILURE_MODES,
  REDIS_PERSISTENCE,
  REHEARSAL_SERVERS,
  VACUUM_MODES,
  type Command,
  type InputSpec,
  type LockBackend,
  type NumberRange,
  usedByText,
} from './spec.js';

/** manager-venv and the inputs that shape its venvs (manager/venv.ts makes them). */
export interface ManagerVenvOptions {
  readonly dir: string;
  /** Given by the operator; otherwise chosen per release (chooseInterpreter). */
  readonly python?: string;
  readonly pipArgs: readonly string[];
  readonly systemSitePackages: boolean;
}

export interface Options {
  readonly command: Command;
  readonly fromVersion?: VersionRef;
  readonly toVersion?: VersionRef;
  readonly retention: Retention;
  /** The retention may be under one day (it was checked against this already). */
  readonly allowShortRetention: boolean;
  readonly lockBackend?: LockBackend;
  readonly dryRun: boolean;
  readonly managerConfig?: string;
  readonly postgresUrl?: string;
  readonly postgresTls?: TlsFiles;
  readonly redisUrl?: string;
  readonly etcdEndpoints: readonly string[];
  readonly etcdNamespace?: string;
  readonly etcdUser?: string;
  readonly etcdPassword?: string;
  readonly etcdTls?: TlsFiles;
  readonly alembicCommand: readonly string[];
  readonly alembicConfig?: string;
  readonly managerVenv?: ManagerVenvOptions;
  /** Given explicitly; otherwise the venv's backend.ai, else backend.ai on PATH. */
  readonly managerCommand?: readonly string[];
  readonly imageRescan: boolean;
  readonly clearHistoryMode: 'bai-migrate' | 'manager';
  readonly periodicSyncStats?: boolean;
  readonly skipUnusableImages: boolean;
  readonly pruneEtcdImages: boolean;
  readonly dropDuplicateImages: boolean;
  readonly redisPersistence: 'configure' | 'managed';
  readonly backupDir: string;
  readonly batchSize: number;
  readonly sweepOrphanedStatKeys: boolean;
  readonly vacuum: 'none' | 'analyze' | 'full';
  readonly redisFailure: 'fail' | 'warn';
  readonly allowRunningServices: boolean;
  /** start-manager: the manager-starts step starts the target release's manager at the end of the run. */
  readonly startManager: boolean;
  /**
   * Set by rehearse for its inner runs (never an input): the deployment is a disposable copy, so
   * manager-starts starts the manager whatever start-manager says, after pointing the copy's
   * outward addresses at loopback.
   */
  readonly disposableCopy?: boolean;
  readonly lockTimeoutSeconds: number;
  readonly alembicLockTimeoutSeconds: number;
  readonly connectTimeoutSeconds: number;
  readonly reportFile: string;
  readonly summaryFile?: string;
  readonly snapshotFile: string;
  readonly snapshotCacheKey?: string;
  /** 32 bytes: the snapshot is sealed with it, and must have been for rehearse. */
  readonly snapshotKey?: Buffer;
  readonly rehearsalServers: 'start' | 'given';
  readonly rehearsalImage?: string;
  readonly keepRehearsal: boolean;
  readonly measureGrowth: boolean;
  readonly githubToken?: string;
}

export type RawInputs = Readonly<Record<string, string | undefined>>;

/** The secrets among raw inputs, so that an adapter can mask them before anything is printed. */
export function secretInputs(raw: RawInputs): string[] {
  return INPUTS.filter((spec) => spec.kind === 'secret')
    .map((spec) => raw[spec.name]?.trim() ?? '')
    .filter((value) => value !== '')
    .flatMap((value) => [value, ...secretsInUrl(value)]);
}

export function secretsInUrl(value: string): string[] {
  try {
    const url = new URL(value);
    // A password that is not valid percent-encoding is refused later; it is masked as written.
    return [url.password, tryDecodeURIComponent(url.password) ?? ''].filter((p) => p !== '');
  } catch {
    return [];
  }
}

/**
 * Inputs given to a command that does not read them, one warning each: workflows often pass one
 * set of inputs to every command, so they are ignored rather than refused. A value equal to the
 * default counts as not given (the Action hands every default over as if given).
 */
export function unusedInputs(raw: RawInputs, command: Command): string[] {
  return INPUTS.filter((spec) => !spec.usedBy.includes(command))
    .filter((spec) => {
      const value = raw[spec.name]?.trim();
      return value !== undefined && value !== '' && value !== spec.default;
    })
    .map((spec) => `input ${spec.name} is ignored: command ${command} does not use it (${usedByText(spec)})`);
}

/**
 * Validates every input before anything is read or written, and reports all problems at once.
 * `raw` maps input names (as in action.yml) to their text; empty means "not given".
 */
export function parseOptions(raw: RawInputs): Options {
  const problems: string[] = [];
  const known = new Set(INPUTS.map((spec) => spec.name));
  for (const name of Object.keys(raw)) {
    if (!known.has(name) && raw[name] !== undefined) problems.push(`unknown input "${name}"; accepted: ${[...known].join(', ')}`);
  }
  const text = (name: string): string | undefined => {
    const spec = inputSpec(name);
    const value = raw[name]?.trim() || spec?.default;
    // A path may start at the home folder, as a shell would read it (backup-dir's default does).
    return value !== undefined && spec?.kind === 'path' ? expandHome(value) : value;
  };
  const attempt = <T>(parse: () => T): T | undefined => {
    try {
      return parse();
    } catch (error) {
      if (!(error instanceof MigrationError)) throw error;
      problems.push(error.message);
      return undefined;
    }
  };

  // Booleans, choices and numbers by their kind in spec.ts; undefined when empty without a default.
  const flag = (name: string): boolean | undefined => typed(name, text(name), 'boolean');
  const choice = <T extends string>(name: string, _values: readonly T[]): T | undefined => typed(name, text(name), 'enum') as T | undefined;
  const number = (name: string): number | undefined => typed(name, text(name), 'number');

  const command = attempt(() => choice('command', COMMANDS));
  const fromVersion = attempt(() => (text('from-version') ? parseVersion(text('from-version')!, 'from-version') : undefined));
  const toVersion = attempt(() => (text('to-version') ? parseVersion(text('to-version')!, 'to-version') : undefined));
  const allowShortRetention = attempt(() => flag('allow-short-retention'));
  const retention = attempt(() => parseRetention(text('retention')!, { allowShort: allowShortRetention }));
  const lockBackend = attempt(() => choice('lock-backend', LOCK_BACKENDS));
  const dryRun = attempt(() => flag('dry-run'));
  const allowRunningServices = attempt(() => flag('allow-running-services'));
  const startManager = attempt(() => flag('start-manager'));
  const lockTimeoutSeconds = attempt(() => number('lock-timeout'));
  const alembicLockTimeoutSeconds = attempt(() => number('alembic-lock-timeout'));
  const connectTimeoutSeconds = attempt(() => number('connect-timeout'));
  const postgresUrl = attempt(() => url('postgres-url', text('postgres-url'), ['postgresql:', 'postgres:', 'postgresql+asyncpg:', 'postgresql+psycopg2:']));
  const postgresTls = attempt(() => readTlsFiles('postgres', { ca: text('postgres-ca'), cert: text('postgres-client-cert'), key: text('postgres-client-key') }));
  const etcdTls = attempt(() => readTlsFiles('etcd', { ca: text('etcd-ca'), cert: text('etcd-client-cert'), key: text('etcd-client-key') }));
  const redisUrl = attempt(() => url('redis-url', text('redis-url'), ['redis:']));
  const etcdEndpoints = attempt(() => endpoints(text('etcd-endpoints')));
  const periodicSyncStats = attempt(() => flag('periodic-sync-stats'));
  const pruneEtcdImages = attempt(() => flag('prune-etcd-images'));
  const dropDuplicateImages = attempt(() => flag('drop-duplicate-images'));
  const skipUnusableImages = attempt(() => flag('skip-unusable-images'));
  const sweepOrphanedStatKeys = attempt(() => flag('sweep-orphaned-stat-keys'));
  const redisPersistence = attempt(() => choice('redis-persistence', REDIS_PERSISTENCE));
  const batchSize = attempt(() => number('batch-size'));
  const vacuum = attempt(() => choice('vacuum', VACUUM_MODES));
  const redisFailure = attempt(() => choice('redis-failure', REDIS_FAILURE_MODES));
  const keepRehearsal = attempt(() => flag('keep-rehearsal'));
  const measureGrowth = attempt(() => flag('measure-growth'));
  const systemSitePackages = attempt(() => flag('venv-system-site-packages'));
  if (text('manager-venv') && raw['alembic-command']?.trim()) {
    problems.push('manager-venv and alembic-command are both set; accepted: one of them (manager-venv makes the venv alembic runs from)');
  }
  const imageRescan = attempt(() => flag('image-rescan'));
  const clearHistoryMode = attempt(() => choice('mode', CLEAR_HISTORY_MODES));
  const rehearsalServers = attempt(() => choice('rehearsal-servers', REHEARSAL_SERVERS));
  const snapshotKey = attempt(() => (text('snapshot-key') ? parseSnapshotKey(text('snapshot-key')!) : undefined));
  if (text('snapshot-cache-key') && !text('snapshot-key')) {
    // Every workflow run of the repository, pull requests from forks included, may restore the cache.
    problems.push(
      'snapshot-cache-key is set without snapshot-key: a snapshot in the Actions cache must be sealed, since pull requests can restore it; accepted: snapshot-key from a secret, e.g. snapshot-key: ${{ secrets.BACKENDAI_SNAPSHOT_KEY }} holding the output of `openssl rand -hex 32` (pull requests from forks get no secrets, so they cannot rehearse)',
    );
  }
  const etcdNamespace = attempt(() => namespace(raw['etcd-namespace']));

  if (fromVersion && toVersion && isDowngrade(fromVersion, toVersion)) {
    problems.push(`from-version ${fromVersion.input} is newer than to-version ${toVersion.input}: bai-migrate only upgrades; accepted: a to-version after ${fromVersion.input}`);
  }
  if (command === 'rehearse' && rehearsalServers === 'given') {
    const missing = (['postgres-url', 'redis-url', 'etcd-endpoints'] as const).filter((name) => !text(name));
    if (missing.length > 0) problems.push(`rehearsal-servers: given needs ${missing.join(', ')} (the disposable servers to restore into)`);
  }
  if (command && !['clear-history', 'snapshot'].includes(command) && !toVersion && !problems.some((p) => p.startsWith('to-version'))) {
    problems.push(`to-version is required for command "${command}", e.g. to-version: 22.03`);
  }
  if (problems.length > 0) {
    throw invalidInputs(problems);
  }
  return {
    command: command!,
    fromVersion,
    toVersion,
    retention: retention!,
    allowShortRetention: allowShortRetention!,
    lockBackend,
    dryRun: dryRun!,
    managerConfig: text('manager-config'),
    postgresUrl,
    postgresTls,
    redisUrl,
    etcdEndpoints: etcdEndpoints!,
    etcdNamespace,
    etcdUser: text('etcd-user'),
    etcdPassword: text('etcd-password'),
    etcdTls,
    alembicCommand: text('alembic-command')!.split(/\s+/),
    alembicConfig: text('alembic-config'),
    managerCommand: text('manager-command')?.split(/\s+/),
    imageRescan: imageRescan!,
    clearHistoryMode: clearHistoryMode!,
    managerVenv: text('manager-venv') ? { dir: text('manager-venv')!, python: text('python'), pipArgs: text('pip-args')?.split(/\s+/) ?? [], systemSitePackages: systemSitePackages! } : undefined,
    periodicSyncStats,
    skipUnusableImages: skipUnusableImages!,
    pruneEtcdImages: pruneEtcdImages!,
    dropDuplicateImages: dropDuplicateImages!,
    redisPersistence: redisPersistence!,
    backupDir: text('backup-dir')!,
    batchSize: batchSize!,
    sweepOrphanedStatKeys: sweepOrphanedStatKeys!,
    vacuum: vacuum!,
    redisFailure: redisFailure!,
    allowRunningServices: allowRunningServices!,
    startManager: startManager!,
    lockTimeoutSeconds: lockTimeoutSeconds!,
    alembicLockTimeoutSeconds: alembicLockTimeoutSeconds!,
    connectTimeoutSeconds: connectTimeoutSeconds!,
    reportFile: text('report-file')!,
    summaryFile: text('summary-file'),
    snapshotFile: text('snapshot-file')!,
    snapshotCacheKey: text('snapshot-cache-key'),
    snapshotKey,
    rehearsalServers: rehearsalServers!,
    rehearsalImage: text('rehearsal-image'),
    keepRehearsal: keepRehearsal!,
    measureGrowth: measureGrowth!,
    githubToken: text('github-token'),
  };
}

/** The value of a boolean, enum or number input, checked against its spec; undefined when empty. */
function typed(name: string, value: string | undefined, kind: 'boolean'): boolean | undefined;
function typed(name: string, value: string | undefined, kind: 'enum'): string | undefined;
function typed(name: string, value: string | undefined, kind: 'number'): number | undefined;
function typed(name: string, value: string | undefined, kind: 'boolean' | 'enum' | 'number'): boolean | string | number | undefined {
  const spec = inputSpec(name);
  if (spec?.kind !== kind) throw new Error(`bug: input ${name} is not of kind ${kind}`);
  return value === undefined ? undefined : checkKind(spec, value);
}

/**
 * Checks a value by its input's kind: true/false (in the three spellings YAML 1.2 knows, as
 * @actions/core getBooleanInput does), one of an enum's values, a number in its range. Other kinds
 * come back as they are: their own parsers check them.
 */
export function checkKind(spec: InputSpec, value: string): string | boolean | number {
  switch (spec.kind) {
    case 'boolean':
      if (/^(true|True|TRUE)$/.test(value)) return true;
      if (/^(false|False|FALSE)$/.test(value)) return false;
      throw invalidInput(`${spec.name} "${value}" is not a boolean; accepted: ${acceptedText(spec)}`);
    case 'enum':
      if (spec.values.includes(value)) return value;
      throw invalidInput(`${spec.name} "${value}" is not accepted; accepted: ${acceptedText(spec)}`);
    case 'number':
      if (inRange(value, spec.range)) return Number(value);
      throw invalidInput(`${spec.name} "${value}" is not accepted; accepted: ${acceptedText(spec)}`);
    default:
      return value;
  }
}

/** Plain decimal notation only: "1e3", "0x10" or " 5" are refused rather than read as a surprise. */
function inRange(value: string, range: NumberRange): boolean {
  if (!(range.integer ? /^\d+$/ : /^\d+(\.\d+)?$/).test(value)) return false;
  const n = Number(value);
  return (range.aboveMin ? n > range.min : n >= range.min) && n <= range.max;
}

function url(name: string, value: string | undefined, protocols: string[]): string | undefined {
  if (value === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    // The value may hold a password: never repeat it.
    throw invalidInput(`${name} is not a valid URL; accepted: ${protocols[0]}//user:password@host:port${name === 'postgres-url' ? '/database' : ''}`);
  }
  if (!protocols.includes(parsed.protocol) || parsed.hostname === '') {
    throw invalidInput(
      `${name} must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL with a host; accepted: ${protocols[0]}//user:password@host:port${name === 'postgres-url' ? '/database' : ''}`,
    );
  }
  if (name === 'redis-url' && !['', '/'].includes(parsed.pathname)) {
    // The path is not echoed: it is part of a secret input. Backend.AI keeps each kind of data in its own database.
    throw invalidInput(
      "redis-url has a path (a database number such as /2), which bai-migrate would ignore: it picks the manager's fixed database numbers itself; accepted: redis://user:password@host:port, without a path",
    );
  }
  // Refused here with every other input problem, not later when connecting.
  decodeUrlPart(parsed.username, name, 'user name');
  decodeUrlPart(parsed.password, name, 'password');
  if (name === 'postgres-url') decodeUrlPart(parsed.pathname.replace(/^\//, ''), name, 'database name');
  return value;
}

/**
 * etcd-namespace, undefined for manager.toml's: not given, or its default. Given empty is refused, not
 * taken as "not given": on GitHub an unset variable (${{ vars.X }}) gives an empty value, and
 * manager.toml's namespace may be another deployment's.
 */
function namespace(value: string | undefined): string | undefined {
  const text = value?.trim();
  if (text === undefined || text === FROM_MANAGER_CONFIG) return undefined;
  const accepted = `accepted: letters, digits, ".", "_" and "-" (e.g. local), or ${FROM_MANAGER_CONFIG} (the default) for manager.toml's [etcd] namespace`;
  if (text === '') throw invalidInput(`etcd-namespace is empty (as an unset workflow variable gives it); ${accepted}`);
  if (!/^[A-Za-z0-9_.-]+$/.test(text)) throw invalidInput(`etcd-namespace "${text}" may hold only letters, digits, ".", "_" and "-"; ${accepted}`);
  return text;
}

function endpoints(value: string | undefined): string[] {
  if (value === undefined) return [];
  const list = value.split(/[\s,]+/).filter((e) => e !== '');
  for (const endpoint of list) {
    if (!/^(https?:\/\/)?[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(endpoint)) {
      throw invalidInput(`etcd-endpoints entry "${endpoint}" is not host:port; accepted: host:port or http://host:port, separated by commas or newlines`);
    }
  }
  return list;
}

function isDowngrade(from: VersionRef, to: VersionRef): boolean {
  const bySeries = compareLines(from.series, to.series);
  if (bySeries !== 0) return bySeries > 0;
  return from.release !== undefined && to.release !== undefined && from.release.patch > to.release.patch;
}

/** "~/x" and "~" as a shell reads them; "~user" is not (no shell here to ask). */
export function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}
