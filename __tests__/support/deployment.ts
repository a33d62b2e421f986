/**
 * Disposable Backend.AI deployments on the test bed: each test gets its own PostgreSQL database
 * and etcd namespace, seeded like a 21.09 installation, and can snapshot everything to prove
 * that a run wrote nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Redis } from 'ioredis';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { TestbedInfo } from './testbed.js';
import { runAlembic } from '../../src/manager/alembic.js';
import { postgresSsl } from '../../src/stores/deployment.js';

/** An admin client on one database of the test bed's PostgreSQL, over TLS when the server wants it. */
function pgClient(info: TestbedInfo, database = info.postgres.database): pg.Client {
  const { host, port, user, password, tls } = info.postgres;
  return new pg.Client({ host, port, user, password, database, ssl: tls ? postgresSsl(tls) : false });
}

export interface Admin {
  pg: pg.Client;
  redis(db: number): Redis;
  etcd: Etcd3;
  close(): Promise<void>;
}

export async function connectAdmin(info: TestbedInfo): Promise<Admin> {
  const client = pgClient(info);
  // A server stopped under a test (support/faults.ts) must not crash the process.
  client.on('error', () => undefined);
  await client.connect();
  const redisClients = new Map<number, Redis>();
  const etcd = new Etcd3({ hosts: `http://${info.etcd.host}:${info.etcd.port}` });
  return {
    pg: client,
    redis(db) {
      let r = redisClients.get(db);
      if (!r) {
        r = new Redis({ host: info.redis.host, port: info.redis.port, password: info.redis.password, db });
        // Reconnects by itself once a stopped server is back; meanwhile its errors are expected.
        r.on('error', () => undefined);
        redisClients.set(db, r);
      }
      return r;
    },
    etcd,
    async close() {
      await client.end();
      await Promise.all([...redisClients.values()].map((r) => r.quit()));
      etcd.close();
    },
  };
}

export interface SeedOptions {
  /** The revision the schema is migrated to with the fixture's alembic (default 60a1effa77d2, 21.09.9). */
  schema?: string;
  /** Overwrites alembic_version afterwards; [] leaves the table empty, null drops it. */
  revisions?: string[] | null;
  liveKernels?: number;
  managersRegistered?: string[];
  /** Milliseconds since the newest agent heartbeat in the Redis events stream; undefined: none. */
  heartbeatAgeMs?: number;
  registries?: boolean;
  /** Another schema than the fixture's alembic makes (the real manager's: support/real-manager.ts), and what lets the seeding below fit it. */
  schemaOf?: SeedSchema;
}

export interface SeedSchema {
  /** An existing database the deployment is copied from. */
  template: string;
  /** Before the seeding: what the schema needs first, and room for the columns the seeding does not name. */
  beforeSeed(client: pg.Client): Promise<void>;
  /** After the kernels are in, before Redis: the schema's constraints back in force. */
  afterSeed(client: pg.Client): Promise<void>;
}

export interface TestDeployment {
  database: string;
  namespace: string;
  info: TestbedInfo;
  pg: pg.Client;
  postgresUrl: string;
  redisUrl: string;
  etcdEndpoint: string;
  /** Writes a manager.toml for this deployment (with `extra` appended) and returns its path. */
  writeManagerToml(extra?: string, overrides?: { db?: string; etcd?: string; manager?: string }): string;
  close(): Promise<void>;
}

/** Secrets users leave in kernels: a token in an environment variable, an SSH private key. */
export const KERNEL_SECRETS = {
  envToken: 'hf_Secr3tTok3nA9z',
  sshPrivateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-Secr3t\n-----END OPENSSH PRIVATE KEY-----',
} as const;

/** The registry's images in the seeded etcd: {image: tags}. */
export const SEED_IMAGES: Record<string, string[]> = {
  'stable/python': ['3.9-ubuntu20.04', '3.8-ubuntu18.04'],
  'stable/tensorflow': ['2.7-py38-cuda11.3', '2.6-py38-cuda11.1'],
  'stable/pytorch': ['1.10-py38-cuda11.3'],
};

/** The alembic environment with Backend.AI's real revision graph (see fixtures/alembic). */
// From the repository root, where the tests, the demo and the seed script run.
export const FIXTURE_ALEMBIC_INI = join(process.cwd(), '__tests__/fixtures/alembic/alembic.ini');
/** Debian's python3 has python3-alembic; a pyenv or venv python earlier on PATH may not. */
export const TEST_PYTHON = process.env.BAI_TEST_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
export const ALEMBIC_COMMAND = `${TEST_PYTHON} -m alembic`;

