/**
 * A deployment installed the way an operator's was (support/deployment-2303.ts): a fresh install by
 * the real backend.ai-manager 23.03.12's `mgr schema oneshot`, upgraded to 23.09 by bai-migrate's
 * migrate with the real 23.09.10, then years of data. Each case takes a clone of that base toward
 * 24.12.1 with the real packages from PyPI (manager-venv), and every expected value is computed from
 * the seed or read from the servers, never taken from bai-migrate.
 *
 * 23.03.12's `mgr schema oneshot` as an operator types it fails on any database (its group's
 * callback takes an argument click never passes); the base is made by the same command of the same
 * release run past that callback (ONESHOT_2303_BROKEN says what it prints).
 *
 * This file times the rehearsal against the real migrate, so it runs alone after the others
 * (vitest.config.ts, MEASURING); what preflight says of the same base is in
 * long-lived-2303-preflight.test.ts, which runs beside the other files.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from '../support/deployment.js';
import { entries, failures, HARBOR_PASSWORD, MANAGER_SECRET, modelStoreMembers, noSecrets, ONESHOT_2303_BROKEN, stateOf, type Base2303, useDeployment2303 } from '../support/deployment-2303.js';
import { ranRealPackage } from '../support/real-lines.js';
import { runEngine } from '../support/run.js';
import { latestRelease } from '../../src/releases/releases.js';
import { DOWNGRADE_TO } from '../../src/hops/24.09-24.12/facts.js';
import type { Report } from '../../src/core/report/index.js';
import { hopTimes } from '../../src/rehearsal/growth.js';
import { openSnapshot } from '../../src/rehearsal/snapshot-seal.js';
import { parseSnapshotKey } from '../../src/options/snapshot-key.js';
import { localImageAvailable, LOCAL_IMAGE } from '../support/testbed.js';
import { STORAGE_PROXY_SECRET } from '../support/installation-rows.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin: adminOf, base: baseOf, clone, productVenvs, pythons, python312, toward2412 } = useDeployment2303(info);
let admin: Admin;
let base: Base2303;
let PRODUCT_VENVS: string;
beforeAll(() => {
  admin = adminOf();
  base = baseOf();
  PRODUCT_VENVS = productVenvs();
});

describe('a 23.03.12 oneshot install, upgraded to 23.09 by the real 23.09.10 and seeded with years of data, toward 24.12.1', () => {
  it('the base: 23.03.12’s `mgr schema oneshot` as typed fails on its group callback; the same command past it makes the schema, and migrate with 23.09.10 takes it to 23.09’s head', () => {
    expect(base.oneshot.cli.exitCode).not.toBe(0);
    expect(base.oneshot.cli.stderr).toContain(ONESHOT_2303_BROKEN);
    expect(base.oneshot.oneshot.stderr).toContain('Detected a fresh new database.');
    expect(entries(base.upgrade, 'apply', 'schema').map((e) => e.detail)).toEqual([`alembic upgrade ${latestRelease('23.03').head} → ${latestRelease('23.09').head} (23.09.11)`]);
  });
});

/** The two runs the timing comparison needs: the rehearsal of a snapshot of a clean clone, and the real migrate of another. */
const measured: { rehearsal?: Report; migrate?: Report } = {};

/** The migration's own time, hop by hop: every step's apply and verify but the backup and the manager's start (growth.ts). */
const migrationMs = (report: Report) => [...hopTimes(report.timings ?? []).values()].reduce((sum, hop) => sum + hop.totalMs, 0);

