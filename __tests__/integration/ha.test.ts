/**
 * Highly available and secured deployments (issue 5): a 3-member etcd cluster with one member down,
 * Redis behind Sentinel (and after a failover), PostgreSQL and etcd over TLS, etcd with
 * authentication. Each migrates 21.09 → 22.03 for real.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { migrateInputs, useDeployments, type Admin, type TestDeployment } from '../support/deployment.js';
import { startEtcd, startSentinelRedis, type EtcdServers, type SentinelRedis } from '../support/ha.js';
import { runEngine } from '../support/run.js';
import { SECRETS, type TestbedInfo } from '../support/testbed.js';
import type { Report } from '../../src/engine/report.js';

const info = inject('testbed');
const { admin, deploy } = useDeployments(info);

const HEAD_22_03 = '81c264528f20';

/** A migration that succeeded: every step applied, nothing failed verification, the schema at 22.03. */
async function expectMigrated(report: Report, deployment: TestDeployment): Promise<void> {
  expect(report.error).toBeUndefined();
  expect(report.outcome).toBe('success');
  expect(report.entries.filter((e) => e.status === 'failed' || (e.phase === 'verify' && e.status === 'warning'))).toEqual([]);
  expect((await deployment.pg.query('SELECT version_num FROM alembic_version')).rows).toEqual([{ version_num: HEAD_22_03 }]);
  expect((await deployment.pg.query('SELECT count(*)::int AS n FROM images')).rows[0].n).toBeGreaterThan(0);
}

function connectDetail(report: Report, server: 'PostgreSQL' | 'etcd' | 'Redis'): string {
  return report.entries.find((e) => e.phase === 'connect' && e.step === server)?.detail ?? '';
}

/** The test bed's info and admin with etcd swapped for another etcd (cluster). */
function onEtcd(base: Admin, etcd: Etcd3, endpoint: string): { admin: Admin; info: TestbedInfo } {
  const [host, port] = endpoint.replace(/^https?:\/\//, '').split(':');
  return { admin: { ...base, etcd }, info: { ...info, etcd: { host: host!, port: Number(port) } } };
}

describe('etcd cluster of three with one member down', () => {
  let cluster: EtcdServers;
  let client: Etcd3;
  beforeAll(async () => {
    cluster = await startEtcd({ members: 3 });
    client = new Etcd3({ hosts: cluster.endpoints.map((e) => `http://${e}`) });
  });
  afterAll(async () => {
    client?.close();
    await cluster?.stop();
  });

  it('migrates with every endpoint given, and with manager.toml naming one live member', async () => {
    const stopped = cluster.endpoints[0]!;
    const live = cluster.endpoints[2]!;
    const first = onEtcd(admin(), client, stopped);
    const deployment = await deploy({}, first);
    const second = await deploy({}, onEtcd(admin(), client, live));
    await cluster.containers[0]!.stop({ timeout: 2_000 });

    // The first endpoint is the dead member: the client must go on to the others.
    const { report } = await runEngine(migrateInputs(deployment.writeManagerToml(), { 'etcd-endpoints': cluster.endpoints.join(',') }));
    await expectMigrated(report, deployment);
    expect(connectDetail(report, 'etcd')).toContain(`etcd at ${cluster.endpoints.join(', ')}`);

    // manager.toml's single [etcd] addr, a live member.
    const fromToml = await runEngine(migrateInputs(second.writeManagerToml()));
    await expectMigrated(fromToml.report, second);
    expect(connectDetail(fromToml.report, 'etcd')).toContain(`etcd at ${live}`);
  });
});

/** Polls `probe` every 200 ms until it holds, or fails saying what was awaited. */
async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('Redis behind Sentinel', () => {
  let sentinel: SentinelRedis;
  const clients: Redis[] = [];
  /** A client on one Redis server (not through Sentinel), closed after the file. */
  const redisAt = (port: number, db = 0) => {
    const client = new Redis({ host: '127.0.0.1', port, password: SECRETS.redis, db });
    clients.push(client);
    return client;
  };
  beforeAll(async () => {
    sentinel = await startSentinelRedis();
  });
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.quit()));
    await sentinel?.stop();
  });

  /** A deployment seeded on the Sentinel master, whose etcd names only the sentinels. */
  async function deployOnSentinel(serviceName: string | undefined): Promise<TestDeployment> {
    const masterClients = new Map<number, Redis>();
    const master = (db: number) => masterClients.get(db) ?? (masterClients.set(db, redisAt(sentinel.master.port, db)), masterClients.get(db)!);
    const deployment = await deploy({}, { admin: { ...admin(), redis: master }, info: { ...info, redis: { ...sentinel.master, password: SECRETS.redis } } });
    const etcd = admin().etcd.namespace(`/sorna/${deployment.namespace}/`);
    // With a sentinel list the manager ignores addr: drop it, so that nothing can use it.
    await etcd.delete().key('config/redis/addr');
    await etcd.put('config/redis/sentinel').value(sentinel.sentinels.join(', '));
    if (serviceName) await etcd.put('config/redis/service_name').value(serviceName);
    return deployment;
  }

  it('migrates through Sentinel, and after a failover a second run works on the new master', async () => {
    const deployment = await deployOnSentinel(sentinel.serviceName);
    const toml = deployment.writeManagerToml();
    const { report } = await runEngine(migrateInputs(toml));
    await expectMigrated(report, deployment);
    const via = `Redis via Sentinel ${sentinel.sentinels.join(', ')} (service "${sentinel.serviceName}", from etcd config/redis/sentinel)`;
    expect(connectDetail(report, 'Redis')).toMatch(new RegExp(`^${escape(via)}: master 127\\.0\\.0\\.1:${sentinel.master.port}, Redis \\d`));
    const master = redisAt(sentinel.master.port);
    expect(await master.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    expect(await master.keys('keypair.concurrency_used.*')).toHaveLength(12);

    // Fail over to the replica once it has caught up and the sentinels know it.
    const replica = redisAt(sentinel.replica.port);
    await waitUntil('the replica to hold the migrated keys', async () => (await replica.keys('keypair.concurrency_used.*')).length === 12);
    const [sentinelHost, sentinelPort] = sentinel.sentinels[0]!.split(':');
    const asker = new Redis({ host: sentinelHost, port: Number(sentinelPort) });
    clients.push(asker);
    await waitUntil('Sentinel to accept a failover', async () => (await asker.call('SENTINEL', 'FAILOVER', sentinel.serviceName)) === 'OK');
    await waitUntil('the replica to be promoted', async () => {
      const addr = (await asker.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', sentinel.serviceName)) as string[];
      return addr[1] === String(sentinel.replica.port) && (await replica.info('replication')).includes('role:master');
    });

    // The new master never had AOF turned on: the second run must find that out there and fix it.
    const second = await runEngine(migrateInputs(toml));
    expect(second.report.error).toBeUndefined();
    expect(connectDetail(second.report, 'Redis')).toContain(`master 127.0.0.1:${sentinel.replica.port},`);
    expect(second.report.entries.find((e) => e.step === 'redis-persistence' && e.phase === 'apply')?.status).toBe('changed');
    expect(await replica.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
  });

  it('refuses a sentinel list without config/redis/service_name, saying what to set', async () => {
    const deployment = await deployOnSentinel(undefined);
    const { report } = await runEngine({ command: 'preflight', 'to-version': '22.03', 'manager-config': deployment.writeManagerToml() });
    expect(report.outcome).toBe('failure');
    expect(report.error).toContain(`Redis: etcd config/redis/sentinel is set (${sentinel.sentinels.join(', ')}) but config/redis/service_name is not`);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
