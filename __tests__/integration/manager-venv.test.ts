/**
 * manager-venv: bai-migrate makes the manager's venv with pip (here from a local folder holding a
 * stand-in backend.ai-manager wheel, since PyPI is out of reach), runs the real migration from
 * it, reuses it on the next run, and refuses folders it did not make.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { migrateInputs, snapshotState, useDeployments, TEST_PYTHON } from '../support/deployment.js';
import { buildManagerWheel } from '../support/manager-wheel.js';
import { runEngine } from '../support/run.js';
import { provisionManagerVenv } from '../../src/manager/venv.js';
import { MemoryLogger } from '../../src/core/logger.js';
import { workerTestbed } from '../support/worker-testbed.js';
import { renderMarkdown } from '../../src/core/report/index.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

let wheels: string;
let olderWheels: string;
beforeAll(() => {
  wheels = buildManagerWheel('22.03.14');
  olderWheels = buildManagerWheel('22.03.13');
});

/** manager-venv (a folder of venvs, one per release) where bai-migrate made 22.03.14's earlier (as a migrate would), without running a migration. */
async function madeVenv(): Promise<{ root: string; venv: string }> {
  const root = join(mkdtempSync(join(tmpdir(), 'bai-venv-')), 'manager');
  await provisionManagerVenv({ dir: root, python: TEST_PYTHON, pipArgs: ['--no-index', '--find-links', wheels], systemSitePackages: true }, '22.03.14', new MemoryLogger());
  return { root, venv: join(root, '22.03.14') };
}

/** The stand-in wheel has no CLI: this one answers everything and notes how it was called. */
function fakeManagerCli(venv: string): string {
  const calls = join(venv, 'cli-calls.txt');
  writeFileSync(join(venv, 'bin', 'backend.ai'), `#!/bin/sh\necho "$*" >> '${calls}'\necho "Usage: backend.ai mgr image rescan [OPTIONS] REGISTRY"\n`);
  chmodSync(join(venv, 'bin', 'backend.ai'), 0o755);
  return calls;
}

/** migrateInputs without the fixture's alembic: the venv provides it. */
function venvInputs(toml: string, venv: string, extra: Record<string, string> = {}) {
  const { 'alembic-command': _command, 'alembic-config': _config, ...inputs } = migrateInputs(toml);
  return {
    ...inputs,
    'manager-venv': venv,
    python: TEST_PYTHON,
    'pip-args': `--no-index --find-links ${wheels}`,
    // Debian's alembic and psycopg2 satisfy the package's requirements without PyPI.
    'venv-system-site-packages': 'true',
    ...extra,
  };
}

