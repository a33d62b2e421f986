/**
 * `command: rehearse`: the whole migration on disposable servers shaped like production. The
 * snapshot is restored into servers this run starts (or that the workflow gives it, as service
 * containers), then the same engine runs a dry run (for the plan and the offline SQL), the
 * migration and a final verify, exactly as it would against production. What it started or
 * created is removed at the end.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { Etcd3 } from 'etcd3';
import { MigrationError, messageOf } from '../core/errors.js';
import type { Options } from '../options/index.js';
import { loadManagerConfig, postgresFromUrl, redisFromUrl } from '../stores/connections.js';
import { readManifest, type SnapshotManifest } from './snapshot-file.js';
import { openSnapshot } from './snapshot-seal.js';
import { restoreSnapshot } from './restore.js';
import { redactToml } from './sanitize.js';
import { replaceTomlTable } from '../manager/toml-edit.js';
import { alembicConfigBeside } from '../manager/alembic.js';
import { startServers, type DisposableServers } from './servers.js';
import { compareSizes, describeGrowth, migrateSmallerCopy, type RunInner, type SmallerCopy } from './growth.js';
import { serializeQueries } from '../stores/postgres.js';
import type { Report, ReportEntry } from '../core/report/index.js';
import type { Logger } from '../core/logger.js';

export interface RehearsalServers {
  readonly postgres: { host: string; port: number; user: string; password?: string; database: string };
  readonly redis: { host: string; port: number; password?: string };
  readonly etcd: string;
  readonly description: string;
}

export async function rehearse(options: Options, report: Report, log: Logger, addSecret: (secret: string) => void, runInner: RunInner): Promise<void> {
  const record = (entry: Omit<ReportEntry, 'phase'> & { phase?: ReportEntry['phase'] }) => {
    const full: ReportEntry = { phase: 'rehearse', ...entry };
    report.entries.push(full);
    if (full.status === 'failed') log.error(`${full.step}: ${full.detail}`);
    else log.info(`${full.status}: ${full.step}: ${full.detail}`);
  };
  const work = mkdtempSync(join(tmpdir(), 'bai-migrate-rehearsal-'));
  let snapshotFile: string;
  let manifest: SnapshotManifest;
  try {
    // A sealed file is verified whole and decrypted into work/ before any byte of it is parsed.
    snapshotFile = await openSnapshot(options.snapshotFile, options.snapshotKey, join(work, 'snapshot.jsonl.gz'));
    manifest = await readManifest(snapshotFile);
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    throw error;
  }
  report.fromVersion = manifest.release.series;
  report.currentRevision = manifest.release.revision;
  report.rehearsal = { namespace: manifest.etcd.namespace };
  record({ step: 'snapshot', status: 'ok', detail: describeSnapshot(manifest) });
  if (manifest.liveness.managersRegistered > 0 || manifest.liveness.liveKernels > 0) {
    record({
      step: 'services',
      status: 'warning',
      detail: `when the snapshot was taken, ${manifest.liveness.managersRegistered} manager(s) were registered and ${manifest.liveness.liveKernels} kernel(s) were live; the rehearsal runs as if they were stopped. Stop them before the real migration: its preflight checks it`,
    });
  }

  let started: DisposableServers | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  let closeTargets: (() => Promise<void>) | undefined;
  let database: string | undefined;
  try {
    const servers = await log.group('Servers', async () => {
      if (options.rehearsalServers === 'given') return givenServers(options);
      started = await startServers({ series: manifest.release.series, localImage: options.rehearsalImage });
      return fromStarted(started);
    });
    if (servers.postgres.password) addSecret(servers.postgres.password);
    if (servers.redis.password) addSecret(servers.redis.password);
    record({ step: 'servers', status: 'ok', detail: `${started ? 'started' : 'given'}: ${servers.description}` });

    // One restore of the snapshot into new targets, and the inner runs' options pointed at them.
    const restoreOnce = async (label: string) => {
      const restored = await log.group(label, async () => {
        const target = await prepareTargets(servers, manifest, options.connectTimeoutSeconds * 1000);
        cleanup = started ? target.close : target.removeAndClose;
        closeTargets = target.close;
        database = target.database;
        const result = await restoreSnapshot(snapshotFile, { postgres: target.postgres, etcd: target.etcd, redis: target.redis, redisAddress: servers.redis });
        return { ...result, target };
      });
      record({
        step: 'restore',
        status: 'ok',
        detail: `${restored.rows} row(s) into database ${restored.target.database}, ${restored.etcdKeys} etcd key(s) under namespace "${manifest.etcd.namespace}"`,
      });
      const managerConfig = join(work, 'manager.toml');
      const { user, password, host, port } = servers.postgres;
      writeFileSync(managerConfig, rehearsalManagerToml(options, manifest, restored.managerToml, servers, restored.target.database), { mode: 0o600 });
      const inner: Options = {
        ...options,
        command: 'migrate',
        postgresUrl: `postgresql://${encodeURIComponent(user)}${password ? `:${encodeURIComponent(password)}` : ''}@${host}:${port}/${restored.target.database}`,
        redisUrl: undefined,
        etcdEndpoints: [servers.etcd],
        etcdNamespace: manifest.etcd.namespace,
        etcdUser: undefined,
        etcdPassword: undefined,
        // Production's certificates are not the disposable servers': those speak plain TCP.
        postgresTls: undefined,
        etcdTls: undefined,
        managerConfig,
        // The PR's alembic.ini, not one beside the rehearsal's temporary manager.toml; with manager-venv, each venv's own.
        alembicConfig: alembicIniCopy(options.alembicConfig ?? (options.managerVenv ? undefined : alembicConfigBeside(options.managerConfig)), work),
        allowRunningServices: true,
        // The copy is disposable: its run ends with the target release's manager starting on it (steps/manager-starts.ts).
        disposableCopy: true,
        backupDir: join(work, 'backup'),
      };
      return { target: restored.target, inner };
    };

    let { target, inner } = await restoreOnce('Restore');
    // First, where the history allows, the migration of a smaller copy: the full one is what keep-rehearsal keeps.
    let smaller: SmallerCopy | undefined;
    if (options.measureGrowth) {
      const attempt = await log.group('Smaller copy', () => migrateSmallerCopy(target.postgres, inner, runInner, record, work));
      smaller = attempt.copy;
      // Each size from a fresh restore: a copy that was cleared, or failed part-way, is never rehearsed again.
      if (attempt.changed) {
        await target.removeAndClose();
        ({ target, inner } = await restoreOnce('Restore again'));
      }
    } else {
      record({ step: 'growth', status: 'skipped', detail: "measure-growth: false: the migration is timed at the snapshot's size only" });
    }

    const dry = await runInner({ ...inner, dryRun: true, reportFile: join(work, 'dry-run.json') });
    if (dry.outcome === 'failure') {
      adopt(report, dry);
      throw failure(dry, 'the dry run');
    }
    report.attachments.push(...dry.attachments);
    const migrated = await runInner({ ...inner, dryRun: false, reportFile: join(work, 'migrate.json') });
    adopt(report, migrated);
    if (migrated.outcome === 'failure') throw failure(migrated, 'the migration');
    const verified = await runInner({ ...inner, command: 'verify', dryRun: false, reportFile: join(work, 'verify.json') });
    // Each step was verified right after it applied; the final pass re-checks them all together.
    const checks = verified.entries.filter((e) => e.phase === 'verify');
    report.entries.push(...checks.filter((e) => e.status === 'failed' || e.status === 'warning'));
    if (verified.outcome === 'failure') throw failure(verified, 'the final verify');
    record({
      step: 'final verify',
      status: 'ok',
      detail: `${checks.filter((e) => e.status === 'ok').length} check(s) of the end state hold, ${checks.filter((e) => e.status === 'skipped').length} skipped`,
    });
    if (smaller) {
      report.growth = compareSizes({ rows: smaller.fullRows, timings: migrated.timings ?? [] }, smaller);
      for (const entry of describeGrowth(report.growth)) record(entry);
    }
    record({ step: 'result', status: 'ok', detail: `migrated ${manifest.release.series} → ${migrated.toVersion} on the restored snapshot and verified` });
  } finally {
    await log.group('Clean up', async () => {
      await rm(work, { recursive: true, force: true });
      if (options.keepRehearsal && database) {
        await closeTargets?.();
        const containers = started
          ? `; containers ${Object.values(started.containers)
              .map((id) => id.slice(0, 12))
              .join(', ')} keep running (docker rm -f them when done)`
          : '';
        record({ step: 'kept', status: 'warning', detail: `keep-rehearsal: database ${database} and etcd namespace "${manifest.etcd.namespace}" are left in place${containers}` });
        return;
      }
      await cleanup?.().catch((error: unknown) => log.warning(`rehearsal clean-up: ${messageOf(error)}`));
      await started?.stop();
    });
  }
}

/**
 * The PR's alembic.ini as the rehearsal's own copy in `work`, with %(here)s pinned to the
 * original's folder (as every alembic run reads it): a step that edits the file (22.09's
 * alembic-ini-url) edits the copy, so the rehearsal leaves the checkout as it was, and the real
 * migrate afterwards finds the file the rehearsal started from. A path that names no file is kept.
 */
