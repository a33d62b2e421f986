/**
 * 24.09.14 → 25.5.2 with Backend.AI's real packages from PyPI (issue 28): a deployment installed by
 * the real 24.09.14 (its own `mgr schema oneshot` into an empty database, then an installation's
 * rows) holding what 24.09.14's downgrade to e9e574a6e22d would stop on: an endpoint whose image is
 * gone and a vfolder name longer than 64 characters. With unknown-head-route at auto, plan takes the
 * apply-missing route 24.09 → 25.5 and says why; migrate, with the 25.5.2 venv it makes (uv,
 * pyenv's Python 3.12), applies every 25.5.2 revision the database lacks with 25.5.2's real alembic,
 * leaves alembic_version at 25.5.2's head alone, moves the overlay network settings as the 24.12
 * hop would, keeps the rows, and the real 25.5.2 manager serves on the result.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Namespace } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectAdmin, type Admin } from '../support/deployment.js';
import { insertColumns, seedInstallation, storageProxyKeys } from '../support/installation-rows.js';
import { productVenvs, schemaOneshot } from '../support/real-manager.js';
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
const managerToml = (database: string, namespace: string) => operatorManagerToml(info, { database, namespace, prefix: 'bai-real-2409-' });
/** The heads releases.md gives (§1, §3.6, §3.11): 24.09.6–24.09.14 end at ecc9f6322be4. */
const HEAD_2409 = 'ecc9f6322be4';
const HEAD_2552 = '683ca0a32f41';
/** What 25.5.1's `apply-missing-revisions 24.09.8` was simulated to apply from there (releases.md §3.11). */
const MISSING = 13;
const SEEDED_USERS = ['user0', 'user1', 'user2'];
/** Longer than the 64 characters 24.09.14's downgrade shrinks vfolders.name to. */
const LONG_NAME = `results-of-the-long-running-fine-tuning-experiment-${'x'.repeat(20)}`;
const OVERLAY_MTU = '1450';

let admin: Admin;
let venvs: string;
let python312: string;
let template: string;
const cleanups: Array<() => Promise<void>> = [];

async function venvOf(release: string): Promise<ProvisionedVenv> {
  const options = parseOptions({ command: 'migrate', 'to-version': release, 'manager-venv': venvs, python: python312 });
  return (await new ManagerVenvs(options.managerVenv!, 'make', new MemoryLogger(), () => undefined).get(release, { use: 'the test runs it', unchecked: '' }))!;
}

const revisionsOf = async (c: pg.Client) => (await c.query<{ version_num: string }>('SELECT version_num FROM alembic_version')).rows.map((r) => r.version_num);

interface Copy {
  readonly database: string;
  readonly etcd: Namespace;
  readonly toml: string;
  readonly pg: pg.Client;
}

/** A copy of the seeded 24.09.14 installation: its own database and etcd namespace, dropped after the test. */
async function copy(): Promise<Copy> {
  const suffix = randomBytes(4).toString('hex');
  const database = `bai2409_${suffix}`;
  const namespace = `ns-2409-${suffix}`;
  await admin.pg.query(`CREATE DATABASE ${database} TEMPLATE ${template}`);
  const etcd = admin.etcd.namespace(`/sorna/${namespace}/`);
  await etcd.put('config/redis/addr').value(`${info.redis.host}:${info.redis.port}`);
  await etcd.put('config/redis/password').value(info.redis.password);
  for (const [key, value] of Object.entries(storageProxyKeys('192.0.2.12'))) await etcd.put(key).value(value);
  // 24.09's place for the overlay network settings; 24.12 reads them under config/plugins/.
  await etcd.put('config/network/overlay/mtu').value(OVERLAY_MTU);
  const c = client(database);
  await c.connect();
  cleanups.push(async () => {
    await c.end();
    await admin.pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.etcd.delete().prefix(`/sorna/${namespace}/`);
  });
  return { database, etcd, toml: managerToml(database, namespace), pg: c };
}

function inputs(toml: string, extra: Record<string, string>): Record<string, string> {
  return {
    command: 'migrate',
    'manager-config': toml,
    'manager-venv': venvs,
    python: python312,
    'backup-dir': mkdtempSync(join(tmpdir(), 'bai-real-2409-backup-')),
    ...extra,
  };
}

