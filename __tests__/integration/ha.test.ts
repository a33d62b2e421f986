/**
 * Highly available and secured deployments (issue 5): a 3-member etcd cluster with one member down,
 * Redis behind Sentinel (and after a failover), PostgreSQL and etcd over TLS, etcd with
 * authentication. Each migrates 21.09 → 22.03 for real.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { migrateInputs, useDeployments, type Admin, type TestDeployment } from '../support/deployment.js';
import { startEtcd, type EtcdServers } from '../support/ha.js';
import { runEngine } from '../support/run.js';
import type { TestbedInfo } from '../support/testbed.js';
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
