/**
 * `command: rehearse`: the whole migration on disposable servers shaped like production. The
 * snapshot is restored into servers this run starts (or that the workflow gives it, as service
 * containers), then the same engine runs a dry run (for the plan and the offline SQL), the
 * migration and a final verify, exactly as it would against production. What it started or
 * created is removed at the end.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { MigrationError, messageOf } from '../core/errors.js';
import type { Options } from '../options/index.js';
import { loadManagerConfig } from '../stores/connections.js';
import { readManifest, type SnapshotManifest } from './snapshot-file.js';
import { openSnapshot } from './snapshot-seal.js';
import { restoreSnapshot } from './restore.js';
import { redactToml } from './sanitize.js';
import { replaceTomlTable } from '../manager/toml-edit.js';
import { alembicConfigBeside } from '../manager/alembic.js';
import { startServers, type DisposableServers } from './servers.js';
import { fromStarted, givenServers, prepareTargets, type PreparedTargets, type RehearsalServers } from './targets.js';
import { compareSizes, describeGrowth, migrateSmallerCopy, type RunInner, type SmallerCopy } from './growth.js';
import type { Report, ReportEntry } from '../core/report/index.js';
import type { Logger } from '../core/logger.js';

export type { RehearsalServers } from './targets.js';

/** Records a rehearsal finding (phase rehearse unless it says otherwise) and prints it. */
type Recorder = (entry: Omit<ReportEntry, 'phase'> & { phase?: ReportEntry['phase'] }) => void;

/**
 * One rehearsal as its stages share it: what they read, and what the clean-up must undo, set as
 * it comes into being (the servers it started, the targets of the latest restore).
 */
interface Rehearsal {
  readonly options: Options;
  readonly manifest: SnapshotManifest;
  /** The snapshot, opened (decrypted when sealed) into work/. */
  readonly snapshotFile: string;
  /** A private folder for the inner runs' files; removed at the end. */
  readonly work: string;
  readonly log: Logger;
  readonly record: Recorder;
  readonly runInner: RunInner;
  started?: DisposableServers;
  target?: PreparedTargets;
}

/**
 * The rehearsal's stages in order: open the snapshot, have servers, restore it (first into a
 * smaller copy, with measure-growth), prove the migration on it, report; and whatever happened,
 * clean up what it started or created.
 */
export async function rehearse(options: Options, report: Report, log: Logger, addSecret: (secret: string) => void, runInner: RunInner): Promise<void> {
  const record = recorder(report, log);
  const work = mkdtempSync(join(tmpdir(), 'bai-migrate-rehearsal-'));
  const { snapshotFile, manifest } = await openInWork(options, work);
  noteSnapshot(report, manifest, record);
  const run: Rehearsal = { options, manifest, snapshotFile, work, log, record, runInner };
  try {
    const servers = await haveServers(run, addSecret);
    const { inner, smaller } = await restoreMeasuringGrowth(run, servers);
    const migrated = await prove(run, report, inner);
    if (smaller) {
      report.growth = compareSizes({ rows: smaller.fullRows, timings: migrated.timings ?? [] }, smaller);
      for (const entry of describeGrowth(report.growth)) record(entry);
    }
    record({ step: 'result', status: 'ok', detail: `migrated ${manifest.release.series} → ${migrated.toVersion} on the restored snapshot and verified` });
  } finally {
    await log.group('Clean up', () => cleanUp(run));
  }
}

function recorder(report: Report, log: Logger): Recorder {
  return (entry) => {
    const full: ReportEntry = { phase: 'rehearse', ...entry };
    report.entries.push(full);
    if (full.status === 'failed') log.error(`${full.step}: ${full.detail}`);
    else log.info(`${full.status}: ${full.step}: ${full.detail}`);
  };
}

/** The snapshot in work/: a sealed file is verified whole and decrypted there before any byte of it is parsed. */
async function openInWork(options: Options, work: string): Promise<{ snapshotFile: string; manifest: SnapshotManifest }> {
  try {
    const snapshotFile = await openSnapshot(options.snapshotFile, options.snapshotKey, join(work, 'snapshot.jsonl.gz'));
    return { snapshotFile, manifest: await readManifest(snapshotFile) };
  } catch (error) {
    // Nothing else was made yet: work/ is all there is to remove.
    await rm(work, { recursive: true, force: true });
    throw error;
  }
}

/** What the snapshot is, in the report; and a warning when services were running as it was taken. */
function noteSnapshot(report: Report, manifest: SnapshotManifest, record: Recorder): void {
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
}

