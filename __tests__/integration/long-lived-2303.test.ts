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
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from '../support/deployment.js';
import { HARBOR_PASSWORD, MANAGER_SECRET, ONESHOT_2303_BROKEN, OTHER_DOMAIN_USERS, stateOf, USERS_BY_STATUS, type Base2303, type Clone2303, useDeployment2303 } from '../support/deployment-2303.js';
import { ranRealPackage } from '../support/real-lines.js';
import { REHEARSAL_FINDS_IT } from '../../src/steps/step.js';
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
import { catalogueDifferences, catalogueOf, type Catalogue } from '../support/schema-catalogue.js';

const info = workerTestbed();
const { admin: adminOf, base: baseOf, clone, productVenvs, pythons, python312 } = useDeployment2303(info);
let admin: Admin;
let base: Base2303;
let PRODUCT_VENVS: string;
beforeAll(() => {
  admin = adminOf();
  base = baseOf();
  PRODUCT_VENVS = productVenvs();
});

/** Toward 24.12.1 with the real packages; from-version is not given: it is read from the database. */
function toward2412(c: Clone2303, command: 'preflight' | 'migrate') {
  return {
    command,
    'to-version': '24.12',
    'manager-config': c.managerToml,
    'manager-venv': PRODUCT_VENVS,
    python: pythons(),
    'backup-dir': mkdtempSync(join(tmpdir(), 'bai-2303-backup-')),
  };
}

const entries = (report: Report, phase: string, step: string, hop?: string) => report.entries.filter((e) => e.phase === phase && e.step === step && (hop === undefined || e.hop === hop));
const failures = (report: Report) => report.entries.filter((e) => e.status === 'failed').map((e) => [e.hop, e.step]);
const noSecrets = (report: Report) => {
  const text = JSON.stringify(report);
  expect(text).not.toContain(MANAGER_SECRET);
  expect(text).not.toContain(HARBOR_PASSWORD);
  expect(text).not.toContain(STORAGE_PROXY_SECRET);
};

describe('a 23.03.12 oneshot install, upgraded to 23.09 by the real 23.09.10 and seeded with years of data, toward 24.12.1', () => {
  it('the base: 23.03.12’s `mgr schema oneshot` as typed fails on its group callback; the same command past it makes the schema, and migrate with 23.09.10 takes it to 23.09’s head', () => {
    expect(base.oneshot.cli.exitCode).not.toBe(0);
    expect(base.oneshot.cli.stderr).toContain(ONESHOT_2303_BROKEN);
    expect(base.oneshot.oneshot.stderr).toContain('Detected a fresh new database.');
    expect(entries(base.upgrade, 'apply', 'schema').map((e) => e.detail)).toEqual([`alembic upgrade ${latestRelease('23.03').head} → ${latestRelease('23.09').head} (23.09.11)`]);
  });
});

/** 308bcecec5c2 counts every user of the domain "default"; what the seed put there, by status, in the order the check reads them (by status). */
function modelStoreMembers(): { total: number; others: string } {
  const total = Object.values(USERS_BY_STATUS).reduce((a, b) => a + b, 0);
  const others = Object.entries(USERS_BY_STATUS)
    .filter(([status]) => status !== 'active')
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([status, n]) => `${n} ${status}`)
    .join(', ');
  return { total, others };
}

/** 23.09.10's own models made into an empty database by SQLAlchemy's create_all, what `mgr schema oneshot` does, in the venv preflight made. */
const CREATE_ALL = `
import asyncio, os
from sqlalchemy.ext.asyncio import create_async_engine
import ai.backend.manager.models
from ai.backend.manager.models.base import metadata
async def main():
    engine = create_async_engine(os.environ["REFERENCE_URL"])
    async with engine.begin() as conn:
        await conn.exec_driver_sql('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"')
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
asyncio.run(main())
`;
let reference: Catalogue | undefined;

