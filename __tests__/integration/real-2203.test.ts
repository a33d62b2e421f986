/**
 * 21.09 → 22.03 with Backend.AI's real packages from PyPI, end to end: a deployment whose schema the
 * real 21.09.9 made (its own oneshot), with data, is migrated by bai-migrate's migrate with
 * manager-venv, which pip-installs the real 22.03.14 itself: on pyenv's Python 3.10, the only 3.10
 * of the test bed (22.03.14's wheel demands exactly 3.10.5; src/releases/manager-python.ts). Its
 * alembic upgrades the schema, and its `backend.ai mgr image rescan` rescans a real Docker
 * registry on the loopback (support/registry.ts) holding images built with Backend.AI's labels.
 *
 * The product's venvs are kept under /var/cache/bai-migrate/product-venvs between runs (reused by
 * their marker); pip's cache is the test bed's.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useDeployments, type TestDeployment } from '../support/deployment.js';
import { ensureRealManagerVenv, MANAGER_TOML_LOGGING, MANAGER_TOML_MANAGER, productVenvs, real2109Schema, real2109Template, requireLoopback } from '../support/real-manager.js';
import { runEngine } from '../support/run.js';
import { dryRunThenMigrate, rehearseVerified, snapshotWithoutSecrets } from '../support/real-runs.js';
import { freePort } from '../support/testbed.js';
import { pushImage, startRegistry, type KernelImage, type TestRegistry } from '../support/registry.js';
import { startPlainPostgres, type PlainPostgres } from '../support/plain-postgres.js';
import { ranRealPackage } from '../support/real-lines.js';
import { latestRelease } from '../../src/releases/releases.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);
let PRODUCT_VENVS: string;
const TARGET = latestRelease('22.03');

let template2109: string;
/** The same template on the PostgreSQL whose server_version 22.03's manager can read. */
let plainTemplate2109: string;
let plain: PlainPostgres;
let registry: TestRegistry;
/** Config digest of each pushed image, by repository:tag. */
const digests = new Map<string, string>();

const KERNEL_LABELS = {
  'ai.backend.kernelspec': '1',
  'ai.backend.features': 'batch query uid-match user-input',
  'ai.backend.base-distro': 'ubuntu20.04',
  'ai.backend.runtime-type': 'python',
  'ai.backend.runtime-path': '/usr/bin/python3',
};

/** What the registry holds: a seeded image with newer labels, one only the registry has, and two a rescan must leave out. */
const REGISTRY_IMAGES: readonly KernelImage[] = [
  { repository: 'stable/python', tag: '3.9-ubuntu20.04', labels: { ...KERNEL_LABELS, 'ai.backend.resource.min.cpu': '2', 'ai.backend.resource.min.mem': '2g' } },
  { repository: 'stable/lua', tag: '5.4-alpine3.17', labels: { ...KERNEL_LABELS, 'ai.backend.runtime-type': 'lua', 'ai.backend.resource.min.cpu': '1', 'ai.backend.resource.min.mem': '256m' } },
  // Not kernels: "base-" names are skipped by the scan, and so are images without ai.backend.kernelspec.
  { repository: 'stable/base-python', tag: '3.9', labels: KERNEL_LABELS },
  { repository: 'stable/tools', tag: '1.0', labels: { 'org.opencontainers.image.title': 'tools' } },
];

beforeAll(async () => {
  requireLoopback(info);
  PRODUCT_VENVS = productVenvs();
  const manager2109 = await ensureRealManagerVenv('21.09.9');
  template2109 = await real2109Template(manager2109, admin(), info);
  plain = await startPlainPostgres(info);
  plainTemplate2109 = await real2109Template(manager2109, plain.servers.admin, plain.servers.info);
  registry = await startRegistry();
  for (const image of REGISTRY_IMAGES) digests.set(`${image.repository}:${image.tag}`, await pushImage(registry, image));
}, 1_800_000);

afterAll(async () => {
  await registry?.stop();
  await plain?.stop();
});

