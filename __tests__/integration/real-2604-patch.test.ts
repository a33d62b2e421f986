/**
 * A patch upgrade within 26.4 whose revisions a package runs without a guard: 26.4.4's 8c1f7d3a9e2b
 * turns a legacy string start_command of each stored model definition into a list, and its text in
 * 26.4.4–26.4.12 reads every non-NULL definition as an object; only 26.4.13's text on passes over a
 * definition that is JSON null (src/releases/cannot-run.ts, UNGUARDED_REVISIONS). On 26.4.3's real
 * schema (its package's `mgr schema oneshot`), with a revision whose definition is JSON null: the
 * real 26.4.10 alembic stops on it; bai-migrate's preflight to 26.4.10 names the row before anything
 * is written; a migrate to 26.4.16 passes over it and normalizes the legacy command.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectAdmin, type Admin } from '../support/deployment.js';
import { copyOfTemplate, oneshotDatabase } from '../support/oneshot.js';
import { managerAlembicIni, productVenvs } from '../support/real-manager.js';
import { insertFilled, seedInstallation } from '../support/installation-rows.js';
import { ranRealPackage } from '../support/real-lines.js';
import { runEngine } from '../support/run.js';
import { workerTestbed } from '../support/worker-testbed.js';
import { operatorManagerToml } from '../support/operator-toml.js';
import { MemoryLogger } from '../../src/core/logger.js';
import { parseOptions } from '../../src/options/index.js';
import { ManagerVenvs } from '../../src/manager/venvs.js';
import { pyenvInterpreters, type ProvisionedVenv } from '../../src/manager/venv.js';
import { findRelease } from '../../src/releases/releases.js';

const run = promisify(execFile);
const IMAGE = '5b1c3f0e-6a2d-4c8e-9f7a-0d1e2f3a4b5c';
const REGISTRY = '7d0e4c2a-1b3f-4e5d-8a9b-0c1d2e3f4a5b';
const info = workerTestbed();
let admin: Admin;
let python: string;
let template: string;
let rpcKeyFile: string;
const venvs: Record<string, ProvisionedVenv> = {};
const cleanups: Array<() => Promise<void>> = [];

async function venvOf(release: string): Promise<ProvisionedVenv> {
  const options = parseOptions({ command: 'preflight', 'to-version': release, 'manager-venv': productVenvs(), python });
  return (await new ManagerVenvs(options.managerVenv!, 'make', new MemoryLogger(), () => undefined).get(release, { use: 'the test runs it', unchecked: '' }))!;
}

async function copyOf(): Promise<{ database: string; toml: string; pg: pg.Client }> {
  const copy = await copyOfTemplate(info, admin, template, 'bai_p264');
  cleanups.push(copy.drop);
  const toml = operatorManagerToml(info, { database: copy.database, namespace: copy.namespace, prefix: 'bai-p264-', managerLines: `rpc-auth-manager-keypair = "${rpcKeyFile}"\n` });
  return { database: copy.database, toml, pg: copy.pg };
}

const definitions = async (c: pg.Client) => (await c.query<{ n: number; d: unknown }>('SELECT revision_number AS n, model_definition AS d FROM deployment_revisions ORDER BY revision_number')).rows;

beforeAll(async () => {
  admin = await connectAdmin(info);
  python = pyenvInterpreters('3.13')[0]!;
  expect(python, 'pyenv has no Python 3.13').toBeDefined();
  for (const release of ['26.4.3', '26.4.10']) venvs[release] = await venvOf(release);
  template = `tmpl_p264_${randomBytes(3).toString('hex')}`;
  rpcKeyFile = await oneshotDatabase(info, admin.pg, venvs['26.4.3']!.managerCli, template);
  ranRealPackage('26.4.3', 'mgr schema oneshot (26.4 patch upgrade)');
  const seed = await copyOfTemplate(info, admin, template, 'bai_p264_seed');
  try {
    await seedInstallation(seed.pg, { users: ['user0'] });
    // The image the revisions run, and the `custom` runtime variant the installer's fixture makes (d8e9f0a1b2c3 falls back to it).
    await insertFilled(seed.pg, 'container_registries', { id: `'${REGISTRY}'`, registry_name: `'cr.backend.ai'`, url: `'https://cr.backend.ai'` });
    await insertFilled(seed.pg, 'images', { id: `'${IMAGE}'`, name: `'cr.backend.ai/stable/python:3.11-ubuntu22.04'`, registry_id: `'${REGISTRY}'` });
    await insertFilled(seed.pg, 'runtime_variants', { name: `'custom'` });
    // Three stored revisions of one deployment: a definition that is JSON null, one with a legacy string start_command, none.
    const legacy = JSON.stringify({ models: [{ name: 'llm', model_path: '/models', service: { start_command: 'python serve.py', port: 8000 } }] });
    for (const [n, definition] of [
      [1, `'null'::jsonb`],
      [2, `'${legacy}'::jsonb`],
      [3, 'NULL'],
    ] as const) {
      await insertFilled(seed.pg, 'deployment_revisions', { revision_number: String(n), image: `'${IMAGE}'`, resource_group: `'default'`, runtime_variant: `'custom'`, model_definition: definition });
    }
  } finally {
    await seed.pg.end();
  }
  // The seeded copy becomes the template every case copies.
  await admin.pg.query(`DROP DATABASE ${template} WITH (FORCE)`);
  await admin.pg.query(`ALTER DATABASE ${seed.database} RENAME TO ${template}`);
  await admin.etcd.delete().prefix(`/sorna/${seed.namespace}/`);
}, 900_000);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  if (template) await admin.pg.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
  await admin?.close();
});

/** `alembic upgrade head` with `release`'s own package on `database`: its output when it fails, undefined when it succeeds. */
async function realUpgrade(release: string, database: string): Promise<string | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'bai-p264-'));
  const { user, password, host, port } = info.postgres;
  writeFileSync(join(dir, 'alembic.ini'), managerAlembicIni(`postgresql+asyncpg://${user}:${encodeURIComponent(password)}@${host}:${port}/${database}`));
  const alembic = join(dirname(venvs[release]!.managerCli), 'alembic');
  return run(alembic, ['-c', join(dir, 'alembic.ini'), 'upgrade', 'head'], { cwd: dir }).then(
    () => undefined,
    (error: { stderr?: string; stdout?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`,
  );
}

const version = async (c: pg.Client) => (await c.query<{ version_num: string }>('SELECT version_num FROM alembic_version')).rows.map((r) => r.version_num);

describe('26.4.3 → 26.4.x with stored deployment revisions that the later revisions stop on', () => {
  const inputs = (toml: string, command: string, to: string) => ({ command, 'from-version': '26.4.3', 'to-version': to, 'manager-config': toml, 'manager-venv': productVenvs(), python });

  it("the real 26.4.10 alembic stops in 8c1f7d3a9e2b on it, and bai-migrate's preflight to 26.4.10 names the row before anything is written", async () => {
    const copy = await copyOf();
    const before = await definitions(copy.pg);
    // What an operator running 26.4.10's own `alembic upgrade head` meets.
    const failure = await realUpgrade('26.4.10', copy.database);
    ranRealPackage('26.4.10', 'alembic upgrade head (stops in 8c1f7d3a9e2b on a JSON null model definition)');
    expect(failure, 'the upgrade must fail').toBeDefined();
    expect(failure).toMatch(/Running upgrade dec0deba5893 -> 8c1f7d3a9e2b/);
    expect(failure).toMatch(/AttributeError: 'NoneType' object has no attribute 'get'/);
    // One transaction: nothing of the upgrade stays.
    expect(await version(copy.pg)).toEqual([findRelease('26.4.3')!.head]);
    expect(await definitions(copy.pg)).toEqual(before);

    const { report } = await runEngine(inputs(copy.toml, 'preflight', '26.4.10'));
    const failures = report.entries.filter((e) => e.step === 'unguarded-revisions' && e.status === 'failed');
    expect(failures, JSON.stringify(report.entries.filter((e) => e.step === 'unguarded-revisions'))).toHaveLength(1);
    expect(failures[0]!.detail).toMatch(
      /^8c1f7d3a9e2b runs with backend\.ai-manager 26\.4\.10's text, which stops on 1 row\(s\) of deployment_revisions where jsonb_typeof\(model_definition\) <> 'object' \(AttributeError: .*\)\. Choose a to-version whose text passes over them \(26\.4\.13, 26\.4\.14, 26\.4\.15, 26\.4\.16, 26\.9\.1/,
    );
    // The only thing preflight finds wrong.
    expect(report.entries.filter((e) => e.status === 'failed').map((e) => e.step)).toEqual(['unguarded-revisions']);
    expect(await definitions(copy.pg)).toEqual(before);
  }, 900_000);

  it("without the installer's `custom` runtime variant, a revision whose variant no row names stops every text of d8e9f0a1b2c3 (26.4.16's too): preflight names it and the remedy", async () => {
    venvs['26.4.16'] ??= await venvOf('26.4.16');
    const copy = await copyOf();
    await copy.pg.query(`DELETE FROM runtime_variants WHERE name = 'custom'`);
    await insertFilled(copy.pg, 'deployment_revisions', { revision_number: '4', image: `'${IMAGE}'`, resource_group: `'default'`, runtime_variant: `'vllm'` });
    const failure = await realUpgrade('26.4.16', copy.database);
    ranRealPackage('26.4.16', 'alembic upgrade head (stops in d8e9f0a1b2c3 without a custom runtime variant)');
    expect(failure, 'the upgrade must fail').toBeDefined();
    expect(failure).toMatch(/Running upgrade c7d8e9f0a1b2 -> d8e9f0a1b2c3/);
    expect(failure).toMatch(/column "runtime_variant_id" of relation "deployment_revisions" contains null values/);
    expect(await version(copy.pg)).toEqual([findRelease('26.4.3')!.head]);
    const { report } = await runEngine(inputs(copy.toml, 'preflight', '26.4.16'));
    const found = report.entries.filter((e) => e.step === 'unguarded-revisions' && e.status === 'failed');
    expect(found, JSON.stringify(report.entries.filter((e) => e.step === 'unguarded-revisions'))).toHaveLength(1);
    // Every revision here names a variant no row has: the four of them, `custom` among those names too.
    expect(found[0]!.detail).toMatch(
      /^d8e9f0a1b2c3 runs with backend\.ai-manager 26\.4\.16's text, which stops on 4 row\(s\) of deployment_revisions where runtime_variant NOT IN \(SELECT name FROM runtime_variants\) .*No release's text passes over them: INSERT INTO runtime_variants \(name\) VALUES \('custom'\) first/,
    );
    await copy.pg.query(`INSERT INTO runtime_variants (id, name) VALUES (gen_random_uuid(), 'custom')`);
    const after = await runEngine(inputs(copy.toml, 'preflight', '26.4.16'));
    expect(after.report.entries.filter((e) => e.step === 'unguarded-revisions' && e.status !== 'ok')).toEqual([]);
  }, 900_000);

  it("a revision whose image is gone stops every text of c7d8e9f0a1b2 (26.4.16's too): preflight to 26.4.16 names it and the remedy, passes the JSON null; with the remedy applied, migrate takes the database to 26.4.16", async () => {
    venvs['26.4.16'] ??= await venvOf('26.4.16');
    const copy = await copyOf();
    await insertFilled(copy.pg, 'deployment_revisions', { revision_number: '4', image: 'gen_random_uuid()', resource_group: `'default'`, runtime_variant: `'custom'` });
    // And an image whose registry was deleted (registry_id had no foreign key before 045b0e0e4384).
    await insertFilled(copy.pg, 'images', { name: `'old.registry.example/team/app:1'`, registry_id: 'gen_random_uuid()' });
    const failure = await realUpgrade('26.4.16', copy.database);
    ranRealPackage('26.4.16', 'alembic upgrade head (stops in c7d8e9f0a1b2 on a revision whose image is gone)');
    expect(failure, 'the upgrade must fail').toBeDefined();
    expect(failure).toMatch(/Running upgrade b5c6d7e8f9a0 -> c7d8e9f0a1b2/);
    expect(failure).toMatch(/null value in column "image" of relation "deployment_revisions" violates not-null constraint/);
    expect(await version(copy.pg)).toEqual([findRelease('26.4.3')!.head]);

    const refused = await runEngine(inputs(copy.toml, 'preflight', '26.4.16'));
    const found = refused.report.entries.filter((e) => e.step === 'unguarded-revisions' && e.status === 'failed');
    expect(found, JSON.stringify(refused.report.entries.filter((e) => e.step === 'unguarded-revisions'))).toHaveLength(1);
    expect(found[0]!.detail).toMatch(
      /^c7d8e9f0a1b2 runs with backend\.ai-manager 26\.4\.16's text, which stops on 1 row\(s\) of deployment_revisions where image IS NOT NULL AND image NOT IN \(SELECT id FROM images\) .*\. No release's text passes over them: ALTER TABLE deployment_revisions ALTER COLUMN image DROP NOT NULL first/,
    );
    expect(refused.report.entries.filter((e) => e.status === 'failed').map((e) => e.step)).toEqual(['unguarded-revisions']);

    // The operator's remedy, then the upgrade bai-migrate plans.
    await copy.pg.query('ALTER TABLE deployment_revisions ALTER COLUMN image DROP NOT NULL');
    const preflight = await runEngine(inputs(copy.toml, 'preflight', '26.4.16'));
    // 045b0e0e4384 deletes the image whose registry is gone: named here, kept by migrate's backup bundle.
    expect(preflight.report.entries.filter((e) => e.phase === 'preflight' && e.step === 'revision-deletes')).toEqual([
      expect.objectContaining({
        status: 'warning',
        detail: expect.stringMatching(/^045b0e0e4384 deletes 1 image\(s\) whose container registry is gone; .*: old\.registry\.example\/team\/app:1\. migrate keeps them whole in the backup bundle/),
      }),
    ]);
    const checked = preflight.report.entries.filter((e) => e.step === 'unguarded-revisions');
    expect(checked.length).toBeGreaterThan(0);
    expect(
      checked.every((e) => e.status === 'ok'),
      JSON.stringify(checked),
    ).toBe(true);
    expect(preflight.report.error).toBeUndefined();
    const { report } = await runEngine(inputs(copy.toml, 'migrate', '26.4.16'));
    expect(report.error).toBeUndefined();
    ranRealPackage('26.4.16', 'alembic upgrade from 26.4.3 through migrate (8c1f7d3a9e2b with its guard)');
    expect(await version(copy.pg)).toEqual([findRelease('26.4.16')!.head]);
    const after = await definitions(copy.pg);
    expect(after.map((r) => [r.n, r.d === null ? null : typeof r.d])).toEqual([
      [1, null],
      [2, 'object'],
      [3, null],
      [4, null],
    ]);
    expect((after[1]!.d as { models: Array<{ service: { start_command: unknown } }> }).models[0]!.service.start_command).toEqual(['python serve.py']);
    // The lost image went to NULL (c7d8e9f0a1b2's backfill); the others follow their image row (ON DELETE SET NULL from here on).
    const { rows: images } = await copy.pg.query<{ n: number; image: string | null }>('SELECT revision_number AS n, image::text FROM deployment_revisions ORDER BY 1');
    expect(images).toEqual([
      { n: 1, image: IMAGE },
      { n: 2, image: IMAGE },
      { n: 3, image: IMAGE },
      { n: 4, image: null },
    ]);
    expect((await copy.pg.query<{ name: string }>('SELECT name FROM images ORDER BY name')).rows).toEqual([{ name: 'cr.backend.ai/stable/python:3.11-ubuntu22.04' }]);
    const bundle = JSON.parse(readFileSync(join(report.backup!, 'revision-deletes.json'), 'utf8')) as Record<string, Array<{ name: string; registry_id: string }>>;
    expect(Object.keys(bundle)).toEqual(['045b0e0e4384 images']);
    expect(bundle['045b0e0e4384 images']!.map((r) => r.name)).toEqual(['old.registry.example/team/app:1']);
  }, 900_000);
});
