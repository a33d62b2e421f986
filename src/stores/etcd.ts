/**
 * etcd: a client on the deployment's endpoints, checked to hold the namespace's keys, paged range
 * reads under one revision, and a fresh probe after a failure.
 */
import { Etcd3, EtcdAuthenticationFailedError, EtcdPermissionDeniedError, type IRangeResponse } from 'etcd3';
import { MigrationError, messageOf } from '../core/errors.js';
import type { EtcdTarget } from './connections.js';
import { bounded, type Connected } from './server.js';
import { tlsHint } from './tls.js';

/** Where the manager keeps a namespace's keys. */
export function etcdRoot(namespace: string): string {
  return `/sorna/${namespace}/`;
}

/** Connects, reads the member's version and refuses a namespace that holds no key. */
export async function connectEtcd(target: EtcdTarget, timeoutMs: number): Promise<Connected<Etcd3>> {
  const client = newEtcdClient(target, timeoutMs);
  try {
    const status = await bounded('etcd', client.maintenance.status(), timeoutMs);
    await requireNamespace(client, target, timeoutMs);
    return { client, detail: `${describeEtcd(target)}: etcd ${status.version}, namespace "${target.namespace}"` };
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

/** Where the cluster is, as the connect phase names it. */
export function describeEtcd(target: EtcdTarget): string {
  const tls = target.tls ? `, TLS${target.tls.cert ? ' with client certificate' : ''}` : '';
  return `etcd at ${etcdAddresses(target)} (from ${target.source}${tls})`;
}

/** One bounded status call on a fresh client: the run's own stops calling a failed host for a while (its circuit breaker). */
export async function probeEtcd(target: EtcdTarget, timeoutMs: number): Promise<void> {
  const client = newEtcdClient(target, timeoutMs);
  try {
    await bounded('etcd', client.maintenance.status(), timeoutMs);
  } finally {
    client.close();
  }
}

export function closeEtcd(client: Etcd3): void {
  client.close();
}

/**
 * Every key under `prefix` (relative to the namespace) with its value, read in pages at one
 * revision: a single response must stay under gRPC's 4 MiB limit, which a large image tree
 * exceeds (10,000 images are about 6 MB). The next page is asked for before this one is decoded,
 * so etcd reads it while Node decodes (and `onEntry` looks at) this one.
 */
export async function etcdPrefix(
  client: Etcd3,
  namespace: string,
  prefix: string,
  pageSize: number,
  timeoutMs: number,
  onEntry?: (key: string, value: string) => void,
): Promise<Record<string, string>> {
  const root = etcdRoot(namespace);
  const start = Buffer.from(`${root}${prefix}`);
  const end = prefixEnd(start);
  const out: Record<string, string> = {};
  const fetchPage = (from: Buffer, revision?: string): Promise<IRangeResponse> => {
    let query = client.getAll().inRange({ start: from, end }).limit(pageSize);
    if (revision) query = query.revision(revision);
    const page = bounded('etcd', query.exec(), timeoutMs);
    // Awaited below; until then a failure must not count as unhandled.
    page.catch(() => undefined);
    return page;
  };
  let pending: Promise<IRangeResponse> | undefined = fetchPage(start);
  let revision: string | undefined;
  while (pending) {
    const page: IRangeResponse = await pending;
    revision ??= page.header.revision;
    const last = page.kvs[page.kvs.length - 1];
    pending = page.more && last ? fetchPage(Buffer.concat([last.key, Buffer.from([0])]), revision) : undefined;
    for (const kv of page.kvs) {
      const key = kv.key.toString().slice(root.length);
      const value = kv.value.toString();
      out[key] = value;
      onEntry?.(key, value);
    }
  }
  return out;
}

/**
 * A namespace with no key at all is a misspelt or wrong one, not a deployment: without this the
 * run would go on with etcd's defaults (Redis at 127.0.0.1:6379) and fail somewhere misleading.
 * One keys-only read of at most one key; the namespaces that do exist are listed, bounded.
 */
async function requireNamespace(client: Etcd3, target: EtcdTarget, timeoutMs: number): Promise<void> {
  const prefix = etcdRoot(target.namespace);
  let found: string[];
  try {
    found = await bounded('etcd', client.getAll().prefix(prefix).limit(1).keys(), timeoutMs);
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
    const { names, more } = await bounded('etcd', etcdNamespaces(client), timeoutMs);
    others = names.length === 0 ? 'none, /sorna/ is empty' : `${names.map((n) => `"${n}"`).join(', ')}${more ? ' and more' : ''}`;
  } catch (error) {
    others = `unknown (listing /sorna/ failed: ${grpcCause(messageOf(error))})`;
  }
  throw new MigrationError(
    'invalid-input',
    `etcd namespace "${target.namespace}" holds no keys (${prefix} is empty at ${etcdAddresses(target)}); namespaces that exist under /sorna/: ${others}. Set etcd-namespace (or [etcd] namespace of manager.toml) to the deployment's namespace`,
  );
}

function newEtcdClient(target: EtcdTarget, timeoutMs: number): Etcd3 {
  return new Etcd3({
    hosts: [...target.endpoints],
    // With several endpoints etcd3 retries a failed call on another one (3 attempts, each on a different host).
    credentials: target.tls?.ca ? { rootCertificate: target.tls.ca.pem, certChain: target.tls.cert?.pem, privateKey: target.tls.key?.pem } : undefined,
    auth: target.user ? { username: target.user, password: target.password ?? '' } : undefined,
    dialTimeout: timeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeoutMs }),
  });
}

function etcdAddresses(target: EtcdTarget): string {
  return target.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(', ');
}

function isEtcdAuthFailure(error: unknown): boolean {
  if (error instanceof EtcdAuthenticationFailedError) return true;
  return /authentication failed, invalid user ID or password|user name is empty|invalid auth token/.test(messageOf(error));
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

/**
 * gRPC wraps the cause of a failed connection in advice meant for other setups ("try running
 * Node.js with --use-system-ca", an empty "Resolution note"): keep only the cause.
 */
export function grpcCause(message: string): string {
  const cause = /No connection established\. Last error: (?:Error: )?(.*?)(?:; if the root CA is installed locally.*|\. Resolution note:.*)?$/s.exec(message);
  return cause ? `no connection (${cause[1]!.trim()})` : message;
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
