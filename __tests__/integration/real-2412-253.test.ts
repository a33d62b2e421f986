/**
 * 24.12 → 25.1 → 25.2 → 25.3 → 25.4 → 25.5 → 25.6 with Backend.AI's real packages from PyPI: a
 * deployment installed by the real 24.12.1 (its own `mgr schema oneshot` into an empty database,
 * then an installation's rows), migrated by bai-migrate's migrate with manager-venv, which makes the
 * venvs of 25.1.1, 25.2.0, 25.3.3, 25.4.0 and 25.5.2 itself (uv, pyenv's Python 3.12), and of
 * 25.6.17 (pyenv's Python 3.13; src/releases/manager-python.ts).
 *
 * Also with the real packages: 25.2.0's ecc9f6322be4 stops on an endpoint that is neither destroyed
 * nor has an image, which preflight names first; a database at 25.2.0's head, which 24.09.6+
 * share, is found to be at 25.2.0; 25.4.0's c002140f14d3 stops on images that share its unique
 * (registry, project, name, tag, architecture), which preflight names and drop-duplicate-images
 * resolves; 25.6.17's loader refuses the etcetra lock backend 25.5 accepted, which preflight names
 * and lock-backend rewrites; and runs to 25.1, 25.2, 25.3, 25.4, 25.5 and 25.6 end with that release's
 * real manager serving on the migrated data (manager-starts, on the test's copy as on a rehearsal's).
 * Then the same deployment goes on through every line to 25.19 (Python 3.13).
 *
 * Two deployments, each taken on as an operator's is: one from 24.12.1 to 25.3.3 in one run, then
 * on to 25.19.2 a line or a few at a time; the other to 25.1, then 25.2, where its hazard is.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Namespace } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectAdmin, type Admin } from '../support/deployment.js';
import { insertColumns, insertFilled } from '../support/installation-rows.js';
import { managerAlembicIni, productVenvs, schemaOneshot } from '../support/real-manager.js';
import { seedInstallation, storageProxyKeys } from '../support/installation-rows.js';
import { ranRealPackage } from '../support/real-lines.js';
import { runEngine } from '../support/run.js';
import { MemoryLogger } from '../../src/core/logger.js';
import { parseOptions } from '../../src/options/index.js';
import { ManagerVenvs } from '../../src/manager/venvs.js';
import { pyenvInterpreters, type ProvisionedVenv } from '../../src/manager/venv.js';
import { workerTestbed } from '../support/worker-testbed.js';
import { databaseClient, operatorManagerToml } from '../support/operator-toml.js';
import type { Report } from '../../src/core/report/index.js';

const info = workerTestbed();
const client = (database: string) => databaseClient(info, database);
/** manager.toml as a 24.12 operator's: no RPC key pair (24.12.1's CLI makes do without). */
const managerToml = (database: string, namespace: string) => operatorManagerToml(info, { database, namespace, prefix: 'bai-real-2412-' });
/** Each line's final patch and head, as releases.md lists them (§1, §3.7–§3.12). */
const HEADS = {
  '24.12.1': '0bb88d5a46bf',
  '25.1.1': 'fb89f5d7817b',
  '25.2.0': 'ecc9f6322be4',
  '25.3.3': '8f85e9d0bd4e',
  '25.4.0': '70e0533aa49a',
  '25.5.2': '683ca0a32f41',
  '25.6.17': 'c7fedaca4883',
  '25.7.0': 'c7fedaca4883',
  '25.8.1': '17ea44123131',
  '25.9.1': '17ea44123131',
  '25.10.1': '17ea44123131',
  '25.11.4': 'bf39b34717d4',
  '25.12.1': '643deb439458',
  '25.13.4': '4db74efaf82e',
  '25.14.5': '08c1867e266e',
  '25.15.12': 'fa3dd7f77c19',
  '25.16.0': 'd811b103dbfc',
  '25.17.1': 'dd15fd17f232',
  '25.18.1': 'b0fb0eb6b6bc',
  '25.19.2': 'd0a3c0716970',
} as const;
/** 25.6 → 25.19 one line at a time, each line's final patch (releases.md §3.13–§3.25). */
const LINES_AFTER_256 = ['25.7.0', '25.8.1', '25.9.1', '25.10.1', '25.11.4', '25.12.1', '25.13.4', '25.14.5', '25.15.12', '25.16.0', '25.17.1', '25.18.1', '25.19.2'] as const;
/** What 25.6.17's loader accepts for [manager] distributed-lock (backend.ai@25.6.17:src/ai/backend/manager/config.py), in the order bai-migrate lists them. */
const LOCKS_2506 = ['filelock', 'pg_advisory', 'etcd', 'redlock'];
/** The installation's rows the seeding makes (seed below). */
const SEEDED = { users: 3, keypairs: 3, groups: 1, scaling_groups: 1 } as const;
/** The seeded users; user0 is the superadmin. */
const SEEDED_USERS = ['user0', 'user1', 'user2'];

let admin: Admin;
let venvs: string;
let python312: string;
let python313: string;
let template: string;
const cleanups: Array<() => Promise<void>> = [];
/** The deployment the 25.6 case leaves at 25.6.17, which the next case takes on to 25.19.2. */
/** The deployments later cases go on with: the first case's at 25.3.3, the 25.6 case's at 25.6.17. */
let at253: Copy | undefined;
let at256: Copy | undefined;

/** bai-migrate's own venv of `release` (manager-venv), as migrate makes it. */
async function venvOf(release: string): Promise<ProvisionedVenv> {
  const options = parseOptions({ command: 'migrate', 'to-version': release, 'manager-venv': venvs, python: python312 });
  return (await new ManagerVenvs(options.managerVenv!, 'make', new MemoryLogger(), () => undefined).get(release, { use: 'the test runs it', unchecked: '' }))!;
}