/** The catalogue of a database made from 23.09.10's models: what the comparison should find the clone differs from. */
async function referenceCatalogue(): Promise<Catalogue> {
  if (reference) return reference;
  const database = `ref2309_${randomBytes(3).toString('hex')}`;
  await admin.pg.query(`CREATE DATABASE ${database}`);
  try {
    const { host, port, user, password } = info.postgres;
    execFileSync(join(PRODUCT_VENVS, '23.09.10', 'bin', 'python'), ['-c', CREATE_ALL], {
      env: { PATH: process.env.PATH, REFERENCE_URL: `postgresql+asyncpg://${user}:${encodeURIComponent(password)}@${host}:${port}/${database}` },
      stdio: 'pipe',
    });
    const pgModule = (await import('pg')).default;
    const client = new pgModule.Client({ host, port, user, password, database });
    await client.connect();
    try {
      reference = await catalogueOf(client);
    } finally {
      await client.end();
    }
    return reference;
  } finally {
    await admin.pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  }
}

/** The warning of the drift check's comparison with 23.09.10's models, and the names it lists. */
const modelWarning = (report: Report) => entries(report, 'preflight', 'schema').filter((e) => e.status === 'warning' && e.detail.startsWith("differences from 23.09.10's models"));

describe('preflight toward 24.12.1 refuses, naming what blocks, before anything is written', () => {
  it('an image of the local registry with a project path (local/<project>/<name>): 24.09’s 1d42c726d8a3 would stop with MultipleResultsFound; preflight names the image and etcd’s local registry', async () => {
    const c = await clone();
    const image = 'local/vision-team/notebook:1.0';
    // As 23.09 stores an image built on an agent and tagged under a project path.
    await c.pg.query(
      `INSERT INTO images (id, name, image, tag, registry, architecture, config_digest, size_bytes, type, labels, resources, is_local)
       VALUES (gen_random_uuid(), $1, 'vision-team/notebook', '1.0', 'local', 'x86_64', $2, 1, 'COMPUTE', '{}', '{}', true)`,
      [image, `sha256:${createHash('sha256').update(image).digest('hex')}`],
    );
    const before = await stateOf(admin, c);
    const { report } = await runEngine(toward2412(c, 'preflight'));
    expect(report.outcome).toBe('failure');
    expect(failures(report)).toEqual([['24.03 → 24.09', 'container-registries']]);
    const refusal = entries(report, 'preflight', 'container-registries').find((e) => e.status === 'failed')!.detail;
    // The local registry's own row and one the revision makes for the image's project: two of type local.
    const [registry, project] = image.split('/');
    expect(refusal).toMatch(/^1d42c726d8a3 would stop with MultipleResultsFound, rolling the upgrade back: it makes 2 container_registries rows of type local /);
    expect(refusal).toContain(`(${registry} (0 images); ${registry}/${project} (1 image))`);
    expect(refusal).toContain(`images named after the local registry ${registry} with a path under it (${image})`);
    expect(refusal).toContain(`Move etcd config/docker/registry/${registry} aside before migrating`);
    expect(refusal).toContain(REHEARSAL_FINDS_IT);
    expect(await stateOf(admin, c)).toEqual(before);
    noSecrets(report);
  }, 900_000);

  it('no project resource policy "default": 24.03’s 308bcecec5c2 would stop on its foreign key; preflight names the policy and the ones there are', async () => {
    const c = await clone();
    await c.pg.query(`UPDATE groups SET resource_policy = 'team' WHERE resource_policy = 'default'`);
    await c.pg.query(`DELETE FROM project_resource_policies WHERE name = 'default'`);
    const { rows: policies } = await c.pg.query<{ name: string }>('SELECT name FROM project_resource_policies ORDER BY name');
    const before = await stateOf(admin, c);
    const { report } = await runEngine(toward2412(c, 'preflight'));
    expect(report.outcome).toBe('failure');
    expect(failures(report)).toEqual([['23.09 → 24.03', 'model-store-project']]);
    expect(entries(report, 'preflight', 'model-store-project').map((e) => e.detail)).toEqual([
      `308bcecec5c2 (24.03.11) would stop the upgrade on fk_groups_resource_policy_project_resource_policies: it gives the project model-store the project resource policy "default", which does not exist (policies: ${policies.map((p) => p.name).join('; ')}). Create it before migrating, as 23.03's a9eb2b002330 seeds it: INSERT INTO project_resource_policies (name, max_vfolder_size) VALUES ('default', -1). ${REHEARSAL_FINDS_IT}`,
    ]);
    expect(await stateOf(admin, c)).toEqual(before);
    noSecrets(report);
  }, 900_000);

  it('schema drift: a foreign key 24.03’s 59a622c31820 drops, lost by a restore; preflight renders the path’s revisions in their own venvs, names the revision and the constraint, and writes nothing', async () => {
    const c = await clone();
    await c.pg.query('ALTER TABLE vfolders DROP CONSTRAINT fk_vfolders_user_users');
    const before = await stateOf(admin, c);
    const { report } = await runEngine(toward2412(c, 'preflight'));
    expect(report.outcome).toBe('failure');
    expect(failures(report)).toEqual([['23.09 → 24.03', 'schema']]);
    const refusal = entries(report, 'preflight', 'schema').find((e) => e.status === 'failed')!.detail;
    expect(refusal).toMatch(
      /^schema drift: 24\.03\.11's 59a622c31820 would stop: it drops constraint fk_vfolders_user_users of vfolders, which the database does not have \(ALTER TABLE vfolders DROP CONSTRAINT fk_vfolders_user_users\)\. PostgreSQL would roll 23\.09 → 24\.03 back there\./,
    );
    expect(refusal).toContain(REHEARSAL_FINDS_IT);
    // The lost foreign key is said once, as the stop; the comparison with the models does not repeat it.
    expect(
      modelWarning(report)
        .map((e) => e.detail)
        .join('\n'),
    ).not.toContain('fk_vfolders_user_users');
    expect(await stateOf(admin, c)).toEqual(before);
    noSecrets(report);
  }, 900_000);
});

