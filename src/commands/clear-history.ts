/**
 * `backend.ai mgr clear-history -r {retention}`, done by bai-migrate itself so that a nightly job
 * needs only the database connections. What it deletes is the era of the database's release in
 * src/releases/line-facts.ts (CLEAR_HISTORY_POLICIES). Before 24.03.4 (backend.ai-manager@22.03.3:
 * src/ai/backend/manager/cli/__main__.py, backend.ai@24.03.3 the same) it deletes kernels whose
 * terminated_at is before the cutoff; from 22.03 also their stat keys in Redis DB 0, then asks
 * Redis to persist (BGREWRITEAOF with AOF on, else BGSAVE SCHEDULE). From 24.03.4 to 26.7 the
 * manager purges sessions and their kernels, and from 24.09.0 error_logs: clear-history-sessions.ts.
 * The cutoff is PostgreSQL's now() less the retention: before 26.1.0 the manager subtracts from its
 * host's naive local time (the same "now" on that host's wall clock, which bai-migrate cannot know:
 * across a DST change, or in months, the two can differ), from 26.1.0 from datetime.now(UTC), which
 * bai-migrate matches whatever PostgreSQL's TimeZone or the runner's TZ (cutoffAndCount).
 *
 * By default it deletes exactly what the manager of that release deletes. Unlike the manager it
 * works in bounded batches (no long table lock, memory independent of the number of rows),
 * unlinks each batch's Redis keys while the next batch is deleted, and reports a Redis failure
 * instead of swallowing it. With sweep-orphaned-stat-keys it also removes stat keys whose kernel
 * is gone (left by a run that was killed, or could not reach Redis, between a batch and its
 * keys), counted apart: the manager never removes those.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { invalidInput, messageOf, MigrationError } from '../core/errors.js';
import { describePlace, releaseSetting, showValue } from '../steps/merged-config.js';
import { REDIS_DB, type Deployment } from '../stores/deployment.js';
import { clearSessionHistory, countKeysOrphanedByRun } from './clear-history-sessions.js';
import { countStatKeysOfKernels, unlink, unlinkStatKeysOfKernels } from './clear-history-store.js';
import { changeRetentionPolicies, sweepRetentionPolicies, type CategorySweep, type PolicyChange } from './clear-history-retention.js';
import { RETENTION_CATEGORIES, RETENTION_SWEEPS, type SweepGraph } from '../releases/retention-sweep.js';
import type { Logger } from '../core/logger.js';
import type { Options } from '../options/index.js';
import type { Retention } from '../releases/retention.js';
import { describePosition, targetRelease, type SchemaPosition } from '../releases/catalogue.js';
import { clearHistoryEraEnd, clearHistoryPolicy, managerClearHistoryFailure, OWN_MODE_THROUGH, ownModeRefusal, type ClearHistoryPolicy } from '../releases/line-facts.js';
import type { Release } from '../releases/releases.js';
import type { Finding } from '../steps/step.js';
import { clearHistoryArgs, hiddenRedisFailure, requireConnectedSuccess, runManagerCli, serverVersionCause, type ManagerCli } from '../manager/cli.js';
import type { Server } from '../stores/deployment.js';
import { tryMigrationLock } from '../stores/lock.js';
import { columnExists, detectPosition, tableExists } from '../stores/schema.js';
import { quoteIdent } from '../stores/sql.js';
import { problems, type Session } from './session.js';

/** The part of the run's options clear-history reads. */
export type ClearHistoryOptions = Pick<Options, 'retention' | 'batchSize' | 'vacuum' | 'redisFailure' | 'dryRun' | 'sweepOrphanedStatKeys'> & Partial<Pick<Options, 'retentionPolicies'>>;

/** From 26.8.0: the retention policies as the run found, changed and swept them. */
export interface RetentionSweepReport {
  /** The sweep's one "now" (ISO, UTC): every threshold is it less the policy's retention. */
  readonly now: string;
  readonly perTickBudget: number | null;
  readonly changes: readonly PolicyChange[];
  /** All eight categories: the enabled ones in the order swept, then the others. */
  readonly categories: readonly CategorySweep[];
}