/** `alembic <args>` of a real release's venv on `database`; its exit code and output. */
function alembic(venv: ProvisionedVenv, database: string, args: string[]): { status: number | null; output: string } {
  const { host, port, user, password } = info.postgres;
  const ini = join(mkdtempSync(join(tmpdir(), 'bai-real-2412-alembic-')), 'alembic.ini');
  writeFileSync(ini, managerAlembicIni(`postgresql+asyncpg://${user}:${encodeURIComponent(password)}@${host}:${port}/${database}`));
  const result = spawnSync(join(venv.managerCli, '..', 'alembic'), ['-c', ini, ...args], { encoding: 'utf8', timeout: 600_000 });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}` };
}

interface Copy {
  readonly database: string;
  /** The copy's etcd, under its namespace. */
  readonly etcd: Namespace;
  readonly toml: string;
  readonly pg: pg.Client;
}

/** A copy of the seeded 24.12.1 installation: its own database and etcd namespace (with the Redis address), dropped after the test. */
async function copy(): Promise<Copy> {
  const suffix = randomBytes(4).toString('hex');
  const database = `bai2412_${suffix}`;
  const namespace = `ns-2412-${suffix}`;
  await admin.pg.query(`CREATE DATABASE ${database} TEMPLATE ${template}`);
  const etcd = admin.etcd.namespace(`/sorna/${namespace}/`);
  await etcd.put('config/redis/addr').value(`${info.redis.host}:${info.redis.port}`);
  await etcd.put('config/redis/password').value(info.redis.password);
  // A storage proxy outside the loopback (TEST-NET), which the proof points at loopback first.
  for (const [key, value] of Object.entries(storageProxyKeys('192.0.2.12'))) await etcd.put(key).value(value);
  const c = client(database);
  await c.connect();
  cleanups.push(async () => {
    await c.end();
    await admin.pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.etcd.delete().prefix(`/sorna/${namespace}/`);
  });
  return { database, etcd, toml: managerToml(database, namespace), pg: c };
}

/** migrate (or another command) with the venvs bai-migrate makes from PyPI. */
function inputs(toml: string, extra: Record<string, string>): Record<string, string> {
  return {
    command: 'migrate',
    'manager-config': toml,
    'manager-venv': venvs,
    python: python312,
    'backup-dir': mkdtempSync(join(tmpdir(), 'bai-real-2412-backup-')),
    ...extra,
  };
}

const revisionsOf = async (c: pg.Client) => (await c.query<{ version_num: string }>('SELECT version_num FROM alembic_version')).rows.map((r) => r.version_num);

beforeAll(async () => {
  admin = await connectAdmin(info);
  venvs = productVenvs();
  python312 = pyenvInterpreters('3.12')[0]!;
  expect(python312, 'pyenv has no Python 3.12').toBeDefined();
  python313 = pyenvInterpreters('3.13')[0]!;
  expect(python313, 'pyenv has no Python 3.13').toBeDefined();
  const started = Date.now();
  const venv2412 = await venvOf('24.12.1');
  console.log(`24.12.1 venv made in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  template = `tmpl_2412_${randomBytes(3).toString('hex')}`;
  await admin.pg.query(`CREATE DATABASE ${template}`);
  await schemaOneshot(venv2412.managerCli, info.postgres, template, managerToml(template, 'unused'));
  ranRealPackage('24.12.1', 'mgr schema oneshot (a fresh 24.12.1 install)');
  const c = client(template);
  await c.connect();
  try {
    expect(await revisionsOf(c)).toEqual([HEADS['24.12.1']]);
    await seedInstallation(c, { users: SEEDED_USERS });
  } finally {
    await c.end();
  }
}, 900_000);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The copies a later case goes on with: dropped after the last case. */
const keptUntilTheEnd: Array<() => Promise<void>> = [];

afterAll(async () => {
  for (const cleanup of keptUntilTheEnd.splice(0).reverse()) await cleanup();
  if (template) await admin.pg.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
  await admin?.close();
});

/** An image row as a registry rescan up to 25.3 leaves it; nothing keeps (registry, project, name, tag, architecture) unique there. */
interface SeededImage {
  readonly id: string;
  readonly project: string | null;
  readonly repo: string;
  readonly tag: string;
  readonly architecture: string;
  readonly createdAt: string;
}

const REGISTRY = 'cr.example.com';
const imageName = (i: SeededImage) => [REGISTRY, i.project, i.repo].filter((p) => p !== null).join('/');
const img = (project: string | null, repo: string, tag: string, architecture: string, createdAt: string): SeededImage => ({
  id: randomUUID(),
  project,
  repo,
  tag,
  architecture,
  createdAt,
});

/**
 * Images in insertion order: python 3.11 three times (the newest inserted last, so the manager's
 * unordered lookup meets another row first), pytorch twice, python once more for aarch64 (another
 * architecture: no duplicate), and a project-less image twice (a NULL never collides).
 */
const IMAGES: readonly SeededImage[] = [
  img('stable', 'python', '3.11-ubuntu22.04', 'x86_64', '2025-02-01T00:00:00Z'),
  img('stable', 'python', '3.11-ubuntu22.04', 'x86_64', '2025-01-01T00:00:00Z'),
  img('stable', 'pytorch', '2.3-py311-cuda12.1', 'x86_64', '2025-01-05T00:00:00Z'),
  img('stable', 'python', '3.11-ubuntu22.04', 'aarch64', '2025-01-01T00:00:00Z'),
  img('stable', 'pytorch', '2.3-py311-cuda12.1', 'x86_64', '2025-01-06T00:00:00Z'),
  img(null, 'base', 'latest', 'x86_64', '2025-01-01T00:00:00Z'),
  img(null, 'base', 'latest', 'x86_64', '2025-01-02T00:00:00Z'),
  img('stable', 'python', '3.11-ubuntu22.04', 'x86_64', '2025-03-01T00:00:00Z'),
];

