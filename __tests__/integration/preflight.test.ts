import { describe, expect, it } from 'vitest';
import { ALEMBIC_COMMAND, FIXTURE_ALEMBIC_INI, snapshotState, useDeployments, type SeedOptions, type TestDeployment } from '../support/deployment.js';
import { runEngine } from '../support/run.js';
import { revisionsToApply } from '../../src/releases/releases.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);
let deployment: TestDeployment | undefined;
/** preflight checks the alembic that migrate will run. */
const ALEMBIC = { 'alembic-command': ALEMBIC_COMMAND, 'alembic-config': FIXTURE_ALEMBIC_INI };

async function preflight(seed: SeedOptions, raw: Record<string, string> = {}) {
  deployment = await deploy(seed);
  return runEngine({ command: 'preflight', 'to-version': '22.03', 'manager-config': deployment.writeManagerToml(), ...ALEMBIC, ...raw });
}

describe('connection discovery', () => {
  it('finds PostgreSQL and etcd in manager.toml, and Redis (with its password) in etcd config/redis', async () => {
    const { report, secrets } = await preflight({});
    const connect = report.entries.filter((e) => e.phase === 'connect');
    expect(connect.map((e) => [e.step, e.status])).toEqual([
      ['PostgreSQL', 'ok'],
      ['etcd', 'ok'],
      ['Redis', 'ok'],
    ]);
    expect(connect[0]?.detail).toContain('from manager.toml');
    expect(connect[0]?.detail).toContain(deployment!.database);
    expect(connect[1]?.detail).toContain(`namespace "${deployment!.namespace}"`);
    expect(connect[2]?.detail).toContain('from etcd config/redis/addr');
    expect(secrets).toEqual(expect.arrayContaining([info.postgres.password, info.redis.password]));
  });

  it('lets inputs override manager.toml', async () => {
    deployment = await deploy();
    const broken = deployment.writeManagerToml('', { db: '[db]\ntype = "postgresql"\naddr = { host = "127.0.0.1", port = 1 }\nname = "nope"\nuser = "nobody"\npassword = "x"\n' });
    const { report } = await runEngine({ command: 'preflight', 'to-version': '22.03', ...ALEMBIC, 'manager-config': broken, 'postgres-url': deployment.postgresUrl, 'redis-url': deployment.redisUrl });
    expect(report.entries.find((e) => e.step === 'PostgreSQL')?.detail).toContain('from postgres-url');
    expect(report.entries.find((e) => e.step === 'Redis')?.detail).toContain('from redis-url');
    expect(report.outcome).toBe('success');
  });
});

