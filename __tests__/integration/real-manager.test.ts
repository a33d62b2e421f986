/**
 * The real backend.ai-manager 21.09.9 from PyPI (support/real-manager.ts): its own schema
 * (`backend.ai mgr schema oneshot`) and its own `backend.ai mgr clear-history` against bai-migrate's.
 * The migration of such a database to 22.03 with the real 22.03.14 is real-2203.test.ts.
 *
 * The first run on a machine builds the interpreter image and the venv (minutes); nothing here
 * skips when they cannot be built.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useDeployments, type TestDeployment } from '../support/deployment.js';
import { extendToReal2109 } from '../support/real-2109.js';
import { runEngine, tempDir } from '../support/run.js';
import { ranRealPackage } from '../support/real-lines.js';
import {
  copyKernels,
  expectedKept,
  historyKernels,
  dockerRunArgs,
  ensureRealManagerVenv,
  MANAGER_TOML_LOGGING,
  MANAGER_TOML_MANAGER,
  real2109Schema,
  real2109Template,
  requireLoopback,
  runManagerCliInContainer,
  type KernelSpec,
  type RealManagerVenv,
} from '../support/real-manager.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);
const RELEASE = '21.09.9';
let venv: RealManagerVenv;
let template: string;

beforeAll(async () => {
  requireLoopback(info);
  venv = await ensureRealManagerVenv(RELEASE);
  const started = Date.now();
  template = await real2109Template(venv, admin(), info);
  console.log(
    `real ${venv.requirement} (${venv.image}): venv ${venv.built ? 'built' : 'reused'} in ${venv.seconds.toFixed(0)} s at ${venv.dir}; ` +
      `template ${template} by its own schema oneshot in ${((Date.now() - started) / 1000).toFixed(1)} s.`,
  );
}, 1_800_000);

const deployReal = () => deploy({ schemaOf: real2109Schema(template) });

/** A manager.toml both read: bai-migrate, and the real 21.09 manager (which needs logging, docker-registry and debug, and num-proc within the cores). */
const realToml = (deployment: TestDeployment) => deployment.writeManagerToml(MANAGER_TOML_LOGGING, { manager: MANAGER_TOML_MANAGER });

type Column = { table_name: string; column_name: string; udt_name: string; len: number | null; is_nullable: string };
async function columns(deployment: TestDeployment, tables?: readonly string[]): Promise<Column[]> {
  const { rows } = await deployment.pg.query<Column>(
    `SELECT table_name, column_name, udt_name, character_maximum_length AS len, is_nullable FROM information_schema.columns
      WHERE table_schema = 'public' AND ($1::text[] IS NULL OR table_name = ANY($1)) ORDER BY table_name, column_name`,
    [tables ?? null],
  );
  return rows;
}

describe(`the real backend.ai-manager ${RELEASE} schema (its own mgr schema oneshot)`, () => {
  it('is create_all stamped at 21.09.9 head, and has every column (type, length, NOT NULL) the stand-in 21.09 schema of support/real-2109.ts assumes', async () => {
    const real = await deployReal();
    expect((await real.pg.query('SELECT version_num FROM alembic_version')).rows).toEqual([{ version_num: '60a1effa77d2' }]);
    ranRealPackage(RELEASE, 'mgr schema oneshot');
    const standIn = await deploy();
    await extendToReal2109(standIn.pg);
    const assumed = await columns(standIn);
    const tables = [...new Set(assumed.map((c) => c.table_name))];
    const actual = new Map((await columns(real, tables)).map((c) => [`${c.table_name}.${c.column_name}`, c]));
    expect(assumed.filter((c) => JSON.stringify(actual.get(`${c.table_name}.${c.column_name}`)) !== JSON.stringify(c))).toEqual([]);
    // What the stand-in leaves out: whole tables (domains, groups, vfolders, …) and columns of these.
    expect(actual.size).toBeGreaterThan(assumed.length);
  }, 300_000);
});

