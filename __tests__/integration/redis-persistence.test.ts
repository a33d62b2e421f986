/**
 * Redis servers whose persistence bai-migrate cannot make durable: preflight says exactly what the
 * operator must do, unless redis-persistence says it is managed elsewhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALEMBIC_COMMAND, FIXTURE_ALEMBIC_INI, useDeployments } from '../support/deployment.js';
import { startExtraRedis } from '../support/testbed.js';
import { runEngine } from '../support/run.js';
import { workerTestbed } from '../support/worker-testbed.js';

const { deploy } = useDeployments(workerTestbed());
let noConfigFile: Awaited<ReturnType<typeof startExtraRedis>>;
let configRenamed: Awaited<ReturnType<typeof startExtraRedis>>;

beforeAll(async () => {
  [noConfigFile, configRenamed] = await Promise.all([startExtraRedis('no-config-file'), startExtraRedis('config-renamed')]);
});
afterAll(async () => {
  await Promise.all([noConfigFile?.stop(), configRenamed?.stop()]);
});

async function preflight(redisUrl: string, extra: Record<string, string> = {}) {
  const deployment = await deploy();
  return runEngine({
    command: 'preflight',
    'to-version': '22.03',
    'manager-config': deployment.writeManagerToml(),
    'alembic-command': ALEMBIC_COMMAND,
    'alembic-config': FIXTURE_ALEMBIC_INI,
    'redis-url': redisUrl,
    ...extra,
  });
}

describe('Redis persistence preflight', () => {
  it('fails a Redis without a config file, saying how to fix it', async () => {
    const { report } = await preflight(noConfigFile.url);
    expect(report.outcome).toBe('failure');
    expect(report.error).toContain(
      'redis-persistence: Redis runs without a config file, so CONFIG REWRITE cannot make appendonly survive a restart: start redis-server with a config file, or add --appendonly yes to its command line',
    );
  });

  it('fails a Redis whose CONFIG command is disabled, as on managed Redis', async () => {
    const { report } = await preflight(configRenamed.url);
    expect(report.error).toMatch(
      /redis-persistence: Redis refused CONFIG GET \(.*unknown command.*\): CONFIG is disabled or renamed, as on managed Redis\. Enable AOF persistence \(appendonly yes\) in the service's own settings/,
    );
    expect(report.entries.filter((e) => e.status === 'failed')).toHaveLength(1);
  });

  it('leaves persistence to the service when redis-persistence is managed', async () => {
    const { report } = await preflight(configRenamed.url, { 'redis-persistence': 'managed' });
    expect(report.error).toBeUndefined();
    expect(report.entries.find((e) => e.step === 'redis-persistence' && e.phase === 'preflight')).toMatchObject({
      status: 'skipped',
      detail: 'redis-persistence is managed: bai-migrate leaves persistence to the Redis service (appendonly is unknown (CONFIG is not available))',
    });
  });
});
