/** snapshot: a redacted copy of the deployment for rehearsals. Reads only, and waits for the migration lock. */
import { TABLES_STEPS_TOUCH } from '../hops/index.js';
import { takeSnapshot } from '../rehearsal/snapshot.js';
import type { Session } from './session.js';

export async function snapshotCommand(session: Session): Promise<void> {
  const { options, deployment, report } = session;
  await session.connect(['postgres', 'etcd', 'redis']);
  // A snapshot beside a migration would hold a half-migrated deployment: it waits, as migrate does.
  session.lock = await session.waitForLock();
  const manifest = await session.log.group('Snapshot', () => takeSnapshot(deployment, TABLES_STEPS_TOUCH, options.snapshotFile, deployment.targets.managerConfig, session.log, options.snapshotKey));
  report.currentRevision = manifest.release.revision;
  report.fromVersion = manifest.release.series;
  report.snapshot = { file: options.snapshotFile, manifest };
  const record = (step: string, detail: string) => session.record({ phase: 'snapshot', step, status: 'ok', detail });
  const rows = Object.entries(manifest.postgres.rows)
    .map(([table, n]) => `${table} ${n}`)
    .join(', ');
  record('postgres', `${manifest.release.description}; rows: ${rows}; schema only: ${manifest.postgres.schemaOnly.length} table(s)`);
  const columns = Object.entries(manifest.postgres.columns).map(
    ([table, c]) => `${table}: ${c.copied.length} copied, pseudonymised ${c.pseudonymised.join(' ') || 'none'}, neutralised ${c.neutralised.join(' ') || 'none'}`,
  );
  const managerToml = manifest.managerConfig ? `; manager.toml keys: ${manifest.managerConfig.redactedKeys.join(', ') || 'none'}` : '';
  record('redacted', `columns (only allowlisted ones are copied): ${columns.join('; ') || 'none'}; etcd keys: ${manifest.etcd.redactedKeys.join(', ') || 'none'}${managerToml}`);
  record('etcd', `${manifest.etcd.keys} key(s) under namespace "${manifest.etcd.namespace}" (etcd ${manifest.etcd.version})`);
  const keys = Object.entries(manifest.redis.keysPerDb)
    .map(([db, n]) => `DB ${db}: ${n}`)
    .join(', ');
  record('redis', `Redis ${manifest.redis.version}, appendonly ${manifest.redis.config?.appendonly ?? '(CONFIG disabled)'}, keys ${keys || 'none'} (only counted: rehearsal rebuilds Redis data)`);
  const sealed = options.snapshotKey ? 'sealed with snapshot-key (AES-256-GCM)' : 'not sealed (no snapshot-key): keep it on this disk, mode 0600';
  record('file', `written to ${options.snapshotFile}, ${sealed}`);
}
