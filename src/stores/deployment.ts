/**
 * Open connections to one Backend.AI deployment: PostgreSQL, etcd (scoped to the namespace) and
 * Redis (one client per logical DB, as the manager uses them). Every call is bounded by the
 * connect timeout, so an unreachable server ends the run with a message instead of a hang. Each
 * store's own connect, describe, probe and close are in postgres.ts, etcd.ts and redis.ts.
 */
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Etcd3, Namespace } from 'etcd3';
import { MigrationError, messageOf } from '../core/errors.js';
import type { RedisTarget, Targets } from './connections.js';
import { closeEtcd, connectEtcd, describeEtcd, etcdPrefix, etcdRoot, grpcCause, probeEtcd } from './etcd.js';
import { closePostgres, connectPostgres, describePostgres, probePostgres } from './postgres.js';
import { closeRedis, connectRedis, describeRedis, openRedis, probeRedis, REDIS_DB, redisFromEtcd, redisInstanceKey, redisOverridesFromEtcd } from './redis.js';
import { bounded, type ConnectResult, type Server } from './server.js';

export { SERVER_NAMES, type ConnectResult, type Server } from './server.js';
export { REDIS_DB } from './redis.js';
export { etcdNamespaces, grpcCause } from './etcd.js';
export { endWithin, postgresClient, postgresSsl } from './postgres.js';

/** One Redis instance the manager uses, with the roles on it. */
export interface RedisInstance {
  readonly target: RedisTarget;
  /** The instance config/redis (or redis-url) names. */
  readonly main: boolean;
  readonly description: string;
  readonly roles: Array<{ readonly role: string; readonly db: number }>;
  client(db: number): Promise<Redis>;
}

export class Deployment {
  private readonly redisClients = new Map<number, Redis>();
  private postgresClient?: pg.Client;
  private etcdClient?: Etcd3;
  private redisTarget?: RedisTarget;
  private redisOverrides?: Record<string, RedisTarget>;
  /** Clients on instances other than the main one (a role's override), by instance and database. */
  private readonly otherRedisClients = new Map<string, Redis>();
  /** Servers whose connection closed under a run: every later call on it fails, even once the server is back. */
  private readonly lost = new Set<Server>();

  constructor(
    readonly targets: Targets,
    private readonly timeoutMs: number,
    /** Told of secrets found on the way (etcd's Redis password), before anything can print them. */
    private readonly onSecret: (secret: string) => void,
    /** Commands that only read get a PostgreSQL session in which every transaction is READ ONLY. */
    private readonly readOnly = false,
  ) {}

  get namespace(): string | undefined {
    return this.targets.etcd?.namespace;
  }

  /** The Redis the run reached (redis-url, or etcd's config/redis/); undefined before Redis is connected. */
  get redisInUse(): RedisTarget | undefined {
    return this.redisTarget;
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
    return this.etcdClient.namespace(etcdRoot(this.namespace));
  }

  /** Every key under `prefix` (relative to the namespace) with its value, read in pages at one revision (etcdPrefix). */
  async etcdPrefix(prefix: string, { pageSize = 10_000, onEntry }: { pageSize?: number; onEntry?: (key: string, value: string) => void } = {}): Promise<Record<string, string>> {
    if (!this.etcdClient || !this.namespace) throw new MigrationError('unreachable', 'etcd is not connected');
    return etcdPrefix(this.etcdClient, this.namespace, prefix, pageSize, this.timeoutMs, onEntry);
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
    if (!this.redisTarget) throw new MigrationError('unreachable', 'Redis is not connected');
    const client = await openRedis(this.redisTarget, db, this.timeoutMs);
    this.keepRedis(db, client);
    return client;
  }

  /**
   * The instances `roles` are on (the manager's roles, each with its logical database): the main
   * one, and with `overrides` (a release that reads `redis.override_configs`) each role's own, as
   * etcd config/redis/override_configs/<role>/ sets it. One entry per instance, with its roles.
   */
  async redisInstances(roles: ReadonlyArray<{ readonly role: string; readonly db: number }>, overrides: boolean): Promise<RedisInstance[]> {
    if (!this.redisTarget) throw new MigrationError('unreachable', 'Redis is not connected');
    const set = overrides ? await this.redisOverrideTargets() : {};
    const instances = new Map<string, RedisInstance>();
    for (const { role, db } of roles) {
      const target = set[role] ?? this.redisTarget;
      const key = redisInstanceKey(target);
      const main = key === redisInstanceKey(this.redisTarget);
      const instance = instances.get(key) ?? { target, main, description: describeRedis(target), roles: [], client: (n: number) => this.redisOn(target, n) };
      instance.roles.push({ role, db });
      instances.set(key, instance);
    }
    return [...instances.values()].sort((a, b) => Number(b.main) - Number(a.main));
  }

  /** A client on `db` of the instance `role` is on (see redisInstances). */
  async redisOf(role: string, db: number, overrides: boolean): Promise<Redis> {
    const [instance] = await this.redisInstances([{ role, db }], overrides);
    return instance!.client(db);
  }

