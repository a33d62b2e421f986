/**
 * Every input of bai-migrate, described once with its kind, the values it accepts and the commands
 * that read it: parse.ts validates by it, and action.yml, the README tables and `bai-migrate --help`
 * are made from it (a test keeps action.yml in step with it).
 */
import { LOCK_BACKENDS } from '../releases/lock-backends.js';
import { FROM_MANAGER_CONFIG, parseEndpoints, parseNamespace, parsePostgresUrl, parseRedisUrl } from './own-parsers.js';
import { parseSnapshotKey } from './snapshot-key.js';
import { parseRetentionPolicyChanges } from '../releases/retention-policy-changes.js';

export const COMMANDS = ['migrate', 'preflight', 'verify', 'plan', 'clear-history', 'snapshot', 'rehearse'] as const;
export type Command = (typeof COMMANDS)[number];

export { LOCK_BACKENDS, type LockBackend } from '../releases/lock-backends.js';
export const REDIS_PERSISTENCE = ['configure', 'managed'] as const;
export const VACUUM_MODES = ['none', 'analyze', 'full'] as const;
export const CLEAR_HISTORY_MODES = ['bai-migrate', 'manager'] as const;
export const REDIS_FAILURE_MODES = ['fail', 'warn'] as const;
export const REHEARSAL_SERVERS = ['start', 'given'] as const;
export const UNKNOWN_HEAD_ROUTES = ['auto', 'downgrade', 'apply-missing'] as const;
export { FROM_MANAGER_CONFIG } from './own-parsers.js';

/** A number input's range; `aboveMin` excludes min itself (a timeout of 0 would never wait). */
export interface NumberRange {
  readonly min: number;
  readonly max: number;
  readonly integer?: boolean;
  readonly aboveMin?: boolean;
  readonly unit?: 'seconds';
}

/**
 * An input's kind says what it accepts and, in `Options`, the type of its value (`KindValue` in
 * parse.ts): boolean, number, one of an enum's values, a version (`VersionRef`), a retention, a
 * list of strings, else the text itself; an entry's own `parse` reads it instead. A list separated by commas or newlines is `[]` when empty;
 * one separated by spaces (a command line, its arguments) is then not given, so a default can stand in.
 */
export type InputKind =
  | { readonly kind: 'string' | 'boolean' | 'path' | 'version' | 'retention' }
  /** Holds a secret: masked, and never echoed back in an error. */
  | { readonly kind: 'secret' }
  | { readonly kind: 'number'; readonly range: NumberRange }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'list'; readonly separator: 'spaces' | 'commas or newlines' };

export type InputSpec = InputKind & {
  readonly name: string;
  readonly description: string;
  /** Given, the input's field in `Options` is never undefined. */
  readonly default?: string;
  /** The commands that read it; given to another command it is ignored, with a warning. */
  readonly usedBy: readonly Command[];
  /** Its field in `Options`, when not the name in camelCase (lock-timeout: lockTimeoutSeconds). */
  readonly key?: string;
  /**
   * Its own reading of a value given (or its default), instead of its kind's: it throws invalidInput
   * naming what is wrong, and its field in `Options` has the type it returns.
   */
  readonly parse?: (value: string) => unknown;
  /**
   * `parse` sees the value as given: an empty one too, and the default is not put in for it (the
   * field is then undefined when not given). For an input whose empty value is a mistake to name.
   */
  readonly asGiven?: true;
  /**
   * The field of `Options` that parse.ts builds from this input together with others (the TLS
   * files, the manager venv): the input then has no field of its own.
   */
  readonly into?: string;
};

const SECONDS: NumberRange = { min: 0, max: 86400, aboveMin: true, unit: 'seconds' };
/** The commands that make a plan from from-version and to-version. */
const PLANNED: readonly Command[] = ['migrate', 'preflight', 'verify', 'plan', 'rehearse'];
/** The commands whose steps read the per-step inputs (rehearse runs migrate and verify inside). */
const STEPS: readonly Command[] = ['migrate', 'preflight', 'verify', 'rehearse'];
/** The commands that reach the production deployment (plan only its PostgreSQL). */
const PRODUCTION: readonly Command[] = ['migrate', 'preflight', 'verify', 'plan', 'clear-history', 'snapshot'];
const ALL_SERVERS: readonly Command[] = ['migrate', 'preflight', 'verify', 'clear-history', 'snapshot'];
/** alembic runs in migrate; preflight checks that it starts. */
const ALEMBIC: readonly Command[] = ['migrate', 'preflight', 'rehearse'];
/** The commands that make a manager venv, or (preflight) check one. */
const VENV: readonly Command[] = ['migrate', 'preflight', 'clear-history', 'rehearse'];
const SNAPSHOTS: readonly Command[] = ['snapshot', 'rehearse'];

