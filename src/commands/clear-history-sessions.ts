/**
 * bai-migrate's own clear-history for the releases whose manager purges sessions (24.03.4 to
 * 26.7: src/releases/line-facts.ts, `purge: 'sessions'`; compared with the real manager per era). What the manager does
 * (backend.ai@24.03.4 and backend.ai@24.09.14:src/ai/backend/manager/cli/__main__.py,
 * backend.ai@25.19.2 and backend.ai@26.1.0 the same):
 *
 * - Redis first: the stat keys in DB 0 of every kernel whose terminated_at is before the cutoff
 *   (selected before anything is deleted, so also those of kernels whose session stays);
 * - the sessions whose terminated_at is before the cutoff, their kernels first (by session_id,
 *   whatever the kernel's own terminated_at), then the sessions, one autocommitted statement each;
 * - from 24.09.0 the error_logs whose created_at is before the cutoff.
 *
 * bai-migrate does the same in batches: each batch of sessions is one short transaction (its
 * sessions locked, their kernels deleted, then them), so no statement runs long and no table is
 * locked. Where the schema has a row that refers to such a session (or one of its kernels)
 * through a foreign key without ON DELETE (model-service routings: fk_routings_session_sessions),
 * the manager fails half-way (its kernels are gone, the session stays); bai-migrate leaves that
 * session and its kernels in place and names them. The foreign keys are read from the database's
 * own catalogue, so every table of every release that refers to sessions or kernels is covered.
 */
import type pg from 'pg';
import { MigrationError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ClearHistoryPolicy } from '../releases/line-facts.js';
import type { Finding } from '../steps/step.js';
import { REDIS_DB, type Deployment } from '../stores/deployment.js';
import { tableExists } from '../stores/schema.js';
import { quoteIdent } from '../stores/sql.js';
import { countStatKeysOfKernels, unlinkStatKeysOfKernels, type StatKeyScope } from './clear-history-store.js';

/** A foreign key onto sessions or kernels: one column of `table` referring to `target`.id. */
export interface Reference {
  readonly constraint: string;
  readonly table: string;
  readonly column: string;
  readonly target: 'sessions' | 'kernels';
  /** What PostgreSQL does to the referring rows when the target row is deleted. */
  readonly onDelete: 'no action' | 'restrict' | 'cascade' | 'set null' | 'set default';
}

const ON_DELETE: Record<string, Reference['onDelete']> = { a: 'no action', r: 'restrict', c: 'cascade', n: 'set null', d: 'set default' };

/** The foreign keys onto sessions and kernels in the database's schema. */
export async function referencesOfSessions(client: pg.Client): Promise<Reference[]> {
  const { rows } = await client.query<{ constraint: string; table: string; columns: string[]; target: 'sessions' | 'kernels'; deltype: string }>(
    `SELECT c.conname AS constraint, src.relname AS table, dst.relname AS target, c.confdeltype AS deltype,
            ARRAY(SELECT a.attname::text FROM unnest(c.conkey) AS k(n) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) AS columns
       FROM pg_constraint c
       JOIN pg_class src ON src.oid = c.conrelid
       JOIN pg_class dst ON dst.oid = c.confrelid
      WHERE c.contype = 'f' AND dst.relname IN ('sessions', 'kernels') AND dst.relnamespace = current_schema()::regnamespace
      ORDER BY src.relname, c.conname`,
  );
  return rows.map((r) => {
    if (r.columns.length !== 1) {
      throw new MigrationError(
        'unsupported',
        `clear-history: the foreign key ${r.constraint} of ${r.table} onto ${r.target} has ${r.columns.length} columns; bai-migrate knows single-column ones only; nothing was deleted`,
      );
    }
    return { constraint: r.constraint, table: r.table, column: r.columns[0]!, target: r.target, onDelete: ON_DELETE[r.deltype] ?? 'no action' };
  });
}

/** The references that stop a session's deletion: without ON DELETE, other than its own kernels'. */
export function holdingReferences(references: readonly Reference[]): Reference[] {
  return references.filter((r) => (r.onDelete === 'no action' || r.onDelete === 'restrict') && !(r.table === 'kernels' && r.column === 'session_id' && r.target === 'sessions'));
}

/** SQL true for a session `s` that no holding reference refers to (nor to one of its kernels). */
function freeOf(holders: readonly Reference[]): string {
  const clauses = holders.map((h) =>
    h.target === 'sessions'
      ? `NOT EXISTS (SELECT 1 FROM ${quoteIdent(h.table)} h WHERE h.${quoteIdent(h.column)} = s.id)`
      : `NOT EXISTS (SELECT 1 FROM kernels hk JOIN ${quoteIdent(h.table)} h ON h.${quoteIdent(h.column)} = hk.id WHERE hk.session_id = s.id)`,
  );
  return clauses.length > 0 ? clauses.join(' AND ') : 'TRUE';
}

