/**
 * The commands that only read (plan, preflight, verify, snapshot, every dry run) proved with
 * credentials that cannot write: a PostgreSQL role with SELECT only, a Redis ACL user limited to
 * reads, and an etcd user whose role may only read. A write anywhere would fail the run; each
 * must succeed. And by construction: their PostgreSQL session refuses writes even to a role that
 * could make them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3, Range } from 'etcd3';
import { migrateInputs, snapshotState, useDeployments, type TestDeployment } from '../support/deployment.js';
import { startEtcd, type EtcdServers } from '../support/ha.js';
import { runEngine, tempDir } from '../support/run.js';
import { join } from 'node:path';
import { Deployment } from '../../src/stores/deployment.js';
import { resolveTargets } from '../../src/stores/connections.js';
import { isReadOnly } from '../../src/commands/run-command.js';
import { parseOptions } from '../../src/options/index.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

const PG_ROLE = 'bai_readonly';
const PG_PASSWORD = 'pg-ReadOnly-Secr3t-7q';
const REDIS_USER = 'bai-readonly';
const REDIS_PASSWORD = 'redis-ReadOnly-Secr3t-3k';
const ETCD = { root: 'etcd-Root-Secr3t-ro1', writer: 'etcd-Writer-Secr3t-ro2', reader: 'etcd-Reader-Secr3t-ro3' };

describe('read-only commands under read-only credentials', () => {
  let etcdServer: EtcdServers;
  let root: Etcd3;
  let endpoint: string;

  beforeAll(async () => {
    etcdServer = await startEtcd();
    endpoint = etcdServer.endpoints[0]!;
    const setup = new Etcd3({ hosts: `http://${endpoint}` });
    try {
      await setup.role('root').create();
      await setup.user('root').create(ETCD.root);
      await setup.user('root').addRole('root');
      await setup.role('deployments-rw').create();
      await setup.role('deployments-rw').grant({ permission: 'Readwrite', range: Range.prefix('/sorna/') });
      await setup.user('writer').create(ETCD.writer);
      await setup.user('writer').addRole('deployments-rw');
      await setup.role('deployments-read').create();
      await setup.role('deployments-read').grant({ permission: 'Read', range: Range.prefix('/sorna/') });
      await setup.user('reader').create(ETCD.reader);
      await setup.user('reader').addRole('deployments-read');
      await setup.auth.authEnable();
    } finally {
      setup.close();
    }
    root = new Etcd3({ hosts: `http://${endpoint}`, auth: { username: 'root', password: ETCD.root } });
    await admin().pg.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${PG_ROLE}') THEN CREATE ROLE ${PG_ROLE} LOGIN PASSWORD '${PG_PASSWORD}'; END IF; END $$`);
    // Reads of every kind (keys, values, streams, INFO, CONFIG GET), nothing that writes.
    await admin().redis(0).call('ACL', 'SETUSER', REDIS_USER, 'reset', 'on', `>${REDIS_PASSWORD}`, '~*', '&*', '+@read', '+@connection', '+info', '+config|get', '+time', '+select');
  });
  afterAll(async () => {
    await admin().redis(0).call('ACL', 'DELUSER', REDIS_USER);
    root?.close();
    await etcdServer?.stop();
  });

  /** A 21.09 deployment whose etcd is the authenticated one, and SELECT-only grants on its database. */
  async function deployReadable(seed = {}): Promise<TestDeployment> {
    const [host, port] = endpoint.split(':');
    const deployment = await deploy(seed, { admin: { ...admin(), etcd: root }, info: { ...info, etcd: { host: host!, port: Number(port) } } });
    await admin().pg.query(`GRANT CONNECT ON DATABASE ${deployment.database} TO ${PG_ROLE}`);
    await deployment.pg.query(`GRANT USAGE ON SCHEMA public TO ${PG_ROLE}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${PG_ROLE}; GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO ${PG_ROLE}`);
    return deployment;
  }

  function readOnlyInputs(deployment: TestDeployment, extra: Record<string, string>, toml = deployment.writeManagerToml()) {
    const { host, port } = info.postgres;
    return migrateInputs(toml, {
      'postgres-url': `postgresql://${PG_ROLE}:${PG_PASSWORD}@${host}:${port}/${deployment.database}`,
      'redis-url': `redis://${REDIS_USER}:${REDIS_PASSWORD}@${info.redis.host}:${info.redis.port}`,
      'etcd-user': 'reader',
      'etcd-password': ETCD.reader,
      ...extra,
    });
  }

  it('the credentials really cannot write', async () => {
    const deployment = await deployReadable();
    const { Client } = (await import('pg')).default;
    const client = new Client({ ...info.postgres, user: PG_ROLE, password: PG_PASSWORD, database: deployment.database });
    await client.connect();
    await expect(client.query(`UPDATE keypairs SET is_active = false`)).rejects.toThrow(/permission denied/);
    await client.end();
    const { Redis } = await import('ioredis');
    const redis = new Redis({ host: info.redis.host, port: info.redis.port, username: REDIS_USER, password: REDIS_PASSWORD });
    await expect(redis.set('x', '1')).rejects.toThrow(/NOPERM/);
    await expect(redis.config('SET', 'appendonly', 'yes')).rejects.toThrow(/NOPERM/);
    redis.disconnect();
    const reader = new Etcd3({ hosts: `http://${endpoint}`, auth: { username: 'reader', password: ETCD.reader } });
    await expect(reader.put(`/sorna/${deployment.namespace}/x`).value('1')).rejects.toThrow(/permission denied/);
    reader.close();
  });

  it('plan, preflight, the dry run of migrate and snapshot succeed and change nothing', async () => {
    const deployment = await deployReadable();
    const before = await snapshotState(admin(), deployment);
    const commands: Array<Record<string, string>> = [
      { command: 'plan' },
      { command: 'preflight' },
      { command: 'migrate', 'dry-run': 'true' },
      { command: 'snapshot', 'snapshot-file': join(tempDir(), 'snapshot.jsonl.gz') },
    ];
    for (const extra of commands) {
      const { report } = await runEngine(readOnlyInputs(deployment, extra));
      expect({ command: extra.command, error: report.error, outcome: report.outcome }).toEqual({ command: extra.command, error: undefined, outcome: 'success' });
    }
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });

  it("verify after a migration and clear-history's dry run succeed", async () => {
    const deployment = await deployReadable();
    const toml = deployment.writeManagerToml();
    const migrated = await runEngine(migrateInputs(toml, { 'etcd-user': 'writer', 'etcd-password': ETCD.writer }));
    expect(migrated.report.error).toBeUndefined();
    // alembic made new tables after the grants: grant again, as an operator's read-only role would get.
    await deployment.pg.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${PG_ROLE}`);
    const before = await snapshotState(admin(), deployment);
    const commands: Array<Record<string, string>> = [{ command: 'verify' }, { command: 'clear-history', retention: '30d', 'dry-run': 'true' }];
    for (const extra of commands) {
      const { report } = await runEngine(readOnlyInputs(deployment, extra, toml));
      expect({ command: extra.command, error: report.error, outcome: report.outcome }).toEqual({ command: extra.command, error: undefined, outcome: 'success' });
    }
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });
});

describe('read-only by construction', () => {
  it('plan, preflight, verify, snapshot and every dry run get a PostgreSQL session that refuses writes, even for a role that could write', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const readOnly = (raw: Record<string, string>) => isReadOnly(parseOptions({ 'manager-config': toml, 'to-version': '22.03', ...raw }));
    expect(['plan', 'preflight', 'verify', 'snapshot'].map((command) => readOnly({ command }))).toEqual([true, true, true, true]);
    expect([readOnly({ command: 'migrate', 'dry-run': 'true' }), readOnly({ command: 'clear-history', 'dry-run': 'true' })]).toEqual([true, true]);
    expect([readOnly({ command: 'migrate' }), readOnly({ command: 'clear-history' })]).toEqual([false, false]);

    const connected = new Deployment(resolveTargets(parseOptions({ command: 'preflight', 'to-version': '22.03', 'manager-config': toml }), {}), 5_000, () => undefined, true);
    try {
      expect((await connected.connect(['postgres']))[0]?.ok).toBe(true);
      await expect(connected.postgres.query('UPDATE keypairs SET is_active = false')).rejects.toThrow(/cannot execute UPDATE in a read-only transaction/);
      await expect(connected.postgres.query('BEGIN; CREATE TABLE intruder (id int); COMMIT')).rejects.toThrow(/read-only transaction/);
    } finally {
      await connected.close();
    }
    expect((await deployment.pg.query(`SELECT count(*) AS n FROM keypairs WHERE is_active = false`)).rows[0].n).toBe('0');
  });
});
