/**
 * Every input of bai-migrate, described once: action.yml, `bai-migrate --help` and the validation
 * below all follow this list (a test keeps action.yml in step with it).
 */
import { invalidInput, MigrationError } from './errors.js';
import { decodeUrlPart, tryDecodeURIComponent } from './uri.js';
import { parseVersion, type VersionRef } from '../releases/catalogue.js';
import { compareLines } from '../releases/releases.js';
import { parseRetention, type Retention } from '../releases/retention.js';
import type { ManagerVenvOptions } from '../manager/venv.js';
import { readTlsFiles, type TlsFiles } from '../stores/tls.js';
import { parseSnapshotKey } from '../rehearsal/snapshot-seal.js';

export const COMMANDS = ['migrate', 'preflight', 'verify', 'plan', 'clear-history', 'snapshot', 'rehearse'] as const;
export type Command = (typeof COMMANDS)[number];

export const LOCK_BACKENDS = ['filelock', 'pg_advisory', 'etcd', 'redlock'] as const;
export type LockBackend = (typeof LOCK_BACKENDS)[number];

export interface InputSpec {
  readonly name: string;
  readonly description: string;
  readonly default?: string;
  /** Holds a secret: masked, and never echoed back in an error. */
  readonly secret?: boolean;
}

export const INPUTS: readonly InputSpec[] = [
  { name: 'command', default: 'migrate', description: `What to do: ${COMMANDS.join(', ')}.` },
  { name: 'from-version', description: 'Installed Backend.AI version, e.g. 21.09 or 21.09.9. Omit it to detect the version from alembic_version.' },
  { name: 'to-version', description: 'Backend.AI version to upgrade to, e.g. 22.03 (its latest patch) or 22.03.3.' },
  { name: 'retention', default: '1yr', description: 'How much history clear-history keeps, as for `backend.ai mgr clear-history -r`: 86400, 30m, 6h, 3d, 2w, 3mo, 1yr.' },
  { name: 'lock-backend', description: 'Value for [manager] distributed-lock in manager.toml: filelock, pg_advisory or etcd. Empty leaves the setting as it is.' },
  { name: 'dry-run', default: 'false', description: 'Check and report what would change, and write nothing anywhere.' },
  {
    name: 'manager-config',
    description:
      "Path to the manager's manager.toml. Connections default to its [db] and [etcd] sections. Empty: $BACKEND_CONFIG_FILE, ./manager.toml, ~/.config/backend.ai/manager.toml, /etc/backend.ai/manager.toml, if present.",
  },
  { name: 'postgres-url', secret: true, description: 'PostgreSQL URL (postgresql://user:password@host:port/database). Overrides [db] of manager.toml.' },
  {
    name: 'postgres-ca',
    description:
      "PEM file of the CA that signed PostgreSQL's server certificate. Given: every PostgreSQL connection (bai-migrate's and alembic's) uses TLS with sslmode=verify-full, unless postgres-url says ?sslmode=verify-ca or require.",
  },
  { name: 'postgres-client-cert', description: 'PEM file of a client certificate for PostgreSQL (with postgres-client-key), e.g. for pg_hba clientcert=verify-full.' },
  { name: 'postgres-client-key', description: 'PEM file of the private key of postgres-client-cert (unencrypted; alembic gets a private 0600 copy).' },
  { name: 'redis-url', secret: true, description: "Redis URL (redis://:password@host:port). Overrides etcd's config/redis." },
  { name: 'etcd-endpoints', description: 'etcd endpoints, comma- or newline-separated host:port. Overrides [etcd] addr of manager.toml.' },
  { name: 'etcd-namespace', description: 'etcd namespace of the deployment (keys live under /sorna/{namespace}/). Overrides [etcd] namespace.' },
  { name: 'etcd-user', description: 'etcd user. Overrides [etcd] user.' },
  { name: 'etcd-password', secret: true, description: 'etcd password. Overrides [etcd] password.' },
  { name: 'etcd-ca', description: "PEM file of the CA that signed etcd's server certificates. Given: etcd is reached over TLS (https://) and verified." },
  { name: 'etcd-client-cert', description: 'PEM file of a client certificate for etcd (with etcd-client-key), for an etcd run with --client-cert-auth.' },
  { name: 'etcd-client-key', description: 'PEM file of the private key of etcd-client-cert (unencrypted).' },
  { name: 'alembic-command', default: 'alembic', description: "How to run the manager's alembic, split on spaces and run without a shell, e.g. /opt/backend.ai/bin/alembic or python3 -m alembic." },
  {
    name: 'manager-venv',
    description:
      "A folder for a venv with backend.ai-manager==<to-version> from pip, made when it does not hold one yet; alembic and the manager's CLI then run from it (the Action caches it by release, Python and OS). preflight and dry runs make none: they check a venv an earlier run made, else say migrate will make it. Instead of alembic-command. For clear-history mode: manager, to-version names the installed release.",
  },
  {
    name: 'python',
    description:
      'manager-venv: the Python that makes the venv. Empty: the one the release is known to install and run on (21.09: 3.9; 22.09–23.09: 3.11; 25.6+: 3.13; see README), found on PATH as pythonX.Y or python3; a release none fits is refused, naming the Python it needs.',
  },
  { name: 'pip-args', description: 'manager-venv: more arguments for pip install, split on spaces, e.g. --index-url https://pypi.example.com/simple.' },
  { name: 'venv-system-site-packages', default: 'false', description: "manager-venv: let the venv see the system's Python packages (e.g. a distribution's psycopg2)." },
  {
    name: 'manager-command',
    description: "The manager's CLI for image-rescan and mode: manager, split on spaces and run without a shell. Empty: <manager-venv>/bin/backend.ai with manager-venv, else backend.ai.",
  },
  {
    name: 'image-rescan',
    default: 'false',
    description:
      "After the image import, run the manager's registry rescan (backend.ai mgr image rescan REGISTRY) for every registry in etcd config/docker/registry, then put back the admin-set resource limits it overwrites.",
  },
  {
    name: 'alembic-config',
    description:
      "The manager's alembic.ini. Empty: the one manager-venv writes, else alembic.ini beside manager.toml, else ./alembic.ini. bai-migrate runs alembic on a private copy whose sqlalchemy.url is the checked database.",
  },
  {
    name: 'alembic-lock-timeout',
    default: '60',
    description:
      "Seconds each of alembic's statements waits for a table lock (PostgreSQL lock_timeout on alembic's connection) before the schema step fails, naming the lock wait: a session that holds a table cannot keep the migration waiting for hours. alembic's transaction is then rolled back.",
  },
  {
    name: 'periodic-sync-stats',
    description: 'true or false: write [debug] periodic-sync-stats to manager.toml (22.03 otherwise writes kernels.last_stat only when a kernel terminates). Empty leaves it as it is.',
  },
  {
    name: 'skip-unusable-images',
    default: 'false',
    description:
      "Import etcd's image tree without the entries the 21.09 manager itself cannot use (preflight lists each with its key and why: no digest, no resource/ keys, a malformed reference, an alias loop); they stay in etcd and in the backup bundle. false: preflight fails on them.",
  },
  {
    name: 'prune-etcd-images',
    default: 'false',
    description: "After the image metadata is in PostgreSQL and verified, delete etcd's old images/ tree (22.03 no longer reads it). Its keys are in the backup bundle first.",
  },
  {
    name: 'redis-persistence',
    default: 'configure',
    description: 'configure: turn on AOF with CONFIG SET and CONFIG REWRITE; managed: persistence is configured elsewhere (managed Redis), only report it.',
  },
  {
    name: 'backup-dir',
    default: 'bai-migrate-backup',
    description: 'Folder for the backup bundle written before the first change (dropped column values, etcd image tree, manager.toml, Redis config).',
  },
  { name: 'batch-size', default: '1000', description: 'clear-history: kernel rows deleted per transaction (and Redis keys unlinked per call).' },
  {
    name: 'sweep-orphaned-stat-keys',
    default: 'false',
    description:
      'clear-history: also remove Redis DB 0 stat keys whose kernel row no longer exists (left by a killed run, an unreachable Redis, or a manager that failed to clean them), counted apart in swept-redis-keys. false: delete exactly what the manager deletes.',
  },
  { name: 'vacuum', default: 'none', description: 'clear-history: none, analyze (VACUUM ANALYZE kernels) or full (VACUUM FULL kernels, which locks the table) after deleting.' },
  {
    name: 'mode',
    default: 'bai-migrate',
    description:
      "clear-history: bai-migrate (batched, by bai-migrate itself) or manager (runs backend.ai mgr clear-history -r <retention> in the manager's environment and reads its log for the Redis failure it hides).",
  },
  { name: 'redis-failure', default: 'fail', description: 'clear-history: fail or warn when Redis cannot be cleaned (the manager silently ignores this); the database part is done either way.' },
  { name: 'allow-running-services', default: 'false', description: 'Turn the "managers and agents are stopped" checks into warnings. The report says so.' },
  {
    name: 'lock-timeout',
    default: '60',
    description:
      'Seconds migrate and snapshot wait for the migration lock (a PostgreSQL session advisory lock, held for the whole run; clear-history does not wait, it skips) before giving up and naming its holder.',
  },
  { name: 'connect-timeout', default: '10', description: 'Seconds to wait for each server to answer before reporting it unreachable.' },
  { name: 'report-file', default: 'bai-migrate-report.json', description: 'Where the JSON report is written; a missing folder is made first.' },
  {
    name: 'snapshot-file',
    default: 'bai-migrate-snapshot.jsonl.gz',
    description:
      'snapshot writes, and rehearse reads, this file: the schema, the rows of the tables the steps touch (secrets and personal data replaced), the etcd namespace without secrets, Redis settings and key counts, and a manifest.',
  },
  {
    name: 'snapshot-cache-key',
    description:
      'Action only: snapshot saves snapshot-file in the Actions cache as {key}#snapshot-{time}; rehearse restores the newest entry whose key starts with {key}#snapshot-. Give both the same snapshot-file and snapshot-key (required with it).',
  },
  {
    name: 'snapshot-key',
    secret: true,
    description:
      'A secret 256-bit key (64 hex digits or base64, e.g. from openssl rand -hex 32): snapshot seals snapshot-file with it (AES-256-GCM), rehearse verifies and decrypts it before using anything in it. Required with snapshot-cache-key; without it a snapshot is a plain file for your own disk.',
  },
  {
    name: 'rehearsal-servers',
    default: 'start',
    description:
      "rehearse: start (disposable PostgreSQL, Redis and etcd started with Testcontainers, matching the snapshot's release) or given (the workflow's service containers at postgres-url, redis-url and etcd-endpoints, which must be empty).",
  },
  {
    name: 'rehearsal-image',
    description: "rehearse: for runners without Docker Hub, one image with PostgreSQL, Redis and etcd from Debian's packages (scripts/testbed.sh builds it); it runs with host networking.",
  },
  { name: 'keep-rehearsal', default: 'false', description: 'rehearse: leave the restored database (and any servers it started) in place for inspection; the report says where they are.' },
  {
    name: 'github-token',
    secret: true,
    description:
      "rehearse: a token that may write pull-request comments (e.g. secrets.GITHUB_TOKEN with pull-requests: write). The rehearsal's comment is created or updated; without a token it is skipped with a notice.",
  },
];

