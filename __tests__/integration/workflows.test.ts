/**
 * The repository's workflows (.github/workflows/), which README shows as its examples, run as the
 * runner runs them: each bai-migrate step's `with:` evaluated against vars, secrets and inputs,
 * every input action.yml declares set as INPUT_* (its default where the step gives none), and the
 * bundled Action (dist/index.js) run on the test bed. A workflow an operator copies must work, and
 * one misconfigured the common way (an unset variable or secret) must change nothing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ALEMBIC_COMMAND, FIXTURE_ALEMBIC_INI, snapshotState, useDeployments } from '../support/deployment.js';
import { runAction } from '../support/run.js';
import { actionSteps, runnerInputs, type Step } from '../support/workflow-steps.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

describe('nightly-clear-history.yml', () => {
  const [step] = actionSteps('nightly-clear-history.yml', 'clear-history');

  it('clears the history with the secrets it names', async () => {
    const deployment = await deploy({ schema: '81c264528f20' });
    const redisUrl = `redis://:${encodeURIComponent(info.redis.password)}@${info.redis.host}:${info.redis.port}`;
    const context = { vars: { BAI_MIGRATE_RETENTION: '30d' }, secrets: { BACKENDAI_POSTGRES_URL: deployment.postgresUrl, BACKENDAI_REDIS_URL: redisUrl } };
    const { result, outputs } = await runAction(runnerInputs(step!, context));
    expect(result.code, result.stdout).toBe(0);
    expect(outputs.outcome).toBe('success');
    expect(Number(outputs['deleted-kernels'])).toBeGreaterThan(0);
    expect(Number(outputs['deleted-redis-keys'])).toBe(Number(outputs['deleted-kernels']));
    // Its findings sit inside its log group, where the log shows them.
    expect(result.stdout).toMatch(/::group::Clear history\n(?:(?!::endgroup::)[\s\S])*deleted \d+ kernel row\(s\) in batches[\s\S]*?::endgroup::/);
    const { rows } = await deployment.pg.query<{ n: number }>(`SELECT count(*)::int AS n FROM kernels WHERE terminated_at < now() - interval '30 days'`);
    expect(rows).toEqual([{ n: 0 }]);
  });

  it('with the Redis secret unset, deletes nothing and says why', async () => {
    const deployment = await deploy({ schema: '81c264528f20' });
    const before = await snapshotState(admin(), deployment);
    const { result, outputs } = await runAction(runnerInputs(step!, { vars: {}, secrets: { BACKENDAI_POSTGRES_URL: deployment.postgresUrl } }));
    expect(result.code).toBe(1);
    expect(outputs.outcome).toBe('failure');
    expect(result.stdout).toMatch(/::error::.*clear-history cannot find Redis: .* etcd is not configured .*nothing was deleted/);
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });
});

describe('deploy.yml', () => {
  it('is gated by a dry run, checks the lock backend in preflight too, keeps the bundle outside the workspace and the report as an artifact', () => {
    const workflow = parse(readFileSync('.github/workflows/deploy.yml', 'utf8')) as {
      on: { workflow_dispatch: { inputs: Record<string, { default?: unknown }> } };
      jobs: { upgrade: { steps: Step[] & Array<{ if?: string }> } };
    };
    expect(workflow.on.workflow_dispatch.inputs['dry-run']!.default).toBe(true);
    const [preflight, migrate] = actionSteps('deploy.yml', 'upgrade');
    expect(preflight!.with!['lock-backend']).toBe(migrate!.with!['lock-backend']);
    expect(migrate!.with!['dry-run']).toBe('${{ inputs.dry-run }}');
    // Absolute and outside the checkout: the bundle holds manager.toml's passwords.
    expect(String(migrate!.with!['backup-dir'])).toMatch(/^\/(?!home\/runner\/work)/);
    const upload = workflow.jobs.upgrade.steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'));
    expect(upload).toMatchObject({ if: 'always()', with: { path: expect.stringContaining('steps.migrate.outputs.report-file') } });
  });

  it('preflight, then migrate as a dry run (its default), write nothing and succeed', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    // The alembic.ini beside manager.toml, where the workflow lets bai-migrate find it.
    writeFileSync(join(dirname(toml), 'alembic.ini'), readFileSync(FIXTURE_ALEMBIC_INI, 'utf8').replace('%(here)s', dirname(FIXTURE_ALEMBIC_INI)));
    const before = await snapshotState(admin(), deployment);
    const context = {
      inputs: { 'to-version': '22.03', 'dry-run': 'true' },
      vars: { BACKENDAI_MANAGER_TOML: toml, BACKENDAI_ALEMBIC: ALEMBIC_COMMAND },
      secrets: { BACKENDAI_POSTGRES_URL: deployment.postgresUrl },
    };
    const steps = actionSteps('deploy.yml', 'upgrade');
    expect(steps.map((s) => s.with?.command)).toEqual(['preflight', 'migrate']);
    for (const step of steps) {
      const { result, outputs } = await runAction(runnerInputs(step, context));
      expect(result.code, result.stdout).toBe(0);
      expect(outputs.outcome).toBe('success');
    }
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });
});

describe('rehearse.yml', () => {
  it('reads the target release from the file the pull request changes, not a fixed value', () => {
    const [snapshot] = actionSteps('rehearse.yml', 'snapshot');
    const [rehearse] = actionSteps('rehearse.yml', 'rehearse');
    expect(snapshot!.with).toMatchObject({ command: 'snapshot', 'snapshot-key': '${{ secrets.BACKENDAI_SNAPSHOT_KEY }}' });
    const inputs = runnerInputs(rehearse!, { steps: { 'version.outputs.to': '24.12' }, secrets: { BACKENDAI_SNAPSHOT_KEY: 'k', GITHUB_TOKEN: 't' } });
    expect(inputs).toMatchObject({ command: 'rehearse', 'to-version': '24.12', 'snapshot-file': 'backendai-snapshot.jsonl.gz' });
  });
});