describe('differences from 23.09.10’s models that no revision on the path stops on are warnings', () => {
  it('a hand-made index and a column made nullable by hand: preflight names both beside what the install left, passes, and writes nothing', async () => {
    const c = await clone();
    await c.pg.query('CREATE INDEX ix_hand_made_users_created ON users (created_at)');
    await c.pg.query('ALTER TABLE scaling_groups ALTER COLUMN driver DROP NOT NULL');
    const before = await stateOf(admin, c);
    const { report } = await runEngine(toward2412(c, 'preflight'));
    expect(report.error).toBeUndefined();
    expect(failures(report)).toEqual([]);
    const expected = catalogueDifferences(await catalogueOf(c.pg), await referenceCatalogue());
    expect(expected).toEqual(expect.arrayContaining(['index ix_hand_made_users_created', 'column scaling_groups.driver']));
    const warned = modelWarning(report).map((e) => e.detail);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain(`no revision on the path stops on (${expected.length}): `);
    expect(warned[0]).toContain('index ix_hand_made_users_created on users is in the database, not in the models');
    expect(warned[0]).toContain('column scaling_groups.driver is nullable in the database, NOT NULL in the models');
    expect(await stateOf(admin, c)).toEqual(before);
    noSecrets(report);
  }, 900_000);
});