describe('manager-venv', () => {
  it('makes a venv with backend.ai-manager==<to-version>, migrates with its alembic, and reuses it next time', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'bai-venv-')), 'manager');
    const venv = join(root, '22.03.14');
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const first = await runEngine(venvInputs(toml, root));
    expect(first.report.error).toBeUndefined();
    expect(first.report.entries[0]).toEqual({ phase: 'setup', step: 'manager-venv', status: 'changed', detail: `made ${venv} with backend.ai-manager==22.03.14; alembic runs from it` });
    expect(first.report.managerVenv).toEqual({ dir: venv, requirement: 'backend.ai-manager==22.03.14', created: true });
    expect((await deployment.pg.query('SELECT version_num FROM alembic_version')).rows).toEqual([{ version_num: '81c264528f20' }]);
    expect(readFileSync(join(venv, 'bai-migrate-alembic.ini'), 'utf8')).toContain('script_location = ai.backend.manager.models:alembic');
    // 21.09.9's too: preflight compares the live schema with the source release's models in it.
    expect(readdirSync(root).sort()).toEqual(['.bai-migrate-venvs', '21.09.9', '22.03.14']);

    const second = await runEngine(venvInputs(toml, root));
    expect(second.report.outcome).toBe('success');
    expect(second.report.entries[0]).toMatchObject({ step: 'manager-venv', status: 'ok', detail: `reused ${venv} with backend.ai-manager==22.03.14; alembic runs from it` });
  });

  it('ends with pip’s reason when the release cannot be installed, before anything is written', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const before = await snapshotState(admin(), deployment);
    const venv = join(mkdtempSync(join(tmpdir(), 'bai-venv-')), 'manager');
    const { report } = await runEngine(venvInputs(toml, venv, { 'to-version': '22.03.13' }));
    expect(report.outcome).toBe('failure');
    expect(report.errorCode).toBe('unsupported');
    expect(report.error).toMatch(
      /^provisioning the manager venv failed at pip install backend\.ai-manager==22\.03\.13 \(exit 1\): .*No matching distribution found for backend\.ai-manager==22\.03\.13/,
    );
    expect(await snapshotState(admin(), deployment)).toEqual(before);
    // The half-made venv is marked as bai-migrate's, so the next run may replace it.
    expect(readFileSync(join(venv, '22.03.13', '.bai-migrate-manager'), 'utf8')).toBe('backend.ai-manager==22.03.13 (incomplete)\n');
    const next = await runEngine(venvInputs(toml, venv));
    expect(next.report.error).toBeUndefined();
    expect(next.report.managerVenv).toMatchObject({ requirement: 'backend.ai-manager==22.03.14', created: true });
  });

  it('refuses a folder it did not make, and alembic-command together with manager-venv', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const theirs = mkdtempSync(join(tmpdir(), 'their-venv-'));
    mkdirSync(join(theirs, 'bin'));
    writeFileSync(join(theirs, 'pyvenv.cfg'), 'home = /usr/bin\n');
    const refused = await runEngine(venvInputs(toml, theirs));
    expect(refused.report.error).toBe(`manager-venv "${theirs}" exists and was not made by bai-migrate; accepted: a new or empty folder (or point alembic-command at your own venv instead)`);
    expect(existsSync(join(theirs, 'pyvenv.cfg'))).toBe(true);
    await expect(runEngine({ ...venvInputs(toml, theirs), 'alembic-command': '/opt/backend.ai/bin/alembic' })).rejects.toThrow(
      'manager-venv and alembic-command are both set; accepted: one of them (manager-venv makes the venv alembic runs from)',
    );
  });

  it('preflight makes the venv and checks its tools (on a fresh runner as on a warm one), writing nothing to the deployment; the dry run makes none and says so', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const before = await snapshotState(admin(), deployment);
    const { 'backup-dir': backupDir, ...inputs } = venvInputs(toml, join(mkdtempSync(join(tmpdir(), 'bai-venv-')), 'manager'));

    // A dry run on a runner where no venv was made yet: nothing is made, and it says who makes it.
    const dryRoot = join(mkdtempSync(join(tmpdir(), 'bai-venv-')), 'manager');
    const dry = await runEngine({ ...inputs, 'manager-venv': dryRoot, 'backup-dir': backupDir!, 'dry-run': 'true' });
    expect(dry.report.error).toBeUndefined();
    expect(dry.report.entries[0]).toEqual({
      phase: 'setup',
      step: 'manager-venv',
      status: 'warning',
      detail: `${join(dryRoot, '22.03.14')} holds no venv yet; preflight or migrate will make it with backend.ai-manager==22.03.14 (with uv where it can, else pip); a dry run makes and caches no venv, so alembic and the manager's CLI from it are not checked (run preflight first to check them)`,
    });
    expect(dry.report.entries.find((e) => e.phase === 'apply' && e.step === 'schema')).toMatchObject({
      status: 'skipped',
      detail: expect.stringContaining(`from the manager venv preflight or migrate makes in ${dryRoot}`),
    });
    expect(dry.report.managerVenv).toBeUndefined();
    expect(existsSync(dryRoot)).toBe(false);

    // Preflight on the same fresh runner: it makes the venv, then runs every check with it.
    const root = inputs['manager-venv'];
    const venv = join(root, '22.03.14');
    const { report } = await runEngine({ ...inputs, command: 'preflight' });
    expect(report.error).toBeUndefined();
    expect(report.entries[0]).toEqual({ phase: 'setup', step: 'manager-venv', status: 'changed', detail: `made ${venv} with backend.ai-manager==22.03.14; alembic runs from it` });
    // Its time is the report's, apart from the downtime; the summary says so.
    expect(report.venvSetup).toMatchObject({ made: 1, reused: 0 });
    expect(report.venvSetup!.ms).toBeGreaterThan(0);
    expect(renderMarkdown(report)).toContain('Manager venvs: 1 made in ');
    expect(dry.report.venvSetup).toBeUndefined();
    expect(report.entries.find((e) => e.phase === 'preflight' && e.step === 'schema' && e.detail.startsWith('alembic runs'))?.detail).toBe(
      `alembic runs: "${venv}/bin/python -m alembic" with ${venv}/bai-migrate-alembic.ini knows revision 81c264528f20`,
    );
    expect(report.entries.filter((e) => e.status === 'skipped' && e.phase === 'preflight').map((e) => e.detail)).not.toContainEqual(expect.stringContaining('not checked here'));
    // The dry run after it checks the venv preflight made.
    const after = await runEngine({ ...inputs, 'backup-dir': backupDir!, 'dry-run': 'true' });
    expect(after.report.entries[0]).toMatchObject({ step: 'manager-venv', status: 'ok', detail: `reused ${venv} with backend.ai-manager==22.03.14; alembic runs from it` });
    expect(readdirSync(backupDir!)).toEqual([]);
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });

  it('preflight with a venv made earlier checks its alembic and its CLI, not the ones on PATH', async () => {
    const { root, venv } = await madeVenv();
    const calls = fakeManagerCli(venv);
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const { report } = await runEngine({ ...venvInputs(toml, root, { 'image-rescan': 'true' }), command: 'preflight' });
    expect(report.error).toBeUndefined();
    expect(report.entries[0]).toMatchObject({ phase: 'setup', step: 'manager-venv', status: 'ok', detail: `reused ${venv} with backend.ai-manager==22.03.14; alembic runs from it` });
    const preflight = report.entries.filter((e) => e.phase === 'preflight');
    expect(preflight.find((e) => e.step === 'image-rescan')?.detail).toBe(`will rescan 1 registry (cr.backend.ai) with ${venv}/bin/backend.ai, then put back admin-set limits`);
    expect(readFileSync(calls, 'utf8')).toBe('mgr image rescan --help\n');
    expect(preflight.find((e) => e.step === 'schema' && e.detail.startsWith('alembic runs'))?.detail).toBe(
      `alembic runs: "${venv}/bin/python -m alembic" with ${venv}/bai-migrate-alembic.ini knows revision 81c264528f20`,
    );
  });

  it('a venv that holds another release than its marker says fails before anything is written, naming both', async () => {
    const { root, venv } = await madeVenv();
    // As a pip run by hand (or a cache restored from elsewhere) would leave it.
    execFileSync(join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--no-index', '--no-deps', '--find-links', olderWheels, 'backend.ai-manager==22.03.13']);
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const before = await snapshotState(admin(), deployment);
    const message = `manager venv ${venv} holds backend.ai-manager 22.3.13, but the target release is 22.03.14: its alembic and CLI are another release's; delete the folder (bai-migrate made it, and migrate makes it again with backend.ai-manager==22.03.14) or set manager-venv to another folder`;
    const inputs = venvInputs(toml, root);
    for (const run of [{ ...inputs, command: 'preflight' }, inputs]) {
      const { report } = await runEngine(run);
      expect(report.outcome).toBe('failure');
      expect(report.errorCode).toBe('inconsistent-state');
      expect(report.error).toBe(message);
      expect(report.entries).toEqual([{ phase: 'setup', step: 'manager-venv', status: 'failed', detail: message }]);
    }
    expect(readdirSync(inputs['backup-dir'])).toEqual([]);
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });
});