/** The groups uq_image_identifier refuses, computed from IMAGES: ids newest first. */
function duplicateGroups(): Array<{ name: string; architecture: string; tag: string; project: string; ids: string[] }> {
  const groups = new Map<string, SeededImage[]>();
  for (const i of IMAGES.filter((i) => i.project !== null)) {
    const key = JSON.stringify([i.project, imageName(i), i.tag, i.architecture]);
    groups.set(key, [...(groups.get(key) ?? []), i]);
  }
  return [...groups.values()]
    .filter((g) => g.length > 1)
    .map((g) => ({
      name: imageName(g[0]!),
      architecture: g[0]!.architecture,
      tag: g[0]!.tag,
      project: g[0]!.project!,
      ids: [...g].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).map((i) => i.id),
    }));
}

/** A registry, IMAGES, an alias on python's oldest row and a destroyed endpoint on pytorch's older one. */
async function seedImages(c: pg.Client): Promise<{ registryId: string }> {
  const registryId = randomUUID();
  await insertColumns(c, 'container_registries', { id: `'${registryId}'`, url: `'https://${REGISTRY}'`, registry_name: `'${REGISTRY}'`, project: `'stable'`, is_global: 'true' });
  for (const i of IMAGES) {
    await insertColumns(c, 'images', {
      id: `'${i.id}'`,
      name: `'${imageName(i)}'`,
      project: i.project === null ? 'NULL' : `'${i.project}'`,
      image: `'${[i.project, i.repo].filter((p) => p !== null).join('/')}'`,
      created_at: `'${i.createdAt}'`,
      tag: `'${i.tag}'`,
      registry: `'${REGISTRY}'`,
      registry_id: `'${registryId}'`,
      architecture: `'${i.architecture}'`,
      config_digest: `'sha256:${randomBytes(32).toString('hex')}'`,
      size_bytes: '123456789',
      is_local: 'false',
      type: `'COMPUTE'`,
      accelerators: 'NULL',
      labels: `'{}'`,
      resources: `'{"cpu": {"min": "1"}, "mem": {"min": "1g"}}'`,
    });
  }
  await c.query(`INSERT INTO image_aliases (id, alias, image) VALUES (gen_random_uuid(), 'python', $1)`, [IMAGES[1]!.id]);
  await c.query(
    `INSERT INTO endpoints (id, name, created_user, session_owner, image, domain, project, resource_group, lifecycle_stage, runtime_variant, resource_slots)
     SELECT gen_random_uuid(), 'svc-old-torch', u.uuid, u.uuid, $1, 'default', g.id, 'default', 'destroyed', 'custom', '{}' FROM users u, groups g WHERE u.username = 'user0'`,
    [IMAGES[2]!.id],
  );
  return { registryId };
}

/** The run's manager-starts proof: the real `release` manager served on the migrated copy. */
function expectServed(report: Report, release: string): void {
  const proof = report.entries.filter((e) => e.phase === 'apply' && e.step === 'manager-starts');
  expect(proof.map((e) => e.status)).toEqual(['changed']);
  const version = release.replaceAll('.', '\\.');
  expect(proof[0]!.detail).toMatch(
    new RegExp(
      `^the ${version} manager started on the copy in [\\d.]+ s, answered GET / \\(.*"manager": ?"${version}".*\\), served a signed GraphQL query of users, vfolders, sessions and agents \\(.*\\), logged no error`,
    ),
  );
  ranRealPackage(release, 'start-server on the migrated deployment (manager-starts)');
}