/** The seeded registry cr.backend.ai, served by the test's registry: its type docker (the seeding says harbor2). */
async function pointRegistryAt(deployment: TestDeployment, url: string): Promise<void> {
  const etcd = admin().etcd.namespace(`/sorna/${deployment.namespace}/`);
  await etcd.put('config/docker/registry/cr.backend.ai').value(url);
  await etcd.put('config/docker/registry/cr.backend.ai/type').value('docker');
  await etcd.delete().key('config/docker/registry/cr.backend.ai/project');
}

/** A manager.toml both read: bai-migrate, and the real manager's config loader (logging to the console, where bai-migrate reads it). */
const realToml = (deployment: TestDeployment) => deployment.writeManagerToml(MANAGER_TOML_LOGGING, { manager: MANAGER_TOML_MANAGER });

function migrateTo2203(toml: string, extra: Record<string, string> = {}) {
  return {
    command: 'migrate',
    'from-version': '21.09',
    'to-version': '22.03',
    'manager-config': toml,
    // No python: manager-venv finds the 3.10 22.03 needs among pyenv's interpreters.
    'manager-venv': PRODUCT_VENVS,
    'lock-backend': 'etcd',
    'periodic-sync-stats': 'true',
    'backup-dir': mkdtempSync(join(tmpdir(), 'bai-real-2203-backup-')),
    ...extra,
  };
}

type ImageRow = { name: string; config_digest: string; labels: Record<string, string>; resources: Record<string, Record<string, string>> };
async function imageRows(deployment: TestDeployment): Promise<Map<string, ImageRow>> {
  const { rows } = await deployment.pg.query<ImageRow>('SELECT name, config_digest, labels, resources FROM images ORDER BY name');
  return new Map(rows.map((row) => [row.name, row]));
}