export interface ClearHistoryResult {
  readonly cutoff: string;
  /** Whose semantics were applied: the era's first release and its end, e.g. "24.09.0 to before 25.19.0". */
  readonly semantics: string;
  readonly kernels: number;
  /** Session rows deleted; null where the release's manager leaves sessions alone (before 24.03.4), or mode: manager did not say. */
  readonly sessions: number | null;
  /** error_logs rows deleted; null where the release's manager leaves them alone (before 24.09.0). */
  readonly errorLogs: number | null;
  /** Sessions before the cutoff left in place (with their kernels) because rows still refer to them. */
  readonly heldSessions: number;
  /** Stat keys of the deleted kernels; null where nobody counted them (mode: manager before 25.19.0, whose own count is the last chunk's). */
  readonly redisKeys: number | null;
  /** Stat keys of kernels that no longer existed, with sweep-orphaned-stat-keys; null without it. */
  readonly sweptRedisKeys: number | null;
  /** The longest single DELETE, which is how long the table was locked at most. */
  readonly longestStatementMs: number;
  readonly findings: Finding[];
  /** From 26.8.0: each retention policy, what it deleted, and what retention-policies changed. */
  readonly retention?: RetentionSweepReport;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PROGRESS_EVERY_MS = 2_000;
/** How long to wait for a background save or AOF rewrite already under way: 20 × 250 ms. */
const PERSIST_ATTEMPTS = 20;
const PERSIST_RETRY_MS = 250;

/** What the manager of the database's release deletes; refused when bai-migrate's own mode does not know it yet. */
export function ownModePolicy(position: SchemaPosition): ClearHistoryPolicy {
  const policy = releasePolicy(position);
  if (!policy.ownMode) {
    throw new MigrationError(
      'unsupported',
      `clear-history knows what the manager deletes through ${OWN_MODE_THROUGH} (kernels, and their stat keys from 22.03; sessions and their kernels from 24.03.4; error_logs from 24.09.0; the retention policies' sweep from 26.8.0); this database is at ${describePosition(position)}, ${ownModeRefusal(policy)}. Use mode: manager with that release's manager`,
    );
  }
  return policy;
}

/**
 * What mode: manager runs, refused before anything is done where that release's command fails
 * (MANAGER_CLEAR_HISTORY_FAILS): the release to-version names, or else every release of this schema.
 */
export function managerModePolicy(position: SchemaPosition, named?: Release): ClearHistoryPolicy {
  const policy = releasePolicy(position);
  const releases: readonly Release[] = named ? [named] : position.releases;
  const failures = releases.map((r) => managerClearHistoryFailure(r));
  if (failures.length > 0 && failures.every((f) => f !== undefined)) {
    const which = named ? `Backend.AI ${named.version}` : `the release of ${describePosition(position)}`;
    throw new MigrationError(
      'unsupported',
      `clear-history mode: manager cannot work on ${which}: ${failures[0]}; nothing was done. Use mode: bai-migrate (bai-migrate's own mode), which deletes what this release's manager means to delete`,
    );
  }
  return policy;
}

function releasePolicy(position: SchemaPosition): ClearHistoryPolicy {
  if (position.between) {
    throw new MigrationError('inconsistent-state', `the database is part-way through an upgrade (${position.revision}); finish the migration before clearing history`);
  }
  return clearHistoryPolicy(position.releases[0]!);
}

export async function clearHistory(deployment: Deployment, position: SchemaPosition, options: ClearHistoryOptions, log: Logger, redisUp: boolean, budget?: PerTickBudget): Promise<ClearHistoryResult> {
  const policy = ownModePolicy(position);
  const withRedis = policy.deletesRedisStatKeys;
  const pg = deployment.postgres;
  const { cutoff, total } = await cutoffAndCount(deployment, options.retention, policy.cutoffClock);
  const cutoffText = cutoff.toISOString();
  const semantics = semanticsOf(policy);
  const what =
    policy.purge === 'retention-policies'
      ? "it governs the Redis part only (the stat keys of kernels terminated before it); the database is swept by each enabled retention policy's own retention"
      : policy.purge === 'sessions'
        ? `sessions with terminated_at before it are history, with their kernels${policy.deletes.includes('error_logs') ? ', and error_logs created before it' : ''}`
        : 'kernels with terminated_at before it are history';
  const findings: Finding[] = [
    { status: 'ok', detail: `clear-history semantics of Backend.AI ${semantics}, the release of ${describePosition(position)}` },
    { status: 'ok', detail: `cutoff ${cutoffText} = ${cutoffFormula(policy, options.retention)}; ${what}` },
  ];
  if (policy.purge === 'sessions') return clearSessionEra(deployment, policy, cutoff, semantics, options, log, redisUp, findings);
  if (policy.purge === 'retention-policies') return clearRetentionEra(deployment, policy, cutoff, semantics, options, log, redisUp, findings, budget);

  const sweep = withRedis && options.sweepOrphanedStatKeys;
  if (options.dryRun) {
    // The same reads the real run's deletes and sweep amount to, so both report the same numbers.
    const redisKeys = withRedis && redisUp ? await countStatKeysOfKernels(deployment, { kind: 'terminated-before', cutoff }, options.batchSize) : withRedis ? null : 0;
    const swept = sweep && redisUp ? await sweepOrphanedStatKeys(deployment, options.batchSize, 'count') : null;
    const keys = withRedis ? ` and ${redisKeys ?? 'an unknown number of (Redis is unreachable)'} of their Redis stat key(s)` : '';
    const orphans = sweep ? `; would sweep ${swept ?? 'an unknown number of (Redis is unreachable)'} stat key(s) of kernels that no longer exist` : '';
    findings.push({ status: 'skipped', detail: `dry run: would delete ${total} kernel row(s)${keys}${orphans}` });
    return { cutoff: cutoffText, semantics, kernels: total, sessions: null, errorLogs: null, heldSessions: 0, redisKeys, sweptRedisKeys: swept, longestStatementMs: 0, findings };
  }

  let deleted = 0;
  let unlinked = 0;
  let redisError: string | undefined = withRedis && !redisUp ? 'Redis is unreachable' : undefined;
  let longest = 0;
  const started = Date.now();
  let lastProgress = started;
  // One batch's UNLINK runs while the next batch is deleted; never more than one is pending, so
  // memory stays bounded whatever the number of rows. A Redis failure is kept, not thrown.
  let unlinking: Promise<void> = Promise.resolve();
  const unlinkWhileNextBatchRuns = async (ids: string[]) => {
    await unlinking;
    unlinking = (async () => {
      if (redisError) return;
      try {
        unlinked += await unlink(deployment, ids);
      } catch (error) {
        redisError = messageOf(error);
        log.warning(`Redis failed (${redisError}); deleting the rest of the rows, then reporting it`);
      }
    })();
  };
  // Oldest first, each batch starting where the last ended, so the index scan never wades through
  // the entries of rows already deleted; rows are addressed by ctid, found and deleted in one
  // statement (a row changed meanwhile keeps its place and is left for the next run).
  let from: Date | undefined;
  for (;;) {
    const statementStart = Date.now();
    const batch: { rows: Array<{ id: string; terminated_at: Date }> } = await pg.query(
      `DELETE FROM kernels WHERE ctid = ANY (ARRAY (
         SELECT ctid FROM kernels WHERE terminated_at < $1 AND terminated_at >= $2
          ORDER BY terminated_at LIMIT $3))
       RETURNING id::text, terminated_at`,
      [cutoff, from ?? '-infinity', options.batchSize],
    );
    longest = Math.max(longest, Date.now() - statementStart);
    if (batch.rows.length === 0) break;
    from = batch.rows.reduce((latest, r) => (r.terminated_at > latest ? r.terminated_at : latest), batch.rows[0]!.terminated_at);
    deleted += batch.rows.length;
    if (withRedis) await unlinkWhileNextBatchRuns(batch.rows.map((r) => r.id));
    if (Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = Date.now();
      const rate = deleted / ((lastProgress - started) / 1000);
      log.info(`clear-history: ${deleted} of ${total} kernel rows deleted, ${Math.round(rate)} rows/s, about ${Math.ceil((total - deleted) / Math.max(rate, 1))} s left`);
    }
  }
  await unlinking;
  findings.push({ status: deleted > 0 ? 'changed' : 'ok', detail: `deleted ${deleted} kernel row(s) in batches of ${options.batchSize} (longest statement ${longest} ms)` });

  let swept: number | null = null;
  if (withRedis && !redisError) {
    try {
      findings.push({ status: unlinked > 0 ? 'changed' : 'ok', detail: `removed ${unlinked} stat key(s) of the deleted kernels from Redis DB 0` });
      if (sweep) {
        swept = await sweepOrphanedStatKeys(deployment, options.batchSize, 'unlink');
        findings.push({ status: swept > 0 ? 'changed' : 'ok', detail: `swept ${swept} stat key(s) of kernels that no longer exist from Redis DB 0 (sweep-orphaned-stat-keys)` });
      }
      findings.push(await persistRedis(deployment));
    } catch (error) {
      redisError = messageOf(error);
    }
  }
  if (redisError) {
    const message = `Redis part not done (${redisError}): stat keys of deleted kernels stay in Redis DB 0; a run with sweep-orphaned-stat-keys: true removes them once Redis is back`;
    findings.push({ status: options.redisFailure === 'warn' ? 'warning' : 'failed', detail: message });
  }
  findings.push(...(await vacuumTables(deployment, options.vacuum, ['kernels'])));
  return { cutoff: cutoffText, semantics, kernels: deleted, sessions: null, errorLogs: null, heldSessions: 0, redisKeys: unlinked, sweptRedisKeys: swept, longestStatementMs: longest, findings };
}

/** The manager's `[retention] per-tick-budget` as clear-history found it: the value, and where it was read. */
export interface PerTickBudget {
  readonly value: number | null;
  readonly from: string;
}

/**
 * The era from 26.8.0, as its `backend.ai mgr clear-history` (backend.ai-manager 26.8.3 wheel:
 * ai/backend/manager/cli/__main__.py:258-346): first the Redis part, governed by the retention
 * alone (the stat keys of every kernel terminated before the cutoff, then BGREWRITEAOF or BGSAVE),
 * then the manager's sweep over the enabled retention_policies (clear-history-retention.ts),
 * which the retention does not touch; the vacuum of each table it deleted from. Before all of it,
 * the changes retention-policies asks for (a dry run sweeps as if they were made). With
 * sweep-orphaned-stat-keys, the keys of kernels already gone go after the Redis part: the keys of
 * kernels this sweep deletes after their cutoff stay, as the manager leaves them, until the next run.
 */
export async function clearRetentionEra(
  deployment: Deployment,
  policy: ClearHistoryPolicy,
  cutoff: Date,
  semantics: string,
  options: ClearHistoryOptions,
  log: Logger,
  redisUp: boolean,
  findings: Finding[],
  budget: PerTickBudget = { value: null, from: 'not set: none, as the manager' },
): Promise<ClearHistoryResult & { readonly retention: RetentionSweepReport }> {
  const catalogue = policy.sweep === undefined ? undefined : RETENTION_SWEEPS[policy.sweep];
  if (!catalogue) throw new MigrationError('unsupported', `clear-history: bai-migrate does not know the retention sweep of Backend.AI ${policy.since}; nothing was deleted`);
  const changed = await changeRetentionPolicies(deployment.postgres, options.retentionPolicies ?? [], options.dryRun);
  findings.push(...changed.findings);
  const scope = { kind: 'terminated-before', cutoff } as const;
  let redisKeys: number | null = null;
  let swept: number | null = null;
  let redisError: string | undefined = redisUp ? undefined : 'Redis is unreachable';
  if (redisUp) {
    try {
      redisKeys = options.dryRun ? await countStatKeysOfKernels(deployment, scope, options.batchSize) : await unlinkStatKeysOfKernels(deployment, scope, options.batchSize);
      if (options.sweepOrphanedStatKeys) swept = await sweepOrphanedStatKeys(deployment, options.batchSize, options.dryRun ? 'count' : 'unlink');
    } catch (error) {
      redisError = messageOf(error);
      log.warning(`Redis failed (${redisError}); sweeping the database, then reporting it`);
    }
  }
  findings.push({
    status: 'ok',
    detail: `per-tick budget: ${budget.value === null ? 'none' : `${budget.value} row(s), then the categories left wait for the next run`} (${budget.from})`,
  });
  const retention = await sweepRetentionPolicies(
    deployment.postgres,
    catalogue,
    { batchSize: options.batchSize, dryRun: options.dryRun, perTickBudget: budget.value, overrides: changed.overrides },
    log,
  );
  findings.push(...retention.findings);
  if (redisError) {
    findings.push({
      status: options.redisFailure === 'warn' ? 'warning' : 'failed',
      detail: `Redis part not done (${redisError}): stat keys of kernels terminated before the cutoff stay in Redis DB 0`,
    });
  } else {
    findings.push({
      status: redisKeys! > 0 && !options.dryRun ? 'changed' : options.dryRun ? 'skipped' : 'ok',
      detail: `${options.dryRun ? 'would remove' : 'removed'} ${redisKeys} stat key(s) of kernels terminated before the cutoff from Redis DB 0 (the retention governs this part only; before the sweep, as the manager)`,
    });
    if (swept !== null) {
      findings.push({
        status: swept > 0 && !options.dryRun ? 'changed' : options.dryRun ? 'skipped' : 'ok',
        detail: `${options.dryRun ? 'would sweep' : 'swept'} ${swept} stat key(s) of kernels that no longer exist from Redis DB 0 (sweep-orphaned-stat-keys; before the sweep: keys of kernels it deletes go in the next run)`,
      });
    }
    if (!options.dryRun) {
      try {
        findings.push(await persistRedis(deployment));
      } catch (error) {
        findings.push({ status: options.redisFailure === 'warn' ? 'warning' : 'failed', detail: `Redis part not done (${messageOf(error)})` });
      }
    }
  }
  const deleted = (table: string) => retention.categories.reduce((sum, c) => sum + (c.deleted[table] ?? 0), 0);
  if (!options.dryRun) {
    const swept = retention.categories.flatMap((c) =>
      Object.entries(c.deleted)
        .filter(([, n]) => n > 0)
        .map(([table]) => table),
    );
    // From 26.9 a drained entity takes its graph node with it: those tables lost rows too.
    const torn = catalogue.flatMap((c) => c.drains).flatMap((d) => (d.teardown && swept.includes(d.table) ? graphTables(d.teardown.graph) : []));
    findings.push(...(await vacuumTables(deployment, options.vacuum, [...new Set([...swept, ...torn])])));
  }
  return {
    cutoff: cutoff.toISOString(),
    semantics,
    kernels: deleted('kernels'),
    sessions: deleted('sessions'),
    errorLogs: deleted('error_logs'),
    heldSessions: 0,
    redisKeys,
    sweptRedisKeys: swept,
    longestStatementMs: retention.longestStatementMs,
    findings,
    retention: { now: retention.now, perTickBudget: budget.value, changes: changed.changes, categories: retention.categories },
  };
}

/** The tables a graph teardown deletes from: its nodes, their attributes, and the rows that go with a node. */
function graphTables(graph: SweepGraph): string[] {
  return [graph.nodes.table, ...graph.attributes.map((a) => a.table), ...graph.dependents.map((d) => d.table)];
}

/** `vacuum: analyze` or `full` of each table the run deleted from (the manager vacuums the whole database). */
async function vacuumTables(deployment: Deployment, vacuum: ClearHistoryOptions['vacuum'], tables: readonly string[]): Promise<Finding[]> {
  if (vacuum === 'none') return [];
  const command = vacuum === 'full' ? 'VACUUM FULL' : 'VACUUM ANALYZE';
  const findings: Finding[] = [];
  for (const table of tables) {
    await deployment.postgres.query(`${command} ${quoteIdent(table)}`);
    findings.push({ status: 'changed', detail: `${command} ${table} done` });
  }
  return findings;
}

/** "24.09.0 to before 25.19.0", or "26.8.0 and later". */
function semanticsOf(policy: ClearHistoryPolicy): string {
  const end = clearHistoryEraEnd(policy);
  return end ? `${policy.since} to before ${end}` : `${policy.since} and later`;
}

/** The era from 24.03.4: sessions and their kernels, error_logs from 24.09.0; then the Redis persistence, the sweep and the vacuum as in the kernels' era. */
async function clearSessionEra(
  deployment: Deployment,
  policy: ClearHistoryPolicy,
  cutoff: Date,
  semantics: string,
  options: ClearHistoryOptions,
  log: Logger,
  redisUp: boolean,
  findings: Finding[],
): Promise<ClearHistoryResult> {
  const sweep = options.sweepOrphanedStatKeys;
  // The sweep's count in a dry run: the orphans there are now, and the keys of the kernels the run deletes that the manager's Redis part leaves (terminated_at not before the cutoff).
  const sweepCount =
    options.dryRun && sweep && redisUp ? (await sweepOrphanedStatKeys(deployment, options.batchSize, 'count')) + (await countKeysOrphanedByRun(deployment, cutoff, options.batchSize)) : null;
  const done = await clearSessionHistory(deployment, policy, cutoff, options, log, redisUp);
  findings.push(...done.findings);
  const base = { cutoff: cutoff.toISOString(), semantics, kernels: done.kernels, sessions: done.sessions, errorLogs: done.errorLogs, heldSessions: done.heldSessions, redisKeys: done.redisKeys };
  if (options.dryRun) {
    if (sweep) findings.push({ status: 'skipped', detail: `dry run: would sweep ${sweepCount ?? 'an unknown number of (Redis is unreachable)'} stat key(s) of kernels that no longer exist` });
    return { ...base, sweptRedisKeys: sweepCount, longestStatementMs: 0, findings };
  }
  let swept: number | null = null;
  if (redisUp && !done.redisFailed) {
    try {
      if (sweep) {
        swept = await sweepOrphanedStatKeys(deployment, options.batchSize, 'unlink');
        findings.push({ status: swept > 0 ? 'changed' : 'ok', detail: `swept ${swept} stat key(s) of kernels that no longer exist from Redis DB 0 (sweep-orphaned-stat-keys)` });
      }
      findings.push(await persistRedis(deployment));
    } catch (error) {
      findings.push({ status: options.redisFailure === 'warn' ? 'warning' : 'failed', detail: `Redis part not done (${messageOf(error)})` });
    }
  }
  findings.push(...(await vacuumTables(deployment, options.vacuum, policy.deletes)));
  return { ...base, sweptRedisKeys: swept, longestStatementMs: done.longestStatementMs, findings };
}

/**
 * PostgreSQL's clock, not the runner's: now() - retention as a timestamptz, with calendar months
 * clamped to the month's end as the manager's relativedelta does; and how many kernels are older.
 * For a `utc` clock (26.1.0+: `datetime.now(UTC) - retention`) the subtraction is done on UTC's
 * wall clock, so a calendar unit (mo, yr) lands where the manager's does whatever the connection's
 * TimeZone (a timestamptz minus months is computed in it: in Asia/Seoul, 2026-03-30T20:00Z less
 * 1 month is 2026-02-27T20:00Z, in UTC 2026-02-28T20:00Z). Seconds (every other unit) are the same
 * instant either way. The result is an instant: the runner's TZ plays no part.
 */
export async function cutoffAndCount(
  deployment: Pick<Deployment, 'postgres'>,
  retention: Retention,
  clock: ClearHistoryPolicy['cutoffClock'],
  /** Another "now" than PostgreSQL's (a test's, to reach a month's end). */
  now?: Date,
): Promise<{ cutoff: Date; total: number }> {
  const from = now ? '$2::timestamptz' : 'now()';
  const cutoff = clock === 'utc' ? `(${from} AT TIME ZONE 'UTC' - $1::interval) AT TIME ZONE 'UTC'` : `${from} - $1::interval`;
  const { rows } = await deployment.postgres.query<{ cutoff: Date; total: string }>(
    `WITH c AS (SELECT ${cutoff} AS cutoff)
     SELECT c.cutoff, (SELECT count(*) FROM kernels WHERE terminated_at < c.cutoff) AS total FROM c`,
    now ? [retentionInterval(retention), now] : [retentionInterval(retention)],
  );
  return { cutoff: rows[0]!.cutoff, total: Number(rows[0]!.total) };
}

/** How the cutoff was computed, for the report. */
function cutoffFormula(policy: ClearHistoryPolicy, retention: Retention): string {
  return policy.cutoffClock === 'utc'
    ? `PostgreSQL's now() in UTC - ${retention.text}, as this release's manager computes it (datetime.now(UTC))`
    : `PostgreSQL's now() - ${retention.text} (this release's manager subtracts from its host's naive local time: across a DST change, or in months, its cutoff can differ from this by that host's time zone rules)`;
}

/**
 * `mode: manager`: the manager's own `backend.ai mgr clear-history`, for operators who prefer
 * it. bai-migrate counts the kernels before and after (the manager's own counts are not to be
 * trusted: backend.ai-manager@22.03.3:src/ai/backend/manager/cli/__main__.py counts the Redis keys of the last chunk only) and reads its log for the Redis failure it hides behind exit code 0.
 */
export async function clearHistoryWithManager(
  deployment: Deployment,
  options: ClearHistoryOptions,
  cli: ManagerCli,
  log: Logger,
  policy: ClearHistoryPolicy,
  budget?: PerTickBudget,
): Promise<ClearHistoryResult> {
  const before = await cutoffAndCount(deployment, options.retention, policy.cutoffClock);
  const tables = await purgedTables(deployment, policy);
  const cutoffText = before.cutoff.toISOString();
  if (policy.managerSessionLimit !== undefined) {
    const { rows } = await deployment.postgres.query<{ n: string }>('SELECT count(*) AS n FROM sessions WHERE terminated_at < $1', [before.cutoff]);
    const old = Number(rows[0]!.n);
    if (old > policy.managerSessionLimit) {
      throw new MigrationError(
        'unsupported',
        `clear-history mode: manager cannot work on this deployment: ${old} session(s) were terminated before ${cutoffText}, more than the ${policy.managerSessionLimit} the manager's clear-history of Backend.AI ${semanticsOf(policy)} can delete (it binds every such session's id in one statement, and asyncpg sends at most 32767 parameters: it would exit 1 after removing the Redis stat keys, before deleting any row); nothing was done. Use mode: bai-migrate (bai-migrate's own mode), which deletes them in batches`,
      );
    }
  }
  const args = clearHistoryArgs(options.retention.text, options.vacuum);
  const findings: Finding[] = [
    {
      status: 'ok',
      detail: `mode manager: ${cli.command.join(' ')} ${args.join(' ')}; ${before.total} kernel row(s) terminated before ${cutoffText} (${cutoffFormula(policy, options.retention)})`,
    },
  ];
  if (options.vacuum === 'analyze') findings.push({ status: 'warning', detail: 'vacuum: analyze has no manager equivalent: the manager runs a plain VACUUM of the whole database (-v false)' });
  // From 26.8 the manager sweeps its policies as they are: retention-policies changes them first (a dry run only says how).
  const changed = policy.purge === 'retention-policies' ? await changeRetentionPolicies(deployment.postgres, options.retentionPolicies ?? [], options.dryRun) : undefined;
  if (changed) findings.push(...changed.findings);
  if (options.dryRun) {
    findings.push({ status: 'skipped', detail: `dry run: the manager has no dry run; it would delete about ${before.total} kernel row(s)` });
    return {
      cutoff: cutoffText,
      semantics: semanticsOf(policy),
      kernels: before.total,
      sessions: null,
      errorLogs: null,
      heldSessions: 0,
      redisKeys: null,
      sweptRedisKeys: null,
      longestStatementMs: 0,
      findings,
    };
  }
  log.info(`running ${cli.command.join(' ')} ${args.join(' ')}`);
  const started = Date.now();
  // What the manager deletes is counted by bai-migrate, before and after, among the rows that existed before it started.
  const { rows: clock } = await deployment.postgres.query<{ now: Date }>('SELECT now() AS now');
  const rowsBefore = await countRows(deployment, tables, clock[0]!.now);
  const policiesBefore = changed ? await policyRows(deployment) : [];
  const result = await runManagerCli(cli, args);
  const rowsAfter = await countRows(deployment, tables, clock[0]!.now);
  const retention = changed ? managerSweepReport(clock[0]!.now, budget?.value ?? null, changed.changes, policiesBefore, await policyRows(deployment)) : undefined;
  const deletedRows = Object.fromEntries(tables.map(({ table }) => [table, rowsBefore[table]! - rowsAfter[table]!]));
  const counted = tables.map(({ table }) => `${deletedRows[table]} ${ROW_NAMES[table] ?? table} row(s)`).join(', ');
  try {
    // The managers of 21.03.21–22.09.22 and 23.03.0–.9 connect through a version check that fails on a suffixed server_version.
    await requireConnectedSuccess(cli, args, result, deployment.postgres, 'the manager', 'use mode: bai-migrate');
  } catch (error) {
    // A CLI that could not be started deleted nothing; one that failed half-way has deleted some of it
    // (24.12.1: kernels and stat keys, then a foreign key of routings).
    if (!(error instanceof MigrationError) || error.code === 'invalid-input') throw error;
    throw new MigrationError(error.code, `${error.message}; before it failed, it had deleted ${counted}`);
  }
  const deleted = deletedRows.kernels ?? 0;
  findings.push({
    status: Object.values(deletedRows).some((n) => n > 0) ? 'changed' : 'ok',
    detail: `the manager deleted ${counted} in ${Date.now() - started} ms (one statement per table: each was locked throughout)`,
  });
  const hidden = hiddenRedisFailure(result.output);
  if (hidden) {
    // 22.03 deletes the rows through psycopg2 but reaches Redis through that check.
    const hint = await serverVersionCause(deployment.postgres, result.output, 'the manager');
    findings.push({
      status: options.redisFailure === 'warn' ? 'warning' : 'failed',
      detail: `the manager exited 0 but logged "${hidden}"${hint ? ` (${hint})` : ''}: stat keys of deleted kernels stay in Redis DB 0 (bai-migrate's own mode with sweep-orphaned-stat-keys: true removes them)`,
    });
  }
  // From 25.19.0 the manager's own Redis count is the sum over its chunks, i.e. the keys it removed: reported as it logs it.
  const redisKeys = policy.deletesRedisStatKeys && policy.managerRedisCount === 'summed' && !hidden ? managerRedisCount(result.output) : null;
  if (redisKeys !== null) findings.push({ status: redisKeys > 0 ? 'changed' : 'ok', detail: `the manager removed ${redisKeys} stat key(s) from Redis DB 0 (its own count)` });
  return {
    cutoff: cutoffText,
    semantics: semanticsOf(policy),
    kernels: deleted,
    sessions: deletedRows.sessions ?? null,
    errorLogs: deletedRows.error_logs ?? null,
    heldSessions: 0,
    redisKeys,
    sweptRedisKeys: null,
    longestStatementMs: 0,
    findings,
    ...(retention ? { retention } : {}),
  };
}

interface PolicyRowState {
  readonly category: string;
  readonly enabled: boolean;
  readonly period: string;
  readonly lastSweptAt: string | null;
}

async function policyRows(deployment: Deployment): Promise<PolicyRowState[]> {
  const { rows } = await deployment.postgres.query<PolicyRowState>(
    `SELECT category, enabled, retention_period::text AS period, to_char(last_swept_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "lastSweptAt" FROM retention_policies ORDER BY category`,
  );
  return rows;
}

/**
 * mode: manager from 26.8: each category's state from its row before and after the manager's run
 * (stamped: swept). What it deleted is counted per table, not per category: the manager logs only its total.
 */
function managerSweepReport(now: Date, perTickBudget: number | null, changes: readonly PolicyChange[], before: readonly PolicyRowState[], after: readonly PolicyRowState[]): RetentionSweepReport {
  const categories: CategorySweep[] = RETENTION_CATEGORIES.map((category) => {
    const row = after.find((r) => r.category === category);
    const was = before.find((r) => r.category === category);
    const base = { category, enabled: row?.enabled ?? false, period: row?.period ?? null, days: null, threshold: null, lastSweptAt: was?.lastSweptAt ?? null, deleted: {}, total: 0 };
    if (!row) return { ...base, state: 'missing', reason: 'retention_policies has no row for it' };
    if (!row.enabled) return { ...base, state: 'disabled' };
    return row.lastSweptAt !== (was?.lastSweptAt ?? null)
      ? { ...base, state: 'swept' }
      : { ...base, state: 'failed', reason: 'the manager did not stamp it: deferred by its per-tick budget, or failed (its log says which)' };
  });
  return { now: now.toISOString(), perTickBudget, changes, categories };
}

/**
 * The stat keys the manager says it removed: "Cleaned up 1,234 redis statistics records older
 * than …" (backend.ai-manager 25.19.2 wheel: ai/backend/manager/cli/__main__.py, logged only when
 * some kernel was terminated before the cutoff: none logged is none removed).
 */
export function managerRedisCount(output: string): number {
  const counts = [...output.matchAll(/Cleaned up ([\d,]+) redis statistics records/g)].map((m) => Number(m[1]!.replaceAll(',', '')));
  return counts.at(-1) ?? 0;
}

/** A PostgreSQL interval for the retention: calendar months stay months, so the date clamps like relativedelta. */
export function retentionInterval(retention: Retention): string {
  return retention.kind === 'months' ? `${retention.months} months` : `${retention.seconds} seconds`;
}

/** Stat keys (kernel UUIDs) in DB 0 whose kernel row no longer exists: counted, or unlinked. */
async function sweepOrphanedStatKeys(deployment: Deployment, batchSize: number, action: 'count' | 'unlink'): Promise<number> {
  const redis = await deployment.redis(REDIS_DB.stat);
  let removed = 0;
  // SCAN may return a key twice (while Redis rehashes): a count must not.
  const counted = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', batchSize);
    cursor = next;
    const candidates = keys.filter((k) => UUID.test(k));
    if (candidates.length === 0) continue;
    const { rows } = await deployment.postgres.query<{ id: string }>('SELECT id::text FROM kernels WHERE id = ANY($1::uuid[])', [candidates]);
    const alive = new Set(rows.map((r) => r.id));
    const orphans = candidates.filter((k) => !alive.has(k) && !counted.has(k));
    if (action === 'count') orphans.forEach((k) => counted.add(k));
    removed += action === 'unlink' ? await unlink(deployment, orphans) : orphans.length;
  } while (cursor !== '0');
  return removed;
}

