/**
 * Open connections to one Backend.AI deployment: PostgreSQL, etcd (scoped to the namespace) and
 * Redis (one client per logical DB, as the manager uses them). Every call is bounded by the
 * connect timeout, so an unreachable server ends the run with a message instead of a hang.
 */
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { Redis } from 'ioredis';
import { Etcd3, EtcdAuthenticationFailedError, EtcdPermissionDeniedError, type Namespace } from 'etcd3';
import { MigrationError, messageOf, type ErrorCode } from '../core/errors.js';
import { redisFromUrl, type EtcdTarget, type HostPort, type PostgresTarget, type RedisTarget, type Targets } from './connections.js';
import { isCertificateFailure } from './tls.js';

export type Server = 'postgres' | 'redis' | 'etcd';

export const SERVER_NAMES: Record<Server, string> = { postgres: 'PostgreSQL', redis: 'Redis', etcd: 'etcd' };

/** Backend.AI's Redis logical databases (reference §3.1). */
export const REDIS_DB = { stat: 0, rateLimit: 1, live: 2, image: 3, stream: 4 } as const;

export interface ConnectResult {
  readonly server: Server;
  readonly ok: boolean;
  readonly detail: string;
  /** Why it failed, as the run's error code: unreachable, authentication-failed, invalid-input (an empty etcd namespace); none when not tried. */
  readonly code?: ErrorCode;
}