/**
 * A template database per schema revision, made once by running the fixture's real alembic
 * migrations; each deployment is a cheap copy of one (CREATE DATABASE … TEMPLATE).
 */
export async function templateFor(admin: Admin, info: TestbedInfo, revision: string): Promise<string> {
  const name = `tmpl_${revision}`;
  const { rows } = await admin.pg.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (rows.length > 0) return name;
  await admin.pg.query(`CREATE DATABASE ${name}_building`);
  await runAlembic({ command: ALEMBIC_COMMAND.split(' '), config: FIXTURE_ALEMBIC_INI }, { ...info.postgres, database: `${name}_building`, source: 'test' }, ['upgrade', revision]);
  await admin.pg.query(`ALTER DATABASE ${name}_building RENAME TO ${name}`);
  return name;
}

export async function createDeployment(admin: Admin, info: TestbedInfo, seed: SeedOptions = {}): Promise<TestDeployment> {
  const suffix = randomBytes(4).toString('hex');
  const database = `bai_${suffix}`;
  const namespace = `ns-${suffix}`;
  const template = seed.schemaOf?.template ?? (await templateFor(admin, info, seed.schema ?? '60a1effa77d2'));
  await admin.pg.query(`CREATE DATABASE ${database} TEMPLATE ${template}`);
  const client = pgClient(info, database);
  // A server stopped under a test (or at the end of the demo) must not crash the process.
  client.on('error', () => undefined);
  await client.connect();

  if (seed.revisions === null) await client.query('DROP TABLE alembic_version');
  else if (seed.revisions) {
    await client.query('DELETE FROM alembic_version');
    for (const revision of seed.revisions) await client.query('INSERT INTO alembic_version VALUES ($1)', [revision]);
  }
  await seed.schemaOf?.beforeSeed(client);
  await client.query(`INSERT INTO keypair_resource_policies (name, max_concurrent_sessions) VALUES ('default', 30)`);
  // keypairs.concurrency_used exists until 22.03 drops it.
  const { rowCount: hasConcurrency } = await client.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'keypairs' AND column_name = 'concurrency_used'`);
  for (let i = 0; i < 12; i++) {
    const values = [`AKTEST${String(i).padStart(14, '0')}`, `secret-${suffix}-${i}`, `user${i}@example.com`];
    await client.query(
      hasConcurrency
        ? `INSERT INTO keypairs (access_key, secret_key, user_id, resource_policy, concurrency_used) VALUES ($1, $2, $3, 'default', $4)`
        : `INSERT INTO keypairs (access_key, secret_key, user_id, resource_policy) VALUES ($1, $2, $3, 'default')`,
      hasConcurrency ? [...values, i % 3] : values,
    );
  }
  await client.query(`INSERT INTO scaling_groups (name) VALUES ('default')`);
  // agents/kernels.architecture exist (NOT NULL, no default) from 22.03 on.
  const { rowCount: hasArchitecture } = await client.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'kernels' AND column_name = 'architecture'`);
  const [archColumn, archValue] = hasArchitecture ? [', architecture', `, 'x86_64'`] : ['', ''];
  await client.query(
    `INSERT INTO agents (id, status, scaling_group, addr${archColumn})
     VALUES ('i-agent-1', 'ALIVE', 'default', 'tcp://10.0.0.1:6001'${archValue}), ('i-agent-2', 'LOST', 'default', 'tcp://10.0.0.2:6001'${archValue})`,
  );
  await client.query(
    `INSERT INTO kernels (id, session_id, access_key, agent, status, terminated_at${archColumn})
     SELECT gen_random_uuid(), gen_random_uuid(), 'AKTEST' || lpad((n % 12)::text, 14, '0'), 'i-agent-1',
            'TERMINATED', now() - n * interval '1 day'${archValue}
     FROM generate_series(1, 40) AS n`,
  );
  // What users put in their sessions: environment variables and the SSH keypair the manager keeps.
  await client.query(`UPDATE kernels SET environ = ARRAY['HOME=/home/work', 'HF_TOKEN=' || $1], internal_data = jsonb_build_object('ssh_keypair', jsonb_build_object('private_key', $2::text))`, [
    KERNEL_SECRETS.envToken,
    KERNEL_SECRETS.sshPrivateKey,
  ]);
  if (seed.liveKernels) {
    await client.query(
      `INSERT INTO kernels (id, session_id, access_key, agent, status${archColumn})
       SELECT gen_random_uuid(), gen_random_uuid(), 'AKTEST00000000000001', 'i-agent-1', 'RUNNING'${archValue} FROM generate_series(1, $1)`,
      [seed.liveKernels],
    );
  }
  await seed.schemaOf?.afterSeed(client);

  const etcd = admin.etcd.namespace(`/sorna/${namespace}/`);
  await etcd.put('config/redis/addr').value(`${info.redis.host}:${info.redis.port}`);
  await etcd.put('config/redis/password').value(info.redis.password);
  if (seed.registries !== false) {
    await etcd.put('config/docker/registry/cr.backend.ai').value('https://cr.backend.ai');
    await etcd.put('config/docker/registry/cr.backend.ai/type').value('harbor2');
    await etcd.put('config/docker/registry/cr.backend.ai/project').value('stable');
    for (const [name, tags] of Object.entries(SEED_IMAGES)) {
      const base = `images/cr.backend.ai/${encodeURIComponent(name)}`;
      await etcd.put(base).value('1');
      for (const [i, tag] of tags.entries()) {
        await etcd.put(`${base}/${tag}`).value(`sha256:${createHash('sha256').update(`${name}:${tag}`).digest('hex')}`);
        await etcd.put(`${base}/${tag}/size_bytes`).value(String(100_000_000 + i));
        await etcd.put(`${base}/${tag}/labels/ai.backend.kernelspec`).value('1');
        await etcd.put(`${base}/${tag}/labels/ai.backend.features`).value('batch query uid-match');
        await etcd.put(`${base}/${tag}/resource/cpu/min`).value('1');
        await etcd.put(`${base}/${tag}/resource/mem/min`).value('1g');
      }
    }
    // An admin-set limit and aliases: what a registry rescan would lose.
    await etcd.put(`images/cr.backend.ai/${encodeURIComponent('stable/python')}/3.9-ubuntu20.04/resource/cpu/max`).value('8');
    await etcd.put('images/_aliases/python').value('cr.backend.ai/stable/python:3.9-ubuntu20.04');
    await etcd.put(`images/_aliases/${encodeURIComponent('python:3.9')}`).value('cr.backend.ai/stable/python:3.9-ubuntu20.04');
    await etcd.put('images/_aliases/tensorflow').value('cr.backend.ai/stable/tensorflow:2.7-py38-cuda11.3');
  }
  for (const id of seed.managersRegistered ?? []) await etcd.put(`nodes/manager/${id}`).value('up');

  const redis = admin.redis(0);
  await redis.flushall();
  await redis.config('SET', 'appendonly', 'no');
  await redis.set('keypair.concurrency_used.AKTEST00000000000001', '0');
  // Per-kernel stats, as agents write them to DB 0 under the kernel's id.
  const kernels = await client.query<{ id: string }>('SELECT id FROM kernels');
  const stats = redis.pipeline();
  for (const { id } of kernels.rows) stats.set(id, JSON.stringify({ cpu_util: { current: '12.5', capacity: '400' }, mem: { current: '1073741824' } }));
  await stats.exec();
  if (seed.heartbeatAgeMs !== undefined) {
    const [seconds] = await redis.time();
    const id = `${Number(seconds) * 1000 - seed.heartbeatAgeMs}-0`;
    await admin.redis(4).xadd('events', id, 'name', 'agent_heartbeat', 'source', 'i-agent-1');
  }

  const dir = mkdtempSync(join(tmpdir(), 'bai-migrate-test-'));
  const { host, port, user, password } = info.postgres;
  return {
    database,
    namespace,
    info,
    pg: client,
    postgresUrl: `postgresql://${user}:${encodeURIComponent(password)}@${host}:${port}/${database}`,
    redisUrl: `redis://:${encodeURIComponent(info.redis.password)}@${info.redis.host}:${info.redis.port}`,
    etcdEndpoint: `${info.etcd.host}:${info.etcd.port}`,
    writeManagerToml(extra = '', overrides = {}) {
      const path = join(dir, `manager-${randomBytes(3).toString('hex')}.toml`);
      const db = overrides.db ?? `[db]\ntype = "postgresql"\naddr = { host = "${host}", port = ${port} }\nname = "${database}"\nuser = "${user}"\npassword = "${password}"\n`;
      const etcdSection =
        overrides.etcd ?? `[etcd]\nnamespace = "${namespace}"   # env: BACKEND_NAMESPACE\naddr = { host = "${info.etcd.host}", port = ${info.etcd.port} }\nuser = ""\npassword = ""\n`;
      writeFileSync(
        path,
        `# manager.toml written by the tests\n${etcdSection}\n${db}\n${overrides.manager ?? '[manager]\nnum-proc = 4\nservice-addr = { host = "0.0.0.0", port = 8080 }\nheartbeat-timeout = 30.0\n# distributed-lock = "pg_advisory"\n'}${extra}`,
      );
      return path;
    },
    async close() {
      await client.end();
      // The worker's Redis is shared with the files after this one: heartbeats a test planted in
      // DB 4 would look like running agents to their services-stopped check for a minute.
      await admin.redis(4).del('events');
      await admin.pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.etcd.delete().prefix(`/sorna/${namespace}/`);
    },
  };
}