describe('24.12.1 → 25.1.1 → 25.2.0 → 25.3.3 → 25.4.0 → 25.5.2 → 25.6.17 with the real packages (manager-venv, uv, Python 3.12 and 3.13)', () => {
  it('one migrate takes a 24.12.1 install to 25.3.3, each hop by a plain alembic upgrade with its own release, keeping the rows, and ends with the real 25.3.3 manager serving; verify passes', async () => {
    const at = await copy();
    const { toml, pg: c } = at;
    const count = async () =>
      (
        await c.query<Record<keyof typeof SEEDED, number>>(
          `SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM keypairs) AS keypairs, (SELECT count(*)::int FROM groups) AS groups, (SELECT count(*)::int FROM scaling_groups) AS scaling_groups`,
        )
      ).rows[0];
    expect(await count()).toEqual(SEEDED);
    const started = Date.now();
    const { report } = await runEngine(inputs(toml, { 'from-version': '24.12', 'to-version': '25.3' }), undefined, { disposableCopy: true });
    console.log(`24.12 → 25.3 migrate (venvs of 25.1.1, 25.2.0, 25.3.3 included) and the manager's start in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    expect(report.error).toBeUndefined();
    expect(report.outcome).toBe('success');
    expect(await revisionsOf(c)).toEqual([HEADS['25.3.3']]);
    expectServed(report, '25.3.3');

    const schema = report.entries.filter((e) => e.phase === 'apply' && e.step === 'schema').map((e) => [e.hop, e.status, e.detail]);
    expect(schema).toEqual([
      ['24.12 → 25.1', 'changed', expect.stringMatching(new RegExp(`^alembic upgrade ${HEADS['24.12.1']} → ${HEADS['25.1.1']} \\(25\\.1\\.1\\)`))],
      ['25.1 → 25.2', 'changed', expect.stringMatching(new RegExp(`^alembic upgrade ${HEADS['25.1.1']} → ${HEADS['25.2.0']} \\(25\\.2\\.0\\)`))],
      ['25.2 → 25.3', 'changed', expect.stringMatching(new RegExp(`^alembic upgrade ${HEADS['25.2.0']} → ${HEADS['25.3.3']} \\(25\\.3\\.3\\)`))],
    ]);
    // Each hop's target release in a venv migrate made; 24.12.1's (the source's models, for the drift check) is the one this file made.
    const venvsUsed = report.entries
      .filter((e) => e.step === 'manager-venv')
      .map((e) => /^(made|reused) .* with backend\.ai-manager==([\d.]+);/.exec(e.detail)!)
      .map(([, how, release]) => `${how} ${release}`);
    expect([...new Set(venvsUsed)].sort()).toEqual(['made 25.1.1', 'made 25.2.0', 'made 25.3.3', 'reused 24.12.1']);
    // What each hop's revisions make, read from the catalog, and the installation's rows untouched.
    const { rows: made2503 } = await c.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('endpoint_auto_scaling_rules', 'association_container_registries_groups') ORDER BY 1`,
    );
    expect(made2503.map((r) => r.name)).toEqual(['association_container_registries_groups', 'endpoint_auto_scaling_rules']);
    const { rows: columns } = await c.query(
      `SELECT table_name, column_name, data_type, character_maximum_length, is_nullable FROM information_schema.columns
        WHERE (table_name, column_name) IN (('users', 'container_uid'), ('vfolders', 'name'), ('endpoints', 'image')) ORDER BY 1, 2`,
    );
    expect(columns).toEqual([
      { table_name: 'endpoints', column_name: 'image', data_type: 'uuid', character_maximum_length: null, is_nullable: 'YES' },
      { table_name: 'users', column_name: 'container_uid', data_type: 'integer', character_maximum_length: null, is_nullable: 'YES' },
      { table_name: 'vfolders', column_name: 'name', data_type: 'character varying', character_maximum_length: 128, is_nullable: 'NO' },
    ]);
    expect(await count()).toEqual(SEEDED);
    ranRealPackage('25.1.1', 'alembic upgrade, on Python 3.12 (uv)');
    ranRealPackage('25.2.0', 'alembic upgrade, on Python 3.12 (uv)');
    ranRealPackage('25.3.3', 'alembic upgrade, on Python 3.12 (uv)');

    const verified = await runEngine(inputs(toml, { command: 'verify', 'from-version': '24.12', 'to-version': '25.3' }));
    expect(verified.report.error).toBeUndefined();
    expect(verified.report.outcome).toBe('success');
    // Detected where it stands: at 25.3, nothing left to do.
    const planned = await runEngine(inputs(toml, { command: 'plan', 'to-version': '25.3' }));
    expect(planned.report.error).toBeUndefined();
    expect(planned.report.entries.filter((e) => e.phase === 'plan' && e.hop !== undefined)).toEqual([]);
    at253 = at;
    keptUntilTheEnd.push(...cleanups.splice(0));
  }, 1_800_000);

  it("a run to 25.1 ends with the real 25.1.1 manager serving; preflight then names the endpoint 25.2.0's ecc9f6322be4 stops on (not destroyed, no image), and the real 25.2.0 alembic does stop on it; without it, a run to 25.2 ends with the real 25.2.0 manager serving, and a database at 25.2.0's head, which 24.09.6–24.09.14 share, is found at 25.2.0: the plan to 25.3 is the one hop 25.2 → 25.3", async () => {
    const { database, toml, pg: c } = await copy();
    const to251 = await runEngine(inputs(toml, { 'from-version': '24.12', 'to-version': '25.1' }), undefined, { disposableCopy: true });
    expect(to251.report.error).toBeUndefined();
    expect(await revisionsOf(c)).toEqual([HEADS['25.1.1']]);
    expectServed(to251.report, '25.1.1');
    // What 24.12's and 25.1's schema forbid, loosened by hand: an endpoint without an image. A destroyed one passes the new check.
    await c.query('ALTER TABLE endpoints ALTER COLUMN image DROP NOT NULL');
    for (const [name, stage] of [
      ['svc-no-image', 'created'],
      ['svc-gone', 'destroyed'],
    ]) {
      await c.query(
        `INSERT INTO endpoints (id, name, created_user, session_owner, image, domain, project, resource_group, lifecycle_stage, runtime_variant, resource_slots)
         SELECT gen_random_uuid(), $1, u.uuid, u.uuid, NULL, 'default', g.id, 'default', $2, 'custom', '{}' FROM users u, groups g WHERE u.username = 'user0'`,
        [name, stage],
      );
    }
    const { report } = await runEngine(inputs(toml, { command: 'preflight', 'from-version': '25.1', 'to-version': '25.2' }));
    expect(report.outcome).toBe('failure');
    const refused = report.entries.filter((e) => e.phase === 'preflight' && e.step === 'endpoint-images' && e.status === 'failed');
    expect(refused).toHaveLength(1);
    expect(refused[0]!.detail).toMatch(/^1 endpoint\(s\) are not destroyed and have no image: svc-no-image \([0-9a-f-]{36}, created\)/);
    expect(refused[0]!.detail).not.toContain('svc-gone');

    const venv2502 = await venvOf('25.2.0');
    const upgrade = alembic(venv2502, database, ['upgrade', 'head']);
    expect(upgrade.status).not.toBe(0);
    expect(upgrade.output).toContain('ck_image_required_unless_destroyed');
    expect(await revisionsOf(c)).toEqual([HEADS['25.1.1']]);
    ranRealPackage('25.2.0', 'alembic upgrade stopping on an endpoint without an image (ecc9f6322be4)');

    // Mended as the finding says (an endpoint that serves nothing is destroyed), the same deployment goes on.
    await c.query(`UPDATE endpoints SET lifecycle_stage = 'destroyed' WHERE name = 'svc-no-image'`);
    const to252 = await runEngine(inputs(toml, { 'from-version': '25.1', 'to-version': '25.2' }), undefined, { disposableCopy: true });
    expect(to252.report.error).toBeUndefined();
    expect(await revisionsOf(c)).toEqual([HEADS['25.2.0']]);
    expectServed(to252.report, '25.2.0');
    const planned = await runEngine(inputs(toml, { command: 'plan', 'to-version': '25.3' }));
    expect(planned.report.error).toBeUndefined();
    expect([...new Set(planned.report.entries.filter((e) => e.phase === 'plan' && e.hop !== undefined).map((e) => e.hop))]).toEqual(['25.2 → 25.3']);
  }, 1_800_000);

  // Last: the manager it starts leaves its events in the test bed's Redis, which services-stopped counts for a minute.
  it('the same deployment at 25.3.3: duplicate images stop the real 25.4.0 alembic, preflight names each group and refuses, and with drop-duplicate-images migrate keeps the newest of each and the real 25.4.0 manager serves; then 25.5.2 by a plain upgrade, its manager serving; then etcetra in manager.toml, which 25.5 accepts, makes preflight to 25.6 refuse (and the real 25.6.17 loader with it), lock-backend rewrites it, the real 25.6.17 alembic upgrades and its manager serves', async () => {
    expect(at253, 'the 24.12 → 25.3 case left no deployment at 25.3.3').toBeDefined();
    const { database, etcd, toml, pg: c } = at253!;

    // 25.3 → 25.4 on images a 25.3 deployment may hold: what every identifier step below expects is computed from IMAGES.
    await seedImages(c);
    // What 25.3's schema forbids, loosened by hand: two presets of one name (the name is its primary key until 25.4);
    // and what it allows: a model-service token without its owner, which 25.4's 70e0533aa49a makes NOT NULL.
    await c.query('ALTER TABLE resource_presets DROP CONSTRAINT pk_resource_presets');
    await c.query(`INSERT INTO resource_presets (name, resource_slots) VALUES ('small', '{"cpu": "1", "mem": "1073741824"}'), ('small', '{"cpu": "2", "mem": "2147483648"}')`);
    const presetRows = (await c.query<{ row: string }>(`SELECT 'ctid ' || ctid::text AS row FROM resource_presets WHERE name = 'small' ORDER BY ctid`)).rows.map((r) => r.row);
    const { rows: tokens } = await c.query<{ id: string; endpoint: string }>(
      `INSERT INTO endpoint_tokens (id, token, endpoint, session_owner, domain, project) SELECT gen_random_uuid(), 'token-without-owner', e.id, NULL, e.domain, e.project
         FROM endpoints e WHERE e.name = 'svc-old-torch' RETURNING id::text, endpoint::text`,
    );
    const groups = duplicateGroups();
    expect(groups.map((g) => [g.name, g.ids.length])).toEqual([
      [`${REGISTRY}/stable/python`, 3],
      [`${REGISTRY}/stable/pytorch`, 2],
    ]);
    const dropped = groups.flatMap((g) => g.ids.slice(1));
    // The row the 25.3 manager's lookup by (name, architecture) meets first, read from the server as it reads it.
    const managerUses = async (name: string, architecture: string) =>
      (await c.query<{ id: string }>('SELECT id::text AS id FROM images WHERE name = $1 AND architecture = $2', [name, architecture])).rows[0]!.id;

    const t0 = Date.now();
    const refused = await runEngine(inputs(toml, { command: 'preflight', 'from-version': '25.3', 'to-version': '25.4' }));
    console.log(`25.3 → 25.4 preflight (25.4.0 venv made) in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    expect(refused.report.outcome).toBe('failure');
    const identifiers = refused.report.entries.filter((e) => e.phase === 'preflight' && e.step === 'image-identifiers');
    expect(identifiers.map((e) => e.status)).toEqual(['failed']);
    expect(identifiers[0]!.detail).toMatch(
      new RegExp(`^${groups.length} group\\(s\\) of images share \\(registry, project, name, tag, architecture\\), ${dropped.length} row\\(s\\) more than the constraint allows: `),
    );
    for (const g of groups) {
      expect(identifiers[0]!.detail).toContain(
        `${g.name} (${g.architecture}; registry ${REGISTRY}, project ${g.project}, tag ${g.tag}): ${g.ids.length} rows ${g.ids.join(', ')}; the manager's lookup uses ${await managerUses(g.name, g.architecture)}, drop-duplicate-images would keep ${g.ids[0]}`,
      );
    }
    expect(identifiers[0]!.detail).not.toContain(IMAGES[3]!.id);
    expect(identifiers[0]!.detail).not.toContain(IMAGES[5]!.id);
    const presets = refused.report.entries.filter((e) => e.phase === 'preflight' && e.step === 'preset-names');
    expect(presets.map((e) => e.status)).toEqual(['failed', 'failed']);
    expect(presets[0]!.detail).toMatch(/^resource_presets has no primary key pk_resource_presets, which 25\.4's d537c050dd8d drops by that name/);
    expect(presets[1]!.detail).toMatch(new RegExp(`^1 resource preset name\\(s\\) are held by 2 rows: small: ${presetRows.join(', ').replace(/[()]/g, '\\$&')}\\. `));
    const owners = refused.report.entries.filter((e) => e.phase === 'preflight' && e.step === 'endpoint-token-owners');
    expect(owners.map((e) => [e.status, e.detail.split('. ')[0]])).toEqual([['failed', `1 endpoint token(s) have no session_owner: ${tokens[0]!.id} (endpoint ${tokens[0]!.endpoint})`]]);
    expect(await revisionsOf(c)).toEqual([HEADS['25.3.3']]);
    // Nothing kept, nothing deleted: bai-migrate's table of dropped values (its journal's schema is there from the earlier run) has no image.
    if ((await c.query(`SELECT to_regclass('bai_migrate.dropped_values') AS t`)).rows[0].t !== null) {
      expect((await c.query(`SELECT count(*)::int AS n FROM bai_migrate.dropped_values WHERE table_name = 'images'`)).rows[0].n).toBe(0);
    }
    expect((await c.query('SELECT count(*)::int AS n FROM images')).rows[0].n).toBe(IMAGES.length);

    // The hazard is the real 25.4.0's: its alembic stops on the same rows, and its transaction leaves 25.3.3's schema.
    const upgrade = alembic(await venvOf('25.4.0'), database, ['upgrade', 'head']);
    expect(upgrade.status).not.toBe(0);
    expect(upgrade.output).toContain('uq_image_identifier');
    expect(await revisionsOf(c)).toEqual([HEADS['25.3.3']]);
    ranRealPackage('25.4.0', 'alembic upgrade stopping on duplicate images (c002140f14d3)');

    // The presets and the token as the findings say to mend them; the images are left to drop-duplicate-images.
    await c.query(`DELETE FROM resource_presets WHERE ctid = $1`, [presetRows[1]!.replace('ctid ', '')]);
    await c.query('ALTER TABLE resource_presets ADD CONSTRAINT pk_resource_presets PRIMARY KEY (name)');
    await c.query(`UPDATE endpoint_tokens t SET session_owner = e.session_owner FROM endpoints e WHERE t.endpoint = e.id AND t.session_owner IS NULL`);
    const t1 = Date.now();
    const migrated = await runEngine(inputs(toml, { 'from-version': '25.3', 'to-version': '25.4', 'drop-duplicate-images': 'true' }), undefined, { disposableCopy: true });
    console.log(`25.3 → 25.4 migrate with drop-duplicate-images and the manager's start in ${((Date.now() - t1) / 1000).toFixed(0)} s`);
    expect(migrated.report.error).toBeUndefined();
    expect(await revisionsOf(c)).toEqual([HEADS['25.4.0']]);
    ranRealPackage('25.4.0', 'alembic upgrade, on Python 3.12 (uv)');
    expectServed(migrated.report, '25.4.0');

    const { rows: left } = await c.query<{ id: string }>('SELECT id::text AS id FROM images ORDER BY id');
    expect(left.map((r) => r.id)).toEqual(
      IMAGES.map((i) => i.id)
        .filter((id) => !dropped.includes(id))
        .sort(),
    );
    const keptOf = (id: string) => groups.find((g) => g.ids.includes(id))!.ids[0]!;
    expect((await c.query(`SELECT image::text AS image FROM image_aliases WHERE alias = 'python'`)).rows).toEqual([{ image: keptOf(IMAGES[1]!.id) }]);
    expect((await c.query(`SELECT image::text AS image FROM endpoints WHERE name = 'svc-old-torch'`)).rows).toEqual([{ image: keptOf(IMAGES[2]!.id) }]);
    const { rows: constraint } = await c.query(`SELECT conname FROM pg_constraint WHERE conrelid = 'images'::regclass AND contype = 'u' AND conname = 'uq_image_identifier'`);
    expect(constraint).toHaveLength(1);
    // Each deleted row is kept, whole, in PostgreSQL and in the bundle, with the row kept instead.
    const { rows: kept } = await c.query<{ key: string; id: string; kept: string; name: string }>(
      `SELECT row_key AS key, value #>> '{row,id}' AS id, value ->> 'keptInstead' AS kept, value #>> '{row,name}' AS name FROM bai_migrate.dropped_values WHERE table_name = 'images' ORDER BY row_key`,
    );
    expect(kept).toEqual([...dropped].sort().map((id) => ({ key: id, id, kept: keptOf(id), name: groups.find((g) => g.ids.includes(id))!.name })));
    const bundle = JSON.parse(readFileSync(join(migrated.report.backup!, 'images-duplicates.json'), 'utf8')) as Record<string, { keptInstead: string }>;
    expect(Object.keys(bundle).sort()).toEqual([...dropped].sort());
    expect(bundle[IMAGES[2]!.id]!.keptInstead).toBe(keptOf(IMAGES[2]!.id));

    const verified = await runEngine(inputs(toml, { command: 'verify', 'from-version': '25.3', 'to-version': '25.4' }));
    expect(verified.report.error).toBeUndefined();
    expect(verified.report.outcome).toBe('success');

    // 25.4 → 25.5: one revision (683ca0a32f41, audit_logs) by a plain upgrade, and the real 25.5.2 manager serves,
    // its new internal-addr listener on loopback in the copy; the images stay as 25.4 left them.
    const t2 = Date.now();
    const to255 = await runEngine(inputs(toml, { 'from-version': '25.4', 'to-version': '25.5' }), undefined, { disposableCopy: true });
    console.log(`25.4 → 25.5 migrate (25.5.2 venv made) and the manager's start in ${((Date.now() - t2) / 1000).toFixed(0)} s`);
    expect(to255.report.error).toBeUndefined();
    expect(await revisionsOf(c)).toEqual([HEADS['25.5.2']]);
    expect(to255.report.entries.filter((e) => e.phase === 'apply' && e.step === 'schema').map((e) => [e.hop, e.status, e.detail.split(' (')[0]])).toEqual([
      ['25.4 → 25.5', 'changed', `alembic upgrade ${HEADS['25.4.0']} → ${HEADS['25.5.2']}`],
    ]);
    expect((await c.query(`SELECT to_regclass('audit_logs')::text AS t`)).rows).toEqual([{ t: 'audit_logs' }]);
    expect((await c.query('SELECT count(*)::int AS n FROM images')).rows[0].n).toBe(IMAGES.length - dropped.length);
    ranRealPackage('25.5.2', 'alembic upgrade, on Python 3.12 (uv)');
    expectServed(to255.report, '25.5.2');

    // 25.5 → 25.6: the lock backend etcetra, which 24.03.3–25.5 accept, set in manager.toml. And in etcd where the
    // configuration of 25.8+ merges it from (config/manager/…, ai/backend/config/manager/manager/…), which 25.6 does not read.
    const tomlBefore = readFileSync(toml, 'utf8');
    expect(tomlBefore).not.toContain('distributed-lock');
    const withEtcetra = tomlBefore.replace('[manager]\n', '[manager]\ndistributed-lock = "etcetra"\n');
    writeFileSync(toml, withEtcetra);
    const ETCD_LOCK_KEYS = ['config/manager/distributed-lock', 'ai/backend/config/manager/manager/distributed-lock'];
    for (const key of ETCD_LOCK_KEYS) await etcd.put(key).value('etcetra');
    const etcdLocks = async () => Promise.all(ETCD_LOCK_KEYS.map((key) => etcd.get(key).string()));
    const to256 = (extra: Record<string, string>) => inputs(toml, { 'from-version': '25.5', 'to-version': '25.6', python: `${python312},${python313}`, ...extra });

    const t3 = Date.now();
    const refused256 = await runEngine(to256({ command: 'preflight' }));
    console.log(`25.5 → 25.6 preflight (25.6.17 venv made, Python 3.13) in ${((Date.now() - t3) / 1000).toFixed(0)} s`);
    expect(refused256.report.outcome).toBe('failure');
    const lock = refused256.report.entries.filter((e) => e.phase === 'preflight' && e.step === 'distributed-lock');
    expect(lock.map((e) => e.status)).toEqual(['failed']);
    expect(lock[0]!.detail).toContain(`${toml} has [manager] distributed-lock = "etcetra"`);
    expect(lock[0]!.detail).toContain(`accepted: ${LOCKS_2506.join(', ')}`);
    expect(lock[0]!.detail).toMatch(/set lock-backend to one of them$/);
    // The real 25.6.17 loader refuses the same key (and only it) in the same preflight.
    const loads = refused256.report.entries.filter((e) => e.phase === 'preflight' && e.step === 'manager-starts' && e.status === 'failed');
    expect(loads.map((e) => e.detail)).toEqual([expect.stringMatching(/does not load with 25\.6\.17's own loader.* it refuses 1 key\(s\): manager\.distributed-lock \(/)]);
    ranRealPackage('25.6.17', 'its manager.toml loader refusing distributed-lock = etcetra (preflight)');
    // Nothing written: the file, etcd and the schema stay as 25.5 left them.
    expect(readFileSync(toml, 'utf8')).toBe(withEtcetra);
    expect(await etcdLocks()).toEqual(ETCD_LOCK_KEYS.map(() => 'etcetra'));
    expect(await revisionsOf(c)).toEqual([HEADS['25.5.2']]);

    // The dry run with lock-backend shows the change and writes nothing.
    const dry256 = await runEngine(to256({ 'lock-backend': 'pg_advisory', 'dry-run': 'true' }));
    expect(dry256.report.error).toBeUndefined();
    expect(dry256.report.entries.filter((e) => e.phase === 'apply' && e.step === 'distributed-lock').map((e) => e.detail)).toEqual([
      `dry run: would set [manager] distributed-lock = "pg_advisory" in ${toml}`,
    ]);
    expect(readFileSync(toml, 'utf8')).toBe(withEtcetra);
    expect(await revisionsOf(c)).toEqual([HEADS['25.5.2']]);

    // With lock-backend, migrate rewrites that one line; 25.6.17's loader passes the file as the run leaves it, its
    // alembic upgrades by a plain upgrade, and its manager serves with etcetra still in etcd (25.6 does not read it).
    const t4 = Date.now();
    const migrated256 = await runEngine(to256({ 'lock-backend': 'pg_advisory' }), undefined, { disposableCopy: true });
    console.log(`25.5 → 25.6 migrate and the 25.6.17 manager's start in ${((Date.now() - t4) / 1000).toFixed(0)} s`);
    expect(migrated256.report.error).toBeUndefined();
    expect(migrated256.report.outcome).toBe('success');
    expect(migrated256.report.entries.filter((e) => e.phase === 'preflight' && e.step === 'manager-starts').map((e) => e.status)).not.toContain('failed');
    expect(readFileSync(toml, 'utf8')).toBe(withEtcetra.replace('distributed-lock = "etcetra"', 'distributed-lock = "pg_advisory"'));
    expect(await revisionsOf(c)).toEqual([HEADS['25.6.17']]);
    expect(migrated256.report.entries.filter((e) => e.phase === 'apply' && e.step === 'schema').map((e) => [e.hop, e.status, e.detail.split(' (')[0]])).toEqual([
      ['25.5 → 25.6', 'changed', `alembic upgrade ${HEADS['25.5.2']} → ${HEADS['25.6.17']}`],
    ]);
    const { rows: auditColumns } = await c.query(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'audit_logs' AND column_name IN ('action_id', 'request_id', 'entity_id', 'duration') ORDER BY 1`,
    );
    expect(auditColumns).toEqual([
      { column_name: 'action_id', data_type: 'uuid', is_nullable: 'NO' },
      { column_name: 'duration', data_type: 'interval', is_nullable: 'YES' },
      { column_name: 'entity_id', data_type: 'character varying', is_nullable: 'YES' },
      { column_name: 'request_id', data_type: 'character varying', is_nullable: 'YES' },
    ]);
    const { rows: seededRows } = await c.query(
      `SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM keypairs) AS keypairs, (SELECT count(*)::int FROM groups) AS groups, (SELECT count(*)::int FROM scaling_groups) AS scaling_groups`,
    );
    expect(seededRows[0]).toEqual(SEEDED);
    ranRealPackage('25.6.17', 'alembic upgrade, on Python 3.13 (uv)');
    expect(await etcdLocks()).toEqual(ETCD_LOCK_KEYS.map(() => 'etcetra'));
    expectServed(migrated256.report, '25.6.17');
    at256 = { database, etcd, toml, pg: c };
    keptUntilTheEnd.push(...cleanups.splice(0));
  }, 1_800_000);

  it("the same deployment goes on from 25.6.17 through every line to 25.19.2, one line per run, each by a plain alembic upgrade with its own release and ending with that release's manager serving; the rows stay", async () => {
    expect(at256, 'the 25.6 case left no deployment at 25.6.17').toBeDefined();
    const { toml, etcd, pg: c } = at256!;
    // The operator takes etcetra out of etcd before 25.8, whose merged configuration reads it there (25.7 → 25.8's own test covers it).
    await etcd.delete().key('config/manager/distributed-lock');
    await etcd.delete().key('ai/backend/config/manager/manager/distributed-lock');
    // What the later revisions read, as a 25.6 deployment holds it: vfolders of a user (one with the empty unmanaged_path
    // 25.11's 01f0ed604819 rewrites) and of the project, a share, and finished sessions with their kernels.
    const owner = (name: string) => `(SELECT uuid FROM users WHERE username = '${name}')`;
    const vfolder = (name: string, extra: Record<string, string>) =>
      insertFilled(c, 'vfolders', { id: 'gen_random_uuid()', name: `'${name}'`, host: `'local:volume1'`, domain_name: `'default'`, quota_scope_id: `'user:' || gen_random_uuid()::text`, ...extra });
    await vfolder('u1-data', { ownership_type: `'user'`, user: owner('user1'), unmanaged_path: `''` });
    await vfolder('u2-models', { ownership_type: `'user'`, user: owner('user2') });
    await vfolder('team-data', { ownership_type: `'group'`, group: '(SELECT id FROM groups LIMIT 1)' });
    await insertFilled(c, 'vfolder_permissions', { vfolder: `(SELECT id FROM vfolders WHERE name = 'u1-data')`, user: owner('user2'), permission: `'ro'` });
    for (const name of ['s-old-1', 's-old-2']) {
      const { rows } = await c.query<{ id: string }>('SELECT gen_random_uuid()::text AS id');
      const id = rows[0]!.id;
      const owned = { domain_name: `'default'`, group_id: '(SELECT id FROM groups LIMIT 1)', user_uuid: owner('user1'), access_key: `(SELECT main_access_key FROM users WHERE username = 'user1')` };
      const shape = {
        session_type: `'INTERACTIVE'`,
        cluster_mode: `'single-node'`,
        cluster_size: '1',
        status: `'TERMINATED'`,
        created_at: `now() - interval '90 days'`,
        terminated_at: `now() - interval '89 days'`,
      };
      await insertFilled(c, 'sessions', {
        id: `'${id}'`,
        creation_id: `'${name}'`,
        name: `'${name}'`,
        scaling_group_name: `'default'`,
        occupying_slots: `'{}'`,
        requested_slots: `'{}'`,
        ...owned,
        ...shape,
      });
      await insertFilled(c, 'kernels', {
        id: `'${id}'`,
        session_id: `'${id}'`,
        session_creation_id: `'${name}'`,
        session_name: `'${name}'`,
        cluster_role: `'main'`,
        cluster_idx: '1',
        local_rank: '0',
        cluster_hostname: `'main1'`,
        scaling_group: `'default'`,
        image: `'cr.backend.ai/stable/python:3.9-ubuntu20.04'`,
        architecture: `'x86_64'`,
        registry: `'cr.backend.ai'`,
        occupied_slots: `'{}'`,
        requested_slots: `'{}'`,
        ...owned,
        ...shape,
      });
    }
    const counted = async () =>
      (
        await c.query(
          `SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM keypairs) AS keypairs, (SELECT count(*)::int FROM groups) AS groups,
                  (SELECT count(*)::int FROM scaling_groups) AS scaling_groups, (SELECT count(*)::int FROM vfolders) AS vfolders,
                  (SELECT count(*)::int FROM vfolder_permissions) AS vfolder_permissions, (SELECT count(*)::int FROM sessions) AS sessions, (SELECT count(*)::int FROM kernels) AS kernels`,
        )
      ).rows[0];
    const before = await counted();
    expect(before).toEqual({ ...SEEDED, vfolders: 3, vfolder_permissions: 1, sessions: 2, kernels: 2 });
    const vfolderIds = (await c.query<{ id: string }>('SELECT id::text AS id FROM vfolders ORDER BY id')).rows;

    let from = '25.6';
    for (const release of LINES_AFTER_256) {
      const line = release.split('.').slice(0, 2).join('.');
      const t = Date.now();
      const { report } = await runEngine(inputs(toml, { 'from-version': from, 'to-version': line, python: python313 }), undefined, { disposableCopy: true });
      console.log(`${from} → ${line} migrate (${release} venv made) and the manager's start in ${((Date.now() - t) / 1000).toFixed(0)} s`);
      expect(report.error, `${from} → ${line}`).toBeUndefined();
      expect(await revisionsOf(c)).toEqual([HEADS[release]]);
      const schemaRows = report.entries.filter((e) => e.phase === 'apply' && e.step === 'schema').map((e) => [e.hop, e.status, e.detail.split(' (')[0]]);
      const prev = HEADS[LINES_AFTER_256[LINES_AFTER_256.indexOf(release) - 1] ?? '25.6.17'];
      expect(schemaRows).toEqual([[`${from} → ${line}`, prev === HEADS[release] ? 'ok' : 'changed', prev === HEADS[release] ? expect.any(String) : `alembic upgrade ${prev} → ${HEADS[release]}`]]);
      ranRealPackage(release, prev === HEADS[release] ? 'its schema already at its head, on Python 3.13 (uv)' : 'alembic upgrade, on Python 3.13 (uv)');
      expectServed(report, release);
      from = line;
    }
    // Every row the installation had is still there, the vfolders under their ids; 25.11 took the empty unmanaged_path away.
    expect(await counted()).toEqual(before);
    expect((await c.query<{ id: string }>('SELECT id::text AS id FROM vfolders ORDER BY id')).rows).toEqual(vfolderIds);
    expect((await c.query(`SELECT unmanaged_path FROM vfolders WHERE name = 'u1-data'`)).rows).toEqual([{ unmanaged_path: null }]);
    const verified = await runEngine(inputs(toml, { command: 'verify', 'from-version': '25.18', 'to-version': '25.19', python: python313 }));
    expect(verified.report.outcome).toBe('success');
  }, 2_400_000);
});
