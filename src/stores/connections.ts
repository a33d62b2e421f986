/**
 * Where the deployment's servers are. Inputs win; otherwise manager.toml's [db] and [etcd] say,
 * as they do for the manager itself; Redis is found the way the manager finds it, in etcd
 * under config/redis (backend.ai-manager@22.03.3:src/ai/backend/manager/config.py, SharedConfig;
 * its CLI: backend.ai-manager@22.03.3:src/ai/backend/manager/cli/context.py).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { invalidInput } from '../core/errors.js';
import { decodeUrlPart } from '../core/uri.js';
import { isTable, parseToml, TomlError, type TomlTable, type TomlValue } from '../manager/toml.js';
import { secretsInUrl, type Options } from '../options/index.js';
import type { PemFile, TlsFiles } from '../options/tls-files.js';

/** libpq's sslmode values that bai-migrate honours; allow and prefer would silently fall back to plain text. */
export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface PostgresTls {
  /** require: encrypted, not verified; verify-ca: signed by the CA; verify-full: and the host name matches. */
  readonly mode: Exclude<SslMode, 'disable'>;
  readonly ca?: PemFile;
  readonly cert?: PemFile;
  readonly key?: PemFile;
}

export interface PostgresTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password?: string;
  /** Undefined: plain TCP. */
  readonly tls?: PostgresTls;
  /** Where the values came from, for messages: "postgres-url" or "manager.toml [db]". */
  readonly source: string;
}

export interface EtcdTarget {
  /** With a scheme: http://host:port, or https://host:port when etcd is reached over TLS. */
  readonly endpoints: readonly string[];
  readonly namespace: string;
  readonly user?: string;
  readonly password?: string;
  readonly tls?: TlsFiles;
  readonly source: string;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** One Redis server, or whichever server the sentinels name as the master of `serviceName`. */
export type RedisTarget = RedisServer | RedisSentinel;

/** TLS to Redis as the manager's `use_tls` asks (25.13+); `skipVerify`: its `tls_skip_verify`. */
export interface RedisTls {
  readonly skipVerify: boolean;
}

export interface RedisServer extends HostPort {
  readonly kind: 'server';
  /** An ACL user (Redis 6+); without it, the default user. */
  readonly username?: string;
  readonly password?: string;
  readonly tls?: RedisTls;
  readonly source: string;
}

export interface RedisSentinel {
  readonly kind: 'sentinel';
  readonly sentinels: readonly HostPort[];
  readonly serviceName: string;
  /** The master's (and replicas') password; the sentinels themselves are reached without one. */
  readonly password?: string;
  readonly tls?: RedisTls;
  readonly source: string;
}

export interface ManagerConfig {
  readonly path: string;
  readonly text: string;
  readonly table: TomlTable;
}

export interface Targets {
  readonly managerConfig?: ManagerConfig;
  readonly postgres?: PostgresTarget;
  readonly etcd?: EtcdTarget;
  /** Undefined when Redis must be looked up in etcd. */
  readonly redis?: RedisTarget;
  /** Everything that must never be printed. */
  readonly secrets: readonly string[];
  /** Why a server has no target, per server, when it has none. */
  readonly missing: Readonly<Partial<Record<'postgres' | 'etcd', string>>>;
}

/** The manager's own search order for manager.toml (ai.backend.common.config.find_config_file). */
export function managerConfigCandidates(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string[] {
  return [env.BACKEND_CONFIG_FILE, join(cwd, 'manager.toml'), join(homedir(), '.config/backend.ai/manager.toml'), '/etc/backend.ai/manager.toml'].filter((p): p is string => !!p);
}

export function loadManagerConfig(path: string): ManagerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw invalidInput(`manager-config "${path}" cannot be read (${code === 'ENOENT' ? 'no such file' : (code ?? 'error')}); accepted: the path of a readable manager.toml`);
  }
  try {
    return { path, text, table: parseToml(text) };
  } catch (error) {
    if (error instanceof TomlError) {
      throw invalidInput(`manager-config "${path}" is not valid TOML: ${error.message}`);
    }
    throw error;
  }
}

