/**
 * Redis: one client per logical database, as the manager uses them; its address from etcd
 * config/redis as the manager reads it (or redis-url), Sentinel included; a fresh probe after a
 * failure.
 */
import { Redis } from 'ioredis';
import { MigrationError, messageOf } from '../core/errors.js';
import { redisFromUrl, type HostPort, type RedisServer, type RedisTarget } from './connections.js';
import { bounded, type Connected } from './server.js';

/**
 * Backend.AI's Redis logical databases (backend.ai-manager@21.09.9:src/ai/backend/manager/defs.py;
 * 5 from 22.09, 6 and 7 from 25.13: releases/redis-roles.ts).
 */
export const REDIS_DB = { stat: 0, rateLimit: 1, live: 2, image: 3, stream: 4, streamLock: 5, containerLog: 6, bgtask: 7 } as const;

/** A client on one logical database, connected; a refused or failed connection throws its cause (WRONGPASS, ECONNREFUSED). */
export async function openRedis(target: RedisTarget, db: number, timeoutMs: number): Promise<Redis> {
  const client = new Redis({
    // Through Sentinel, ioredis asks the sentinels for the current master and checks its role.
    ...(target.kind === 'sentinel'
      ? { sentinels: target.sentinels.map((s) => ({ ...s })), name: target.serviceName, sentinelRetryStrategy: () => null }
      : { host: target.host, port: target.port, username: target.username }),
    password: target.password,
    ...(target.tls && {
      tls: { rejectUnauthorized: !target.tls.skipVerify, ...(target.kind === 'server' && { servername: target.host }) },
      ...(target.kind === 'sentinel' && { enableTLSForSentinelMode: true }),
    }),
    db,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // The 'error' event carries the cause (WRONGPASS, ECONNREFUSED); connect() itself then only
  // says "Connection is closed", so the cause is what gets reported.
  let cause: Error | undefined;
  client.on('error', (error: Error) => (cause ??= error));
  try {
    await bounded('redis', client.connect(), timeoutMs);
  } catch (error) {
    client.disconnect();
    throw cause ?? error;
  }
  return client;
}

/**
 * Connects on DB 0 and reads the server's version; a refused password says what it means and
 * where to fix it. The client is the one for DB 0 from then on.
 */
export async function connectRedis(target: RedisTarget, timeoutMs: number): Promise<Connected<Redis>> {
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
  const client = await openRedis(target, REDIS_DB.stat, timeoutMs).catch((error: unknown) => {
    const cause = refused(error);
    throw cause instanceof MigrationError ? cause : new Error(`${describeRedis(target)} is unreachable: ${messageOf(error)}`);
  });
  // A server that wants a password nobody gave answers the first command with NOAUTH.
  const info = await client.info('server').catch((error: unknown) => {
    client.disconnect();
    throw refused(error);
  });
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
  const detail =
    target.kind === 'sentinel' ? `${describeRedis(target)}: master ${client.stream.remoteAddress}:${client.stream.remotePort}, Redis ${version}` : `${describeRedis(target)}: Redis ${version}`;
  return { client, detail };
}

/** Where the server is, as the connect phase names it. */
export function describeRedis(target: RedisTarget): string {
  const tls = target.tls ? (target.tls.skipVerify ? ', TLS without certificate verification' : ', TLS') : '';
  if (target.kind === 'sentinel') {
    return `Redis via Sentinel ${target.sentinels.map((s) => `${s.host}:${s.port}`).join(', ')} (service "${target.serviceName}", from ${target.source}${tls})`;
  }
  return `Redis at ${target.host}:${target.port} (from ${target.source}${tls})`;
}

/** The same instance (and the same way to it), whatever config key named it. */
export function redisInstanceKey(target: RedisTarget): string {
  const where = target.kind === 'sentinel' ? `sentinel ${target.serviceName}@${target.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}` : `${target.host}:${target.port}`;
  return `${where} ${target.kind === 'server' ? (target.username ?? '') : ''} ${target.tls ? `tls${target.tls.skipVerify ? '-insecure' : ''}` : 'plain'}`;
}

/** One PING on a client of its own: throws when the server (or, through Sentinel, a master) cannot be reached now. */
export async function probeRedis(target: RedisTarget, timeoutMs: number): Promise<void> {
  const client = await openRedis(target, REDIS_DB.stat, timeoutMs);
  try {
    await client.ping();
  } finally {
    client.disconnect();
  }
}

/** QUIT, or a plain disconnect when the server cannot answer it. */
export async function closeRedis(client: Redis): Promise<void> {
  await client.quit().catch(() => client.disconnect());
}

/**
 * The manager's own source of truth for Redis: etcd config/redis/{addr,password,sentinel,
 * service_name}, here the keys under config/redis/ of the namespace. As in the manager
 * (ai.backend.common.config redis_config_iv), a sentinel list wins over addr, and then
 * service_name is mandatory: it has no default. From 25.13 `use_tls` and `tls_skip_verify` ask for
 * TLS (`tls`: whether the release reads them). `onSecret` hears of the password first.
 */
export function redisFromEtcd(config: Readonly<Record<string, string>>, onSecret: (secret: string) => void, tls = true): RedisTarget {
  return redisTargetFrom(config, 'config/redis/', onSecret, tls);
}

/**
 * The per-role instances of `redis.override_configs` (25.4+; kebab `override-configs` too) under
 * etcd config/redis/: role → its target. Each override is a whole Redis config of its own, as the
 * manager reads it (backend.ai@25.13.4 wheel ai/backend/common/types.py, ValkeyProfileTarget:
 * a role's override replaces the base target, password included).
 */
export function redisOverridesFromEtcd(config: Readonly<Record<string, string>>, onSecret: (secret: string) => void, tls = true): Record<string, RedisTarget> {
  const roles = new Map<string, string>();
  for (const key of Object.keys(config)) {
    const match = /^config\/redis\/(override_configs|override-configs)\/([^/]+)\//.exec(key);
    if (match) roles.set(match[2]!, `config/redis/${match[1]}/${match[2]}/`);
  }
  return Object.fromEntries([...roles].map(([role, prefix]) => [role, redisTargetFrom(config, prefix, onSecret, tls)]));
}

function redisTargetFrom(config: Readonly<Record<string, string>>, prefix: string, onSecret: (secret: string) => void, readTls: boolean): RedisTarget {
  const value = (...names: string[]) => names.map((name) => config[`${prefix}${name}`]).find((v) => v !== undefined);
  const addr = value('addr');
  const sentinel = value('sentinel');
  const password = value('password') || undefined;
  if (password) onSecret(password);
  const tls = readTls ? redisTls(prefix, value('use_tls', 'use-tls'), value('tls_skip_verify', 'tls-skip-verify')) : undefined;
  if (sentinel) {
    const serviceName = value('service_name', 'service-name');
    if (!serviceName) {
      throw new MigrationError(
        'inconsistent-state',
        `etcd ${prefix}sentinel is set (${sentinel}) but ${prefix}service_name is not; the manager needs both: set ${prefix}service_name to the Sentinel master name (as in "sentinel monitor <name> …"), or set redis-url to the current master`,
      );
    }
    return { kind: 'sentinel', sentinels: sentinelList(sentinel, prefix), serviceName, password, ...(tls && { tls }), source: `etcd ${prefix}sentinel` };
  }
  const server = redisFromUrl(addr ?? '127.0.0.1:6379', addr ? `etcd ${prefix}addr` : `the manager default 127.0.0.1:6379 (etcd ${prefix}addr is unset)`, password);
  if (server.password) onSecret(server.password);
  return tls ? { ...server, tls } : server;
}

/** use_tls and tls_skip_verify as pydantic reads a bool from etcd's text (true/false, 1/0, yes/no, on/off). */
function redisTls(prefix: string, useTls: string | undefined, skipVerify: string | undefined): RedisServer['tls'] {
  const bool = (name: string, text: string | undefined): boolean => {
    if (text === undefined || text === '') return false;
    const t = text.trim().toLowerCase();
    if (['true', '1', 'yes', 'on', 'y', 't'].includes(t)) return true;
    if (['false', '0', 'no', 'off', 'n', 'f'].includes(t)) return false;
    throw new MigrationError('inconsistent-state', `etcd ${prefix}${name} is "${text}", which the manager does not read as a boolean; accepted: true or false`);
  };
  const on = bool('use_tls', useTls);
  const skip = bool('tls_skip_verify', skipVerify);
  return on ? { skipVerify: skip } : undefined;
}

/**
 * The config file a Redis server runs from, as INFO server says (config_file:/etc/redis/redis.conf);
 * '' when it runs without one, which is when CONFIG REWRITE cannot persist anything.
 */
export function redisConfigFile(infoServer: string): string {
  return /^config_file:(.*)$/m.exec(infoServer)?.[1]?.trim() ?? '';
}

/** WRONGPASS (wrong password or user), NOAUTH (a password is needed), or a password for a server that has none. */
function isRedisAuthFailure(error: unknown): boolean {
  return /^(WRONGPASS|NOAUTH)\b|AUTH.*called without any password configured/.test(messageOf(error));
}

/** "host:port, host:port" as in config/redis/sentinel; Sentinel's own port is the default. */
function sentinelList(text: string, prefix = 'config/redis/'): HostPort[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const match = /^(\[[^\]]+\]|[^\s:/]+)(?::(\d{1,5}))?$/.exec(entry);
      if (!match) {
        throw new MigrationError('inconsistent-state', `etcd ${prefix}sentinel entry "${entry}" is not host:port; the manager expects a comma-separated host:port list`);
      }
      return { host: match[1]!.replace(/^\[|\]$/g, ''), port: match[2] ? Number(match[2]) : 26379 };
    });
}
