/**
 * The programs bai-migrate starts get an allowlisted environment, not its own: with secrets
 * planted where the Action, the runner and the CLI keep them, alembic, pip (a source package's
 * setup.py: third-party build code) and the manager's CLI each write down the environment they
 * got, and none holds a secret while PATH and HOME are there.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateInputs, useDeployments, TEST_PYTHON } from '../support/deployment.js';
import { buildManagerWheel } from '../support/manager-wheel.js';
import { runEngine } from '../support/run.js';
import { runAlembic } from '../../src/manager/alembic.js';
import { provisionManagerVenv } from '../../src/manager/venv.js';
import { MemoryLogger } from '../../src/core/logger.js';
import { standInDependencies, uvWheel } from '../support/uv-wheels.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { deploy } = useDeployments(info);

const PLANTED: Record<string, string> = {
  'INPUT_POSTGRES-URL': `postgresql://postgres:pw-${randomBytes(6).toString('hex')}@db.internal:5432/backend`,
  'INPUT_GITHUB-TOKEN': `ghs_${randomBytes(12).toString('hex')}`,
  ACTIONS_RUNTIME_TOKEN: `rt-${randomBytes(12).toString('hex')}`,
  BAI_MIGRATE_POSTGRES_URL: `postgresql://postgres:pw-${randomBytes(6).toString('hex')}@db.internal:5432/backend`,
  BAI_MIGRATE_ETCD_PASSWORD: `etcd-${randomBytes(8).toString('hex')}`,
  MY_SECRET: `s-${randomBytes(8).toString('hex')}`,
};
/** The operator's pip configuration: meant for pip, and only for pip. */
const PIP_INDEX_URL = `https://ci:pip-${randomBytes(6).toString('hex')}@pypi.invalid/simple`;

const dir = mkdtempSync(join(tmpdir(), 'bai-child-env-'));
/** A command that appends its environment to argv[1], then runs module argv[2] (or nothing for "-") with the rest. */
const DUMP = join(dir, 'dump-env.py');
writeFileSync(
  DUMP,
  [
    'import json, os, runpy, sys',
    'with open(sys.argv[1], "a") as f: f.write(json.dumps(dict(os.environ)) + "\\n")',
    'if sys.argv[2] != "-":',
    '    sys.argv = [sys.argv[2]] + sys.argv[3:]',
    '    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)',
    '',
  ].join('\n'),
);

function environments(file: string): Array<Record<string, string>> {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, string>);
}

/** None of the planted values, under any name; PATH and HOME as the run has them. */
function expectClean(envs: Array<Record<string, string>>): void {
  expect(envs.length).toBeGreaterThan(0);
  for (const env of envs) {
    const values = Object.values(env).join('\n');
    for (const [name, secret] of Object.entries(PLANTED)) {
      expect(env[name], name).toBeUndefined();
      expect(values).not.toContain(secret);
    }
    expect(env.PATH).toBe(process.env.PATH);
    expect(env.HOME).toBe(process.env.HOME);
  }
}

beforeAll(() => {
  Object.assign(process.env, PLANTED, { PIP_INDEX_URL });
});
afterAll(() => {
  for (const name of [...Object.keys(PLANTED), 'PIP_INDEX_URL']) delete process.env[name];
});

