/**
 * The servers a rehearsal restores into: the ones the workflow gave (rehearsal-servers: given) or
 * the ones it started, and on them the new database, etcd namespace and Redis one restore fills.
 * Apart from rehearse.ts's flow, since this is where the rehearsal makes sure it never writes to a
 * live deployment.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { Etcd3 } from 'etcd3';
import { MigrationError, messageOf } from '../core/errors.js';
import type { Options } from '../options/index.js';
import { postgresFromUrl, redisFromUrl } from '../stores/connections.js';
import { serializeQueries } from '../stores/postgres.js';
import type { SnapshotManifest } from './snapshot-file.js';
import type { DisposableServers } from './servers.js';

export interface RehearsalServers {
  readonly postgres: { host: string; port: number; user: string; password?: string; database: string };
  readonly redis: { host: string; port: number; password?: string };
  readonly etcd: string;
  readonly description: string;
}

export function givenServers(options: Options): RehearsalServers {
  const pgTarget = postgresFromUrl(options.postgresUrl!);
  const redis = redisFromUrl(options.redisUrl!, 'redis-url');
  return {
    postgres: { host: pgTarget.host, port: pgTarget.port, user: pgTarget.user, password: pgTarget.password, database: pgTarget.database },
    redis: { host: redis.host, port: redis.port, password: redis.password },
    etcd: options.etcdEndpoints[0]!,
    description: `PostgreSQL ${pgTarget.host}:${pgTarget.port}, Redis ${redis.host}:${redis.port}, etcd ${options.etcdEndpoints[0]}`,
  };
}

export function fromStarted(s: DisposableServers): RehearsalServers {
  return { postgres: s.postgres, redis: s.redis, etcd: `${s.etcd.host}:${s.etcd.port}`, description: s.description };
}

export interface PreparedTargets {
  readonly postgres: pg.Client;
  readonly etcd: Etcd3;
  readonly redis: Redis;
  readonly database: string;
  close(): Promise<void>;
  /** For servers the workflow gave: drops what the rehearsal created, then closes. */
  removeAndClose(): Promise<void>;
}

/**
 * A new database for the restored deployment; an etcd namespace and Redis that must be empty, so
 * that a rehearsal pointed at a live server by mistake stops before writing anything.
 */
export async function prepareTargets(servers: RehearsalServers, manifest: SnapshotManifest, timeoutMs: number): Promise<PreparedTargets> {
  const base = { host: servers.postgres.host, port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password, connectionTimeoutMillis: timeoutMs };
  const admin = serializeQueries(new pg.Client({ ...base, database: servers.postgres.database, application_name: 'bai-migrate-rehearsal' }));
  admin.on('error', () => undefined);
  const etcd = new Etcd3({ hosts: servers.etcd.includes('://') ? servers.etcd : `http://${servers.etcd}`, dialTimeout: timeoutMs });
  const redis = new Redis({
    host: servers.redis.host,
    port: servers.redis.port,
    password: servers.redis.password,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  const database = `bai_rehearsal_${randomBytes(4).toString('hex')}`;
  let client: pg.Client | undefined;
  const close = async () => {
    await client?.end().catch(() => undefined);
    await admin.end().catch(() => undefined);
    redis.disconnect();
    etcd.close();
  };
  try {
    await admin.connect();
    await redis.connect();
    await refuseUnlessEmpty(etcd, redis, manifest.etcd.namespace);
    await admin.query(`CREATE DATABASE ${database}`);
    client = serializeQueries(new pg.Client({ ...base, database, application_name: 'bai-migrate-rehearsal' }));
    client.on('error', () => undefined);
    await client.connect();
  } catch (error) {
    await close();
    if (error instanceof MigrationError) throw error;
    throw new MigrationError('unreachable', `the rehearsal's servers are not usable: ${messageOf(error)}`);
  }
  return {
    postgres: client,
    etcd,
    redis,
    database,
    close,
    async removeAndClose() {
      try {
        await client!.end().catch(() => undefined);
        await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await etcd.delete().prefix(`/sorna/${manifest.etcd.namespace}/`);
        for (let db = 0; db <= 4; db++) {
          await redis.select(db);
          await redis.flushdb();
        }
      } finally {
        // Open clients would keep the Action's process alive after a failed clean-up.
        await close();
      }
    },
  };
}

/** Stops before anything is written when the etcd namespace or Redis already holds keys: these servers may be a live deployment's. */
async function refuseUnlessEmpty(etcd: Etcd3, redis: Redis, namespace: string): Promise<void> {
  const prefix = `/sorna/${namespace}/`;
  const existing = await etcd.getAll().prefix(prefix).count();
  if (existing > 0) throw new MigrationError('inconsistent-state', `the rehearsal's etcd already has ${existing} key(s) under ${prefix}: give rehearse disposable servers, never a live deployment's`);
  for (let db = 0; db <= 4; db++) {
    await redis.select(db);
    const size = await redis.dbsize();
    if (size > 0) throw new MigrationError('inconsistent-state', `the rehearsal's Redis already has ${size} key(s) in DB ${db}: give rehearse disposable servers, never a live deployment's`);
  }
  await redis.select(0);
}