async function persistRedis(deployment: Deployment): Promise<Finding> {
  const redis = await deployment.redis(REDIS_DB.stat);
  let appendonly: string | undefined;
  try {
    appendonly = ((await redis.config('GET', 'appendonly')) as string[])[1];
  } catch {
    // Managed Redis without CONFIG: a snapshot request still works.
  }
  const [command, args, done] =
    appendonly === 'yes' ? (['BGREWRITEAOF', [], 'asked Redis to rewrite its AOF (BGREWRITEAOF)'] as const) : (['BGSAVE', ['SCHEDULE'], 'asked Redis for a snapshot (BGSAVE SCHEDULE)'] as const);
  // One already running (an earlier run's, or Redis's own) began before these deletions: wait for
  // it to end, then ask again, so that what is persisted is the state after this run.
  for (let attempt = 0; ; attempt++) {
    try {
      await redis.call(command, ...args);
      return { status: 'ok', detail: done };
    } catch (error) {
      if (!/already in progress/i.test(messageOf(error)) || attempt >= PERSIST_ATTEMPTS) throw error;
      await sleep(PERSIST_RETRY_MS);
    }
  }
}

/**
 * The command: the nightly job. Every part the run will do is checked before anything is deleted:
 * PostgreSQL, the release's semantics, and, where that release's manager also removes stat keys,
 * Redis (and etcd, where Redis's address comes from). Only redis-failure: warn lets the database
 * part go on without a Redis that does not answer; an incomplete configuration is refused always.
 */