/**
 * Everything a run could have written, as one comparable value: the database's schema and a hash
 * of every table's rows (an UPDATE shows, not only an INSERT), every key of every Redis database
 * with its whole value whatever its type, Redis's whole configuration, and etcd's revision (which
 * moves on any write anywhere in the cluster, a value rewritten in place included).
 */
export async function snapshotState(admin: Admin, deployment: TestDeployment): Promise<Record<string, unknown>> {
  const columns = await deployment.pg.query(`SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2`);
  const tables = [...new Set(columns.rows.map((r: { table_name: string }) => r.table_name))];
  const rows: Record<string, unknown> = {};
  for (const table of tables) {
    const { rows: result } = await deployment.pg.query(`SELECT count(*) AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS hash FROM "${table}" t`);
    rows[table] = result[0];
  }
  const redis: Record<string, unknown> = {};
  for (let db = 0; db <= 5; db++) {
    const client = admin.redis(db);
    const keys = (await client.keys('*')).sort();
    const values: Record<string, unknown> = {};
    for (const key of keys) {
      const type = await client.type(key);
      values[key] =
        type === 'string'
          ? await client.get(key)
          : type === 'hash'
            ? await client.hgetall(key)
            : type === 'list'
              ? await client.lrange(key, 0, -1)
              : type === 'set'
                ? (await client.smembers(key)).sort()
                : type === 'zset'
                  ? await client.call('ZRANGE', key, '0', '-1', 'WITHSCORES')
                  : type === 'stream'
                    ? await client.xrange(key, '-', '+')
                    : type;
    }
    redis[db] = values;
  }
  const config = Object.fromEntries(chunk((await admin.redis(0).config('GET', '*')) as string[]));
  const etcdRevision = (await admin.etcd.getAll().prefix('/').limit(1).exec()).header.revision;
  return { columns: columns.rows, rows, redis, redisConfig: config, etcdRevision };
}