export function resolveTargets(options: Options, env: NodeJS.ProcessEnv = process.env): Targets {
  const configPath = options.managerConfig ?? managerConfigCandidates(env).find((p) => existsSync(p));
  const managerConfig = configPath ? loadManagerConfig(configPath) : undefined;
  const where = managerConfig ? `manager.toml (${managerConfig.path})` : 'manager.toml';
  const secrets: string[] = [];
  const missing: Partial<Record<'postgres' | 'etcd', string>> = {};

  let postgres: PostgresTarget | undefined;
  if (options.postgresUrl) {
    secrets.push(...secretsInUrl(options.postgresUrl));
    postgres = postgresFromUrl(options.postgresUrl, options.postgresTls);
  } else if (managerConfig && managerConfig.table.db !== undefined) {
    postgres = postgresFromConfig(section(managerConfig.table, 'db', where), where, options.postgresTls);
  } else {
    missing.postgres = managerConfig ? `${where} has no [db] section and postgres-url is not set` : 'no postgres-url and no manager.toml (set manager-config or postgres-url)';
  }
  if (postgres?.password) secrets.push(postgres.password);
  // A key's PEM text must never be printed either, whole or line by line.
  for (const key of [options.postgresTls?.key, options.etcdTls?.key]) {
    if (key) secrets.push(key.pem.toString(), ...pemBodyLines(key.pem));
  }

  const etcdSection = managerConfig?.table.etcd !== undefined ? section(managerConfig.table, 'etcd', where) : undefined;
  const namespace = options.etcdNamespace ?? (etcdSection ? str(etcdSection, 'namespace', `${where} [etcd]`) : undefined);
  const endpoints = options.etcdEndpoints.length > 0 ? options.etcdEndpoints : etcdSection ? [addr(etcdSection, `${where} [etcd]`, 2379)] : [];
  let etcd: EtcdTarget | undefined;
  if (endpoints.length > 0 && namespace) {
    const user = options.etcdUser ?? optionalStr(etcdSection, 'user', `${where} [etcd]`);
    const password = options.etcdPassword ?? optionalStr(etcdSection, 'password', `${where} [etcd]`);
    if (password) secrets.push(password);
    etcd = {
      endpoints: etcdUrls(endpoints, options.etcdTls),
      namespace,
      user: user || undefined,
      password: password || undefined,
      tls: options.etcdTls,
      source: options.etcdEndpoints.length > 0 ? 'etcd-endpoints' : `${where} [etcd]`,
    };
  } else {
    missing.etcd = endpoints.length === 0 ? 'no etcd-endpoints and no [etcd] addr in manager.toml' : 'no etcd-namespace and no [etcd] namespace in manager.toml';
  }

  let redis: RedisTarget | undefined;
  if (options.redisUrl) {
    redis = redisFromUrl(options.redisUrl, 'redis-url');
    secrets.push(...secretsInUrl(options.redisUrl));
  }
  return { managerConfig, postgres, etcd, redis, secrets: unique(secrets), missing };
}