export async function clearHistoryCommand(session: Session): Promise<void> {
  const { options, deployment, report } = session;
  await session.connect(['postgres']);
  if (!options.dryRun) {
    // Deleting history beside a migration would race its schema step: this run skips, the next one clears.
    const taken = await tryMigrationLock(deployment.targets.postgres!, options.connectTimeoutSeconds * 1000);
    if ('holder' in taken) {
      session.record({
        phase: 'apply',
        step: 'clear-history',
        status: 'skipped',
        detail: `skipped: another bai-migrate run (a migration or a snapshot) holds the migration lock: ${taken.holder}; nothing was deleted, the next run clears the history`,
      });
      return;
    }
    session.lock = taken.lock;
  }
  const position = await detectPosition(deployment.postgres);
  report.currentRevision = position.revision;
  const policy = options.clearHistoryMode === 'manager' ? managerModePolicy(position, options.toVersion && targetRelease(options.toVersion)) : ownModePolicy(position);
  const sweeps = policy.purge === 'retention-policies';
  if (options.retentionPolicies && options.retentionPolicies.length > 0 && !sweeps) {
    throw invalidInput(
      `retention-policies: this database is at ${describePosition(position)}, whose manager has no retention policies (they came with 26.8.0: before it, clear-history deletes by retention alone); nothing was done. Leave retention-policies empty for this release`,
    );
  }
  const redisUp = policy.deletesRedisStatKeys && (await connectRedisPart(session, describePosition(position), sweeps));
  const budget = sweeps ? await perTickBudget(session, position.releases[0]!) : undefined;
  // The findings are recorded inside the group, where the log shows them.
  const result = await session.log.group('Clear history', async () => {
    const done = await (
      options.clearHistoryMode === 'manager'
        ? clearHistoryWithManager(deployment, options, session.managerCli(), session.log, policy, budget)
        : clearHistory(deployment, position, options, session.log, redisUp, budget)
    ).catch(async (error: unknown) => {
      if (error instanceof MigrationError) throw error;
      // Each batch is its own transaction: what was deleted stays deleted, the rest waits for the next run.
      const message = await session.withServersDown(['postgres', 'etcd', 'redis'], messageOf(error));
      throw new MigrationError('unreachable', `clear-history stopped: ${message}. Batches already deleted stay deleted (each is one transaction); run clear-history again once the server is back`);
    });
    for (const f of done.findings) session.record({ phase: 'apply', step: 'clear-history', status: f.status, detail: f.detail });
    return done;
  });
  report.history = {
    cutoff: result.cutoff,
    semantics: result.semantics,
    kernels: result.kernels,
    sessions: result.sessions,
    errorLogs: result.errorLogs,
    heldSessions: result.heldSessions,
    redisKeys: result.redisKeys,
    sweptRedisKeys: result.sweptRedisKeys,
    ...(result.retention ? { retention: result.retention } : {}),
  };
  const failures = result.findings.filter((f) => f.status === 'failed');
  if (failures.length > 0) throw new MigrationError('checks-failed', `clear-history: ${failures.map((f) => f.detail).join('; ')}`, `clear-history: ${problems(failures.length)}`);
}