/** An endpoint whose image row is gone (24.09.6+ let endpoints.image lose its foreign key) and a vfolder with a long name: the rows the downgrade stops on. */
async function seedBlockers(c: pg.Client): Promise<{ endpoint: string; gone: string; vfolder: string }> {
  const endpoint = randomUUID();
  const gone = randomUUID();
  const vfolder = randomUUID();
  await c.query(
    `INSERT INTO endpoints (id, name, created_user, session_owner, image, domain, project, resource_group, lifecycle_stage, runtime_variant, resource_slots)
     SELECT $1, 'svc-gone-image', u.uuid, u.uuid, $2, 'default', g.id, 'default', 'destroyed', 'custom', '{}' FROM users u, groups g WHERE u.username = 'user0'`,
    [endpoint, gone],
  );
  await insertColumns(
    c,
    'vfolders',
    {
      id: `'${vfolder}'`,
      host: `'local:volume1'`,
      domain_name: `'default'`,
      quota_scope_id: `'user:' || u.uuid::text`,
      name: `'${LONG_NAME}'`,
      usage_mode: `'general'`,
      permission: `'rw'`,
      max_files: '1000',
      max_size: 'NULL',
      num_files: '0',
      cur_size: '0',
      created_at: 'now()',
      last_used: 'NULL',
      creator: `'user0@example.com'`,
      unmanaged_path: 'NULL',
      ownership_type: `'user'`,
      user: 'u.uuid',
      group: 'NULL',
      cloneable: 'false',
      status: `'ready'`,
    },
    `FROM users u WHERE u.username = 'user0'`,
  );
  return { endpoint, gone, vfolder };
}