describe('the environment of child processes', () => {
  it('alembic gets no secret and no PIP_*; its database URL comes only through the private alembic.ini', async () => {
    const deployment = await deploy();
    const out = join(dir, 'alembic.jsonl');
    const { report } = await runEngine(migrateInputs(deployment.writeManagerToml(), { 'alembic-command': `${TEST_PYTHON} ${DUMP} ${out} alembic` }));
    expect(report.error).toBeUndefined();
    expect((await deployment.pg.query('SELECT version_num FROM alembic_version')).rows).toEqual([{ version_num: '81c264528f20' }]);
    const envs = environments(out);
    expectClean(envs);
    const password = info.postgres.password;
    for (const env of envs) {
      expect(env.PIP_INDEX_URL).toBeUndefined();
      expect(Object.values(env).join('\n')).not.toContain(password);
    }
  });

  it('pip, running a source package’s setup.py, gets PIP_* and no secret', async () => {
    const deployment = await deploy();
    const out = join(dir, 'pip.jsonl');
    const wheels = buildManagerWheel('22.03.14', { sdistDumpingEnvTo: out });
    const { 'alembic-command': _command, 'alembic-config': _config, ...inputs } = migrateInputs(deployment.writeManagerToml());
    const { report } = await runEngine({
      ...inputs,
      'manager-venv': join(mkdtempSync(join(tmpdir(), 'bai-venv-')), 'manager'),
      python: TEST_PYTHON,
      // setuptools from the system: the build runs in pip's own environment, not an isolated one.
      'pip-args': `--no-index --find-links ${wheels} --no-build-isolation`,
      'venv-system-site-packages': 'true',
    });
    expect(report.error).toBeUndefined();
    const envs = environments(out);
    expectClean(envs);
    for (const env of envs) expect(env.PIP_INDEX_URL).toBe(PIP_INDEX_URL);
  });

  it('uv, building a source package, gets UV_* with pip’s index under uv’s name, no PIP_* and no secret', async () => {
    const out = join(dir, 'uv.jsonl');
    const links = buildManagerWheel('23.03.12', { sdistDumpingEnvTo: out });
    // What the stand-in requires, setuptools for uv's isolated build, and uv itself.
    cpSync(standInDependencies(), links, { recursive: true });
    cpSync(uvWheel(), links, { recursive: true });
    const root = join(mkdtempSync(join(tmpdir(), 'bai-venv-')), 'manager');
    const log = new MemoryLogger();
    await provisionManagerVenv({ dir: root, python: TEST_PYTHON, pipArgs: ['--no-index', '--find-links', links], systemSitePackages: false }, '23.03.12', log);
    expect(log.lines).toContainEqual(expect.stringMatching(/installing with uv$/));
    const envs = environments(out);
    expect(envs.length).toBeGreaterThan(0);
    for (const env of envs) {
      const values = Object.values(env).join('\n');
      for (const [name, secret] of Object.entries(PLANTED)) {
        expect(env[name], name).toBeUndefined();
        expect(values).not.toContain(secret);
      }
      expect(Object.keys(env).filter((name) => name.startsWith('PIP_'))).toEqual([]);
      expect(env.UV_DEFAULT_INDEX).toBe(PIP_INDEX_URL);
      expect(env.UV_CACHE_DIR).toBe(join(root, '.uv', 'cache'));
      // uv's build puts its isolated environment first on PATH; the rest is the run's.
      expect(env.PATH?.endsWith(process.env.PATH!)).toBe(true);
      expect(env.HOME).toBe(process.env.HOME);
    }
  }, 300_000);

  it('the manager’s CLI gets BACKEND_CONFIG_FILE and no secret', async () => {
    const deployment = await deploy({ schema: '81c264528f20' });
    const toml = deployment.writeManagerToml();
    const out = join(dir, 'cli.jsonl');
    const { report } = await runEngine({ command: 'clear-history', mode: 'manager', 'manager-config': toml, retention: '30d', 'manager-command': `${TEST_PYTHON} ${DUMP} ${out} -` });
    expect(report.error).toBeUndefined();
    const envs = environments(out);
    expectClean(envs);
    for (const env of envs) {
      expect(env.BACKEND_CONFIG_FILE).toBe(toml);
      expect(env.PIP_INDEX_URL).toBeUndefined();
    }
  });

  it('alembic gets an empty standard input: a revision that asks a question fails at once with EOFError instead of waiting for an answer', async () => {
    const started = Date.now();
    const deployment = await deploy({ schema: '81c264528f20' });
    const ini = join(dir, 'asking.ini');
    writeFileSync(ini, '[alembic]\nscript_location = .\nsqlalchemy.url =\n');
    // The watchdog starts alembic (here a Python that asks) with nothing on its standard input.
    await expect(
      runAlembic({ command: [TEST_PYTHON, '-c', 'input("Your choice? [a/b] ")'], config: ini }, { ...info.postgres, database: deployment.database, source: 'test' }, ['current']),
    ).rejects.toThrow(/EOFError/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