/** Two deployments with the real schema and the same kernels (only `kernels`), and a stat key per kernel in Redis DB 0. */
async function twoIdenticalDeployments(): Promise<{ one: TestDeployment; other: TestDeployment; kernels: KernelSpec[] }> {
  const kernels = historyKernels();
  const one = await deployReal();
  const other = await deployReal();
  for (const deployment of [one, other]) {
    await copyKernels(deployment.pg, kernels);
    await deployment.pg.query('DELETE FROM kernels WHERE id <> ALL($1::uuid[])', [kernels.map((k) => k.id)]);
  }
  // Both share the test bed's Redis (the second deploy flushed it): one stat key per kernel, as agents write them.
  const stats = admin().redis(0).pipeline();
  for (const { id } of kernels) stats.set(id, JSON.stringify({ cpu_util: { current: '12.5' } }));
  await stats.exec();
  return { one, other, kernels };
}

async function remainingKernels(deployment: TestDeployment) {
  const { rows } = await deployment.pg.query('SELECT id::text, session_id::text, status::text, terminated_at, access_key FROM kernels ORDER BY id');
  return rows;
}

describe(`clear-history: the real backend.ai-manager ${RELEASE} CLI and bai-migrate`, () => {
  it('the real `backend.ai mgr clear-history -r 30d` and bai-migrate (mode: bai-migrate) leave the same kernel rows, and 21.09 leaves Redis alone', async () => {
    const { one, other, kernels } = await twoIdenticalDeployments();
    const keysBefore = (await admin().redis(0).keys('*')).sort();
    const toml = realToml(one);
    const manager = await runManagerCliInContainer(venv, { dir: dirname(toml), managerToml: toml, alembicIni: '' }, ['mgr', 'clear-history', '-r', '30d']);
    // 21.09.9 counts before it deletes and logs that count (backend.ai-manager@21.09.9:src/ai/backend/manager/cli/__main__.py).
    expect(`${manager.stdout}\n${manager.stderr}`).toMatch(/Cleaned up 6 database records older than \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\./);
    expect((await admin().redis(0).keys('*')).sort()).toEqual(keysBefore);

    const { report } = await runEngine({ command: 'clear-history', mode: 'bai-migrate', 'manager-config': other.writeManagerToml(), retention: '30d' });
    expect(report.error).toBeUndefined();
    expect(report.history).toMatchObject({ kernels: 6, redisKeys: 0 });
    expect((await admin().redis(0).keys('*')).sort()).toEqual(keysBefore);

    const byManager = await remainingKernels(one);
    expect(byManager.map((k) => k.id)).toEqual(expectedKept(kernels));
    expect(await remainingKernels(other)).toEqual(byManager);
    ranRealPackage(RELEASE, 'mgr clear-history');
  }, 300_000);

  it('bai-migrate with mode: manager runs the real CLI (in its container, through manager-command) and reports what it deleted', async () => {
    const { one, kernels } = await twoIdenticalDeployments();
    const keysBefore = (await admin().redis(0).keys('*')).sort();
    const toml = realToml(one);
    // bai-migrate hands the CLI BACKEND_CONFIG_FILE; the container sees the file at the same path.
    const wrapper = join(tempDir(), 'backend.ai');
    const docker = dockerRunArgs(venv, { workdir: '/tmp' });
    const image = docker.pop()!;
    writeFileSync(
      wrapper,
      `#!/bin/sh\nset -e\nconfig_dir=$(dirname "$BACKEND_CONFIG_FILE")\nexec docker ${docker.join(' ')} -v "$config_dir:$config_dir:ro" -e BACKEND_CONFIG_FILE="$BACKEND_CONFIG_FILE" ${image} ${venv.cli} "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    const { report } = await runEngine({ command: 'clear-history', mode: 'manager', 'manager-config': toml, retention: '30d', 'manager-command': wrapper });
    expect(report.error).toBeUndefined();
    expect(report.outcome).toBe('success');
    expect(report.history).toMatchObject({ kernels: 6, redisKeys: null, sweptRedisKeys: null });
    const details = report.entries.filter((e) => e.step === 'clear-history').map((e) => e.detail);
    expect(details[0]).toMatch(new RegExp(`^mode manager: ${wrapper} mgr clear-history -r 30d -v false; 6 kernel row\\(s\\) terminated before `));
    expect(details).toContainEqual(expect.stringMatching(/^the manager deleted 6 kernel row\(s\) in \d+ ms/));
    expect(report.entries.filter((e) => e.status === 'failed' || e.status === 'warning')).toEqual([]);
    expect((await remainingKernels(one)).map((k) => k.id)).toEqual(expectedKept(kernels));
    expect((await admin().redis(0).keys('*')).sort()).toEqual(keysBefore);
  }, 300_000);
});
