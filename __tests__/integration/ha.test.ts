/**
 * Highly available and secured deployments (issue 5): a 3-member etcd cluster with one member down,
 * Redis behind Sentinel (and after a failover), PostgreSQL and etcd over TLS, etcd with
 * authentication. Each migrates 21.09 → 22.03 for real.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3, Range } from 'etcd3';
import { Redis } from 'ioredis';
import { connectAdmin, migrateInputs, snapshotState, useDeployments, type Admin, type TestDeployment } from '../support/deployment.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { makeCertificates, pem, startEtcd, startSentinelRedis, startTlsPostgres, type Certificates, type EtcdServers, type SentinelRedis, type TlsPostgres } from '../support/ha.js';
import { runEngine, tempDir } from '../support/run.js';
import { SECRETS, type TestbedInfo } from '../support/testbed.js';
import type { Report } from '../../src/core/report/index.js';
import { parseOptions } from '../../src/options/index.js';
import { readTlsFiles } from '../../src/options/tls-files.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
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

    // The new master never had AOF turned on: a second run of the hop must find that out there and
    // fix it. The database is at 22.03's head with the hop finished, so the hop is named: without
    // from-version the run would plan from where the database is, and find nothing to do.
    const second = await runEngine(migrateInputs(toml, { 'from-version': '21.09' }));
    expect(second.report.error).toBeUndefined();
    expect(connectDetail(second.report, 'Redis')).toContain(`master 127.0.0.1:${sentinel.replica.port},`);
    expect(second.report.entries.find((e) => e.step === 'redis-persistence' && e.phase === 'apply')?.status).toBe('changed');
    expect(await replica.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
  });

  it('names a wrong master password as an authentication failure through Sentinel, and writes nothing', async () => {
    const deployment = await deployOnSentinel(sentinel.serviceName);
    await admin().etcd.namespace(`/sorna/${deployment.namespace}/`).put('config/redis/password').value('wrong-Secr3t-sentinel');
    const before = await snapshotState(admin(), deployment);
    const { report } = await runEngine(migrateInputs(deployment.writeManagerToml()));
    expect(report.errorCode).toBe('authentication-failed');
    expect(report.error).toBe(
      `Redis: authentication failed at the master of service "${sentinel.serviceName}" via Sentinel ${sentinel.sentinels.join(', ')} (Redis, from etcd config/redis/sentinel): WRONGPASS invalid username-password pair or user is disabled. (the password is wrong); check etcd config/redis/password (or set redis-url)`,
    );
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });

  it('refuses a sentinel list without config/redis/service_name, saying what to set', async () => {
    const deployment = await deployOnSentinel(undefined);
    const { report } = await runEngine({ command: 'preflight', 'to-version': '22.03', 'manager-config': deployment.writeManagerToml() });
    expect(report.outcome).toBe('failure');
    expect(report.error).toContain(`Redis: etcd config/redis/sentinel is set (${sentinel.sentinels.join(', ')}) but config/redis/service_name is not`);
  });
});

describe('PostgreSQL and etcd over TLS', () => {
  let certs: Certificates;
  let postgres: TlsPostgres;
  let etcd: EtcdServers;
  let etcdClientAuth: EtcdServers;
  const closers: Array<() => unknown> = [];
  beforeAll(async () => {
    certs = makeCertificates();
    [postgres, etcd, etcdClientAuth] = await Promise.all([startTlsPostgres(certs), startEtcd({ tls: certs }), startEtcd({ tls: certs, clientCertAuth: true })]);
  });
  afterAll(async () => {
    for (const close of closers) await close();
    await Promise.allSettled([postgres?.stop(), etcd?.stop(), etcdClientAuth?.stop()]);
  });

  const tlsInputs = (c: Certificates, overrides: Record<string, string> = {}) => ({
    'postgres-ca': c.ca,
    'postgres-client-cert': c.clientCert,
    'postgres-client-key': c.clientKey,
    'etcd-ca': c.ca,
    'etcd-client-cert': c.clientCert,
    'etcd-client-key': c.clientKey,
    ...overrides,
  });

  /** The TLS PostgreSQL and one TLS etcd as the test deployment's servers; admin clients use TLS too. */
  function servers(etcdServers: EtcdServers): { admin: Admin; info: TestbedInfo } {
    const files = readTlsFiles('postgres', { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey })!;
    const tlsInfo: TestbedInfo = { ...info, postgres: { ...info.postgres, host: postgres.host, port: postgres.port, tls: { mode: 'verify-full', ...files } } };
    const etcdAdmin = new Etcd3({
      hosts: etcdServers.endpoints,
      credentials: { rootCertificate: pem(certs.ca), certChain: pem(certs.clientCert), privateKey: pem(certs.clientKey) },
    });
    closers.push(() => etcdAdmin.close());
    const base = onEtcd(admin(), etcdAdmin, etcdServers.endpoints[0]!);
    return { admin: base.admin, info: { ...base.info, postgres: tlsInfo.postgres } };
  }

  /** One admin connection to the TLS PostgreSQL per file (its template databases live there). */
  let tlsAdmin: Admin | undefined;
  async function tlsServers(etcdServers: EtcdServers) {
    const chosen = servers(etcdServers);
    if (!tlsAdmin) {
      tlsAdmin = await connectAdmin(chosen.info);
      closers.push(() => tlsAdmin?.pg.end());
    }
    return { admin: { ...chosen.admin, pg: tlsAdmin.pg }, info: chosen.info };
  }

  it('PostgreSQL refuses a connection without TLS', async () => {
    const plain = new pg.Client({ host: postgres.host, port: postgres.port, user: postgres.user, password: postgres.password, database: 'postgres', ssl: false });
    await expect(plain.connect()).rejects.toThrow(/no pg_hba\.conf entry for host "127\.0\.0\.1".*no encryption/);
    await plain.end().catch(() => undefined);
  });

  it('migrates over TLS with client certificates (PostgreSQL verify-full, etcd --client-cert-auth) and never shows the key', async () => {
    const deployment = await deploy({}, await tlsServers(etcdClientAuth));
    const reportFile = join(tempDir(), 'report.json');
    const { report, log } = await runEngine(migrateInputs(deployment.writeManagerToml(), { ...tlsInputs(certs), 'report-file': reportFile }));
    await expectMigrated(report, deployment);
    expect(connectDetail(report, 'PostgreSQL')).toContain('TLS verify-full with client certificate)');
    expect(connectDetail(report, 'etcd')).toContain(`etcd at ${etcdClientAuth.endpoints[0]} (from manager.toml`);
    expect(connectDetail(report, 'etcd')).toContain('TLS with client certificate)');
    // alembic ran over TLS as well: pg_hba leaves it no other way.
    expect(report.entries.find((e) => e.step === 'schema' && e.phase === 'apply')?.status).toBe('changed');
    const keyLine = readFileSync(certs.clientKey, 'utf8').split('\n')[1]!;
    expect(readFileSync(reportFile, 'utf8')).not.toContain(keyLine);
    expect(log.lines.join('\n')).not.toContain(keyLine);
  });

  it('migrates with etcd over TLS verified by etcd-ca alone, and with sslmode=verify-ca in postgres-url', async () => {
    const deployment = await deploy({}, await tlsServers(etcd));
    const inputs = tlsInputs(certs, { 'etcd-client-cert': '', 'etcd-client-key': '', 'postgres-url': `${deployment.postgresUrl}?sslmode=verify-ca` });
    const { report } = await runEngine(migrateInputs(deployment.writeManagerToml(), inputs));
    await expectMigrated(report, deployment);
    expect(connectDetail(report, 'PostgreSQL')).toContain('(from postgres-url, TLS verify-ca with client certificate)');
    expect(connectDetail(report, 'etcd')).toMatch(/\(from manager\.toml .*, TLS\)/);
  });

  it('a wrong CA fails the connection with a message naming the server and the CA input', async () => {
    const deployment = await deploy({}, await tlsServers(etcd));
    const toml = deployment.writeManagerToml();
    const wrongPostgres = await runEngine({ command: 'preflight', 'to-version': '22.03', 'manager-config': toml, ...tlsInputs(certs, { 'postgres-ca': certs.otherCa }) });
    expect(wrongPostgres.report.errorCode).toBe('unreachable');
    expect(wrongPostgres.report.error).toContain(`PostgreSQL: PostgreSQL at 127.0.0.1:${postgres.port}/${deployment.database} (from manager.toml`);
    expect(wrongPostgres.report.error).toContain(`does not verify against postgres-ca ${certs.otherCa}`);

    const wrongEtcd = await runEngine({
      command: 'preflight',
      'to-version': '22.03',
      'manager-config': toml,
      ...tlsInputs(certs, { 'etcd-ca': certs.otherCa, 'etcd-client-cert': '', 'etcd-client-key': '' }),
    });
    expect(wrongEtcd.report.errorCode).toBe('unreachable');
    expect(wrongEtcd.report.error).toContain(`etcd: etcd at ${etcd.endpoints[0]} (from manager.toml`);
    expect(wrongEtcd.report.error).toContain(`is unreachable: no connection (unable to verify the first certificate) (the server's certificate does not verify against etcd-ca ${certs.otherCa})`);
  });

  it('rejects unreadable TLS files and a certificate without its key before anything is done', () => {
    const base = { command: 'preflight', 'to-version': '22.03' };
    expect(() => parseOptions({ ...base, 'postgres-ca': '/nonexistent/ca.pem' })).toThrow(
      'postgres-ca "/nonexistent/ca.pem" cannot be read (no such file); accepted: the path of a PEM file of CA certificate(s)',
    );
    expect(() => parseOptions({ ...base, 'etcd-ca': certs.clientKey.replace('client.key', 'server.ext') })).toThrow(/etcd-ca ".*server\.ext" is not a PEM file of CA certificate\(s\)/);
    expect(() => parseOptions({ ...base, 'etcd-client-cert': certs.clientCert, 'etcd-ca': certs.ca })).toThrow(
      'etcd-client-cert is set but etcd-client-key is not; accepted: both (a client certificate and its private key) or neither',
    );
    expect(() => parseOptions({ ...base, 'postgres-client-key': certs.clientKey })).toThrow('postgres-client-key is set but postgres-client-cert is not');
  });

  it('rejects an sslmode that contradicts the TLS inputs, before connecting', async () => {
    const deployment = await deploy();
    const disabled = await runEngine({ command: 'preflight', 'to-version': '22.03', 'postgres-url': `${deployment.postgresUrl}?sslmode=disable`, 'postgres-ca': certs.ca });
    expect(disabled.report.errorCode).toBe('invalid-input');
    expect(disabled.report.error).toBe('postgres-url says sslmode=disable but postgres-ca/postgres-client-cert are set; accepted: one or the other');
    const verify = await runEngine({ command: 'preflight', 'to-version': '22.03', 'postgres-url': `${deployment.postgresUrl}?sslmode=verify-full` });
    expect(verify.report.error).toContain('postgres-url says sslmode=verify-full, which needs postgres-ca');
    expect(verify.report.entries.filter((e) => e.phase === 'connect')).toEqual([]);
  });
});