function alembicIniCopy(path: string | undefined, work: string): string | undefined {
  if (!path || !existsSync(path)) return path;
  const copy = join(work, 'alembic.ini');
  if (!existsSync(copy)) writeFileSync(copy, readFileSync(path, 'utf8').replaceAll('%(here)s', dirname(resolve(path)).replaceAll('%', '%%')), { mode: 0o600 });
  return copy;
}

function describeSnapshot(manifest: SnapshotManifest): string {
  const rows = Object.values(manifest.postgres.rows).reduce((a, b) => a + b, 0);
  const columns = Object.values(manifest.postgres.columns);
  const redacted = columns.reduce((n, c) => n + c.pseudonymised.length + c.neutralised.length, 0);
  return `taken ${manifest.takenAt} at ${manifest.release.description}: ${Object.keys(manifest.postgres.rows).length} table(s) with ${rows} row(s), ${manifest.postgres.schemaOnly.length} schema-only, ${manifest.etcd.keys} etcd key(s); ${columns.reduce((n, c) => n + c.copied.length, 0)} column(s) copied, ${redacted} pseudonymised or neutralised, ${manifest.etcd.redactedKeys.length} etcd key(s) redacted`;
}

/** The migration's rows become the rehearsal's; its plan and versions too. */
function adopt(report: Report, inner: Report): void {
  report.toVersion = inner.toVersion;
  report.targetRevision = inner.targetRevision;
  report.plan = inner.plan;
  // The downtime measured on the restored snapshot, and what the plan expected it to meet.
  if (inner.timings) report.timings = inner.timings;
  if (inner.forecast) report.forecast = inner.forecast;
  // A revision that failed: which one, the cause, the rows and what preflight made of it (commands/step-failure.ts).
  if (inner.failure) report.failure = inner.failure;
  report.entries.push(...inner.entries);
  report.attachments.push(...inner.attachments.filter((a) => !report.attachments.some((b) => b.step === a.step && b.name === a.name)));
}

