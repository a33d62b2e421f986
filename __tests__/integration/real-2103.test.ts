/**
 * 21.03 → 21.09 with Backend.AI's real packages from PyPI: the schema of a deployment is made by
 * the real 21.03.32 (its own `mgr schema oneshot`, in the test bed's CPython 3.9 image) and seeded;
 * bai-migrate's migrate with manager-venv pip-installs the real 21.09.9 itself (on the Python 3.9
 * it finds among pyenv's versions) and upgrades with its alembic.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useDeployments } from '../support/deployment.js';
import { ensureRealManagerVenv, MANAGER_TOML_LOGGING, MANAGER_TOML_MANAGER, productVenvs, real2109Schema, real2109Template, requireLoopback } from '../support/real-manager.js';
import { dryRunThenMigrate, expectVerifiedAndDone } from '../support/real-runs.js';
import { ranRealPackage } from '../support/real-lines.js';
import { latestRelease } from '../../src/releases/releases.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);
const SOURCE = latestRelease('21.03');
const TARGET = latestRelease('21.09');
let template2103: string;

beforeAll(async () => {
  requireLoopback(info);
  template2103 = await real2109Template(await ensureRealManagerVenv(SOURCE.version), admin(), info);
}, 1_800_000);

describe(`${SOURCE.version} → ${TARGET.version} with the real packages (manager-venv)`, () => {
  it('the real 21.03.32 schema, seeded; a dry run writes nothing; migrate upgrades with 21.09.9’s own alembic; verify passes and a second run changes nothing', async () => {
    const deployment = await deploy({ schemaOf: real2109Schema(template2103) });
    const { rows: before } = await deployment.pg.query<{ version_num: string }>('SELECT version_num FROM alembic_version');
    expect(before).toEqual([{ version_num: SOURCE.head }]);
    ranRealPackage(SOURCE.version, 'mgr schema oneshot');
    const inputs = {
      command: 'migrate',
      'from-version': '21.03',
      'to-version': '21.09',
      // As an operator's file: what 21.09's loader requires (docker-registry, logging), num-proc within the cores.
      'manager-config': deployment.writeManagerToml(MANAGER_TOML_LOGGING, { manager: MANAGER_TOML_MANAGER }),
      'manager-venv': productVenvs(),
      'backup-dir': mkdtempSync(join(tmpdir(), 'bai-real-2103-backup-')),
    };

    const run = await dryRunThenMigrate(admin(), deployment, inputs);
    expect(run.report.entries.filter((e) => e.phase === 'apply' && e.step === 'schema').map((e) => [e.status, e.detail])).toEqual([
      ['changed', `alembic upgrade ${SOURCE.head} → ${TARGET.head} (${TARGET.version})`],
    ]);
    const { rows: after } = await deployment.pg.query<{ version_num: string }>('SELECT version_num FROM alembic_version');
    expect(after).toEqual([{ version_num: TARGET.head }]);
    ranRealPackage(TARGET.version, 'alembic upgrade');

    await expectVerifiedAndDone(inputs);
  }, 1_800_000);
});