describe(`21.09.9 → ${TARGET.version} with the real packages (manager-venv on pyenv's 3.10, a real registry)`, () => {
  it('on a PostgreSQL that reports a distribution suffix, preflight warns that 22.03’s manager will not start and its rescan will fail; the real rescan fails there, and the step says why', async () => {
    const deployment = await deploy({ schemaOf: real2109Schema(template2109) });
    await pointRegistryAt(deployment, registry.url);
    const { rows } = await deployment.pg.query<{ server_version: string }>('SHOW server_version');
    expect(rows[0]!.server_version).toMatch(/^\d+\.\d+ \(/);
    const inputs = migrateTo2203(realToml(deployment), { 'image-rescan': 'true' });
    const preflight = await runEngine({ ...inputs, command: 'preflight' });
    const findings = preflight.report.entries.filter((e) => e.phase === 'preflight' && e.status === 'warning' && ['manager-connects', 'image-rescan'].includes(e.step)).map((e) => [e.step, e.detail]);
    const cannot = `the ${TARGET.version} manager cannot connect to this PostgreSQL: it reads server_version "${rows[0]!.server_version}" as numbers and fails on the suffix (fixed in 22.09.23, 23.03.10, 23.09.0)`;
    expect(findings).toEqual([
      [
        'manager-connects',
        `${cannot}. The migration itself works, but the manager will not start: choose a to-version with the fix, or a PostgreSQL build that reports a bare version (e.g. the Alpine image)`,
      ],
      [
        'image-rescan',
        `image-rescan runs the ${TARGET.version} manager's CLI, but ${cannot}: unless your manager is patched, the rescan will fail; leave image-rescan off and rescan later with a release that has the fix`,
      ],
    ]);
    expect(preflight.report.outcome).toBe('success');

    // And so it does: 22.03.14's CLI cannot parse the version, and the step names the cause.
    const run = await runEngine(inputs);
    expect(run.report.error).toMatch(
      new RegExp(
        `image-rescan failed: .*mgr image rescan cr\\.backend\\.ai failed \\(exit 1\\): .*ValueError: invalid literal for int\\(\\) with base 10: '\\d+ \\(Debian .*\\(the ${TARGET.version.replace(/\./g, '\\.')} manager cannot connect to this PostgreSQL`,
      ),
    );
    ranRealPackage(TARGET.version, 'mgr image rescan');

    // Its clear-history deletes the rows through psycopg2, but reaches Redis through the same
    // version check: it logs that and exits 0. The report names the cause.
    const cleared = await runEngine({ command: 'clear-history', mode: 'manager', 'manager-config': inputs['manager-config'], retention: '30d', 'manager-venv': PRODUCT_VENVS, 'to-version': '22.03' });
    expect(cleared.report.error).toMatch(
      /the manager exited 0 but logged "ERROR Unexpected error while cleaning up redis history \(ValueError: invalid literal for int\(\) with base 10: '\d+ \(Debian \d+'\)" \(the manager cannot connect to this PostgreSQL: it reads server_version "\d+\.\d+ \(Debian [^"]+" as numbers and fails on the suffix \(fixed in 22\.09\.23, 23\.03\.10, 23\.09\.0\)\): stat keys of deleted kernels stay in Redis DB 0/,
    );
    ranRealPackage(TARGET.version, 'mgr clear-history');
  }, 1_800_000); // it makes the 22.03.14 venv (preflight makes every venv the run needs)

  it('dry run writes nothing; migrate upgrades with 22.03.14’s alembic, rescans the registry with its CLI and puts back the admin-set limit; verify passes and a second run changes nothing', async () => {
    expect(plain.serverVersion).toMatch(/^\d+\.\d+$/);
    const deployment = await deploy({ schemaOf: real2109Schema(plainTemplate2109) }, plain.servers);
    await pointRegistryAt(deployment, registry.url);
    const toml = realToml(deployment);
    const inputs = migrateTo2203(toml, { 'image-rescan': 'true' });

    const run = await dryRunThenMigrate(admin(), deployment, inputs);
    expect(run.report.entries.filter((e) => e.phase === 'apply' && e.step !== 'backup').map((e) => [e.step, e.status])).toEqual([
      ['schema', 'changed'],
      ['concurrency-to-redis', 'changed'],
      ['last-stat-sync', 'changed'],
      ['redis-persistence', 'changed'],
      ['image-metadata', 'changed'],
      ['image-rescan', 'changed'],
      ['prune-etcd-images', 'skipped'],
      ['distributed-lock', 'changed'],
      // Only a rehearsal or start-manager starts the manager.
      ['manager-starts', 'skipped'],
    ]);
    const venv = run.report.entries.find((e) => e.step === 'manager-venv')?.detail ?? '';
    expect(venv).toContain(join(PRODUCT_VENVS, TARGET.version));
    const { rows: revisions } = await deployment.pg.query<{ version_num: string }>('SELECT version_num FROM alembic_version');
    expect(revisions).toEqual([{ version_num: TARGET.head }]);
    expect(run.report.entries.find((e) => e.phase === 'apply' && e.step === 'image-rescan')?.detail).toBe('rescanned cr.backend.ai; put back the admin-set limits of 1 image(s) the rescan had reset');

    const images = await imageRows(deployment);
    // The rescan's: the registry's digest and labels, min from the labels; the admin's max put back.
    const python = images.get('cr.backend.ai/stable/python:3.9-ubuntu20.04')!;
    // config_digest is CHAR(72): PostgreSQL pads the 71 characters of a sha256 digest.
    expect(python.config_digest.trimEnd()).toBe(digests.get('stable/python:3.9-ubuntu20.04'));
    expect(python.labels).toMatchObject({ 'ai.backend.runtime-path': '/usr/bin/python3', 'ai.backend.resource.min.cpu': '2' });
    expect(python.resources).toEqual({ cpu: { min: '2', max: '8' }, mem: { min: '2g' } });
    const lua = images.get('cr.backend.ai/stable/lua:5.4-alpine3.17')!;
    expect(lua.config_digest.trimEnd()).toBe(digests.get('stable/lua:5.4-alpine3.17'));
    expect(lua.resources).toEqual({ cpu: { min: '1' }, mem: { min: '256m' } });
    expect([...images.keys()].filter((name) => name.includes('base-python') || name.includes('tools'))).toEqual([]);
    // etcd's images the registry does not hold stay as bai-migrate imported them.
    expect(images.get('cr.backend.ai/stable/tensorflow:2.7-py38-cuda11.3')?.resources).toEqual({ cpu: { min: '1' }, mem: { min: '1g' } });
    ranRealPackage(TARGET.version, 'alembic upgrade, mgr image rescan');

    const verified = await runEngine({ ...inputs, command: 'verify' });
    expect(verified.report.error).toBeUndefined();
    // Without the rescan (which runs whenever it is asked for), nothing is left to do, and etcd's
    // older copy of the rescanned image does not overwrite the registry's.
    const again = await runEngine({ ...inputs, 'image-rescan': 'false' });
    expect(again.report.error).toBeUndefined();
    expect(again.report.entries.filter((e) => e.phase === 'apply' && e.status === 'changed')).toEqual([]);
    expect(again.report.entries.find((e) => e.phase === 'apply' && e.step === 'image-metadata')?.detail).toBe(
      "all 5 image(s) and 3 alias(es) are already in PostgreSQL (1 image row(s) already in PostgreSQL differ from etcd and are left as they are: the manager's, e.g. from a registry rescan); etcd images/ left intact",
    );
    expect(await imageRows(deployment)).toEqual(images);

    // A registry that does not answer: 22.03's CLI logs the exception and exits 0; the step fails anyway, and the limit stays.
    await pointRegistryAt(deployment, `http://127.0.0.1:${await freePort()}`);
    const unreachable = await runEngine(inputs);
    expect(unreachable.report.error).toMatch(
      /the manager's rescan failed although \S+backend\.ai exited 0 \(cr\.backend\.ai: \S* ?An error occurred\. \(ClientConnectorError: Cannot connect to host 127\.0\.0\.1:(\d+) ssl:default \[Connect call failed \('127\.0\.0\.1', \1\)\]\)\); the admin-set limits of 0 image\(s\) are put back\. Fix the registry and run migrate again: the rescan runs again/,
    );
    expect((await imageRows(deployment)).get('cr.backend.ai/stable/python:3.9-ubuntu20.04')?.resources).toEqual({ cpu: { min: '2', max: '8' }, mem: { min: '2g' } });

    // The venv is there now: a dry run of a fresh deployment renders 22.03.14's own offline SQL.
    const fresh = await deploy({ schemaOf: real2109Schema(plainTemplate2109) }, plain.servers);
    const freshDry = await runEngine({ ...migrateTo2203(realToml(fresh)), 'dry-run': 'true' });
    expect(freshDry.report.error).toBeUndefined();
    // Every revision of 21.09 → 22.03 renders offline: the real scripts' DDL, not the stand-in's.
    expect(freshDry.report.entries.filter((e) => e.step === 'schema' && e.phase === 'apply').map((e) => [e.status, e.detail])).toEqual([
      ['skipped', expect.stringMatching(new RegExp(`^dry run: would run alembic upgrade 60a1effa77d2 → ${TARGET.head}: \\d+ SQL statement\\(s\\), shown in the report$`))],
    ]);
    const sql = freshDry.report.attachments.find((a) => a.step === 'schema')?.content ?? '';
    expect(sql).toContain('Running upgrade 60a1effa77d2 -> 015d84d5a5ef');
    expect(sql).toMatch(/CREATE TABLE image_aliases \(\s+id UUID DEFAULT uuid_generate_v4\(\) NOT NULL/);
    ranRealPackage(TARGET.version, 'alembic upgrade --sql');
  }, 1_800_000);

  it('a snapshot of a real 21.09.9 deployment holds none of its planted secrets, and its rehearsal of 21.09 → 22.03 with the real 22.03.14 ends verified', async () => {
    const deployment = await deploy({ schemaOf: real2109Schema(template2109) });
    const toml = realToml(deployment);
    const rehearsal = await rehearseVerified('21.09', migrateTo2203(toml), await snapshotWithoutSecrets(deployment, toml));
    expect(rehearsal.entries.find((e) => e.phase === 'apply' && e.step === 'schema' && e.status === 'changed')?.detail).toMatch(new RegExp(`^alembic upgrade 60a1effa77d2 → ${TARGET.head}`));
    ranRealPackage(TARGET.version, 'rehearsal');
  }, 1_800_000);
});