function failure(inner: Report, what: string): MigrationError {
  return new MigrationError(inner.errorCode ?? 'checks-failed', `${what} failed in the rehearsal: ${inner.error ?? 'see the report'}`);
}

function givenServers(options: Options): RehearsalServers {
  const pgTarget = postgresFromUrl(options.postgresUrl!);
  const redis = redisFromUrl(options.redisUrl!, 'redis-url');
  return {
    postgres: { host: pgTarget.host, port: pgTarget.port, user: pgTarget.user, password: pgTarget.password, database: pgTarget.database },
    redis: { host: redis.host, port: redis.port, password: redis.password },
    etcd: options.etcdEndpoints[0]!,
    description: `PostgreSQL ${pgTarget.host}:${pgTarget.port}, Redis ${redis.host}:${redis.port}, etcd ${options.etcdEndpoints[0]}`,
  };
}

function fromStarted(s: DisposableServers): RehearsalServers {
  return { postgres: s.postgres, redis: s.redis, etcd: `${s.etcd.host}:${s.etcd.port}`, description: s.description };
}

interface PreparedTargets {
  readonly postgres: pg.Client;
  readonly etcd: Etcd3;
  readonly redis: Redis;
  readonly database: string;
  close(): Promise<void>;
  /** For servers the workflow gave: drops what the rehearsal created, then closes. */
  removeAndClose(): Promise<void>;
}