/**
 * Redis for a release whose clear-history also removes stat keys, connected before anything is
 * deleted. Its address is redis-url, or etcd's config/redis: an etcd that is not configured is an
 * input error (a nightly job with an unset namespace variable must not delete half of its work).
 * true when Redis answers; false only with redis-failure: warn.
 */
async function connectRedisPart(session: Session, position: string, readsConfig: boolean): Promise<boolean> {
  const { deployment, options } = session;
  const why = `the manager of ${position} also removes the deleted kernels' stat keys from Redis`;
  if (!deployment.targets.redis && !deployment.targets.etcd) {
    throw new MigrationError(
      'invalid-input',
      `clear-history cannot find Redis: ${why}, whose address is read from etcd config/redis, and etcd is not configured (${deployment.targets.missing.etcd ?? 'no etcd'}); nothing was deleted. Accepted: etcd-endpoints and etcd-namespace (or manager-config naming them), or redis-url`,
    );
  }
  // From 26.8 etcd too, where configured: the manager's sweep reads its [retention] settings from the merged configuration.
  const servers: Server[] = deployment.targets.redis && !(readsConfig && deployment.targets.etcd) ? ['redis'] : ['etcd', 'redis'];
  const warnOnly = options.redisFailure === 'warn';
  const up = await session.connect(servers, warnOnly ? servers : []).catch((error: unknown) => {
    if (error instanceof MigrationError) {
      throw new MigrationError(
        error.code,
        `${error.message}\n${why}; nothing was deleted (redis-failure: warn would clear the database part alone)`,
        `${error.summary ?? error.message}; nothing was deleted`,
      );
    }
    throw error;
  });
  return up.has('redis');
}