describe('a nightly snapshot of the clean clone (sealed with a key), rehearsed to 24.12.1 with the real packages, as the PR check does', () => {
  it('the snapshot changes nothing and carries no secret; the rehearsal keeps "default" and the manager secret usable, migrates all three hops, verifies, and ends with the real 24.12.1 manager serving on the copy', async () => {
    const c = await clone();
    const before = await stateOf(admin, c);
    const key = randomBytes(32).toString('hex');
    const dir = mkdtempSync(join(tmpdir(), 'bai-2303-snapshot-'));
    const file = join(dir, 'snapshot.jsonl.gz');
    const snapshot = await runEngine({ command: 'snapshot', 'manager-config': c.managerToml, 'snapshot-file': file, 'snapshot-key': key });
    expect(snapshot.report.error).toBeUndefined();
    expect(await stateOf(admin, c)).toEqual(before);
    // Opened as rehearse opens it: none of the deployment's secrets, in any of the forms they are stored in.
    const plain = gunzipSync(readFileSync(await openSnapshot(file, parseSnapshotKey(key), join(dir, 'plain.jsonl.gz')))).toString('utf8');
    for (const secret of [MANAGER_SECRET, HARBOR_PASSWORD, STORAGE_PROXY_SECRET, info.postgres.password, info.redis.password]) expect(plain).not.toContain(secret);
    // The names upstream's revisions look up by value are kept (308bcecec5c2 reads the policy "default").
    expect(plain).toContain('"default"');

    const { report } = await runEngine({
      command: 'rehearse',
      'to-version': '24.12',
      'manager-config': c.managerToml,
      'manager-venv': PRODUCT_VENVS,
      python: pythons(),
      'snapshot-file': file,
      'snapshot-key': key,
      ...(localImageAvailable() ? { 'rehearsal-image': LOCAL_IMAGE } : {}),
    });
    expect(report.entries.filter((e) => e.status === 'failed').map((e) => `${e.phase} ${e.hop ?? ''} ${e.step}: ${e.detail}`)).toEqual([]);
    expect(report.error).toBeUndefined();
    expect(report.outcome).toBe('success');
    expect(failures(report)).toEqual([]);
    expect(report.plan.map((h) => h.hop)).toEqual(['23.09 → 24.03', '24.03 → 24.09', '24.09 → 24.12']);
    // 24.03's 308bcecec5c2 found the policy "default"; 24.09's 1d42c726d8a3 made the registry rows; 24.12.1's head was reached.
    expect(entries(report, 'apply', 'schema').map((e) => e.status)).toEqual(['changed', 'changed', 'changed']);
    // The head, and every schema fact of it, verified on the copy.
    const verified = entries(report, 'verify', 'schema', '24.09 → 24.12').map((e) => e.status);
    expect(verified.length).toBeGreaterThan(1);
    expect(new Set(verified)).toEqual(new Set(['ok']));
    const proof = entries(report, 'apply', 'manager-starts');
    expect(proof.map((e) => e.status)).toEqual(['changed']);
    expect(proof[0]!.detail).toMatch(
      /^the 24\.12\.1 manager started on the copy in [\d.]+ s, answered GET \/ \(.*"manager": ?"24\.12\.1".*\), served a signed GraphQL query of users, vfolders, sessions and agents \(.*\), logged no error/,
    );
    ranRealPackage('24.12.1', 'rehearse: alembic and start-server on a restored 23.03-installed snapshot');
    // The deployment is as it was: the rehearsal ran on its own servers.
    expect(await stateOf(admin, c)).toEqual(before);
    noSecrets(report);
    measured.rehearsal = report;
  }, 1_800_000);
});