describe('preflight', () => {
  it('passes on a stopped, well-formed 21.09 deployment and writes nothing', async () => {
    deployment = await deploy();
    const before = await snapshotState(admin(), deployment);
    const { report } = await runEngine({ command: 'preflight', 'to-version': '22.03', 'manager-config': deployment.writeManagerToml(), ...ALEMBIC });
    expect(report.error).toBeUndefined();
    expect(report.outcome).toBe('success');
    const preflightRows = report.entries.filter((e) => e.phase === 'preflight');
    expect(preflightRows.filter((e) => e.status === 'failed')).toEqual([]);
    // A stale ALIVE agent row is shown, not trusted.
    expect(preflightRows.find((e) => e.status === 'warning')?.detail).toMatch(/1 agent row\(s\) say ALIVE/);
    expect(preflightRows.find((e) => e.step === 'storage-proxy')?.status).toBe('skipped');
    expect(preflightRows.filter((e) => e.step === 'schema').map((e) => e.detail)).toEqual([
      'at 60a1effa77d2; alembic upgrade will take it to 81c264528f20 (22.03.14)',
      `alembic runs: "${ALEMBIC_COMMAND}" with ${FIXTURE_ALEMBIC_INI} knows revision 81c264528f20`,
      // Every revision alembic upgrade will run, rendered offline and played over the live schema.
      `schema drift: none; ${revisionsToApply('22.03', '22.03', ['60a1effa77d2'], '81c264528f20').length} revision(s) on the path played over the live schema: everything they drop, alter or rename is there, nothing they create is; not compared with the source release's models: needs 21.09.9's own package (set manager-venv)`,
    ]);
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });

  it('reports every failed check at once, then fails once', async () => {
    const { report } = await preflight({ managersRegistered: ['i-manager-1'], liveKernels: 3, heartbeatAgeMs: 2_000, registries: false });
    expect(report.outcome).toBe('failure');
    const failed = report.entries.filter((e) => e.status === 'failed').map((e) => e.detail);
    expect(failed).toHaveLength(4);
    expect(report.error).toMatch(/^preflight found 4 problem\(s\):/);
    expect(report.error).toContain('1 manager(s) registered in etcd nodes/manager/: i-manager-1');
    expect(report.error).toMatch(/3 session\(s\) with 3 kernel\(s\) are not TERMINATED or CANCELLED: [0-9a-f-]{36} of AKTEST00000000000001: RUNNING;/);
    expect(report.error).toMatch(/1 agent\(s\) sent heartbeats to the Redis events stream \(DB 4\) in the last minute: i-agent-1 \(\d+ s ago\)/);
    expect(report.error).toContain('etcd config/docker/registry is empty');
  });

  it('treats an old heartbeat as a stopped agent', async () => {
    const { report } = await preflight({ heartbeatAgeMs: 5 * 60_000 });
    expect(report.outcome).toBe('success');
    expect(report.entries.find((e) => e.detail.includes('events stream'))?.detail).toMatch(/3\d\d s ago: no agent heartbeat/);
  });

  it('turns running-service findings into warnings when allow-running-services is set', async () => {
    const { report } = await preflight({ managersRegistered: ['i-manager-1'], liveKernels: 1 }, { 'allow-running-services': 'true' });
    expect(report.outcome).toBe('success');
    const warnings = report.entries.filter((e) => e.status === 'warning').map((e) => e.detail);
    expect(warnings.filter((w) => w.endsWith('(allowed by allow-running-services)'))).toHaveLength(2);
  });

  it('refuses redlock for 22.03 and needs a manager.toml to write a lock backend', async () => {
    const { report } = await preflight({}, { 'lock-backend': 'redlock' });
    expect(report.entries.find((e) => e.phase === 'preflight' && e.step === 'distributed-lock')).toMatchObject({
      status: 'failed',
      detail: 'lock-backend "redlock" is not supported by Backend.AI 22.03; accepted: filelock, pg_advisory, etcd',
    });
    // The servers from inputs alone: there is no manager.toml to write the lock backend to.
    const { postgresUrl, etcdEndpoint, namespace } = deployment!;
    const without = await runEngine({ command: 'preflight', 'to-version': '22.03', 'postgres-url': postgresUrl, 'etcd-endpoints': etcdEndpoint, 'etcd-namespace': namespace, 'lock-backend': 'etcd' });
    expect(without.report.outcome).toBe('failure');
    expect(without.report.entries.find((e) => e.phase === 'preflight' && e.step === 'distributed-lock')).toMatchObject({
      status: 'failed',
      detail: 'lock-backend "etcd" must be written to manager.toml, but no manager.toml was found: set manager-config',
    });
  });
});

describe('verify', () => {
  it('passes for the release the database is at, and lists what a 22.03 schema lacks', async () => {
    deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const at2109 = await runEngine({ command: 'verify', 'from-version': '21.09', 'to-version': '21.09', 'manager-config': toml });
    expect(at2109.report.error).toBeUndefined();
    expect(at2109.report.outcome).toBe('success');
    const to2203 = await runEngine({ command: 'verify', 'to-version': '22.03', 'manager-config': toml });
    expect(to2203.report.outcome).toBe('failure');
    expect(to2203.report.error).toContain('alembic_version is 60a1effa77d2; expected 81c264528f20');
    expect(to2203.report.error).toContain('expected: keypairs.concurrency_used is dropped');
    expect(to2203.report.error).toContain('appendonly is no');
  });
});
