/**
 * The migration lock: a PostgreSQL *session* advisory lock on its own connection. A dead runner's
 * connection closes and the lock goes with it, so it never stays stuck (the Liquibase lock-row
 * problem), and it is not tied to a transaction, so alembic's DDL is free to commit. It needs a
 * direct connection: a transaction-pooling proxy (pgbouncer's pool_mode = transaction) gives the
 * server session to other clients between transactions, lock and all.
 */
import type pg from 'pg';
import { MigrationError, messageOf } from '../core/errors.js';
import type { PostgresTarget } from './connections.js';
import { sleep, withTimeout } from '../core/time.js';
import { endWithin, postgresClient } from './postgres.js';

/** Two 32-bit keys, "bai!" and "migr" in ASCII: the lock's name in pg_locks. */
export const LOCK_KEYS = [0x62616921, 0x6d696772] as const;
const POLL_MS = 250;

export interface MigrationLock {
  /**
   * Throws, naming the cause, unless this session still holds the lock: its connection may have
   * been closed (a NAT or proxy idle timeout, pg_terminate_backend, a server restart) and the lock
   * with it, while the run went on.
   */
  ensureHeld(): Promise<void>;
  /** Idempotent: releases the lock and closes its connection. */
  release(): Promise<void>;
}

/** Waits up to `timeoutSeconds` for the lock (migrate, snapshot). */
export async function acquireMigrationLock(target: PostgresTarget, timeoutSeconds: number, connectTimeoutMs: number): Promise<MigrationLock> {
  const session = await openSession(target, connectTimeoutMs);
  const deadline = Date.now() + timeoutSeconds * 1000;
  try {
    for (;;) {
      if (await session.tryLock()) break;
      if (Date.now() >= deadline) {
        throw new MigrationError('inconsistent-state', `another migration holds the bai-migrate lock: ${await describeHolder(session.client)}; waited ${timeoutSeconds} s (lock-timeout)`);
      }
      await sleep(POLL_MS);
    }
  } catch (error) {
    await session.client.end().catch(() => undefined);
    throw error;
  }
  return session.lock;
}

/** Tries once (clear-history): the lock, or who holds it. */
export async function tryMigrationLock(target: PostgresTarget, connectTimeoutMs: number): Promise<{ lock: MigrationLock } | { holder: string }> {
  const session = await openSession(target, connectTimeoutMs);
  try {
    if (await session.tryLock()) return { lock: session.lock };
    const holder = await describeHolder(session.client);
    await session.client.end().catch(() => undefined);
    return { holder };
  } catch (error) {
    await session.client.end().catch(() => undefined);
    throw error;
  }
}

/** The lock's own connection, with keepalive (postgresClient) and a record of why it closed. */
async function openSession(target: PostgresTarget, connectTimeoutMs: number) {
  const client = postgresClient(target, LOCK_APPLICATION_NAME, connectTimeoutMs);
  let closed: string | undefined;
  client.on('error', (error) => (closed ??= messageOf(error)));
  client.on('end', () => (closed ??= 'the connection ended'));
  await client.connect();
  let released = false;
  const lost = (cause: string) => new MigrationError('inconsistent-state', `the migration lock was lost (${cause}); no step ran after that; run migrate again`);
  const lock: MigrationLock = {
    async ensureHeld() {
      if (closed) throw lost(`its connection closed: ${closed}`);
      const answer = await withinMs(client.query(HELD_BY_THIS_SESSION, [...LOCK_KEYS]), connectTimeoutMs);
      if (answer === undefined) throw lost(`its connection did not answer within ${connectTimeoutMs / 1000} s`);
      if (answer instanceof Error) throw lost(`its connection closed: ${closed ?? answer.message}`);
      if (answer.rowCount !== 1) throw lost('its session no longer holds it');
    },
    // Closing the session releases the lock too, so a frozen server gets one connect timeout per
    // call here, not a query timeout: the run must end, and the lock goes with its connection.
    async release() {
      if (released) return;
      released = true;
      await withinMs(client.query('SELECT pg_advisory_unlock($1, $2)', [...LOCK_KEYS]), connectTimeoutMs);
      await endWithin(client, connectTimeoutMs);
    },
  };
  return {
    client,
    lock,
    async tryLock() {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [...LOCK_KEYS]);
      return rows[0]?.locked === true;
    },
  };
}

/** How the lock's session is named in pg_stat_activity. */
export const LOCK_APPLICATION_NAME = 'bai-migrate (migration lock)';

const HELD_BY_THIS_SESSION = `SELECT 1 FROM pg_locks
  WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND objsubid = 2 AND granted AND pid = pg_backend_pid()`;

async function describeHolder(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ pid: number; application_name: string; client_addr: string | null; held_seconds: number | null }>(
    `SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr,
            round(extract(epoch FROM now() - a.backend_start))::int AS held_seconds
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2 AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [...LOCK_KEYS],
  );
  const holder = rows[0];
  if (!holder) return 'a session that has just released it';
  return `PostgreSQL backend pid ${holder.pid} (application "${holder.application_name || 'unknown'}"${holder.client_addr ? ` from ${holder.client_addr}` : ''}), connected for ${holder.held_seconds ?? '?'} s`;
}

/** Waits for `promise` at most `ms`: its outcome (a rejection as an error object), or undefined if it did not settle in time. */
function withinMs<T>(promise: Promise<T>, ms: number): Promise<T | Error | undefined> {
  const outcome = promise.then(
    (value) => value,
    (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
  );
  return withTimeout(outcome, ms, () => undefined);
}