/**
 * A new database for the restored deployment; an etcd namespace and Redis that must be empty, so
 * that a rehearsal pointed at a live server by mistake stops before writing anything.
 */
async function prepareTargets(servers: RehearsalServers, manifest: SnapshotManifest, timeoutMs: number): Promise<PreparedTargets> {
  const base = { host: servers.postgres.host, port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password, connectionTimeoutMillis: timeoutMs };
  const admin = serializeQueries(new pg.Client({ ...base, database: servers.postgres.database, application_name: 'bai-migrate-rehearsal' }));
  admin.on('error', () => undefined);
  const etcd = new Etcd3({ hosts: servers.etcd.includes('://') ? servers.etcd : `http://${servers.etcd}`, dialTimeout: timeoutMs });
  const redis = new Redis({
    host: servers.redis.host,
    port: servers.redis.port,
    password: servers.redis.password,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  const database = `bai_rehearsal_${randomBytes(4).toString('hex')}`;
  let client: pg.Client | undefined;
  const close = async () => {
    await client?.end().catch(() => undefined);
    await admin.end().catch(() => undefined);
    redis.disconnect();
    etcd.close();
  };
  try {
    await admin.connect();
    await redis.connect();
    const prefix = `/sorna/${manifest.etcd.namespace}/`;
    const existing = await etcd.getAll().prefix(prefix).count();
    if (existing > 0)
      throw new MigrationError('inconsistent-state', `the rehearsal's etcd already has ${existing} key(s) under ${prefix}: give rehearse disposable servers, never a live deployment's`);
    for (let db = 0; db <= 4; db++) {
      await redis.select(db);
      const size = await redis.dbsize();
      if (size > 0) throw new MigrationError('inconsistent-state', `the rehearsal's Redis already has ${size} key(s) in DB ${db}: give rehearse disposable servers, never a live deployment's`);
    }
    await redis.select(0);
    await admin.query(`CREATE DATABASE ${database}`);
    client = serializeQueries(new pg.Client({ ...base, database, application_name: 'bai-migrate-rehearsal' }));
    client.on('error', () => undefined);
    await client.connect();
  } catch (error) {
    await close();
    if (error instanceof MigrationError) throw error;
    throw new MigrationError('unreachable', `the rehearsal's servers are not usable: ${messageOf(error)}`);
  }
  return {
    postgres: client,
    etcd,
    redis,
    database,
    close,
    async removeAndClose() {
      try {
        await client!.end().catch(() => undefined);
        await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await etcd.delete().prefix(`/sorna/${manifest.etcd.namespace}/`);
        for (let db = 0; db <= 4; db++) {
          await redis.select(db);
          await redis.flushdb();
        }
      } finally {
        // Open clients would keep the Action's process alive after a failed clean-up.
        await close();
      }
    },
  };
}

/**
 * The manager.toml the rehearsal edits: the PR's (so a change to it is rehearsed), else the
 * snapshot's, else a minimal one; secrets emptied either way, and [db] and [etcd] rewritten to
 * the disposable servers, so that nothing reading this file (the manager's CLI, for
 * image-rescan) can reach production.
 */
export function rehearsalManagerToml(options: Options, manifest: SnapshotManifest, fromSnapshot: string | undefined, servers: RehearsalServers, database: string): string {
  const base = options.managerConfig
    ? redactToml(loadManagerConfig(options.managerConfig).text).text
    : (fromSnapshot ?? '# written by bai-migrate rehearse: the snapshot had no manager.toml\n[manager]\n');
  const q = (text: string) => JSON.stringify(text);
  const [etcdHost, etcdPort] = servers.etcd.replace(/^https?:\/\//, '').split(/:(?=\d+$)/);
  const pg = servers.postgres;
  const withDb = replaceTomlTable(
    base,
    'db',
    `type = "postgresql"\naddr = { host = ${q(pg.host)}, port = ${pg.port} }\nname = ${q(database)}\nuser = ${q(pg.user)}\npassword = ${q(pg.password ?? '')}`,
  );
  return replaceTomlTable(withDb, 'etcd', `namespace = ${q(manifest.etcd.namespace)}\naddr = { host = ${q(etcdHost!)}, port = ${etcdPort ?? 2379} }\nuser = ""\npassword = ""`);
}