export interface SessionEraCounts {
  readonly sessions: number;
  readonly kernels: number;
  readonly errorLogs: number | null;
  /** Sessions before the cutoff left in place, with their kernels, because a row still refers to them. */
  readonly heldSessions: number;
  readonly heldKernels: number;
}

export interface SessionEraResult extends SessionEraCounts {
  readonly redisKeys: number | null;
  /** The Redis part was not done (unreachable, or failed): a warning or failure is among the findings. */
  readonly redisFailed: boolean;
  readonly longestStatementMs: number;
  readonly longestBatchMs: number;
  readonly findings: Finding[];
}

export interface SessionEraOptions {
  readonly batchSize: number;
  readonly dryRun: boolean;
  readonly redisFailure: 'fail' | 'warn';
}

const PROGRESS_EVERY_MS = 2_000;
/** At most this many held sessions are named one by one in the report. */
const NAMED = 20;

async function count(client: pg.Client, sql: string, params: unknown[]): Promise<number> {
  const { rows } = await client.query<{ n: string }>(sql, params);
  return Number(rows[0]!.n);
}

async function countsOf(client: pg.Client, policy: ClearHistoryPolicy, cutoff: Date, holders: readonly Reference[]): Promise<SessionEraCounts> {
  const free = freeOf(holders);
  const sessions = await count(client, `SELECT count(*) AS n FROM sessions s WHERE s.terminated_at < $1 AND ${free}`, [cutoff]);
  const kernels = await count(client, `SELECT count(*) AS n FROM kernels k WHERE k.session_id IN (SELECT s.id FROM sessions s WHERE s.terminated_at < $1 AND ${free})`, [cutoff]);
  const heldSessions = await count(client, `SELECT count(*) AS n FROM sessions s WHERE s.terminated_at < $1 AND NOT (${free})`, [cutoff]);
  const heldKernels = await count(client, `SELECT count(*) AS n FROM kernels k WHERE k.session_id IN (SELECT s.id FROM sessions s WHERE s.terminated_at < $1 AND NOT (${free}))`, [cutoff]);
  const errorLogs =
    policy.deletes.includes('error_logs') && (await tableExists(client, 'error_logs')) ? await count(client, 'SELECT count(*) AS n FROM error_logs WHERE created_at < $1', [cutoff]) : null;
  return { sessions, kernels, errorLogs, heldSessions, heldKernels };
}

/** The held sessions, named: each with what refers to it (for routings, the model service's endpoint). */
async function describeHeld(client: pg.Client, cutoff: Date, holders: readonly Reference[], total: number): Promise<string> {
  const named: string[] = [];
  const seen = new Set<string>();
  const hasEndpoints = await tableExists(client, 'endpoints');
  for (const h of holders) {
    if (named.length >= NAMED) break;
    const viaRouting = h.table === 'routings' && h.target === 'sessions' && hasEndpoints;
    const sql = viaRouting
      ? `SELECT s.id::text AS id, string_agg(DISTINCT coalesce(e.name, '?') || ' ' || r.endpoint::text, ', ') AS what
           FROM sessions s JOIN routings r ON r.${quoteIdent(h.column)} = s.id LEFT JOIN endpoints e ON e.id = r.endpoint
          WHERE s.terminated_at < $1 GROUP BY s.id ORDER BY s.id LIMIT $2`
      : h.target === 'sessions'
        ? `SELECT s.id::text AS id, count(*)::text || ' row(s) of ${h.table}' AS what FROM sessions s JOIN ${quoteIdent(h.table)} h ON h.${quoteIdent(h.column)} = s.id
            WHERE s.terminated_at < $1 GROUP BY s.id ORDER BY s.id LIMIT $2`
        : `SELECT s.id::text AS id, count(*)::text || ' row(s) of ${h.table} on its kernels' AS what FROM sessions s JOIN kernels hk ON hk.session_id = s.id
             JOIN ${quoteIdent(h.table)} h ON h.${quoteIdent(h.column)} = hk.id WHERE s.terminated_at < $1 GROUP BY s.id ORDER BY s.id LIMIT $2`;
    const { rows } = await client.query<{ id: string; what: string }>(sql, [cutoff, NAMED]);
    for (const r of rows) {
      if (seen.has(r.id) || named.length >= NAMED) continue;
      seen.add(r.id);
      named.push(viaRouting ? `session ${r.id} (routed by endpoint ${r.what})` : `session ${r.id} (${r.what}, ${h.constraint})`);
    }
  }
  return `${named.join('; ')}${total > named.length ? `; and ${total - named.length} more` : ''}`;
}