/** The inputs, each with its literal types: `Options` is derived from this (parse.ts). */
const DECLARED_INPUTS = [
  { name: 'command', kind: 'enum', values: COMMANDS, usedBy: COMMANDS, default: 'migrate', description: `What to do: ${COMMANDS.join(', ')}.` },
  { name: 'from-version', kind: 'version', usedBy: PLANNED, description: 'Installed Backend.AI version, e.g. 21.09 or 21.09.9. Omit it to detect the version from alembic_version.' },
  {
    name: 'to-version',
    kind: 'version',
    usedBy: ['migrate', 'preflight', 'verify', 'plan', 'clear-history', 'rehearse'],
    description: 'Backend.AI version to upgrade to, e.g. 22.03 (its latest patch) or 22.03.3.',
  },
  {
    name: 'unknown-head-route',
    kind: 'enum',
    values: UNKNOWN_HEAD_ROUTES,
    default: 'auto',
    usedBy: PLANNED,
    description:
      "Which way a database goes on whose alembic head the next line's scripts lack: 24.09.6–24.09.14's ecc9f6322be4, which 24.12 and 25.1 lack. downgrade: 24.09.14's alembic downgrades to e9e574a6e22d, then one hop per line; the downgrade stops on endpoints whose image is gone and vfolder names over 64 characters. apply-missing (to-version 25.5 or later): straight to 25.5, applying every 25.5 revision the database lacks with 25.5's alembic, then the other steps of 24.12 to 25.5 (the overlay network move and the rest). auto: apply-missing when the database is there and has rows the downgrade would stop on, else downgrade; the plan says which and why.",
  },
  {
    name: 'retention',
    kind: 'retention',
    usedBy: ['clear-history'],
    default: '1yr',
    description: 'How much history clear-history keeps, as for `backend.ai mgr clear-history -r`: 86400, 3d, 2w, 3mo, 1yr; from one day to 100 years (under a day needs allow-short-retention).',
  },
  {
    name: 'retention-policies',
    kind: 'string',
    parse: parseRetentionPolicyChanges,
    usedBy: ['clear-history'],
    description:
      "clear-history from 26.8.0, whose manager sweeps its retention policies (one per category) and lets `retention` govern only the Redis part: policies to change before the sweep, as category=duration (enable it with that retention), category=on (enable it as it is) or category=off, separated by commas or newlines, e.g. sessions=90d, logs=1yr, usage_records=off. Categories: logs, login, reconcile_history, roles_invitations, deployments, sessions, usage_records, usage_buckets; durations as retention's, from one day. Each change is reported before and after; a dry run writes none and counts as if they were made. Empty: no policy is changed (retention never changes one). Refused for an older release.",
  },
  {
    name: 'allow-short-retention',
    kind: 'boolean',
    usedBy: ['clear-history'],
    default: 'false',
    description: 'clear-history: accept a retention under one day (e.g. 6h or 3600), which deletes kernels that finished only hours ago. false: such a retention is refused as a likely mistake.',
  },
  {
    name: 'lock-backend',
    kind: 'enum',
    values: LOCK_BACKENDS,
    usedBy: STEPS,
    description:
      'Value for [manager] distributed-lock in manager.toml. Each hop checks it against its target release (redlock from 22.09, etcetra only in 24.03.3–25.5). Empty leaves the setting as it is; an etcetra there is refused before a hop into 25.6 or later.',
  },
  { name: 'dry-run', kind: 'boolean', usedBy: ['migrate', 'clear-history'], default: 'false', description: 'Check and report what would change, and write nothing anywhere.' },
  {
    name: 'manager-config',
    kind: 'path',
    usedBy: [...PRODUCTION, 'rehearse'],
    description:
      "Path to the manager's manager.toml. Connections default to its [db] and [etcd] sections. Empty: $BACKEND_CONFIG_FILE, ./manager.toml, ~/.config/backend.ai/manager.toml, /etc/backend.ai/manager.toml, if present.",
  },
  {
    name: 'postgres-url',
    kind: 'secret',
    parse: parsePostgresUrl,
    usedBy: [...PRODUCTION, 'rehearse'],
    description: 'PostgreSQL URL (postgresql://user:password@host:port/database). Overrides [db] of manager.toml.',
  },
  {
    name: 'postgres-ca',
    into: 'postgresTls',
    kind: 'path',
    usedBy: PRODUCTION,
    description:
      "PEM file of the CA that signed PostgreSQL's server certificate. Given: every PostgreSQL connection (bai-migrate's and alembic's) uses TLS with sslmode=verify-full, unless postgres-url says ?sslmode=verify-ca or require.",
  },
  {
    name: 'postgres-client-cert',
    into: 'postgresTls',
    kind: 'path',
    usedBy: PRODUCTION,
    description: 'PEM file of a client certificate for PostgreSQL (with postgres-client-key), e.g. for pg_hba clientcert=verify-full.',
  },
  {
    name: 'postgres-client-key',
    into: 'postgresTls',
    kind: 'path',
    usedBy: PRODUCTION,
    description: 'PEM file of the private key of postgres-client-cert (unencrypted; alembic gets a private 0600 copy).',
  },
  {
    name: 'redis-url',
    kind: 'secret',
    parse: parseRedisUrl,
    usedBy: [...ALL_SERVERS, 'rehearse'],
    description: "Redis URL (redis://:password@host:port), without a database number: bai-migrate uses the manager's own ones. Overrides etcd's config/redis.",
  },
  {
    name: 'etcd-endpoints',
    kind: 'list',
    separator: 'commas or newlines',
    parse: parseEndpoints,
    usedBy: [...ALL_SERVERS, 'rehearse'],
    description: 'etcd endpoints, comma- or newline-separated host:port. Overrides [etcd] addr of manager.toml.',
  },
  {
    name: 'etcd-namespace',
    kind: 'string',
    parse: parseNamespace,
    asGiven: true,
    usedBy: ALL_SERVERS,
    // A default the Action's runner hands over when the workflow gives none: an empty value is then one the workflow gave.
    default: FROM_MANAGER_CONFIG,
    description: `etcd namespace of the deployment (keys live under /sorna/{namespace}/). Overrides [etcd] namespace of manager.toml, which ${FROM_MANAGER_CONFIG} (the default) reads. An empty value (as an unset workflow variable gives) is refused.`,
  },
  { name: 'etcd-user', kind: 'string', usedBy: ALL_SERVERS, description: 'etcd user. Overrides [etcd] user.' },
  { name: 'etcd-password', kind: 'secret', usedBy: ALL_SERVERS, description: 'etcd password. Overrides [etcd] password.' },
  {
    name: 'etcd-ca',
    into: 'etcdTls',
    kind: 'path',
    usedBy: ALL_SERVERS,
    description: "PEM file of the CA that signed etcd's server certificates. Given: etcd is reached over TLS (https://) and verified.",
  },
  {
    name: 'etcd-client-cert',
    into: 'etcdTls',
    kind: 'path',
    usedBy: ALL_SERVERS,
    description: 'PEM file of a client certificate for etcd (with etcd-client-key), for an etcd run with --client-cert-auth.',
  },
  { name: 'etcd-client-key', into: 'etcdTls', kind: 'path', usedBy: ALL_SERVERS, description: 'PEM file of the private key of etcd-client-cert (unencrypted).' },
  {
    name: 'alembic-command',
    kind: 'list',
    separator: 'spaces',
    usedBy: ALEMBIC,
    default: 'alembic',
    description: "How to run the manager's alembic, split on spaces and run without a shell, e.g. /opt/backend.ai/bin/alembic or python3 -m alembic.",
  },
  {
    name: 'manager-venv',
    into: 'managerVenv',
    kind: 'path',
    usedBy: VENV,
    description:
      "A folder bai-migrate keeps manager venvs in, one per release (<manager-venv>/<release>/, pip install backend.ai-manager==<release>), each made when it is not there yet: the target release's runs alembic and the manager's CLI; a hop that downgrades first also gets its source release's (the Action caches each by release, Python and OS). preflight makes them too (before the window, so that migrate pays nothing for them); a dry run makes none: it checks venvs preflight or an earlier run made, else says so. Instead of alembic-command. For clear-history mode: manager, to-version names the installed release.",
  },
  {
    name: 'python',
    into: 'managerVenv',
    kind: 'string',
    usedBy: VENV,
    description:
      'manager-venv: the Python that makes the venvs; several, comma-separated, for a run whose releases need different Pythons (22.09 → 24.03: 3.11 and 3.12), each release taking the one of its own. Empty: the one the release is known to install and run on (21.09: 3.9; 22.03: 3.10; 22.09–23.09: 3.11; 24.03–25.5: 3.12; 25.6+: 3.13; see README), found on PATH as pythonX.Y, among the versions pyenv installed, or as python3; a release none fits is refused, naming the Python it needs.',
  },
  {
    name: 'pip-args',
    into: 'managerVenv',
    kind: 'list',
    separator: 'spaces',
    usedBy: VENV,
    description: 'manager-venv: more arguments for pip install, split on spaces, e.g. --index-url https://pypi.example.com/simple.',
  },
  {
    name: 'venv-system-site-packages',
    into: 'managerVenv',
    kind: 'boolean',
    usedBy: VENV,
    default: 'false',
    description: "manager-venv: let the venv see the system's Python packages (e.g. a distribution's psycopg2).",
  },
  {
    name: 'manager-command',
    kind: 'list',
    separator: 'spaces',
    usedBy: ['migrate', 'preflight', 'verify', 'clear-history', 'rehearse'],
    description: "The manager's CLI for image-rescan and mode: manager, split on spaces and run without a shell. Empty: <manager-venv>/<release>/bin/backend.ai with manager-venv, else backend.ai.",
  },
  {
    name: 'image-rescan',
    kind: 'boolean',
    usedBy: STEPS,
    default: 'false',
    description:
      "After the image import, run the manager's registry rescan (backend.ai mgr image rescan REGISTRY) for every registry in etcd config/docker/registry, then put back the admin-set resource limits it overwrites.",
  },
  {
    name: 'alembic-config',
    kind: 'path',
    usedBy: ALEMBIC,
    description:
      "The manager's alembic.ini. Empty: the one manager-venv writes, else alembic.ini beside manager.toml, else ./alembic.ini. bai-migrate runs alembic on a private copy whose sqlalchemy.url is the checked database.",
  },
  {
    name: 'alembic-lock-timeout',
    key: 'alembicLockTimeoutSeconds',
    kind: 'number',
    range: SECONDS,
    usedBy: ['migrate', 'rehearse'],
    default: '60',
    description:
      "Seconds each of alembic's statements waits for a table lock (PostgreSQL lock_timeout on alembic's connection) before the schema step fails, naming the lock wait: a session that holds a table cannot keep the migration waiting for hours. alembic's transaction is then rolled back.",
  },
  {
    name: 'periodic-sync-stats',
    kind: 'boolean',
    usedBy: STEPS,
    description: 'true or false: write [debug] periodic-sync-stats to manager.toml (22.03 otherwise writes kernels.last_stat only when a kernel terminates). Empty leaves it as it is.',
  },
  {
    name: 'skip-unusable-images',
    kind: 'boolean',
    usedBy: STEPS,
    default: 'false',
    description:
      "Import etcd's image tree without the entries the 21.09 manager itself cannot use (preflight lists each with its key and why: no digest, no resource/ keys, a malformed reference, an alias loop); they stay in etcd and in the backup bundle. false: preflight fails on them.",
  },
  {
    name: 'drop-duplicate-images',
    kind: 'boolean',
    usedBy: STEPS,
    default: 'false',
    description:
      "Before 25.4's unique constraint on images (registry, project, name, tag, architecture): keep the newest row of each group of duplicates and delete the others, pointing what referred to them (endpoints, aliases) at the kept row; every deleted row is kept in bai_migrate.dropped_values and in the backup bundle. false: preflight fails on duplicates, naming each group.",
  },
  {
    name: 'prune-etcd-images',
    kind: 'boolean',
    usedBy: STEPS,
    default: 'false',
    description: "After the image metadata is in PostgreSQL and verified, delete etcd's old images/ tree (22.03 no longer reads it). Its keys are in the backup bundle first.",
  },
  {
    name: 'redis-persistence',
    kind: 'enum',
    values: REDIS_PERSISTENCE,
    usedBy: STEPS,
    default: 'configure',
    description: 'configure: turn on AOF with CONFIG SET and CONFIG REWRITE; managed: persistence is configured elsewhere (managed Redis), only report it.',
  },
  {
    name: 'backup-dir',
    kind: 'path',
    usedBy: ['migrate'],
    default: '~/.local/state/bai-migrate/backup',
    description:
      "Folder for the backup bundle written before the first change (dropped column values, etcd image tree, manager.toml, Redis config): what an operator needs to go back. Outside the workspace by default, since it holds manager.toml's passwords and a workflow's artifact step would publish the workspace; made 0700, its files 0600. A leading ~ is the home folder.",
  },
  {
    name: 'batch-size',
    kind: 'number',
    range: { min: 1, max: 100_000, integer: true },
    usedBy: ['clear-history'],
    default: '1000',
    description: 'clear-history: rows deleted per transaction: kernels, or from 24.03.4 sessions (each with its kernels) and error_logs; and Redis keys unlinked per call.',
  },
  {
    name: 'sweep-orphaned-stat-keys',
    kind: 'boolean',
    usedBy: ['clear-history'],
    default: 'false',
    description:
      'clear-history: also remove Redis DB 0 stat keys whose kernel row no longer exists (left by a killed run, an unreachable Redis, or a manager that failed to clean them), counted apart in swept-redis-keys. false: delete exactly what the manager deletes.',
  },
  {
    name: 'vacuum',
    kind: 'enum',
    values: VACUUM_MODES,
    usedBy: ['clear-history'],
    default: 'none',
    description:
      'clear-history: none, analyze (VACUUM ANALYZE of each table it deleted from: kernels; from 24.03.4 sessions, from 24.09.0 error_logs) or full (VACUUM FULL of them, which locks each table) after deleting.',
  },
  {
    name: 'mode',
    key: 'clearHistoryMode',
    kind: 'enum',
    values: CLEAR_HISTORY_MODES,
    usedBy: ['clear-history'],
    default: 'bai-migrate',
    description:
      "clear-history: bai-migrate (batched, by bai-migrate itself) or manager (runs backend.ai mgr clear-history -r <retention> in the manager's environment and reads its log for the Redis failure it hides).",
  },
  {
    name: 'redis-failure',
    kind: 'enum',
    values: REDIS_FAILURE_MODES,
    usedBy: ['clear-history'],
    default: 'fail',
    description:
      'clear-history: fail or warn when Redis cannot be cleaned (the manager silently ignores this). fail: a Redis that does not answer before the run stops it before anything is deleted; one that fails mid-run fails the step after the database part. warn: the database part goes on alone.',
  },
  {
    name: 'allow-running-services',
    kind: 'boolean',
    usedBy: ['migrate', 'preflight'],
    default: 'false',
    description: 'Turn the "managers and agents are stopped" checks into warnings. The report says so.',
  },
  {
    name: 'start-manager',
    kind: 'boolean',
    usedBy: ['migrate'],
    default: 'false',
    description:
      "Start the target release's real manager on the migrated deployment at the end of the run (loopback port, one process, about 10 s) to prove it serves a signed read-only GraphQL request. On production this is the manager starting for real, with its effects on etcd, Redis and error_logs (docs/safety.md). false: only a rehearsal starts it, on its disposable copy.",
  },
  {
    name: 'lock-timeout',
    key: 'lockTimeoutSeconds',
    kind: 'number',
    range: SECONDS,
    usedBy: ['migrate', 'snapshot', 'rehearse'],
    default: '60',
    description:
      'Seconds migrate and snapshot wait for the migration lock (a PostgreSQL session advisory lock, held for the whole run; clear-history does not wait, it skips) before giving up and naming its holder.',
  },
  {
    name: 'connect-timeout',
    key: 'connectTimeoutSeconds',
    kind: 'number',
    range: SECONDS,
    usedBy: COMMANDS,
    default: '10',
    description: 'Seconds to wait for each server to answer before reporting it unreachable.',
  },
  { name: 'report-file', kind: 'path', usedBy: COMMANDS, default: 'bai-migrate-report.json', description: 'Where the JSON report is written; a missing folder is made first.' },
  {
    name: 'summary-file',
    kind: 'path',
    usedBy: COMMANDS,
    description: "Also write the run's summary in Markdown, as the Action writes its job summary, to this file: for other CI systems, or to keep it. Empty: none.",
  },
  {
    name: 'snapshot-file',
    kind: 'path',
    usedBy: SNAPSHOTS,
    default: 'bai-migrate-snapshot.jsonl.gz',
    description:
      'snapshot writes, and rehearse reads, this file: the schema, the rows of the tables the steps touch (secrets and personal data replaced), the etcd namespace without secrets, Redis settings and key counts, and a manifest.',
  },
  {
    name: 'snapshot-cache-key',
    kind: 'string',
    usedBy: SNAPSHOTS,
    description:
      'Action only: snapshot saves snapshot-file in the Actions cache as {key}#snapshot-{time}; rehearse restores the newest entry whose key starts with {key}#snapshot-. Give both the same snapshot-file and snapshot-key (required with it).',
  },
  {
    name: 'snapshot-key',
    kind: 'secret',
    parse: parseSnapshotKey,
    usedBy: SNAPSHOTS,

    description:
      'A secret 256-bit key (64 hex digits or base64, e.g. from openssl rand -hex 32): snapshot seals snapshot-file with it (AES-256-GCM), rehearse verifies and decrypts it before using anything in it. Required with snapshot-cache-key; without it a snapshot is a plain file for your own disk.',
  },
  {
    name: 'rehearsal-servers',
    kind: 'enum',
    values: REHEARSAL_SERVERS,
    usedBy: ['rehearse'],
    default: 'start',
    description:
      "rehearse: start (disposable PostgreSQL, Redis and etcd started with Testcontainers, matching the snapshot's release) or given (the workflow's service containers at postgres-url, redis-url and etcd-endpoints, which must be empty).",
  },
  {
    name: 'rehearsal-image',
    kind: 'string',
    usedBy: ['rehearse'],
    description: "rehearse: for runners without Docker Hub, one image with PostgreSQL, Redis and etcd from Debian's packages (scripts/testbed.sh builds it); it runs with host networking.",
  },
  {
    name: 'keep-rehearsal',
    kind: 'boolean',
    usedBy: ['rehearse'],
    default: 'false',
    description: 'rehearse: leave the restored database (and any servers it started) in place for inspection; the report says where they are.',
  },
  {
    name: 'measure-growth',
    kind: 'boolean',
    usedBy: ['rehearse'],
    default: 'true',
    description:
      'rehearse: where the snapshot holds at least 1,000 terminated kernels, also migrate a copy with the older half of its history cleared, and flag hops whose time grows faster than the data (the rehearsal takes about twice as long).',
  },
  {
    name: 'github-token',
    kind: 'secret',
    usedBy: ['rehearse'],

    description:
      "rehearse: a token that may write pull-request comments (e.g. secrets.GITHUB_TOKEN with pull-requests: write). The rehearsal's comment is created or updated; without a token it is skipped with a notice.",
  },
] as const satisfies readonly InputSpec[];