export class Deployment {
  private readonly redisClients = new Map<number, Redis>();
  private postgresClient?: pg.Client;
  private etcdClient?: Etcd3;
  private redisTarget?: RedisTarget;
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
    const client = await this.openRedis(db);
    client.once('end', () => this.lost.add('redis'));
    this.redisClients.set(db, client);
    return client;
  }

  private async openRedis(db: number): Promise<Redis> {
    const target = this.redisTarget;
    if (!target) throw new MigrationError('unreachable', 'Redis is not connected');
    const client = new Redis({
      // Through Sentinel, ioredis asks the sentinels for the current master and checks its role.
      ...(target.kind === 'sentinel'
        ? { sentinels: target.sentinels.map((s) => ({ ...s })), name: target.serviceName, sentinelRetryStrategy: () => null }
        : { host: target.host, port: target.port, username: target.username }),
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
    return client;
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

  private async probe(server: Server): Promise<void> {
    if (server === 'etcd') {
      // A fresh client: the run's own stops calling a failed host for a while (its circuit breaker).
      const client = this.newEtcdClient(this.targets.etcd!);
      try {
        await this.bounded('etcd', client.maintenance.status());
      } finally {
        client.close();
      }
    } else if (server === 'redis') {
      const client = await this.openRedis(REDIS_DB.stat);
      try {
        await client.ping();
      } finally {
        client.disconnect();
      }
    } else {
      const client = postgresClient(this.targets.postgres!, 'bai-migrate (probe)', this.timeoutMs);
      try {
        await this.bounded('postgres', client.connect());
        await this.bounded('postgres', client.query('SELECT 1'));
      } finally {
        await this.bounded('postgres', client.end()).catch(() => undefined);
      }
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([
      // Bounded: an idle session to a frozen server would wait for its goodbye forever.
      this.postgresClient && endWithin(this.postgresClient, this.timeoutMs),
      ...[...this.redisClients.values()].map((c) => c.quit().catch(() => c.disconnect())),
    ]);
    this.etcdClient?.close();
    this.redisClients.clear();
  }

  /** Rejects with a message naming the server when `promise` does not settle within the timeout. */
  async bounded<T>(server: Server, promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new MigrationError('unreachable', `${SERVER_NAMES[server]} did not answer within ${this.timeoutMs / 1000} s`)), this.timeoutMs);
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
      return { server, ok: false, detail: messageOf(error), code: error instanceof MigrationError ? error.code : 'unreachable' };
    }
  }

  private async connectPostgres(): Promise<string> {
    const target = this.targets.postgres;
    if (!target) throw new Error(this.targets.missing.postgres ?? 'no PostgreSQL connection');
    const client = postgresClient(target, this.readOnly ? 'bai-migrate (read-only)' : 'bai-migrate', this.timeoutMs, this.readOnly);
    try {
      await this.bounded('postgres', client.connect());
      const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
      this.postgresClient = client;
      client.once('end', () => this.lost.add('postgres'));
      return `${describePostgres(target)}: PostgreSQL ${rows[0]?.server_version ?? '?'}`;
    } catch (error) {
      await client.end().catch(() => undefined);
      const refused = postgresAuthFailure(error);
      if (refused) {
        throw new MigrationError(
          'authentication-failed',
          `authentication failed for user "${target.user}" at ${target.host}:${target.port}/${target.database} (PostgreSQL, from ${target.source}): ${messageOf(error)} (${refused}); check the user and password in ${target.source}`,
        );
      }
      throw new Error(`${describePostgres(target)} is unreachable: ${messageOf(error)}${tlsHint(error, 'postgres-ca', target.tls?.ca?.path)}`, { cause: error });
    }
  }

  private async connectEtcd(): Promise<string> {
    const target = this.targets.etcd;
    if (!target) throw new Error(this.targets.missing.etcd ?? 'no etcd connection');
    const client = this.newEtcdClient(target);
    try {
      const status = await this.bounded('etcd', client.maintenance.status());
      await this.requireNamespace(client, target);
      this.etcdClient = client;
      return `${describeEtcd(target)}: etcd ${status.version}, namespace "${target.namespace}"`;
    } catch (error) {
      client.close();
      if (error instanceof MigrationError && error.code !== 'unreachable') throw error;
      if (isEtcdAuthFailure(error)) {
        const who = target.user ? `for user "${target.user}" ` : '';
        throw new MigrationError(
          'authentication-failed',
          `authentication failed ${who}at ${etcdAddresses(target)} (etcd, from ${target.source}): ${grpcCause(messageOf(error))}; check etcd-user and etcd-password (or [etcd] user and password of manager.toml)`,
        );
      }
      throw new Error(`${describeEtcd(target)} is unreachable: ${grpcCause(messageOf(error))}${tlsHint(error, 'etcd-ca', target.tls?.ca?.path)}`, { cause: error });
    }
  }

  /**
   * A namespace with no key at all is a misspelt or wrong one, not a deployment: without this the
   * run would go on with etcd's defaults (Redis at 127.0.0.1:6379) and fail somewhere misleading.
   * One keys-only read of at most one key; the namespaces that do exist are listed, bounded.
   */
  private async requireNamespace(client: Etcd3, target: EtcdTarget): Promise<void> {
    const prefix = `/sorna/${target.namespace}/`;
    let found: string[];
    try {
      found = await this.bounded('etcd', client.getAll().prefix(prefix).limit(1).keys());
    } catch (error) {
      if (error instanceof EtcdPermissionDeniedError) {
        throw new MigrationError(
          'authentication-failed',
          `etcd user "${target.user ?? ''}" may not read ${prefix} at ${etcdAddresses(target)} (from ${target.source}): ${messageOf(error)}; give it a role that may read and write ${prefix}`,
        );
      }
      throw error;
    }
    if (found.length > 0) return;
    let others: string;
    try {
      const { names, more } = await this.bounded('etcd', etcdNamespaces(client));
      others = names.length === 0 ? 'none, /sorna/ is empty' : `${names.map((n) => `"${n}"`).join(', ')}${more ? ' and more' : ''}`;
    } catch (error) {
      others = `unknown (listing /sorna/ failed: ${grpcCause(messageOf(error))})`;
    }
    throw new MigrationError(
      'invalid-input',
      `etcd namespace "${target.namespace}" holds no keys (${prefix} is empty at ${etcdAddresses(target)}); namespaces that exist under /sorna/: ${others}. Set etcd-namespace (or [etcd] namespace of manager.toml) to the deployment's namespace`,
    );
  }

  private newEtcdClient(target: EtcdTarget): Etcd3 {
    return new Etcd3({
      hosts: [...target.endpoints],
      // With several endpoints etcd3 retries a failed call on another one (3 attempts, each on a different host).
      credentials: target.tls?.ca ? { rootCertificate: target.tls.ca.pem, certChain: target.tls.cert?.pem, privateKey: target.tls.key?.pem } : undefined,
      auth: target.user ? { username: target.user, password: target.password ?? '' } : undefined,
      dialTimeout: this.timeoutMs,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + this.timeoutMs }),
    });
  }

  private async connectRedis(): Promise<string> {
    this.redisTarget = this.targets.redis ?? (await this.redisFromEtcd());
    const target = this.redisTarget;
    const refused = (error: unknown) => {
      if (!isRedisAuthFailure(error)) return error;
      const where =
        target.kind === 'sentinel'
          ? `the master of service "${target.serviceName}" via Sentinel ${target.sentinels.map((s) => `${s.host}:${s.port}`).join(', ')} (Redis, from ${target.source})`
          : `${target.host}:${target.port} (Redis, from ${target.source})`;
      const password = target.source === 'redis-url' ? 'the password in redis-url' : 'etcd config/redis/password (or set redis-url)';
      const meaning = /^NOAUTH/.test(messageOf(error))
        ? 'Redis needs a password, and none was given'
        : /^WRONGPASS/.test(messageOf(error))
          ? 'the password is wrong'
          : 'Redis has no password, but one was given';
      return new MigrationError('authentication-failed', `authentication failed at ${where}: ${messageOf(error).trim()} (${meaning}); check ${password}`);
    };
    const client = await this.redis(REDIS_DB.stat).catch((error: unknown) => {
      const cause = refused(error);
      throw cause instanceof MigrationError ? cause : new Error(`${describeRedis(target)} is unreachable: ${messageOf(error)}`);
    });
    // A server that wants a password nobody gave answers the first command with NOAUTH.
    const info = await client.info('server').catch((error: unknown) => {
      throw refused(error);
    });
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
    if (target.kind === 'sentinel') {
      return `${describeRedis(target)}: master ${client.stream.remoteAddress}:${client.stream.remotePort}, Redis ${version}`;
    }
    return `${describeRedis(target)}: Redis ${version}`;
  }

  /**
   * The manager's own source of truth for Redis: etcd config/redis/{addr,password,sentinel,
   * service_name}. As in the manager (ai.backend.common.config redis_config_iv), a sentinel list
   * wins over addr, and then service_name is mandatory: it has no default.
   */
  private async redisFromEtcd(): Promise<RedisTarget> {
    const config = await this.etcdPrefix('config/redis/');
    const addr = config['config/redis/addr'];
    const sentinel = config['config/redis/sentinel'];
    const password = config['config/redis/password'] || undefined;
    if (password) this.onSecret(password);
    if (sentinel) {
      const serviceName = config['config/redis/service_name'];
      if (!serviceName) {
        throw new MigrationError(
          'inconsistent-state',
          `etcd config/redis/sentinel is set (${sentinel}) but config/redis/service_name is not; the manager needs both: set config/redis/service_name to the Sentinel master name (as in "sentinel monitor <name> …"), or set redis-url to the current master`,
        );
      }
      return { kind: 'sentinel', sentinels: sentinelList(sentinel), serviceName, password, source: 'etcd config/redis/sentinel' };
    }
    const server = redisFromUrl(addr ?? '127.0.0.1:6379', addr ? 'etcd config/redis/addr' : 'the manager default 127.0.0.1:6379 (etcd config/redis/addr is unset)', password);
    if (server.password) this.onSecret(server.password);
    return server;
  }
}

