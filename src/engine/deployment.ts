/**
 * Open connections to one Backend.AI deployment: PostgreSQL, etcd (scoped to the namespace) and
 * Redis (one client per logical DB, as the manager uses them). Every call is bounded by the
 * connect timeout, so an unreachable server ends the run with a message instead of a hang.
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import { Etcd3, type Namespace } from 'etcd3';
import { MigrationError, messageOf } from './errors.js';
import { redisFromUrl, type EtcdTarget, type PostgresTarget, type RedisTarget, type Targets } from './connections.js';

export type Server = 'postgres' | 'redis' | 'etcd';

export const SERVER_NAMES: Record<Server, string> = { postgres: 'PostgreSQL', redis: 'Redis', etcd: 'etcd' };

/** Backend.AI's Redis logical databases (reference §3.1). */
export const REDIS_DB = { stat: 0, rateLimit: 1, live: 2, image: 3, stream: 4 } as const;

export interface ConnectResult {
  readonly server: Server;
  readonly ok: boolean;
  readonly detail: string;
}

export class Deployment {
  private readonly redisClients = new Map<number, Redis>();
  private postgresClient?: pg.Client;
  private etcdClient?: Etcd3;
  private redisTarget?: RedisTarget;

  constructor(
    readonly targets: Targets,
    private readonly timeoutMs: number,
    /** Told of secrets found on the way (etcd's Redis password), before anything can print them. */
    private readonly onSecret: (secret: string) => void,
  ) {}

  get namespace(): string | undefined {
    return this.targets.etcd?.namespace;
  }

  /** Connects to each server asked for and reports every outcome; throws nothing for unreachable servers. */
  async connect(servers: readonly Server[]): Promise<ConnectResult[]> {
    const results: ConnectResult[] = [];
    if (servers.includes('postgres')) results.push(await this.attempt('postgres', () => this.connectPostgres()));
    if (servers.includes('etcd')) results.push(await this.attempt('etcd', () => this.connectEtcd()));
    if (servers.includes('redis')) {
      const etcdDown = !this.etcdClient && !this.targets.redis;
      results.push(
        etcdDown
          ? { server: 'redis', ok: false, detail: 'not tried: its address is read from etcd config/redis, and etcd is not connected (or set redis-url)' }
          : await this.attempt('redis', () => this.connectRedis()),
      );
    }
    return results;
  }

  get postgres(): pg.Client {
    if (!this.postgresClient) throw new MigrationError('unreachable', 'PostgreSQL is not connected');
    return this.postgresClient;
  }

  get etcd(): Namespace {
    if (!this.etcdClient || !this.namespace) throw new MigrationError('unreachable', 'etcd is not connected');
    return this.etcdClient.namespace(`/sorna/${this.namespace}/`);
  }