/** The Action's outputs, set by src/action/main.ts. */
export const OUTPUTS: ReadonlyArray<{ readonly name: string; readonly description: string }> = [
  { name: 'outcome', description: 'success or failure.' },
  { name: 'from-version', description: 'The version the plan starts from, as given or detected (e.g. 21.09).' },
  { name: 'to-version', description: 'The exact target release (e.g. 22.03.14).' },
  { name: 'current-revision', description: 'alembic_version of the database when the run started.' },
  { name: 'target-revision', description: "The target release's alembic head revision." },
  { name: 'plan', description: 'JSON array of hops: [{hop, targetRevision, steps: [{id, title, action}]}].' },
  { name: 'report', description: 'The whole report as JSON: every step and phase with its status and detail.' },
  { name: 'report-file', description: 'Path of the JSON report file; empty when it could not be written (a warning says why).' },
  { name: 'cutoff', description: 'clear-history: the cutoff (ISO 8601, UTC); kernels terminated before it were deleted.' },
  { name: 'deleted-kernels', description: 'clear-history: kernel rows deleted (or that a dry run would delete).' },
  { name: 'deleted-redis-keys', description: 'clear-history: Redis stat keys of the deleted kernels removed (or that a dry run would remove).' },
  { name: 'swept-redis-keys', description: 'clear-history with sweep-orphaned-stat-keys: stat keys of kernels that no longer exist removed (or that a dry run would remove); empty otherwise.' },
  { name: 'snapshot-file', description: 'snapshot and rehearse: the path of the snapshot file.' },
  { name: 'comment-url', description: 'rehearse: the URL of the pull-request comment it created or updated.' },
];