describe('migrate of the clean clone to 24.12.1, then clear-history with the real 24.12.1 manager', () => {
  it('migrate makes no 23.09.10 venv, 1d42c726d8a3 makes exactly the predicted rows, the model-store project gets every user of "default"; the manager’s clear-history then stops on fk_routings_session_sessions and the report names it, without SQL, with what it had deleted per table', async () => {
    const c = await clone();
    const inputs = toward2412(c, 'migrate');
    const { report } = await runEngine(inputs);
    expect(report.error).toBeUndefined();
    measured.migrate = report;
    expect(report.fromVersion).toBe('23.09');
    // 23.09.10's venv serves only the comparison with its models: its alembic runs nothing.
    expect(
      entries(report, 'setup', 'manager-venv')
        .map((e) => e.detail)
        .filter((d) => d.includes('23.09.10')),
    ).toEqual([expect.stringMatching(/its alembic runs nothing$/)]);
    expect(
      entries(report, 'apply', 'schema')
        .map((e) => e.detail)
        .join('\n'),
    ).not.toContain('23.09.10');
    expect((await c.pg.query('SELECT version_num FROM alembic_version')).rows).toEqual([{ version_num: latestRelease('24.12').head }]);
    expect(entries(report, 'apply', 'schema', '24.09 → 24.12').map((e) => e.detail)).toEqual([
      `24.09's alembic downgrade to ${DOWNGRADE_TO}; then alembic upgrade ${DOWNGRADE_TO} → ${latestRelease('24.12').head} (24.12.1)`,
    ]);
    ranRealPackage('24.03.11', 'alembic on a 23.03.12 oneshot install');
    ranRealPackage('24.09.14', 'alembic (1d42c726d8a3) on a 23.03.12 oneshot install, downgrade to e9e574a6e22d');
    ranRealPackage('24.12.1', 'alembic upgrade on a 23.03.12 oneshot install');

    const { rows: made } = await c.pg.query<{ row: string }>(`SELECT registry_name || CASE WHEN project IS NULL THEN ' (local)' ELSE '/' || project END AS row FROM container_registries ORDER BY 1`);
    expect(made.map((r) => r.row)).toEqual([...base.seed.registryRows].sort());
    const predicted = entries(report, 'preflight', 'container-registries').find((e) => / become \d+ container_registries row/.test(e.detail))!.detail;
    expect(predicted).toContain(`become ${made.length} container_registries row(s)`);
    expect((await c.pg.query('SELECT count(*)::int AS n FROM images WHERE registry_id IS NULL')).rows).toEqual([{ n: 0 }]);
    const { rows: store } = await c.pg.query<{ members: number }>(
      `SELECT (SELECT count(*)::int FROM association_groups_users a WHERE a.group_id = g.id) AS members FROM groups g WHERE g.type::text = 'model-store'`,
    );
    expect(store).toEqual([{ members: modelStoreMembers().total }]);

    // Years of history; a year's retention reaches the sessions a destroyed model service's routings still name.
    const count = async (table: string, made: string) => (await c.pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${made} < now() - interval '365 days'`)).rows[0]!.n;
    const all = async () => ({
      kernels: (await c.pg.query<{ n: number }>('SELECT count(*)::int AS n FROM kernels')).rows[0]!.n,
      sessions: (await c.pg.query<{ n: number }>('SELECT count(*)::int AS n FROM sessions')).rows[0]!.n,
      error_logs: (await c.pg.query<{ n: number }>('SELECT count(*)::int AS n FROM error_logs')).rows[0]!.n,
    });
    expect(await count('sessions', 'terminated_at')).toBeGreaterThan(0);
    const { rows: routedOld } = await c.pg.query<{ id: string }>(
      `SELECT r.session::text AS id FROM routings r JOIN sessions s ON s.id = r.session WHERE s.terminated_at < now() - interval '365 days'`,
    );
    expect(routedOld.length).toBeGreaterThan(0);
    const before = await all();
    const cleared = await runEngine({
      command: 'clear-history',
      mode: 'manager',
      retention: '365d',
      'manager-config': c.managerToml,
      'manager-venv': PRODUCT_VENVS,
      'to-version': '24.12.1',
      python: python312(),
    });
    const after = await all();
    ranRealPackage('24.12.1', 'mgr clear-history');
    const deleted = { kernels: before.kernels - after.kernels, sessions: before.sessions - after.sessions, error_logs: before.error_logs - after.error_logs };
    const error = cleared.report.error ?? '';
    expect(cleared.report.outcome).toBe('failure');
    expect(error).toContain('fk_routings_session_sessions');
    expect(error).toMatch(/(IntegrityError|ForeignKeyViolationError)/);
    expect(error).toContain(`before it failed, it had deleted ${deleted.kernels} kernel row(s), ${deleted.sessions} session row(s), ${deleted.error_logs} error log row(s)`);
    // No SQL, no parameters, no row's key.
    expect(error).not.toMatch(/\[SQL:|\[parameters:|DELETE FROM|SELECT /);
    for (const { id } of routedOld) expect(JSON.stringify(cleared.report)).not.toContain(id);
    noSecrets(cleared.report);
  }, 1_800_000);
});

describe('the rehearsal measures what the real migrate takes', () => {
  it('its migration of the three hops took within 25 % of the real migrate of the same deployment', () => {
    expect(measured.rehearsal, 'the rehearsal case passed').toBeDefined();
    expect(measured.migrate, 'the migrate case ran').toBeDefined();
    const rehearsed = migrationMs(measured.rehearsal!);
    const real = migrationMs(measured.migrate!);
    console.log(`migration time: rehearsal ${rehearsed} ms, real migrate ${real} ms (${((rehearsed / real - 1) * 100).toFixed(1)} %)`);
    expect(real).toBeGreaterThan(0);
    expect(Math.abs(rehearsed - real) / real).toBeLessThanOrEqual(0.25);
  });
});