function describePostgres(target: PostgresTarget): string {
  const tls = target.tls ? `, TLS ${target.tls.mode}${target.tls.cert ? ' with client certificate' : ''}` : '';
  return `PostgreSQL at ${target.host}:${target.port}/${target.database} (from ${target.source}${tls})`;
}

function describeEtcd(target: EtcdTarget): string {
  const tls = target.tls ? `, TLS${target.tls.cert ? ' with client certificate' : ''}` : '';
  return `etcd at ${target.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(', ')} (from ${target.source}${tls})`;
}

function etcdAddresses(target: EtcdTarget): string {
  return target.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(', ');
}

/** What PostgreSQL's authentication SQLSTATEs mean for the operator; undefined for any other failure. */
function postgresAuthFailure(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === '28P01') return 'SQLSTATE 28P01: the password is wrong, or there is no such user';
  if (code === '28000')
    return 'SQLSTATE 28000: the server does not let this user in: no pg_hba.conf entry matches this host, user, database and TLS setting, or the role does not exist or may not log in (NOLOGIN)';
  return undefined;
}

function isEtcdAuthFailure(error: unknown): boolean {
  if (error instanceof EtcdAuthenticationFailedError) return true;
  return /authentication failed, invalid user ID or password|user name is empty|invalid auth token/.test(messageOf(error));
}