function chunk(flat: string[]): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
  return pairs;
}

/** Other servers than the shared test bed's (an etcd cluster, Redis behind Sentinel, TLS): their addresses and admin clients. */
export interface Servers {
  admin: Admin;
  info: TestbedInfo;
}

/**
 * Registers the hooks a test file needs: one admin connection for the file, and deployments that
 * are dropped after each test.
 */
export function useDeployments(info: TestbedInfo): {
  admin: () => Admin;
  deploy: (seed?: SeedOptions, servers?: Servers) => Promise<TestDeployment>;
  /** The deployment outlives its test (a later test of the file goes on with it) and is removed after the file. */
  keepForLaterTests: (deployment: TestDeployment) => void;
} {
  let admin: Admin | undefined;
  const created: TestDeployment[] = [];
  beforeAll(async () => {
    admin = await connectAdmin(info);
  });
  const kept: TestDeployment[] = [];
  afterEach(async () => {
    for (const deployment of created.splice(0)) await deployment.close();
  });
  afterAll(async () => {
    for (const deployment of kept.splice(0)) await deployment.close();
    await admin?.close();
  });
  return {
    admin: () => admin!,
    async deploy(seed = {}, servers?: Servers) {
      const deployment = await createDeployment(servers?.admin ?? admin!, servers?.info ?? info, seed);
      created.push(deployment);
      return deployment;
    },
    keepForLaterTests(deployment) {
      created.splice(created.indexOf(deployment), 1);
      kept.push(deployment);
    },
  };
}

/** For scripts (demo, benchmarks): a test bed and an admin connection for `body`, removed afterwards. */
export async function withTestbed(body: (info: TestbedInfo, admin: Admin) => Promise<void>): Promise<void> {
  const { startTestbed } = await import('./testbed.js');
  const testbed = await startTestbed();
  const admin = await connectAdmin(testbed.info);
  try {
    await body(testbed.info, admin);
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  } finally {
    await admin.close();
    await testbed.stop();
  }
}

/** The inputs of a full 21.09 → 22.03 migration of a test deployment, with the fixture's alembic. */
export function migrateInputs(toml: string, extra: Record<string, string> = {}) {
  return {
    command: 'migrate',
    'to-version': '22.03',
    'manager-config': toml,
    'alembic-command': ALEMBIC_COMMAND,
    'alembic-config': FIXTURE_ALEMBIC_INI,
    'lock-backend': 'etcd',
    'periodic-sync-stats': 'true',
    'backup-dir': mkdtempSync(join(tmpdir(), 'bai-migrate-backup-')),
    ...extra,
  };
}
