/**
 * The inputs whose value is read by a check of their own, beyond their kind: each spec.ts entry names
 * its parser here (`parse`), and `Options` types the field by what the parser returns. Apart from
 * spec.ts so that it needs nothing from it (spec.ts imports these).
 */
import { invalidInput } from '../core/errors.js';
import { decodeUrlPart } from '../core/uri.js';

/** etcd-namespace's default: manager.toml's [etcd] namespace. */
export const FROM_MANAGER_CONFIG = 'from-manager-config';

const POSTGRES_PROTOCOLS = ['postgresql:', 'postgres:', 'postgresql+asyncpg:', 'postgresql+psycopg2:'];

export function parsePostgresUrl(value: string): string {
  return url('postgres-url', value, POSTGRES_PROTOCOLS);
}

export function parseRedisUrl(value: string): string {
  return url('redis-url', value, ['redis:']);
}

function url(name: string, value: string, protocols: string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    // The value may hold a password: never repeat it.
    throw invalidInput(`${name} is not a valid URL; accepted: ${protocols[0]}//user:password@host:port${name === 'postgres-url' ? '/database' : ''}`);
  }
  if (!protocols.includes(parsed.protocol) || parsed.hostname === '') {
    throw invalidInput(
      `${name} must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL with a host; accepted: ${protocols[0]}//user:password@host:port${name === 'postgres-url' ? '/database' : ''}`,
    );
  }
  if (name === 'redis-url' && !['', '/'].includes(parsed.pathname)) {
    // The path is not echoed: it is part of a secret input. Backend.AI keeps each kind of data in its own database.
    throw invalidInput(
      "redis-url has a path (a database number such as /2), which bai-migrate would ignore: it picks the manager's fixed database numbers itself; accepted: redis://user:password@host:port, without a path",
    );
  }
  // Refused here with every other input problem, not later when connecting.
  decodeUrlPart(parsed.username, name, 'user name');
  decodeUrlPart(parsed.password, name, 'password');
  if (name === 'postgres-url') decodeUrlPart(parsed.pathname.replace(/^\//, ''), name, 'database name');
  return value;
}

/**
 * etcd-namespace as given, undefined for manager.toml's (its default). Given empty is refused, not
 * taken as "not given": on GitHub an unset variable (${{ vars.X }}) gives an empty value, and
 * manager.toml's namespace may be another deployment's.
 */
export function parseNamespace(value: string): string | undefined {
  const text = value.trim();
  if (text === FROM_MANAGER_CONFIG) return undefined;
  const accepted = `accepted: letters, digits, ".", "_" and "-" (e.g. local), or ${FROM_MANAGER_CONFIG} (the default) for manager.toml's [etcd] namespace`;
  if (text === '') throw invalidInput(`etcd-namespace is empty (as an unset workflow variable gives it); ${accepted}`);
  if (!/^[A-Za-z0-9_.-]+$/.test(text)) throw invalidInput(`etcd-namespace "${text}" may hold only letters, digits, ".", "_" and "-"; ${accepted}`);
  return text;
}

export function parseEndpoints(value: string): string[] {
  const list = value.split(/[\s,]+/).filter((e) => e !== '');
  for (const endpoint of list) {
    if (!/^(https?:\/\/)?[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(endpoint)) {
      throw invalidInput(`etcd-endpoints entry "${endpoint}" is not host:port; accepted: host:port or http://host:port, separated by commas or newlines`);
    }
  }
  return list;
}