/** Every input, as one declared it (its name, kind, values and default as literal types). */
export type DeclaredInput = (typeof DECLARED_INPUTS)[number];
export type InputName = DeclaredInput['name'];

/** Every input, in the order action.yml and the README list them. */
export const INPUTS: readonly InputSpec[] = DECLARED_INPUTS;

export interface OutputSpec {
  readonly name: string;
  readonly description: string;
}

/**
 * The Action's outputs, declared once: action.yml and README's outputs table are made from this
 * list, and src/action/main.ts sets them through `OutputValues`, so an output it misses or
 * misspells is a type error.
 */
export const OUTPUTS = [
  { name: 'outcome', description: 'success or failure.' },
  { name: 'from-version', description: 'The version the plan starts from, as given or detected (e.g. 21.09).' },
  { name: 'to-version', description: 'The exact target release (e.g. 22.03.14).' },
  { name: 'current-revision', description: 'alembic_version of the database when the run started.' },
  { name: 'target-revision', description: "The target release's alembic head revision." },
  { name: 'plan', description: 'JSON array of hops: [{hop, targetRevision, steps: [{id, title, action}]}].' },
  { name: 'report', description: 'The whole report as JSON: every step and phase with its status and detail.' },
  { name: 'report-file', description: 'Path of the JSON report file; empty when it could not be written (a warning says why).' },
  { name: 'cutoff', description: 'clear-history: the cutoff (ISO 8601, UTC); kernels (from 24.03.4: sessions, with their kernels) terminated before it were deleted.' },
  { name: 'deleted-kernels', description: 'clear-history: kernel rows deleted (or that a dry run would delete).' },
  { name: 'deleted-sessions', description: 'clear-history: session rows deleted (24.03.4 and later, whose manager purges sessions; or that a dry run would delete); empty for older releases.' },
  { name: 'deleted-error-logs', description: 'clear-history: error_logs rows deleted (24.09.0 and later; or that a dry run would delete); empty for older releases.' },
  { name: 'clear-history-semantics', description: "clear-history: the releases whose manager's clear-history was applied, e.g. 24.09.0 to before 25.19.0." },
  { name: 'deleted-redis-keys', description: 'clear-history: Redis stat keys of the deleted kernels removed (or that a dry run would remove).' },
  {
    name: 'retention-sweep',
    description:
      'clear-history from 26.8.0 (own mode): JSON of every retention policy category: {"sessions": {"state": "swept", "enabled": true, "period": "90 days", "deleted": {"kernels": 120, "sessions": 40}}, …}; state is swept, disabled, missing (no row), deferred (per-tick budget) or failed. Empty for older releases.',
  },
  { name: 'swept-redis-keys', description: 'clear-history with sweep-orphaned-stat-keys: stat keys of kernels that no longer exist removed (or that a dry run would remove); empty otherwise.' },
  { name: 'snapshot-file', description: 'snapshot and rehearse: the path of the snapshot file.' },
  { name: 'comment-url', description: 'rehearse: the URL of the pull-request comment it created or updated.' },
] as const satisfies readonly OutputSpec[];