export interface Options {
  readonly command: Command;
  readonly fromVersion?: VersionRef;
  readonly toVersion?: VersionRef;
  readonly retention: Retention;
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
  readonly redisPersistence: 'configure' | 'managed';
  readonly backupDir: string;
  readonly batchSize: number;
  readonly sweepOrphanedStatKeys: boolean;
  readonly vacuum: 'none' | 'analyze' | 'full';
  readonly redisFailure: 'fail' | 'warn';
  readonly allowRunningServices: boolean;
  readonly lockTimeoutSeconds: number;
  readonly alembicLockTimeoutSeconds: number;
  readonly connectTimeoutSeconds: number;
  readonly reportFile: string;
  readonly snapshotFile: string;
  readonly snapshotCacheKey?: string;
  /** 32 bytes: the snapshot is sealed with it, and must have been for rehearse. */
  readonly snapshotKey?: Buffer;
  readonly rehearsalServers: 'start' | 'given';
  readonly rehearsalImage?: string;
  readonly keepRehearsal: boolean;
  readonly githubToken?: string;
}

export type RawInputs = Readonly<Record<string, string | undefined>>;

/** The secrets among raw inputs, so that an adapter can mask them before anything is printed. */
export function secretInputs(raw: RawInputs): string[] {
  return INPUTS.filter((spec) => spec.secret)
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
    const value = raw[name]?.trim();
    if (value) return value;
    return INPUTS.find((spec) => spec.name === name)?.default;
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

  const command = attempt(() => oneOf('command', text('command')!, COMMANDS));
  const fromVersion = attempt(() => (text('from-version') ? parseVersion(text('from-version')!, 'from-version') : undefined));
  const toVersion = attempt(() => (text('to-version') ? parseVersion(text('to-version')!, 'to-version') : undefined));
  const retention = attempt(() => parseRetention(text('retention')!));
  const lockBackend = attempt(() => {
    const value = text('lock-backend');
    return value ? oneOf('lock-backend', value, LOCK_BACKENDS) : undefined;
  });
  const dryRun = attempt(() => bool('dry-run', text('dry-run')!));
  const allowRunningServices = attempt(() => bool('allow-running-services', text('allow-running-services')!));
  const lockTimeoutSeconds = attempt(() => seconds('lock-timeout', text('lock-timeout')!));
  const alembicLockTimeoutSeconds = attempt(() => seconds('alembic-lock-timeout', text('alembic-lock-timeout')!));
  const connectTimeoutSeconds = attempt(() => seconds('connect-timeout', text('connect-timeout')!));
  const postgresUrl = attempt(() => url('postgres-url', text('postgres-url'), ['postgresql:', 'postgres:', 'postgresql+asyncpg:', 'postgresql+psycopg2:']));
  const postgresTls = attempt(() => readTlsFiles('postgres', { ca: text('postgres-ca'), cert: text('postgres-client-cert'), key: text('postgres-client-key') }));
  const etcdTls = attempt(() => readTlsFiles('etcd', { ca: text('etcd-ca'), cert: text('etcd-client-cert'), key: text('etcd-client-key') }));
  const redisUrl = attempt(() => url('redis-url', text('redis-url'), ['redis:']));
  const etcdEndpoints = attempt(() => endpoints(text('etcd-endpoints')));
  const periodicSyncStats = attempt(() => (text('periodic-sync-stats') ? bool('periodic-sync-stats', text('periodic-sync-stats')!) : undefined));
  const pruneEtcdImages = attempt(() => bool('prune-etcd-images', text('prune-etcd-images')!));
  const skipUnusableImages = attempt(() => bool('skip-unusable-images', text('skip-unusable-images')!));
  const sweepOrphanedStatKeys = attempt(() => bool('sweep-orphaned-stat-keys', text('sweep-orphaned-stat-keys')!));
  const redisPersistence = attempt(() => oneOf('redis-persistence', text('redis-persistence')!, ['configure', 'managed'] as const));
  const batchSize = attempt(() => {
    const value = text('batch-size')!;
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 100_000) throw invalidInput(`batch-size "${value}" is not accepted; accepted: a whole number from 1 to 100000`);
    return Number(value);
  });
  const vacuum = attempt(() => oneOf('vacuum', text('vacuum')!, ['none', 'analyze', 'full'] as const));
  const redisFailure = attempt(() => oneOf('redis-failure', text('redis-failure')!, ['fail', 'warn'] as const));
  const keepRehearsal = attempt(() => bool('keep-rehearsal', text('keep-rehearsal')!));
  const systemSitePackages = attempt(() => bool('venv-system-site-packages', text('venv-system-site-packages')!));
  if (text('manager-venv') && raw['alembic-command']?.trim()) {
    problems.push('manager-venv and alembic-command are both set; accepted: one of them (manager-venv makes the venv alembic runs from)');
  }
  const imageRescan = attempt(() => bool('image-rescan', text('image-rescan')!));
  const clearHistoryMode = attempt(() => oneOf('mode', text('mode')!, ['bai-migrate', 'manager'] as const));
  const rehearsalServers = attempt(() => oneOf('rehearsal-servers', text('rehearsal-servers')!, ['start', 'given'] as const));
  const snapshotKey = attempt(() => (text('snapshot-key') ? parseSnapshotKey(text('snapshot-key')!) : undefined));
  if (text('snapshot-cache-key') && !text('snapshot-key')) {
    // Every workflow run of the repository, pull requests from forks included, may restore the cache.
    problems.push(
      'snapshot-cache-key is set without snapshot-key: a snapshot in the Actions cache must be sealed, since pull requests can restore it; accepted: snapshot-key from a secret, e.g. snapshot-key: ${{ secrets.BACKENDAI_SNAPSHOT_KEY }} holding the output of `openssl rand -hex 32` (pull requests from forks get no secrets, so they cannot rehearse)',
    );
  }
  const etcdNamespace = text('etcd-namespace');
  if (etcdNamespace !== undefined && !/^[A-Za-z0-9_.-]+$/.test(etcdNamespace)) {
    problems.push(`etcd-namespace "${etcdNamespace}" may hold only letters, digits, ".", "_" and "-"`);
  }

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
    throw invalidInput(problems.length === 1 ? problems[0]! : `invalid inputs:\n- ${problems.join('\n- ')}`);
  }
  return {
    command: command!,
    fromVersion,
    toVersion,
    retention: retention!,
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
    redisPersistence: redisPersistence!,
    backupDir: text('backup-dir')!,
    batchSize: batchSize!,
    sweepOrphanedStatKeys: sweepOrphanedStatKeys!,
    vacuum: vacuum!,
    redisFailure: redisFailure!,
    allowRunningServices: allowRunningServices!,
    lockTimeoutSeconds: lockTimeoutSeconds!,
    alembicLockTimeoutSeconds: alembicLockTimeoutSeconds!,
    connectTimeoutSeconds: connectTimeoutSeconds!,
    reportFile: text('report-file')!,
    snapshotFile: text('snapshot-file')!,
    snapshotCacheKey: text('snapshot-cache-key'),
    snapshotKey,
    rehearsalServers: rehearsalServers!,
    rehearsalImage: text('rehearsal-image'),
    keepRehearsal: keepRehearsal!,
    githubToken: text('github-token'),
  };
}

function oneOf<T extends string>(name: string, value: string, accepted: readonly T[]): T {
  if ((accepted as readonly string[]).includes(value)) return value as T;
  throw invalidInput(`${name} "${value}" is not accepted; accepted: ${accepted.join(', ')}`);
}

function bool(name: string, value: string): boolean {
  if (/^(true|True|TRUE)$/.test(value)) return true;
  if (/^(false|False|FALSE)$/.test(value)) return false;
  throw invalidInput(`${name} "${value}" is not a boolean; accepted: true, false`);
}

function seconds(name: string, value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n <= 0 || n > 86400) {
    throw invalidInput(`${name} "${value}" is not accepted; accepted: a number of seconds greater than 0 and at most 86400`);
  }
  return n;
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
  // Refused here with every other input problem, not later when connecting.
  decodeUrlPart(parsed.username, name, 'user name');
  decodeUrlPart(parsed.password, name, 'password');
  if (name === 'postgres-url') decodeUrlPart(parsed.pathname.replace(/^\//, ''), name, 'database name');
  return value;
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
