/**
 * 25.12 → 25.13 with the container logs on a Redis instance of their own (etcd
 * config/redis/override_configs/container_log/, as 25.13's manager reads it): preflight names each
 * instance with the roles 25.13 keeps there and checks that it answers, services-stopped watches
 * the events stream where the release keeps it, a misspelt role is named, and an instance that is
 * down stops the run before anything is written. A real second Redis (its own password, no AOF).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotState, useDeployments } from '../support/deployment.js';
import { hopInputs as inputs, useHopRigs } from '../support/hop-rigs.js';
import { runEngine } from '../support/run.js';
import { SECOND_REDIS_PASSWORD, startExtraRedis } from '../support/testbed.js';
import { workerTestbed } from '../support/worker-testbed.js';
import { HOPS } from '../../src/hops/index.js';
import { latestRelease } from '../../src/releases/releases.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);
const { rigFor } = useHopRigs(admin, info);
const hop = HOPS.find((h) => h.from === '25.12' && h.to === '25.13')!;
const target = latestRelease('25.13').version;

let second: Awaited<ReturnType<typeof startExtraRedis>>;
let secondClient: Redis;
beforeAll(async () => {
  second = await startExtraRedis('second-instance');
  secondClient = new Redis({ host: second.host, port: second.port, password: second.password });
  // The last test stops the instance under this client.
  secondClient.on('error', () => undefined);
});
afterAll(async () => {
  await secondClient?.quit().catch(() => undefined);
  await second?.stop();
});

async function deployWithOverride(roles: Record<string, string> = { container_log: 'override_configs/container_log' }) {
  const rig = await rigFor(hop);
  const deployment = await deploy(rig.seed);
  await secondClient.flushall();
  const etcd = admin().etcd.namespace(`/sorna/${deployment.namespace}/`);
  for (const prefix of Object.values(roles)) {
    await etcd.put(`config/redis/${prefix}/addr`).value(`${second.host}:${second.port}`);
    await etcd.put(`config/redis/${prefix}/password`).value(SECOND_REDIS_PASSWORD);
  }
  return { rig, deployment, toml: deployment.writeManagerToml() };
}

const detailsOf = (report: { entries: ReadonlyArray<{ phase: string; step: string; status: string; detail: string }> }, phase: string, step: string) =>
  report.entries.filter((e) => e.phase === phase && e.step === step).map((e) => `${e.status}: ${e.detail}`);

describe('25.12 → 25.13 with the container logs on their own Redis', () => {
  it('names each instance and its roles, checks both answer, migrates, and never prints the second password', async () => {
    const { rig, deployment, toml } = await deployWithOverride();
    const main = `Redis at ${info.redis.host}:${info.redis.port} (from etcd config/redis/addr)`;
    const other = `Redis at ${second.host}:${second.port} (from etcd config/redis/override_configs/container_log/addr)`;
    const [, secondAof] = (await secondClient.config('GET', 'appendonly')) as string[];
    const [, mainAof] = (await admin().redis(0).config('GET', 'appendonly')) as string[];

    const preflight = await runEngine(inputs(hop, toml, rig, { command: 'preflight' }));
    expect(preflight.report.error).toBeUndefined();
    expect(detailsOf(preflight.report, 'preflight', 'redis-instances')).toEqual([
      `ok: ${main}, the main instance: ${target} keeps statistics (DB 0), rate_limit (DB 1), live (DB 2), image (DB 3), stream (DB 4), stream_lock (DB 5), bgtask (DB 7) there; it answers; appendonly is ${mainAof}`,
      `ok: ${other}, its own instance (etcd config/redis/override_configs): ${target} keeps container_log (DB 6) there; it answers; appendonly is ${secondAof}`,
    ]);
    expect(detailsOf(preflight.report, 'preflight', 'services-stopped')[0]).toBe(`ok: ${other} answers; ${target} keeps container_log (DB 6) there (etcd config/redis/override_configs)`);

    const migrated = await runEngine(inputs(hop, toml, rig));
    expect(migrated.report.error).toBeUndefined();
    // The verify command checks again, on the migrated deployment.
    const verified = await runEngine(inputs(hop, toml, rig, { command: 'verify' }));
    expect(verified.report.error).toBeUndefined();
    expect(detailsOf(verified.report, 'verify', 'redis-instances')).toEqual(detailsOf(preflight.report, 'preflight', 'redis-instances'));
    for (const run of [preflight, migrated, verified]) {
      // Heard of as a secret (so redacted wherever it could appear), and in no report or log line.
      expect(run.secrets).toContain(SECOND_REDIS_PASSWORD);
      expect(JSON.stringify(run.report)).not.toContain(SECOND_REDIS_PASSWORD);
      expect(run.log.lines.join('\n')).not.toContain(SECOND_REDIS_PASSWORD);
    }
    expect(await deployment.pg.query<{ version_num: string }>('SELECT version_num FROM alembic_version').then((r) => r.rows.map((row) => row.version_num))).toEqual([latestRelease('25.13').head]);
  });

  it('watches the events stream on the instance the release keeps it on: a heartbeat there stops the run', async () => {
    const { rig, deployment, toml } = await deployWithOverride({ stream: 'override_configs/stream' });
    const [seconds] = await secondClient.time();
    const events = new Redis({ host: second.host, port: second.port, password: second.password, db: 4 });
    await events.xadd('events', `${Number(seconds) * 1000 - 2_000}-0`, 'name', 'agent_heartbeat', 'source', 'i-agent-far');
    await events.quit();
    const before = await snapshotState(admin(), deployment);
    const { report } = await runEngine(inputs(hop, toml, rig));
    expect(report.outcome).toBe('failure');
    expect(report.error).toMatch(/services-stopped: 1 agent\(s\) sent heartbeats to the Redis events stream \(DB 4\) in the last minute: i-agent-far \(\d+ s ago\)/);
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });

  it('names an override whose role 25.13 does not know (its manager ignores it)', async () => {
    const { rig, toml } = await deployWithOverride({ container_logs: 'override_configs/container_logs' });
    const { report } = await runEngine(inputs(hop, toml, rig, { command: 'preflight' }));
    const details = detailsOf(report, 'preflight', 'redis-instances');
    expect(details).toHaveLength(2);
    expect(details[1]).toBe(
      `warning: etcd config/redis/override_configs/container_logs/ names no role of ${target}, so its manager ignores it; its roles are statistics, rate_limit, live, image, stream, stream_lock, container_log, bgtask (a misspelt container_log leaves the container logs on the main instance)`,
    );
  });

  it('reaches a TLS-only instance as use_tls and tls_skip_verify say: verified by default (a self-signed certificate is refused), not with tls_skip_verify', async () => {
    const tls = await startExtraRedis('tls-only');
    try {
      const rig = await rigFor(hop);
      const deployment = await deploy(rig.seed);
      const etcd = admin().etcd.namespace(`/sorna/${deployment.namespace}/`);
      await etcd.put('config/redis/override_configs/container_log/addr').value(`${tls.host}:${tls.port}`);
      await etcd.put('config/redis/override_configs/container_log/password').value(SECOND_REDIS_PASSWORD);
      await etcd.put('config/redis/override_configs/container_log/use_tls').value('true');
      const toml = deployment.writeManagerToml();
      const where = `Redis at ${tls.host}:${tls.port} (from etcd config/redis/override_configs/container_log/addr`;

      const verified = await runEngine(inputs(hop, toml, rig, { command: 'preflight' }));
      expect(verified.report.outcome).toBe('failure');
      expect(verified.report.error).toContain(`redis-instances: ${where}, TLS), where ${target} keeps container_log (DB 6), cannot be reached:`);
      expect(verified.report.error).toMatch(/self[- ]signed certificate/);

      await etcd.put('config/redis/override_configs/container_log/tls_skip_verify').value('true');
      const skipped = await runEngine(inputs(hop, toml, rig, { command: 'preflight' }));
      expect(skipped.report.error).toBeUndefined();
      expect(detailsOf(skipped.report, 'preflight', 'redis-instances')[1]).toMatch(
        new RegExp(
          `^ok: ${escape(where)}, TLS without certificate verification\\), its own instance \\(etcd config/redis/override_configs\\): ${escape(target)} keeps container_log \\(DB 6\\) there; it answers; appendonly is no$`,
        ),
      );
    } finally {
      await tls.stop();
    }
  });

  it('refuses to run, writing nothing, while the container-log instance is down', async () => {
    const { rig, deployment, toml } = await deployWithOverride();
    const before = await snapshotState(admin(), deployment);
    await second.stop();
    const { report } = await runEngine(inputs(hop, toml, rig));
    expect(report.outcome).toBe('failure');
    const other = `Redis at ${second.host}:${second.port} (from etcd config/redis/override_configs/container_log/addr)`;
    expect(report.error).toContain(`redis-instances: ${other}, where ${target} keeps container_log (DB 6), cannot be reached:`);
    expect(report.error).toContain(`services-stopped: ${other}, where ${target} keeps container_log (DB 6) (etcd config/redis/override_configs), cannot be reached:`);
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
