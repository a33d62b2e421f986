/**
 * What the end-to-end tests with Backend.AI's real packages check alike: a migration that verifies
 * and is done (a second run changes nothing), a snapshot of a real deployment that holds none of
 * the secrets planted in it, and a rehearsal of that snapshot on disposable servers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { startServers } from '../../src/rehearsal/servers.js';
import type { Report } from '../../src/core/report/index.js';
import { snapshotState, type Admin, type TestDeployment } from './deployment.js';
import { encodings, NOT_PLANTED, plantSecrets } from './real-2109.js';
import { runEngine, tempDir } from './run.js';
import { localImageAvailable, LOCAL_IMAGE } from './testbed.js';

/** A dry run of `inputs` leaves the deployment exactly as it was; then the migration itself, which must end without an error. */
export async function dryRunThenMigrate(admin: Admin, deployment: TestDeployment, inputs: Record<string, string>): Promise<{ report: Report }> {
  const untouched = await snapshotState(admin, deployment);
  const dry = await runEngine({ ...inputs, 'dry-run': 'true' });
  expect(dry.report.error).toBeUndefined();
  expect(await snapshotState(admin, deployment)).toEqual(untouched);
  const run = await runEngine(inputs);
  expect(run.report.error).toBeUndefined();
  return run;
}

/** After a migrate: verify passes, and a second migrate changes nothing. */
export async function expectVerifiedAndDone(inputs: Record<string, string>): Promise<void> {
  const verified = await runEngine({ ...inputs, command: 'verify' });
  expect(verified.report.error).toBeUndefined();
  const again = await runEngine(inputs);
  expect(again.report.error).toBeUndefined();
  expect(again.report.entries.filter((e) => e.phase === 'apply' && e.status === 'changed')).toEqual([]);
}

/**
 * Plants a secret in every free-text column of the deployment's kernels, keypairs, users, agents
 * and scaling groups, takes a snapshot, and checks that none of them (nor a secret key) is in it,
 * as is, hex- or base64-encoded. Returns the snapshot file.
 */
export async function snapshotWithoutSecrets(deployment: TestDeployment, toml: string): Promise<string> {
  const { rows } = await deployment.pg.query<{ secret_key: string }>('SELECT secret_key FROM keypairs');
  const secrets = [...rows.map((r) => r.secret_key), ...(await plantSecrets(deployment.pg, ['kernels', 'keypairs', 'users', 'agents', 'scaling_groups'], NOT_PLANTED))];
  const file = join(tempDir(), 'snapshot.jsonl.gz');
  const snapshot = await runEngine({ command: 'snapshot', 'manager-config': toml, 'snapshot-file': file });
  expect(snapshot.report.error).toBeUndefined();
  const raw = readFileSync(file);
  const text = gunzipSync(raw).toString('utf8');
  expect(secrets.length).toBeGreaterThan(500);
  for (const secret of secrets) {
    for (const form of encodings(secret)) expect(text.includes(form) || raw.includes(form), `secret ${secret.slice(0, 6)}… in the snapshot`).toBe(false);
  }
  return file;
}

/** Rehearses `inputs` on the snapshot, on disposable servers of `line`' halfstack; the rehearsal must end verified. */
export async function rehearseVerified(line: string, inputs: Record<string, string>, file: string): Promise<Report> {
  const servers = await startServers({ line, localImage: localImageAvailable() ? LOCAL_IMAGE : undefined });
  try {
    const rehearsal = await runEngine({
      ...inputs,
      command: 'rehearse',
      'snapshot-file': file,
      'allow-running-services': 'true',
      'rehearsal-servers': 'given',
      'postgres-url': `postgresql://postgres:${servers.postgres.password}@${servers.postgres.host}:${servers.postgres.port}/postgres`,
      'redis-url': `redis://:${servers.redis.password}@${servers.redis.host}:${servers.redis.port}`,
      'etcd-endpoints': `${servers.etcd.host}:${servers.etcd.port}`,
    });
    expect(rehearsal.report.error).toBeUndefined();
    // With enough history, a copy with its older half cleared is migrated first, then the snapshot again.
    const growth = rehearsal.report.growth
      ? [
          ['smaller copy', 'ok'],
          ['restore', 'ok'],
        ]
      : [['growth', 'skipped']];
    const judged = rehearsal.report.growth ? rehearsal.report.entries.filter((e) => e.phase === 'rehearse' && e.step === 'growth').map((e) => [e.step, e.status]) : [];
    expect(rehearsal.report.entries.filter((e) => e.phase === 'rehearse').map((e) => [e.step, e.status])).toEqual([
      ['snapshot', 'ok'],
      ['servers', 'ok'],
      ['restore', 'ok'],
      ...growth,
      ['final verify', 'ok'],
      ...judged,
      ['result', 'ok'],
    ]);
    return rehearsal.report;
  } finally {
    await servers.stop();
  }
}