  /**
   * Every key under `prefix` (relative to the namespace) with its value, read in pages at one
   * revision: a single response must stay under gRPC's 4 MiB limit, which a large image tree
   * exceeds (10,000 images are about 6 MB).
   */
  async etcdPrefix(prefix: string, pageSize = 10_000): Promise<Record<string, string>> {
    if (!this.etcdClient || !this.namespace) throw new MigrationError('unreachable', 'etcd is not connected');
    const root = `/sorna/${this.namespace}/`;
    const start = Buffer.from(`${root}${prefix}`);
    const end = prefixEnd(start);
    const out: Record<string, string> = {};
    let from = start;
    let revision: string | undefined;
    for (;;) {
      let query = this.etcdClient.getAll().inRange({ start: from, end }).limit(pageSize);
      if (revision) query = query.revision(revision);
      const page = await this.bounded('etcd', query.exec());
      revision ??= page.header.revision;
      for (const kv of page.kvs) out[kv.key.toString().slice(root.length)] = kv.value.toString();
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || !last) return out;
      from = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  /** The etcd member's status (its version), bounded like every call. */
  async etcdStatus(): Promise<{ version: string }> {
    if (!this.etcdClient) throw new MigrationError('unreachable', 'etcd is not connected');
    return this.bounded('etcd', this.etcdClient.maintenance.status());
  }

  /** A Redis client on one of the manager's logical databases, opened on first use. */
  async redis(db: number): Promise<Redis> {
    const existing = this.redisClients.get(db);
    if (existing) return existing;
    const target = this.redisTarget;
    if (!target) throw new MigrationError('unreachable', 'Redis is not connected');
    const client = new Redis({
      host: target.host,
      port: target.port,
      password: target.password,
      db,
      lazyConnect: true,
      connectTimeout: this.timeoutMs,
      commandTimeout: this.timeoutMs,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    // The 'error' event carries the cause (WRONGPASS, ECONNREFUSED); connect() itself then only
    // says "Connection is closed", so the cause is what gets reported.
    let cause: Error | undefined;
    client.on('error', (error: Error) => (cause ??= error));
    try {
      await this.bounded('redis', client.connect());
    } catch (error) {
      client.disconnect();
      throw cause ?? error;
    }
    this.redisClients.set(db, client);
    return client;
  }

  async close(): Promise<void> {
    await Promise.allSettled([
      this.postgresClient?.end(),
      ...[...this.redisClients.values()].map((c) => c.quit().catch(() => c.disconnect())),
    ]);
    this.etcdClient?.close();
    this.redisClients.clear();
  }

  /** Rejects with a message naming the server when `promise` does not settle within the timeout. */
  async bounded<T>(server: Server, promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new MigrationError('unreachable', `${SERVER_NAMES[server]} did not answer within ${this.timeoutMs / 1000} s`)),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async attempt(server: Server, connect: () => Promise<string>): Promise<ConnectResult> {
    try {
      return { server, ok: true, detail: await connect() };
    } catch (error) {
      return { server, ok: false, detail: messageOf(error) };
    }
  }

  private async connectPostgres(): Promise<string> {
    const target = this.targets.postgres;
    if (!target) throw new Error(this.targets.missing.postgres ?? 'no PostgreSQL connection');
    const client = postgresClient(target, 'bai-migrate', this.timeoutMs);
    try {
      await this.bounded('postgres', client.connect());
      const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
      this.postgresClient = client;
      return `${describePostgres(target)}: PostgreSQL ${rows[0]?.server_version ?? '?'}`;
    } catch (error) {
      await client.end().catch(() => undefined);
      throw new Error(`${describePostgres(target)} is unreachable: ${messageOf(error)}`);
    }
  }

  private async connectEtcd(): Promise<string> {
    const target = this.targets.etcd;
    if (!target) throw new Error(this.targets.missing.etcd ?? 'no etcd connection');
    const client = new Etcd3({
      hosts: target.endpoints.map((e) => (e.includes('://') ? e : `http://${e}`)),
      auth: target.user ? { username: target.user, password: target.password ?? '' } : undefined,
      dialTimeout: this.timeoutMs,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + this.timeoutMs }),
    });
    try {
      const status = await this.bounded('etcd', client.maintenance.status());
      this.etcdClient = client;
      return `${describeEtcd(target)}: etcd ${status.version}, namespace "${target.namespace}"`;
    } catch (error) {
      client.close();
      throw new Error(`${describeEtcd(target)} is unreachable: ${messageOf(error)}`);
    }
  }

  private async connectRedis(): Promise<string> {
    this.redisTarget = this.targets.redis ?? (await this.redisFromEtcd());
    const client = await this.redis(REDIS_DB.stat).catch((error: unknown) => {
      throw new Error(`${describeRedis(this.redisTarget!)} is unreachable: ${messageOf(error)}`);
    });
    const info = await client.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
    return `${describeRedis(this.redisTarget)}: Redis ${version}`;
  }

  /** The manager's own source of truth for Redis: etcd config/redis/{addr,password,sentinel}. */
  private async redisFromEtcd(): Promise<RedisTarget> {
    const config = await this.etcdPrefix('config/redis/');
    const addr = config['config/redis/addr'];
    const sentinel = config['config/redis/sentinel'];
    if (sentinel && !addr) {
      throw new MigrationError('unsupported', `etcd config/redis/sentinel is set (${sentinel}); Redis Sentinel discovery is not supported yet: set redis-url to the current master`);
    }
    const target = redisFromUrl(addr ?? '127.0.0.1:6379', addr ? 'etcd config/redis/addr' : 'the manager default 127.0.0.1:6379 (etcd config/redis/addr is unset)', config['config/redis/password']);
    if (target.password) this.onSecret(target.password);
    return target;
  }
}

function describePostgres(target: PostgresTarget): string {
  return `PostgreSQL at ${target.host}:${target.port}/${target.database} (from ${target.source})`;
}

function describeEtcd(target: EtcdTarget): string {
  return `etcd at ${target.endpoints.join(', ')} (from ${target.source})`;
}

function describeRedis(target: RedisTarget): string {
  return `Redis at ${target.host}:${target.port} (from ${target.source})`;
}

/** The first key after every key that starts with `prefix`, for a range read. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/**
 * A client that reports a dropped connection through its next query instead of an unhandled
 * 'error' event. Queries get six connect timeouts: DDL and large upserts take longer than a ping.
 */
export function postgresClient(target: PostgresTarget, applicationName: string, timeoutMs: number): pg.Client {
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    password: target.password,
    application_name: applicationName,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs * 6,
  });
  client.on('error', () => undefined);
  return client;
}
