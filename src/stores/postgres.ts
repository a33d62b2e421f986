/**
 * PostgreSQL: the run's session (read-only for commands that only read), a fresh probe after a
 * failure, and an end that a frozen server cannot hold up.
 */
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { MigrationError, messageOf } from '../core/errors.js';
import { withTimeout } from '../core/time.js';
import type { PostgresTarget } from './connections.js';
import { bounded, type Connected } from './server.js';
import { tlsHint } from './tls.js';

/** Connects and reads the server's version; an authentication failure says which SQLSTATE and what to check. */
export async function connectPostgres(target: PostgresTarget, timeoutMs: number, readOnly: boolean): Promise<Connected<pg.Client>> {
  const client = postgresClient(target, readOnly ? 'bai-migrate (read-only)' : 'bai-migrate', timeoutMs, readOnly);
  try {
    await bounded('postgres', client.connect(), timeoutMs);
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return { client, detail: `${describePostgres(target)}: PostgreSQL ${rows[0]?.server_version ?? '?'}` };
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

/** Where the server is, as the connect phase names it. */
export function describePostgres(target: PostgresTarget): string {
  const tls = target.tls ? `, TLS ${target.tls.mode}${target.tls.cert ? ' with client certificate' : ''}` : '';
  return `PostgreSQL at ${target.host}:${target.port}/${target.database} (from ${target.source}${tls})`;
}

/** One bounded round trip on a session of its own: throws when the server cannot be reached now. */
export async function probePostgres(target: PostgresTarget, timeoutMs: number): Promise<void> {
  const client = postgresClient(target, 'bai-migrate (probe)', timeoutMs);
  try {
    await bounded('postgres', client.connect(), timeoutMs);
    await bounded('postgres', client.query('SELECT 1'), timeoutMs);
  } finally {
    await bounded('postgres', client.end(), timeoutMs).catch(() => undefined);
  }
}

/** Bounded: an idle session to a frozen server would wait for its goodbye forever. */
export function closePostgres(client: pg.Client, timeoutMs: number): Promise<void> {
  return endWithin(client, timeoutMs);
}

/** What PostgreSQL's authentication SQLSTATEs mean for the operator; undefined for any other failure. */
function postgresAuthFailure(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === '28P01') return 'SQLSTATE 28P01: the password is wrong, or there is no such user';
  if (code === '28000')
    return 'SQLSTATE 28000: the server does not let this user in: no pg_hba.conf entry matches this host, user, database and TLS setting, or the role does not exist or may not log in (NOLOGIN)';
  return undefined;
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
  return serializeQueries(client);
}

/**
 * Makes a client send its promise queries one after another. Checks and steps that run side by
 * side share the run's session; pg 8 deprecates queueing on a busy client (pg 9 will refuse it),
 * and a query's timeout should count from when it is sent, not from when it joined the queue.
 * Callback and submittable queries (cursors) pass through unchanged.
 */
export function serializeQueries<C extends pg.Client>(client: C): C {
  const send = client.query.bind(client) as (...args: unknown[]) => unknown;
  let previous: Promise<unknown> = Promise.resolve();
  const queued = (...args: unknown[]): unknown => {
    const first = args[0] as { submit?: unknown } | undefined;
    if (typeof args.at(-1) === 'function' || typeof first?.submit === 'function') return send(...args);
    const sent = previous.then(() => send(...args));
    previous = sent.catch(() => undefined);
    return sent;
  };
  client.query = queued as C['query'];
  return client;
}

/** Ends a session within `ms`; one to a frozen server (which never answers the goodbye) gets its socket destroyed. */
export async function endWithin(client: pg.Client, ms: number): Promise<void> {
  const ended = await withTimeout(
    client.end().then(
      () => true,
      () => true,
    ),
    ms,
    () => false,
  );
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
