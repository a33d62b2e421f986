/**
 * manager-venv: bai-migrate makes the manager's venv with pip (here from a local folder holding a
 * stand-in backend.ai-manager wheel, since PyPI is out of reach), runs the real migration from
 * it, reuses it on the next run, and refuses folders it did not make.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { migrateInputs, snapshotState, useDeployments, TEST_PYTHON } from '../support/deployment.js';
import { buildManagerWheel } from '../support/manager-wheel.js';
import { runEngine } from '../support/run.js';

const info = inject('testbed');
const { admin, deploy } = useDeployments(info);

let wheels: string;
beforeAll(() => {
  wheels = buildManagerWheel('22.03.14');
});

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
    const venv = join(mkdtempSync(join(tmpdir(), 'bai-venv-')), 'manager');
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const first = await runEngine(venvInputs(toml, venv));
    expect(first.report.error).toBeUndefined();
    expect(first.report.entries[0]).toEqual({ phase: 'setup', step: 'manager-venv', status: 'changed', detail: `made ${venv} with backend.ai-manager==22.03.14; alembic runs from it` });
    expect(first.report.managerVenv).toEqual({ dir: venv, requirement: 'backend.ai-manager==22.03.14', created: true });
    expect((await deployment.pg.query('SELECT version_num FROM alembic_version')).rows).toEqual([{ version_num: '81c264528f20' }]);
    expect(readFileSync(join(venv, 'bai-migrate-alembic.ini'), 'utf8')).toContain('script_location = ai.backend.manager.models:alembic');

    const second = await runEngine(venvInputs(toml, venv));
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
    expect(report.error).toMatch(/^provisioning the manager venv failed at pip install backend\.ai-manager==22\.03\.13 \(exit 1\): .*No matching distribution found for backend\.ai-manager==22\.03\.13/);
    expect(await snapshotState(admin(), deployment)).toEqual(before);
    // The half-made venv is marked as bai-migrate's, so the next run may replace it.
    expect(readFileSync(join(venv, '.bai-migrate-manager'), 'utf8')).toBe('backend.ai-manager==22.03.13 (incomplete)\n');
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
});