export type OutputName = (typeof OUTPUTS)[number]['name'];

/** A value for every declared output (a run's outputs), keyed by its name. */
export type OutputValues = { readonly [N in OutputName]: string };

export function inputSpec(name: string): InputSpec | undefined {
  return INPUTS.find((spec) => spec.name === name);
}

/** What an input accepts, as error messages and the README say it. */
export function acceptedText(spec: InputSpec): string {
  switch (spec.kind) {
    case 'boolean':
      return 'true, false';
    case 'enum':
      return spec.values.join(', ');
    case 'number':
      return rangeText(spec.range);
    case 'version':
      return 'a Backend.AI release line (e.g. 22.03) or release (e.g. 22.03.3)';
    case 'retention':
      return 'a duration from one day to 100 years: seconds, or a number with m, h, d, w, mo or yr (under a day with allow-short-retention: true)';
    case 'list':
      return `a list separated by ${spec.separator}`;
    case 'path':
      return 'a path';
    case 'secret':
      return 'a secret (masked in the log)';
    case 'string':
      return 'text';
  }
}

function rangeText(range: NumberRange): string {
  const what = range.unit === 'seconds' ? 'a number of seconds' : range.integer ? 'a whole number' : 'a number';
  return range.aboveMin ? `${what} greater than ${range.min} and at most ${range.max}` : `${what} from ${range.min} to ${range.max}`;
}

/** "used by: clear-history", or "used by every command". */
export function usedByText(spec: InputSpec): string {
  return spec.usedBy.length === COMMANDS.length ? 'used by every command' : `used by: ${spec.usedBy.join(', ')}`;
}