  /** The role instances etcd config/redis/override_configs names, read once; none without etcd (redis-url alone). */
  private async redisOverrideTargets(): Promise<Record<string, RedisTarget>> {
    this.redisOverrides ??= this.etcdClient && this.namespace ? redisOverridesFromEtcd(await this.etcdPrefix('config/redis/'), this.onSecret) : {};
    return this.redisOverrides;
  }

  private async redisOn(target: RedisTarget, db: number): Promise<Redis> {
    if (redisInstanceKey(target) === redisInstanceKey(this.redisTarget!)) return this.redis(db);
    const key = `${redisInstanceKey(target)} db${db}`;
    const existing = this.otherRedisClients.get(key);
    if (existing) return existing;
    const client = await openRedis(target, db, this.timeoutMs).catch((error: unknown) => {
      throw new MigrationError('unreachable', `${describeRedis(target)} is unreachable: ${messageOf(error)}`);
    });
    client.once('end', () => this.lost.add('redis'));
    this.otherRedisClients.set(key, client);
    return client;
  }

  private keepRedis(db: number, client: Redis): void {
    client.once('end', () => this.lost.add('redis'));
    this.redisClients.set(db, client);
  }

  /**
   * After a failure: which of `servers` cannot be reached now, each named with its address ("…
   * is unreachable: cause"), or whose connection was lost under the run. A failed call says what
   * broke (a closed socket, an alembic traceback, a timeout), not where; each server is asked
   * afresh with one bounded request, all at once, so this takes at most one connect timeout.
   */
  async unreachable(servers: readonly Server[]): Promise<string[]> {
    const found = await Promise.all(
      [...new Set(servers)].map(async (server) => {
        const name = this.describe(server);
        if (!name) return undefined;
        try {
          await this.probe(server);
        } catch (error) {
          return `${name} is unreachable: ${server === 'etcd' ? grpcCause(messageOf(error)) : messageOf(error)}`;
        }
        return this.lost.has(server) ? `the connection to ${name} was lost (the server restarted, or something between closed it)` : undefined;
      }),
    );
    return found.filter((f): f is string => f !== undefined);
  }

  /** Where a server is, as the connect phase names it; undefined when this run never connected to it. */
  private describe(server: Server): string | undefined {
    if (server === 'postgres') return this.postgresClient && this.targets.postgres ? describePostgres(this.targets.postgres) : undefined;
    if (server === 'etcd') return this.etcdClient && this.targets.etcd ? describeEtcd(this.targets.etcd) : undefined;
    return this.redisTarget ? describeRedis(this.redisTarget) : undefined;
  }

  private probe(server: Server): Promise<void> {
    if (server === 'etcd') return probeEtcd(this.targets.etcd!, this.timeoutMs);
    if (server === 'redis') return probeRedis(this.redisTarget!, this.timeoutMs);
    return probePostgres(this.targets.postgres!, this.timeoutMs);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.postgresClient && closePostgres(this.postgresClient, this.timeoutMs), ...[...this.redisClients.values(), ...this.otherRedisClients.values()].map(closeRedis)]);
    if (this.etcdClient) closeEtcd(this.etcdClient);
    this.redisClients.clear();
    this.otherRedisClients.clear();
  }

  /** Rejects with a message naming the server when `promise` does not settle within the connect timeout. */
  bounded<T>(server: Server, promise: Promise<T>): Promise<T> {
    return bounded(server, promise, this.timeoutMs);
  }

  private async attempt(server: Server, connect: () => Promise<string>): Promise<ConnectResult> {
    try {
      return { server, ok: true, detail: await connect() };
    } catch (error) {
      return { server, ok: false, detail: messageOf(error), code: error instanceof MigrationError ? error.code : 'unreachable' };
    }
  }

  private async connectPostgres(): Promise<string> {
    const target = this.targets.postgres;
    if (!target) throw new Error(this.targets.missing.postgres ?? 'no PostgreSQL connection');
    const { client, detail } = await connectPostgres(target, this.timeoutMs, this.readOnly);
    this.postgresClient = client;
    client.once('end', () => this.lost.add('postgres'));
    return detail;
  }

  private async connectEtcd(): Promise<string> {
    const target = this.targets.etcd;
    if (!target) throw new Error(this.targets.missing.etcd ?? 'no etcd connection');
    const { client, detail } = await connectEtcd(target, this.timeoutMs);
    this.etcdClient = client;
    return detail;
  }

  private async connectRedis(): Promise<string> {
    // Set before connecting: a later failure's report names this Redis even if it never answered.
    this.redisTarget = this.targets.redis ?? redisFromEtcd(await this.etcdPrefix('config/redis/'), this.onSecret);
    const { client, detail } = await connectRedis(this.redisTarget, this.timeoutMs);
    this.keepRedis(REDIS_DB.stat, client);
    return detail;
  }
}