/** WRONGPASS (wrong password or user), NOAUTH (a password is needed), or a password for a server that has none. */
function isRedisAuthFailure(error: unknown): boolean {
  return /^(WRONGPASS|NOAUTH)\b|AUTH.*called without any password configured/.test(messageOf(error));
}

/**
 * The namespaces under /sorna/, by skipping from one to the next: each read returns one key
 * (keys only), so a large deployment costs `max` small requests, not a read of everything.
 */
export async function etcdNamespaces(client: Etcd3, max = 20): Promise<{ names: string[]; more: boolean }> {
  const root = '/sorna/';
  const end = prefixEnd(Buffer.from(root));
  const names: string[] = [];
  let from: Buffer = Buffer.from(root);
  for (let reads = 0; reads < max; reads++) {
    const [key] = await client.getAll().inRange({ start: from, end }).limit(1).keys();
    if (key === undefined) return { names, more: false };
    const rest = key.slice(root.length);
    const slash = rest.indexOf('/');
    if (slash < 0) {
      // A key right under /sorna/ is no namespace; go on after it.
      from = Buffer.concat([Buffer.from(key), Buffer.from([0])]);
      continue;
    }
    const name = rest.slice(0, slash);
    names.push(name);
    from = prefixEnd(Buffer.from(`${root}${name}/`));
  }
  const [next] = await client.getAll().inRange({ start: from, end }).limit(1).keys();
  return { names, more: next !== undefined };
}

function describeRedis(target: RedisTarget): string {
  if (target.kind === 'sentinel') {
    return `Redis via Sentinel ${target.sentinels.map((s) => `${s.host}:${s.port}`).join(', ')} (service "${target.serviceName}", from ${target.source})`;
  }
  return `Redis at ${target.host}:${target.port} (from ${target.source})`;
}

/** "host:port, host:port" as in config/redis/sentinel; Sentinel's own port is the default. */
function sentinelList(text: string): HostPort[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const match = /^(\[[^\]]+\]|[^\s:/]+)(?::(\d{1,5}))?$/.exec(entry);
      if (!match) {
        throw new MigrationError('inconsistent-state', `etcd config/redis/sentinel entry "${entry}" is not host:port; the manager expects a comma-separated host:port list`);
      }
      return { host: match[1]!.replace(/^\[|\]$/g, ''), port: match[2] ? Number(match[2]) : 26379 };
    });
}

/**
 * gRPC wraps the cause of a failed connection in advice meant for other setups ("try running
 * Node.js with --use-system-ca", an empty "Resolution note"): keep only the cause.
 */
export function grpcCause(message: string): string {
  const cause = /No connection established\. Last error: (?:Error: )?(.*?)(?:; if the root CA is installed locally.*|\. Resolution note:.*)?$/s.exec(message);
  return cause ? `no connection (${cause[1]!.trim()})` : message;
}

/** A certificate that does not verify gets a hint naming the input that holds the CA. */
function tlsHint(error: unknown, caInput: string, ca: string | undefined): string {
  if (!isCertificateFailure(error)) return '';
  return ca ? ` (the server's certificate does not verify against ${caInput} ${ca})` : ` (the server's certificate does not verify: set ${caInput})`;
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
export function postgresClient(target: PostgresTarget, applicationName: string, timeoutMs: number, readOnly = false): pg.Client {
  const client = new pg.Client({
    // Set at connection start, so no statement of the session can write, whatever a step does.
    ...(readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    password: target.password,
    ssl: target.tls ? postgresSsl(target.tls) : false,
    application_name: applicationName,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs * 6,
    // A session that idles (the migration lock's, the run's while alembic works) must not be dropped by a NAT or proxy idle timeout.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  client.on('error', () => undefined);
  return client;
}

/** Ends a session within `ms`; one to a frozen server (which never answers the goodbye) gets its socket destroyed. */
export async function endWithin(client: pg.Client, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    client.end().then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  // A socket left open to a frozen server would keep the process alive after the run.
  if (!ended) (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/** node-postgres' TLS options for libpq's sslmode: require encrypts only, verify-ca skips the host name. */
export function postgresSsl(tls: NonNullable<PostgresTarget['tls']>): ConnectionOptions {
  return {
    ca: tls.ca?.pem,
    cert: tls.cert?.pem,
    key: tls.key?.pem,
    rejectUnauthorized: tls.mode !== 'require',
    ...(tls.mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
  };
}