function heldFinding(counts: SessionEraCounts, holders: readonly Reference[], named: string, dryRun: boolean): Finding {
  const by = [...new Set(holders.map((h) => `${h.table}.${h.column} (${h.constraint})`))].join(', ');
  return {
    status: 'warning',
    detail:
      `${dryRun ? 'would leave' : 'left'} ${counts.heldSessions} session(s) terminated before the cutoff, and their ${counts.heldKernels} kernel(s), in place: rows still refer to them through ${by}, ` +
      `on which this release's manager stops half-way (after deleting their kernels). ${named}. Delete those rows (for routings: the model service's endpoint) and a later run clears them`,
  };
}

/**
 * The era's deletion. `redisUp` says whether the Redis part runs (false: Redis is unreachable and
 * redis-failure: warn let the database part go on alone).
 */
export async function clearSessionHistory(deployment: Deployment, policy: ClearHistoryPolicy, cutoff: Date, options: SessionEraOptions, log: Logger, redisUp: boolean): Promise<SessionEraResult> {
  const pg = deployment.postgres;
  const references = await referencesOfSessions(pg);
  const holders = holdingReferences(references);
  const findings: Finding[] = [];
  const before = await countsOf(pg, policy, cutoff, holders);
  const named = before.heldSessions > 0 ? await describeHeld(pg, cutoff, holders, before.heldSessions) : '';
  const scope: StatKeyScope = { kind: 'terminated-before', cutoff };

  if (options.dryRun) {
    const redisKeys = redisUp ? await countStatKeysOfKernels(deployment, scope, options.batchSize) : null;
    const logs = before.errorLogs === null ? '' : `, ${before.errorLogs} error_logs row(s)`;
    const keys = `, and ${redisKeys ?? 'an unknown number of (Redis is unreachable)'} Redis stat key(s) of kernels terminated before the cutoff`;
    findings.push({ status: 'skipped', detail: `dry run: would delete ${before.sessions} session row(s) and their ${before.kernels} kernel row(s)${logs}${keys}` });
    if (before.heldSessions > 0) findings.push(heldFinding(before, holders, named, true));
    return { ...before, redisKeys, redisFailed: !redisUp, longestStatementMs: 0, longestBatchMs: 0, findings };
  }

  // Redis first, as the manager: the keys of every kernel terminated before the cutoff, read
  // while their rows are still there to say which keys they are.
  let redisKeys: number | null = null;
  let redisError: string | undefined = redisUp ? undefined : 'Redis is unreachable';
  if (redisUp) {
    try {
      redisKeys = await unlinkStatKeysOfKernels(deployment, scope, options.batchSize);
    } catch (error) {
      redisError = error instanceof Error ? error.message : String(error);
      log.warning(`Redis failed (${redisError}); deleting the database part, then reporting it`);
    }
  }

  let longest = 0;
  let longestBatch = 0;
  const timed = async <T>(run: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      return await run();
    } finally {
      longest = Math.max(longest, Date.now() - started);
    }
  };

  // Sessions oldest first, each batch one transaction: lock the batch's sessions (a routing made
  // meanwhile waits, and then finds its session gone), delete their kernels, then them.
  const free = freeOf(holders);
  let sessions = 0;
  let kernels = 0;
  let from: Date | undefined;
  const started = Date.now();
  let lastProgress = started;
  for (;;) {
    const batchStart = Date.now();
    await pg.query('BEGIN');
    let ids: string[];
    let latest: Date | undefined;
    try {
      const { rows } = await timed(() =>
        pg.query<{ id: string; terminated_at: Date }>(
          `SELECT s.id::text AS id, s.terminated_at FROM sessions s WHERE s.terminated_at < $1 AND s.terminated_at >= $2 AND ${free}
            ORDER BY s.terminated_at LIMIT $3 FOR UPDATE OF s`,
          [cutoff, from ?? '-infinity', options.batchSize],
        ),
      );
      ids = rows.map((r) => r.id);
      latest = rows.reduce<Date | undefined>((max, r) => (max === undefined || r.terminated_at > max ? r.terminated_at : max), undefined);
      if (ids.length > 0) {
        const k = await timed(() => pg.query('DELETE FROM kernels WHERE session_id = ANY($1::uuid[])', [ids]));
        const s = await timed(() => pg.query('DELETE FROM sessions WHERE id = ANY($1::uuid[])', [ids]));
        kernels += k.rowCount ?? 0;
        sessions += s.rowCount ?? 0;
      }
      await pg.query('COMMIT');
    } catch (error) {
      await pg.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    longestBatch = Math.max(longestBatch, Date.now() - batchStart);
    if (ids.length === 0) break;
    from = latest;
    if (Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = Date.now();
      log.info(`clear-history: ${sessions} of ${before.sessions} session rows deleted (${kernels} kernel rows), ${Math.round(sessions / ((lastProgress - started) / 1000))} sessions/s`);
    }
  }
  findings.push({
    status: sessions + kernels > 0 ? 'changed' : 'ok',
    detail: `deleted ${sessions} session row(s) terminated before the cutoff and their ${kernels} kernel row(s), in batches of ${options.batchSize} sessions (longest statement ${longest} ms, longest batch ${longestBatch} ms)`,
  });

  let errorLogs: number | null = null;
  if (before.errorLogs !== null) {
    const done = await deleteOlderRows(pg, 'error_logs', 'created_at', cutoff, options.batchSize);
    errorLogs = done.deleted;
    longest = Math.max(longest, done.longestMs);
    longestBatch = Math.max(longestBatch, done.longestMs);
    findings.push({
      status: errorLogs > 0 ? 'changed' : 'ok',
      detail: `deleted ${errorLogs} error_logs row(s) created before the cutoff, in batches of ${options.batchSize} (longest statement ${done.longestMs} ms)`,
    });
  }
  const after = await countsOf(pg, policy, cutoff, holders);
  if (before.heldSessions > 0 || after.heldSessions > 0) findings.push(heldFinding(after, holders, await describeHeld(pg, cutoff, holders, after.heldSessions), false));
  if (redisError) {
    findings.push({
      status: options.redisFailure === 'warn' ? 'warning' : 'failed',
      detail: `Redis part not done (${redisError}): stat keys of kernels terminated before the cutoff stay in Redis DB 0; a run with sweep-orphaned-stat-keys: true removes those whose kernel is gone once Redis is back`,
    });
  } else if (redisKeys !== null) {
    findings.push({
      status: redisKeys > 0 ? 'changed' : 'ok',
      detail: `removed ${redisKeys} stat key(s) of kernels terminated before the cutoff from Redis DB 0 (before the database part, as the manager)`,
    });
  }
  return {
    sessions,
    kernels,
    errorLogs,
    heldSessions: after.heldSessions,
    heldKernels: after.heldKernels,
    redisKeys,
    redisFailed: redisError !== undefined,
    longestStatementMs: longest,
    longestBatchMs: longestBatch,
    findings,
  };
}

