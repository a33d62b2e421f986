/**
 * The migration lock: a PostgreSQL *session* advisory lock on its own connection. A dead runner's
 * connection closes and the lock goes with it, so it never stays stuck (the Liquibase lock-row
 * problem), and it is not tied to a transaction, so alembic's DDL is free to commit.
 */
import type pg from 'pg';
import { MigrationError } from './errors.js';
import type { PostgresTarget } from './connections.js';
import { postgresClient } from './deployment.js';

/** Two 32-bit keys, "bai!" and "migr" in ASCII: the lock's name in pg_locks. */
export const LOCK_KEYS = [0x62616921, 0x6d696772] as const;
const POLL_MS = 250;

export interface MigrationLock {
  release(): Promise<void>;
}

export async function acquireMigrationLock(target: PostgresTarget, timeoutSeconds: number, connectTimeoutMs: number): Promise<MigrationLock> {
  const client = postgresClient(target, 'bai-migrate (migration lock)', connectTimeoutMs);
  await client.connect();
  const deadline = Date.now() + timeoutSeconds * 1000;
  try {
    for (;;) {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [...LOCK_KEYS]);
      if (rows[0]?.locked) break;
      if (Date.now() >= deadline) {
        throw new MigrationError('inconsistent-state', `another migration holds the bai-migrate lock: ${await describeHolder(client)}; waited ${timeoutSeconds} s (lock-timeout)`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return {
    // Closing the session releases the lock too, so a frozen server gets one connect timeout per
    // call here, not a query timeout: the run must end, and the lock goes with its connection.
    async release() {
      await withinMs(client.query('SELECT pg_advisory_unlock($1, $2)', [...LOCK_KEYS]), connectTimeoutMs);
      if (!(await withinMs(client.end(), connectTimeoutMs))) {
        // A socket left open to a frozen server would keep the process alive after the run.
        (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      }
    },
  };
}

async function describeHolder(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ pid: number; application_name: string; client_addr: string | null; held_seconds: number | null }>(
    `SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr,
            round(extract(epoch FROM now() - a.backend_start))::int AS held_seconds
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2 AND l.granted`,
    [...LOCK_KEYS],
  );
  const holder = rows[0];
  if (!holder) return 'a session that has just released it';
  return `PostgreSQL backend pid ${holder.pid} (application "${holder.application_name || 'unknown'}"${holder.client_addr ? ` from ${holder.client_addr}` : ''}), connected for ${holder.held_seconds ?? '?'} s`;
}

/** Waits for `promise` at most `ms`: true if it settled in time (its outcome no longer matters). */
async function withinMs(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}