/**
 * `[retention] per-tick-budget` as the release's manager reads it (manager.toml, with etcd merged
 * over it when etcd is configured): an integer of at least 1, or none. A value the manager would
 * refuse stops the run before anything is written.
 */
async function perTickBudget(session: Session, release: Release): Promise<PerTickBudget> {
  const { deployment } = session;
  const withEtcd = deployment.targets.etcd !== undefined;
  const view = await releaseSetting(deployment, release, 'retention', 'per-tick-budget', undefined, { etcd: withEtcd });
  const place = view.effective;
  const unread = withEtcd ? '' : '; etcd is not configured, so its config/retention/ was not read';
  if (!place) return { value: null, from: `[retention] per-tick-budget is not set${unread}` };
  const text = String(place.value).trim();
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= 1) || !Number.isSafeInteger(value)) {
    throw invalidInput(
      `clear-history: ${describePlace(place, 'retention')} is ${showValue(place.value)}, which Backend.AI ${release.version}'s manager refuses (accepted: a whole number of at least 1, or unset); nothing was done`,
    );
  }
  return { value, from: `${describePlace(place, 'retention')}${unread}` };
}

const ROW_NAMES: Record<string, string> = { kernels: 'kernel', sessions: 'session', error_logs: 'error log' };

/** The tables the release's manager purges, with the column that says when a row was made. */
async function purgedTables(deployment: Deployment, policy: ClearHistoryPolicy): Promise<Array<{ table: string; made: string | null }>> {
  // From 26.8 the manager's sweep deletes from every table of its catalogue (where bai-migrate knows it).
  const catalogue = policy.sweep === undefined ? undefined : RETENTION_SWEEPS[policy.sweep];
  const names = catalogue ? [...new Set(catalogue.flatMap((c) => c.drains.map((d) => d.table)))] : policy.deletes;
  const tables: Array<{ table: string; made: string | null }> = [];
  for (const table of names) {
    if (!(await tableExists(deployment.postgres, table))) continue;
    // kernels of the oldest schemas have no created_at: their terminated_at is the age they are judged by; a table with neither is counted whole.
    const made = (await columnExists(deployment.postgres, table, 'created_at')) ? 'created_at' : (await columnExists(deployment.postgres, table, 'terminated_at')) ? 'terminated_at' : null;
    tables.push({ table, made });
  }
  return tables;
}

/** Rows of each table made before `asOf`: what exists before the manager runs, rows it cannot have deleted left out. */
async function countRows(deployment: Deployment, tables: ReadonlyArray<{ table: string; made: string | null }>, asOf: Date): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const { table, made } of tables) {
    const { rows } = await deployment.postgres.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteIdent(table)}${made ? ` WHERE ${quoteIdent(made)} < $1` : ''}`, made ? [asOf] : []);
    counts[table] = Number(rows[0]!.n);
  }
  return counts;
}
