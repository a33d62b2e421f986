/**
 * The bundled Action (dist/index.js) run as the runner runs it: inputs in INPUT_* variables,
 * outputs and the job summary read back from $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALEMBIC_COMMAND, FIXTURE_ALEMBIC_INI, connectAdmin, migrateInputs, createDeployment, snapshotState, type Admin, type TestDeployment } from '../support/deployment.js';
import { runAction, tempDir } from '../support/run.js';
import { OUTPUTS } from '../../src/options/index.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
let admin: Admin;
let deployment: TestDeployment;

beforeAll(async () => {
  admin = await connectAdmin(info);
  deployment = await createDeployment(admin, info, {});
});
afterAll(async () => {
  await deployment.close();
  await admin.close();
});

describe('the Action (dist/index.js)', () => {
  it('runs preflight and writes typed outputs, a summary table and a report file without any password', async () => {
    const toml = deployment.writeManagerToml();
    const before = await snapshotState(admin, deployment);
    // The PostgreSQL password comes in a URL input; Redis's is found in etcd; etcd's comes from an input.
    const { result, outputs, summary, files } = await runAction({
      command: 'preflight',
      'to-version': '22.03',
      'manager-config': toml,
      'alembic-command': ALEMBIC_COMMAND,
      'alembic-config': FIXTURE_ALEMBIC_INI,
      'postgres-url': deployment.postgresUrl,
      'etcd-password': 'etcd-Secr3t-unused',
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(Object.keys(outputs).sort()).toEqual(OUTPUTS.map((o) => o.name).sort());
    expect(outputs.outcome).toBe('success');
    expect(outputs['from-version']).toBe('21.09');
    expect(outputs['to-version']).toBe('22.03.14');
    expect(outputs['current-revision']).toBe('60a1effa77d2');
    expect(outputs['target-revision']).toBe('81c264528f20');
    expect(JSON.parse(outputs.plan!)).toEqual([expect.objectContaining({ hop: '21.09 → 22.03', targetRevision: '81c264528f20' })]);
    expect(JSON.parse(outputs.report!)).toMatchObject({ command: 'preflight', outcome: 'success' });
    expect(outputs['report-file']).toBe(files.report);
    expect(JSON.parse(readFileSync(files.report, 'utf8'))).toMatchObject({ command: 'preflight', outcome: 'success' });
    expect(summary).toContain('## ✅ bai-migrate preflight: succeeded');
    expect(summary).toContain('| preflight | 21.09 → 22.03 | services-stopped | ✅ ok |');
    expect(result.stdout).toContain('::group::Preflight');

    // Every secret was handed to the runner to mask, and appears nowhere else.
    const masked = result.stdout
      .split('\n')
      .filter((line) => line.startsWith('::add-mask::'))
      .map((line) => line.slice('::add-mask::'.length));
    const secrets = [info.postgres.password, info.redis.password, 'etcd-Secr3t-unused'];
    expect(masked).toEqual(expect.arrayContaining(secrets));
    const visible = [
      result.stdout
        .split('\n')
        .filter((line) => !line.startsWith('::add-mask::'))
        .join('\n'),
      readFileSync(files.output, 'utf8'),
      summary,
      readFileSync(files.report, 'utf8'),
    ].join('\n');
    for (const secret of secrets) expect(visible).not.toContain(secret);
    expect(await snapshotState(admin, deployment)).toEqual(before);
  });

  it('migrates with every secret set, and no secret reaches the log, outputs, summary, report or backup names', async () => {
    const migrating = await createDeployment(admin, info, {});
    try {
      const toml = migrating.writeManagerToml();
      const backupDir = join(tempDir(), 'backups');
      const { result, outputs, summary, files } = await runAction(migrateInputs(toml, { 'backup-dir': backupDir, 'etcd-password': 'etcd-Secr3t-unused' }));
      expect(result.code, result.stdout).toBe(0);
      expect(outputs.outcome).toBe('success');
      const secrets = [info.postgres.password, info.redis.password, 'etcd-Secr3t-unused'];
      const visible = [
        result.stdout
          .split('\n')
          .filter((line) => !line.startsWith('::add-mask::'))
          .join('\n'),
        result.stderr,
        readFileSync(files.output, 'utf8'),
        summary,
        readFileSync(files.report, 'utf8'),
        ...readdirSync(backupDir, { recursive: true }).map(String),
      ].join('\n');
      expect(visible).toContain('alembic upgrade 60a1effa77d2 → 81c264528f20');
      for (const secret of secrets) expect(visible).not.toContain(secret);
    } finally {
      await migrating.close();
    }
  });

  it('fails with one message, an annotation and a failed summary when a check fails', async () => {
    const toml = deployment.writeManagerToml();
    await admin.etcd.put(`/sorna/${deployment.namespace}/nodes/manager/i-running`).value('up');
    try {
      const { result, outputs, summary } = await runAction({
        command: 'preflight',
        'to-version': '22.03',
        'manager-config': toml,
        'alembic-command': ALEMBIC_COMMAND,
        'alembic-config': FIXTURE_ALEMBIC_INI,
      });
      expect(result.code).toBe(1);
      expect(outputs.outcome).toBe('failure');
      expect(result.stdout).toMatch(/::error title=bai-migrate preflight%3A services-stopped::21\.09 → 22\.03 services-stopped: 1 manager\(s\) registered/);
      expect(result.stdout.split('\n').filter((line) => line.startsWith('::error'))).toHaveLength(2);
      expect(result.stdout).toContain('::error::preflight found 1 problem (each reported above; the report lists them)\n');
      expect(summary).toContain('## ❌ bai-migrate preflight: failed');
    } finally {
      await admin.etcd.delete().key(`/sorna/${deployment.namespace}/nodes/manager/i-running`);
    }
  });

  it('rejects invalid inputs before connecting, without echoing a password', async () => {
    const { result, outputs, summary } = await runAction({ command: 'preflight', 'to-version': '22.03', 'postgres-url': 'mysql://root:hunter2-Secr3t@db/backend' });
    expect(result.code).toBe(1);
    expect(outputs.outcome).toBe('failure');
    expect(result.stdout).toContain('::error::postgres-url must be a postgresql:// or postgres:// or postgresql+asyncpg:// or postgresql+psycopg2:// URL with a host');
    expect(summary).toContain('bai-migrate did not start');
    const visible =
      result.stdout
        .split('\n')
        .filter((line) => !line.startsWith('::add-mask::'))
        .join('\n') + summary;
    expect(visible).not.toContain('hunter2-Secr3t');
  });
});