describe('what preflight says of the clean clone toward 24.12.1', () => {
  it('plans from 23.09 (read from the database), predicts the registry rows and the model-store members from the seed, and says 24.09 → 24.12 downgrades with 24.09.14 to e9e574a6e22d, then upgrades with 24.12.1; writes nothing', async () => {
    const c = await clone();
    const before = await stateOf(admin, c);
    const { report } = await runEngine(toward2412(c, 'preflight'));
    expect(report.error).toBeUndefined();
    expect(report.fromVersion).toBe('23.09');
    expect(report.currentRevision).toBe(latestRelease('23.09').head);
    expect(report.plan.map((h) => h.hop)).toEqual(['23.09 → 24.03', '24.03 → 24.09', '24.09 → 24.12']);
    // The venvs of the hops' releases; 23.09.10's, where the database already is, only for the comparison with its models.
    const venvs = entries(report, 'setup', 'manager-venv').map((e) => e.detail);
    expect(venvs.filter((v) => v.includes('23.09.10'))).toEqual([
      expect.stringMatching(/; 23\.09\.10's models are compared with the live schema from it \(the drift check\); its alembic runs nothing$/),
    ]);

    // 308bcecec5c2: every user of the domain "default", whatever its status; the other domain's are not counted.
    const { rows: counted } = await c.pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM users WHERE domain_name = 'default'`);
    const { total, others } = modelStoreMembers();
    expect(counted[0]!.n).toBe(total);
    expect(base.seed.defaultDomainUsers).toBe(total);
    expect((await c.pg.query<{ n: number }>('SELECT count(*)::int AS n FROM users')).rows[0]!.n).toBe(total + OTHER_DOMAIN_USERS);
    expect(entries(report, 'preflight', 'model-store-project').map((e) => e.detail)).toEqual([
      `308bcecec5c2 will add the project model-store (type model-store) to the domain "default" with the resource policy "default", and make all ${total} user(s) of that domain members, ${others} among them`,
    ]);

    // 1d42c726d8a3: the rows of every registry and project in etcd, and the one it makes by itself.
    const rows = base.seed.registryRows;
    const shown = rows.slice(0, 5).join('; ') + (rows.length > 5 ? `; and ${rows.length - 5} more` : '');
    const registries = entries(report, 'preflight', 'container-registries').map((e) => [e.status, e.detail]);
    expect(registries).toContainEqual([
      'ok',
      `${base.seed.registries} registries in etcd config/docker/registry/ and ${base.seed.images} image(s) become ${rows.length} container_registries row(s): ${shown}`,
    ]);
    expect(registries).toContainEqual([
      'warning',
      expect.stringMatching(
        new RegExp(
          `^1d42c726d8a3 also makes ${base.seed.automaticRows.length} row\\(s\\) by itself, without credentials, for images whose project no registry in etcd lists: ${base.seed.automaticRows.map((r) => `${r.replace(/[.]/g, '\\.')} \\(1 image\\)`).join('; ')};`,
        ),
      ),
    ]);

    // 24.09 → 24.12: 24.09.14's own alembic down to e9e574a6e22d, then 24.12.1's up to its head.
    const hop = entries(report, 'preflight', 'schema', '24.09 → 24.12').map((e) => e.detail);
    expect(hop[0]).toBe(
      `from ${latestRelease('24.09').head}, where the hops before 24.09 → 24.12 leave it; 24.12.1's migration scripts do not have ${latestRelease('24.09').head}, so 24.09's alembic will first downgrade to ${DOWNGRADE_TO}, then 24.12.1's upgrade to ${latestRelease('24.12').head}`,
    );
    expect(hop.slice(1)).toEqual([
      expect.stringMatching(new RegExp(`^alembic runs: "${PRODUCT_VENVS}/24\\.12\\.1/bin/python -m alembic" .* knows revision ${latestRelease('24.12').head}$`)),
      expect.stringMatching(new RegExp(`^24\\.09's alembic runs: "${PRODUCT_VENVS}/24\\.09\\.14/bin/python -m alembic" .* knows revision ${DOWNGRADE_TO}$`)),
    ]);
    // Every revision of the three hops (24.09.14's downgrade among them) played over the live schema: no drift.
    expect(entries(report, 'preflight', 'schema', '23.09 → 24.03').map((e) => e.detail)).toContainEqual(
      expect.stringMatching(/^schema drift: none; \d+ revision\(s\) on the path played over the live schema/),
    );
    // What 23.09.10's models describe and this install does not (read from the catalogues, not from bai-migrate): each is a warning.
    const expected = catalogueDifferences(await catalogueOf(c.pg), await referenceCatalogue());
    expect(expected.length).toBeGreaterThan(0);
    const warned = modelWarning(report);
    expect(warned).toHaveLength(1);
    expect(warned[0]!.detail).toContain(`no revision on the path stops on (${expected.length}): `);
    for (const difference of expected) expect(warned[0]!.detail).toContain(difference.split(' ').pop()!);
    expect(entries(report, 'preflight', 'schema', '23.09 → 24.03').map((e) => e.detail)).toContainEqual(
      expect.stringContaining(`compared with 23.09.10's models: ${expected.length} other difference(s), warned about`),
    );
    expect(await stateOf(admin, c)).toEqual(before);
    noSecrets(report);
  }, 900_000);
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