describe('etcd with authentication', () => {
  const ROOT_PASSWORD = 'etcd-Root-Secr3t-9xQ';
  const MANAGER_PASSWORD = 'etcd-Mgr-Secr3t-4vW';
  let server: EtcdServers;
  let rootClient: Etcd3;
  beforeAll(async () => {
    server = await startEtcd();
    const hosts = server.endpoints.map((e) => `http://${e}`);
    const setup = new Etcd3({ hosts });
    try {
      // As an operator would: a root user (auth enable needs it), and the manager's own user that
      // may read and write only the deployments' tree.
      await setup.role('root').create();
      await setup.user('root').create(ROOT_PASSWORD);
      await setup.user('root').addRole('root');
      await setup.role('backend-ai').create();
      await setup.role('backend-ai').grant({ permission: 'Readwrite', range: Range.prefix('/sorna/') });
      await setup.user('manager').create(MANAGER_PASSWORD);
      await setup.user('manager').addRole('backend-ai');
      await setup.auth.authEnable();
    } finally {
      setup.close();
    }
    rootClient = new Etcd3({ hosts, auth: { username: 'root', password: ROOT_PASSWORD } });
  });
  afterAll(async () => {
    rootClient?.close();
    await server?.stop();
  });

  /** Every secret of these runs must be absent from the report file and the log. */
  function expectNoPassword(reportFile: string, lines: string[]): void {
    for (const text of [readFileSync(reportFile, 'utf8'), lines.join('\n')]) {
      expect(text).not.toContain(MANAGER_PASSWORD);
      expect(text).not.toContain(ROOT_PASSWORD);
    }
  }

  it('migrates with etcd-user/etcd-password, and with manager.toml [etcd] user/password, showing neither password', async () => {
    const servers = onEtcd(admin(), rootClient, server.endpoints[0]!);
    const byInputs = await deploy({}, servers);
    const reportFile = join(tempDir(), 'report.json');
    const first = await runEngine(migrateInputs(byInputs.writeManagerToml(), { 'etcd-user': 'manager', 'etcd-password': MANAGER_PASSWORD, 'report-file': reportFile }));
    await expectMigrated(first.report, byInputs);
    expect(first.secrets).toContain(MANAGER_PASSWORD);
    expectNoPassword(reportFile, first.log.lines);

    const byToml = await deploy({}, servers);
    const etcdSection = `[etcd]\nnamespace = "${byToml.namespace}"\naddr = { host = "127.0.0.1", port = ${servers.info.etcd.port} }\nuser = "manager"\npassword = "${MANAGER_PASSWORD}"\n`;
    const reportFile2 = join(tempDir(), 'report.json');
    const second = await runEngine(migrateInputs(byToml.writeManagerToml('', { etcd: etcdSection }), { 'report-file': reportFile2 }));
    await expectMigrated(second.report, byToml);
    expectNoPassword(reportFile2, second.log.lines);
  });

  it('a wrong password fails with a message that says so and does not repeat it', async () => {
    const servers = onEtcd(admin(), rootClient, server.endpoints[0]!);
    const deployment = await deploy({}, servers);
    const reportFile = join(tempDir(), 'report.json');
    const wrong = 'etcd-Wr0ng-Secr3t-1aZ';
    const before = await snapshotState(servers.admin, deployment);
    const { report, log } = await runEngine({ ...migrateInputs(deployment.writeManagerToml()), 'etcd-user': 'manager', 'etcd-password': wrong, 'report-file': reportFile });
    expect(report.errorCode).toBe('authentication-failed');
    expect(report.error).toContain(`etcd: authentication failed for user "manager" at ${server.endpoints[0]} (etcd, from manager.toml`);
    expect(report.error).toContain('authentication failed, invalid user ID or password; check etcd-user and etcd-password');
    expect(report.error).not.toContain('unreachable');
    for (const text of [readFileSync(reportFile, 'utf8'), log.lines.join('\n')]) expect(text).not.toContain(wrong);
    expect(report.entries.filter((e) => e.phase === 'apply')).toEqual([]);
    expect(await snapshotState(servers.admin, deployment)).toEqual(before);

    // No user at all, on an etcd that wants one: said as such, not as an empty namespace.
    const anonymous = await runEngine(migrateInputs(deployment.writeManagerToml()));
    expect(anonymous.report.errorCode).toBe('authentication-failed');
    expect(anonymous.report.error).toMatch(new RegExp(`^etcd: authentication failed at ${escape(server.endpoints[0]!)} \\(etcd, from manager\\.toml .*user name is empty`));
    expect(await snapshotState(servers.admin, deployment)).toEqual(before);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