beforeAll(async () => {
  admin = await connectAdmin(info);
  venvs = productVenvs();
  python312 = pyenvInterpreters('3.12')[0]!;
  expect(python312, 'pyenv has no Python 3.12').toBeDefined();
  const started = Date.now();
  const venv2409 = await venvOf('24.09.14');
  console.log(`24.09.14 venv made in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  template = `tmpl_2409_${randomBytes(3).toString('hex')}`;
  await admin.pg.query(`CREATE DATABASE ${template}`);
  await schemaOneshot(venv2409.managerCli, info.postgres, template, managerToml(template, 'unused'));
  ranRealPackage('24.09.14', 'mgr schema oneshot (a fresh 24.09.14 install)');
  const c = client(template);
  await c.connect();
  try {
    expect(await revisionsOf(c)).toEqual([HEAD_2409]);
    await seedInstallation(c, { users: SEEDED_USERS });
  } finally {
    await c.end();
  }
}, 900_000);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  if (template) await admin.pg.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
  await admin?.close();
});

const planned = (report: Report) => [...new Set(report.entries.filter((e) => e.phase === 'plan' && e.hop !== undefined).map((e) => e.hop))];
const routeEntry = (report: Report) => report.entries.filter((e) => e.phase === 'plan' && e.step === 'unknown-head-route');

describe('24.09.14 → 25.5.2 by the apply-missing route, with the real packages (manager-venv, uv, Python 3.12)', () => {
  it('without rows the downgrade stops on, auto keeps the downgrade route; an explicit route wins; apply-missing before 25.5 and a value it does not know are refused', async () => {
    const { toml } = await copy();
    const auto = await runEngine(inputs(toml, { command: 'plan', 'to-version': '25.5' }));
    expect(auto.report.error).toBeUndefined();
    expect(planned(auto.report)[0]).toBe('24.09 → 24.12');
    expect(routeEntry(auto.report).map((e) => e.detail)).toEqual([expect.stringMatching(/^auto: downgrade-guards finds no row the downgrade would stop on/)]);

    const explicit = await runEngine(inputs(toml, { command: 'plan', 'to-version': '25.5', 'unknown-head-route': 'apply-missing' }));
    expect(explicit.report.error).toBeUndefined();
    expect(planned(explicit.report)).toEqual(['24.09 → 25.5']);

    const early = await runEngine(inputs(toml, { command: 'plan', 'to-version': '25.1', 'unknown-head-route': 'apply-missing' }));
    expect(early.report.error).toMatch(/^unknown-head-route is apply-missing, which goes from 24\.09 straight to 25\.5, and to-version 25\.1\.1 ends before 25\.5; accepted: /);
    expect(() => parseOptions({ command: 'plan', 'to-version': '25.5', 'unknown-head-route': 'jump' })).toThrow(
      /unknown-head-route "jump" is not accepted; accepted: .*auto.*downgrade.*apply-missing/,
    );
  }, 600_000);

  it("with an endpoint whose image is gone and a long vfolder name, auto plans 24.09 → 25.5 and says why; migrate applies 25.5.2's revisions with its real alembic, alembic_version ends at 25.5.2's head alone, the overlay settings move, the rows stay, and the real 25.5.2 manager serves", async () => {
    const { toml, pg: c, etcd } = await copy();
    const seeded = await seedBlockers(c);

    const plan = await runEngine(inputs(toml, { command: 'plan', 'to-version': '25.5' }));
    expect(plan.report.error).toBeUndefined();
    expect(planned(plan.report)).toEqual(['24.09 → 25.5']);
    const why = routeEntry(plan.report).map((e) => e.detail);
    expect(why).toHaveLength(1);
    expect(why[0]).toMatch(/^auto: downgrade-guards finds rows the downgrade would stop on/);
    expect(why[0]).toContain(`svc-gone-image (${seeded.endpoint}, image ${seeded.gone})`);
    expect(why[0]).toContain(`${seeded.vfolder} (${LONG_NAME.length})`);
    const steps = plan.report.plan!.flatMap((h) => h.steps.map((s) => s.id));
    expect(steps).not.toContain('downgrade-guards');
    expect(steps).toEqual(expect.arrayContaining(['services-stopped', 'schema', 'overlay-network-config', 'image-identifiers', 'preset-names', 'manager-starts']));

    const started = Date.now();
    const { report } = await runEngine(inputs(toml, { 'to-version': '25.5' }), undefined, { disposableCopy: true });
    console.log(`24.09 → 25.5 migrate (25.5.2 venv and manager-starts included) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    expect(report.error).toBeUndefined();
    expect(report.outcome).toBe('success');
    expect(await revisionsOf(c)).toEqual([HEAD_2552]);
    const schema = report.entries.filter((e) => e.phase === 'apply' && e.step === 'schema').map((e) => [e.hop, e.status, e.detail]);
    expect(schema).toEqual([
      ['24.09 → 25.5', 'changed', expect.stringMatching(new RegExp(`^applied ${MISSING} revision\\(s\\) by id .*; then alembic_version collapsed to ${HEAD_2552} \\(25\\.5\\.2\\)$`))],
    ]);
    ranRealPackage('25.5.2', 'alembic (revisions applied by id from 24.09.14, the apply-missing route), on Python 3.12');

    // What the applied revisions make, read from the catalog: 24.12's, 25.1's, …, 25.5's.
    const { rows: tables } = await c.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'
        AND table_name IN ('networks', 'endpoint_auto_scaling_rules', 'association_container_registries_groups', 'audit_logs') ORDER BY 1`,
    );
    expect(tables.map((r) => r.name)).toEqual(['association_container_registries_groups', 'audit_logs', 'endpoint_auto_scaling_rules', 'networks']);
    const { rows: columns } = await c.query(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE (table_name, column_name) IN (('endpoints', 'replicas'), ('sessions', 'status'), ('users', 'container_uid'), ('images', 'status')) ORDER BY 1, 2`,
    );
    expect(columns.map((r) => `${r.table_name}.${r.column_name}`)).toEqual(['endpoints.replicas', 'images.status', 'sessions.status', 'users.container_uid']);
    expect(columns.find((r) => r.table_name === 'sessions')!.data_type).toBe('character varying');
    // The rows the downgrade would have stopped on are still there, as they were.
    const { rows: kept } = await c.query(`SELECT image::text FROM endpoints WHERE id = $1`, [seeded.endpoint]);
    expect(kept).toEqual([{ image: seeded.gone }]);
    const { rows: names } = await c.query(`SELECT name FROM vfolders WHERE id = $1`, [seeded.vfolder]);
    expect(names).toEqual([{ name: LONG_NAME }]);
    // 24.12's etcd step, done on this route too.
    expect(await etcd.get('config/plugins/network/overlay/mtu').string()).toBe(OVERLAY_MTU);
    expect(await etcd.get('config/network/overlay/mtu').string()).toBeNull();

    const proof = report.entries.filter((e) => e.phase === 'apply' && e.step === 'manager-starts');
    expect(proof.map((e) => e.status)).toEqual(['changed']);
    expect(proof[0]!.detail).toMatch(
      /^the 25\.5\.2 manager started on the copy in [\d.]+ s, answered GET \/ \(.*"manager": ?"25\.5\.2".*\), served a signed GraphQL query of users, vfolders, sessions and agents \(.*\), logged no error/,
    );
    ranRealPackage('25.5.2', 'start-server on the migrated deployment (manager-starts), after the apply-missing route');
  }, 1_200_000);
});