/**
 * Stat keys a run leaves without their kernel: those of the kernels it deletes (of sessions
 * before the cutoff) whose own terminated_at is not before it, which the manager's Redis part
 * does not select. What sweep-orphaned-stat-keys then removes besides the orphans already there.
 */
export async function countKeysOrphanedByRun(deployment: Deployment, cutoff: Date, batchSize: number): Promise<number> {
  const pg = deployment.postgres;
  const free = freeOf(holdingReferences(await referencesOfSessions(pg)));
  const redis = await deployment.redis(REDIS_DB.stat);
  let count = 0;
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const { rows } = await pg.query<{ id: string }>(
      `SELECT k.id::text AS id FROM kernels k WHERE k.id > $2 AND NOT coalesce(k.terminated_at < $1, false)
          AND k.session_id IN (SELECT s.id FROM sessions s WHERE s.terminated_at < $1 AND ${free}) ORDER BY k.id LIMIT $3`,
      [cutoff, after, batchSize],
    );
    if (rows.length === 0) return count;
    count += await redis.exists(...rows.map((r) => r.id));
    after = rows[rows.length - 1]!.id;
  }
}

/**
 * Rows of `table` whose `column` is before the cutoff, oldest first, `batchSize` per statement,
 * each batch starting where the last ended (the index on `column` never wades through deleted entries).
 */
export async function deleteOlderRows(client: pg.Client, table: string, column: string, cutoff: Date, batchSize: number): Promise<{ deleted: number; longestMs: number }> {
  let deleted = 0;
  let longestMs = 0;
  let from: Date | undefined;
  const t = quoteIdent(table);
  const c = quoteIdent(column);
  for (;;) {
    const started = Date.now();
    const { rows } = await client.query<{ at: Date }>(`DELETE FROM ${t} WHERE ctid = ANY (ARRAY (SELECT ctid FROM ${t} WHERE ${c} < $1 AND ${c} >= $2 ORDER BY ${c} LIMIT $3)) RETURNING ${c} AS at`, [
      cutoff,
      from ?? '-infinity',
      batchSize,
    ]);
    longestMs = Math.max(longestMs, Date.now() - started);
    if (rows.length === 0) return { deleted, longestMs };
    deleted += rows.length;
    from = rows.reduce((max, r) => (r.at > max ? r.at : max), rows[0]!.at);
  }
}