export function postgresFromUrl(text: string, files?: TlsFiles): PostgresTarget {
  const url = new URL(text);
  const database = decodeUrlPart(url.pathname.replace(/^\//, ''), 'postgres-url', 'database name');
  if (!database) throw invalidInput('postgres-url names no database; accepted: postgresql://user:password@host:port/database');
  for (const param of ['sslrootcert', 'sslcert', 'sslkey']) {
    if (url.searchParams.has(param)) {
      throw invalidInput(`postgres-url ?${param}= is not read; accepted: the inputs postgres-ca, postgres-client-cert and postgres-client-key`);
    }
  }
  const sslmode = url.searchParams.get('sslmode') ?? undefined;
  if (sslmode !== undefined && !(SSL_MODES as readonly string[]).includes(sslmode)) {
    throw invalidInput(`postgres-url sslmode=${sslmode} is not accepted; accepted: ${SSL_MODES.join(', ')} (allow and prefer may fall back to plain text)`);
  }
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 5432,
    database,
    user: decodeUrlPart(url.username, 'postgres-url', 'user name') || 'postgres',
    password: url.password ? decodeUrlPart(url.password, 'postgres-url', 'password') : undefined,
    tls: postgresTls(sslmode as SslMode | undefined, files),
    source: 'postgres-url',
  };
}

/**
 * TLS for PostgreSQL from the URL's sslmode and the TLS inputs. A CA alone means verify-full; with
 * sslmode=require a CA still verifies the chain, as libpq does (verify-ca).
 */
function postgresTls(sslmode: SslMode | undefined, files: TlsFiles | undefined): PostgresTls | undefined {
  if (sslmode === 'disable') {
    if (files) throw invalidInput('postgres-url says sslmode=disable but postgres-ca/postgres-client-cert are set; accepted: one or the other');
    return undefined;
  }
  if (!sslmode && !files) return undefined;
  if (!files?.ca && (sslmode === 'verify-ca' || sslmode === 'verify-full')) {
    throw invalidInput(`postgres-url says sslmode=${sslmode}, which needs postgres-ca; accepted: postgres-ca set to the PEM file of the CA that signed the server's certificate`);
  }
  if (!files?.ca && !sslmode) {
    throw invalidInput('postgres-client-cert is set without postgres-ca; accepted: postgres-ca too (to verify the server), or ?sslmode=require in postgres-url (not verified)');
  }
  const mode = sslmode === 'require' && files?.ca ? 'verify-ca' : (sslmode ?? 'verify-full');
  return { mode, ca: files?.ca, cert: files?.cert, key: files?.key };
}

/** http:// endpoints, or https:// when etcd-ca is given; a scheme that contradicts etcd-ca is an error. */
function etcdUrls(endpoints: readonly string[], tls: TlsFiles | undefined): string[] {
  if (!tls) return endpoints.map((e) => (e.includes('://') ? e : `http://${e}`));
  if (!tls.ca) throw invalidInput("etcd-client-cert is set without etcd-ca; accepted: etcd-ca too, the PEM file of the CA that signed etcd's certificates");
  return endpoints.map((e) => {
    if (e.startsWith('http://')) throw invalidInput(`etcd-endpoints entry "${e}" says http:// but etcd-ca is set; accepted: host:port or https://host:port`);
    return e.includes('://') ? e : `https://${e}`;
  });
}

/** The base64 lines of a PEM file: a log that splits the text must not show even one of them. */
function pemBodyLines(pem: Buffer): string[] {
  return pem
    .toString()
    .split(/\r?\n/)
    .filter((line) => line.length >= 16 && !line.startsWith('-----'));
}

/** Parses "host:port" or redis://[user]:password@host:port as the manager stores them in etcd. */
export function redisFromUrl(text: string, source: string, password?: string): RedisServer {
  const url = new URL(text.includes('://') ? text : `redis://${text}`);
  const urlPassword = url.password ? decodeUrlPart(url.password, source, 'password') : undefined;
  return {
    kind: 'server',
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
    username: url.username ? decodeUrlPart(url.username, source, 'user name') : undefined,
    password: urlPassword ?? (password || undefined),
    // rediss:// is Redis over TLS, as redis-py and ioredis read it.
    ...(url.protocol === 'rediss:' && { tls: { skipVerify: false } }),
    source,
  };
}

function postgresFromConfig(db: TomlTable, where: string, files: TlsFiles | undefined): PostgresTarget {
  const label = `${where} [db]`;
  const type = optionalStr(db, 'type', label);
  if (type !== undefined && type !== 'postgresql') {
    throw invalidInput(`${label} type = "${type}" is not supported; accepted: "postgresql"`);
  }
  const [host, port] = addr(db, label, 5432).split(/:(?=\d+$)/);
  const password = optionalStr(db, 'password', label);
  return {
    host: host!,
    port: Number(port),
    database: str(db, 'name', label),
    user: str(db, 'user', label),
    password: password || undefined,
    tls: postgresTls(undefined, files),
    source: label,
  };
}

function section(table: TomlTable, name: string, where: string): TomlTable {
  const value = table[name];
  if (!isTable(value)) throw invalidInput(`${where}: [${name}] must be a table`);
  return value;
}

function str(table: TomlTable, key: string, label: string): string {
  const value = optionalStr(table, key, label);
  if (value === undefined || value === '') throw invalidInput(`${label} has no "${key}"; it is required`);
  return value;
}

function optionalStr(table: TomlTable | undefined, key: string, label: string): string | undefined {
  const value: TomlValue | undefined = table?.[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidInput(`${label} ${key} must be a string, e.g. ${key} = "…"`);
  return value;
}

/** addr = { host = "…", port = N } as in the manager's samples; "host:port" is accepted too. */
function addr(table: TomlTable, label: string, defaultPort: number): string {
  const value = table.addr;
  if (value === undefined) return `127.0.0.1:${defaultPort}`;
  if (typeof value === 'string' && /^[^\s:]+:\d+$/.test(value)) return value;
  if (isTable(value) && typeof value.host === 'string' && (value.port === undefined || Number.isInteger(value.port))) {
    return `${value.host}:${value.port ?? defaultPort}`;
  }
  throw invalidInput(`${label} addr must be { host = "…", port = N }; accepted: addr = { host = "127.0.0.1", port = ${defaultPort} }`);
}

function unique(values: string[]): string[] {
  return [...new Set(values.filter((v) => v !== ''))];
}