/** The servers the workflow gave, or ones started for the snapshot's line; their passwords masked from here on. */
async function haveServers(run: Rehearsal, addSecret: (secret: string) => void): Promise<RehearsalServers> {
  const servers = await run.log.group('Servers', async () => {
    if (run.options.rehearsalServers === 'given') return givenServers(run.options);
    run.started = await startServers({ line: run.manifest.release.series, localImage: run.options.rehearsalImage });
    return fromStarted(run.started);
  });
  if (servers.postgres.password) addSecret(servers.postgres.password);
  if (servers.redis.password) addSecret(servers.redis.password);
  run.record({ step: 'servers', status: 'ok', detail: `${run.started ? 'started' : 'given'}: ${servers.description}` });
  return servers;
}

/**
 * The snapshot restored, and the inner runs' options pointed at it. With measure-growth, first the
 * migration of a smaller copy where the history allows; the full one is what keep-rehearsal keeps.
 */
async function restoreMeasuringGrowth(run: Rehearsal, servers: RehearsalServers): Promise<{ inner: Options; smaller?: SmallerCopy }> {
  const first = await restoreInto(run, servers, 'Restore');
  if (!run.options.measureGrowth) {
    run.record({ step: 'growth', status: 'skipped', detail: "measure-growth: false: the migration is timed at the snapshot's size only" });
    return { inner: first.inner };
  }
  const attempt = await run.log.group('Smaller copy', () => migrateSmallerCopy(first.target.postgres, first.inner, run.runInner, run.record, run.work));
  if (!attempt.changed) return { inner: first.inner, smaller: attempt.copy };
  // Each size from a fresh restore: a copy that was cleared, or failed part-way, is never rehearsed again.
  await first.target.removeAndClose();
  const again = await restoreInto(run, servers, 'Restore again');
  return { inner: again.inner, smaller: attempt.copy };
}

/** One restore of the snapshot into new targets, and the inner runs' options pointed at them. */
async function restoreInto(run: Rehearsal, servers: RehearsalServers, label: string): Promise<{ target: PreparedTargets; inner: Options }> {
  const restored = await run.log.group(label, async () => {
    const target = await prepareTargets(servers, run.manifest, run.options.connectTimeoutSeconds * 1000);
    // From here the clean-up removes (or, with servers it started, only closes) these targets.
    run.target = target;
    const result = await restoreSnapshot(run.snapshotFile, { postgres: target.postgres, etcd: target.etcd, redis: target.redis, redisAddress: servers.redis });
    return { ...result, target };
  });
  run.record({
    step: 'restore',
    status: 'ok',
    detail: `${restored.rows} row(s) into database ${restored.target.database}, ${restored.etcdKeys} etcd key(s) under namespace "${run.manifest.etcd.namespace}"`,
  });
  return { target: restored.target, inner: innerOptions(run, servers, restored.target.database, restored.managerToml) };
}

/**
 * The options of the inner runs: the run's own, pointed at the restored copy (its own manager.toml
 * in work/, written here) and at nothing of production's.
 */
function innerOptions(run: Rehearsal, servers: RehearsalServers, database: string, managerTomlFromSnapshot: string | undefined): Options {
  const { options, work } = run;
  const managerConfig = join(work, 'manager.toml');
  const { user, password, host, port } = servers.postgres;
  writeFileSync(managerConfig, rehearsalManagerToml(options, run.manifest, managerTomlFromSnapshot, servers, database), { mode: 0o600 });
  return {
    ...options,
    command: 'migrate',
    postgresUrl: `postgresql://${encodeURIComponent(user)}${password ? `:${encodeURIComponent(password)}` : ''}@${host}:${port}/${database}`,
    redisUrl: undefined,
    etcdEndpoints: [servers.etcd],
    etcdNamespace: run.manifest.etcd.namespace,
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
}

/**
 * The same engine as against production, on the copy: a dry run (the plan, the offline SQL), the
 * migration, and a final verify of every step together. The migration's report, adopted.
 */
async function prove(run: Rehearsal, report: Report, inner: Options): Promise<Report> {
  const { work, runInner, record } = run;
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
  return migrated;
}

/**
 * Removes what the rehearsal made: work/, the latest targets (only closed on servers it started,
 * which go whole) and the servers it started; with keep-rehearsal, the targets and servers stay
 * and the report says where.
 */
async function cleanUp(run: Rehearsal): Promise<void> {
  const { options, started, target, record } = run;
  await rm(run.work, { recursive: true, force: true });
  if (options.keepRehearsal && target) {
    await target.close();
    const containers = started
      ? `; containers ${Object.values(started.containers)
          .map((id) => id.slice(0, 12))
          .join(', ')} keep running (docker rm -f them when done)`
      : '';
    record({ step: 'kept', status: 'warning', detail: `keep-rehearsal: database ${target.database} and etcd namespace "${run.manifest.etcd.namespace}" are left in place${containers}` });
    return;
  }
  const removeTargets = started ? target?.close : target?.removeAndClose;
  await removeTargets?.().catch((error: unknown) => run.log.warning(`rehearsal clean-up: ${messageOf(error)}`));
  await started?.stop();
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
