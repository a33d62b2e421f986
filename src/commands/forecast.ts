/**
 * The downtime forecast of a plan: which revisions on the path take time that grows with the data,
 * how many rows their tables hold now, and how much of that clear-history would remove first.
 * Reads only; part of every plan made against a live database.
 */
import type pg from 'pg';
import type { Plan } from '../hops/plan.js';
import type { Forecast } from '../core/report/index.js';
import { retentionInterval } from './clear-history.js';
import { earliestRelease } from '../releases/releases.js';
import { firstRelease, heavyRevisionsBetween, HISTORY_TABLES, TABLE_MEANING } from '../releases/heavy-revisions.js';
import type { SchemaPosition } from '../releases/catalogue.js';
import type { Retention } from '../releases/retention.js';
import type { Session } from './session.js';

/** A count that takes longer than this on a huge table gives way to the planner's estimate. */
const COUNT_TIMEOUT_MS = 5_000;

export async function forecastPlan(session: Session, plan: Plan, position: SchemaPosition | undefined): Promise<void> {
  const forecast = await makeForecast(plan, position, position ? session.deployment.postgres : undefined, session.options.retention);
  if (forecast.hops.length === 0) return;
  session.report.forecast = forecast;
  for (const hop of forecast.hops) {
    for (const r of hop.revisions) {
      const named = (table: string) => (TABLE_MEANING[table] ? `${table} (${TABLE_MEANING[table]})` : table);
      const rows = Object.entries(r.rows).map(([table, n]) => `${named(table)} ${n.count.toLocaleString('en-US')}${n.estimated ? ' (estimated)' : ''}`);
      const tables = r.tables.map(named);
      const growth = r.growth === 'quadratic' ? 'time grows with the square of' : r.growth === 'rewrite' ? 'rewrites, in time linear in' : 'time grows with';
      session.record({
        phase: 'plan',
        hop: hop.hop,
        step: 'forecast',
        status: 'ok',
        detail: `${r.revision} (${r.firstRelease}) ${r.work}: ${growth} ${tables.length > 1 ? `${tables.slice(0, -1).join(', ')} and ${tables.at(-1)}` : tables[0]}${rows.length > 0 ? `; now ${rows.join(', ')}` : ''}`,
      });
    }
  }
  const history = forecast.history;
  if (history && history.removable > 0) {
    const share = Math.round((history.removable / Math.max(1, history.kernels)) * 100);
    session.record({
      phase: 'plan',
      step: 'forecast',
      status: 'warning',
      detail: `clear-history with retention ${session.options.retention.text} would first remove ${history.removable.toLocaleString('en-US')} of ${history.kernels.toLocaleString('en-US')} kernels (${share}%), which revisions on the path read (${history.revisions.join(', ')}); run it before migrate to shorten the downtime`,
    });
  }
}

export async function makeForecast(plan: Plan, position: SchemaPosition | undefined, pgClient: pg.Client | undefined, retention: Retention): Promise<Forecast> {
  let line = position ? (position.releases[0]?.line ?? position.between?.[0].line) : plan.hops[0]?.fromLine;
  let revision = position ? position.revision : line ? earliestRelease(line).head : undefined;
  const hops: Array<Forecast['hops'][number]> = [];
  for (const hop of plan.hops) {
    const heavy = line && revision ? heavyRevisionsBetween(line, revision, hop.to) : [];
    line = hop.to.line;
    revision = hop.to.head;
    if (heavy.length === 0) continue;
    const revisions = [];
    for (const h of heavy) {
      const rows: Record<string, { count: number; estimated: boolean }> = {};
      for (const table of h.tables) {
        const counted = pgClient ? await countRows(pgClient, table) : undefined;
        if (counted) rows[table] = counted;
      }
      revisions.push({ revision: h.revision, firstRelease: firstRelease(h.revision)?.version ?? '?', growth: h.growth, work: h.work, tables: h.tables, rows });
    }
    hops.push({ hop: hop.label, revisions });
  }
  const readingHistory = hops.flatMap((h) => h.revisions.filter((r) => r.tables.some((t) => HISTORY_TABLES.has(t))).map((r) => r.revision));
  const history = pgClient && readingHistory.length > 0 ? await removableKernels(pgClient, retention) : undefined;
  return { hops, history: history ? { ...history, revisions: readingHistory } : undefined };
}

/** The exact row count, or the planner's estimate where counting would take too long; undefined for a table that does not exist. */
async function countRows(client: pg.Client, table: string): Promise<{ count: number; estimated: boolean } | undefined> {
  const { rows } = await client.query<{ estimate: string | null }>(`SELECT reltuples::bigint AS estimate FROM pg_class WHERE oid = to_regclass($1)`, [table]);
  if (rows.length === 0) return undefined;
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL statement_timeout = ${COUNT_TIMEOUT_MS}`);
    const counted = await client.query<{ count: string }>(`SELECT count(*) FROM ${client.escapeIdentifier(table)}`);
    return { count: Number(counted.rows[0]!.count), estimated: false };
  } catch {
    return { count: Math.max(0, Number(rows[0]!.estimate ?? 0)), estimated: true };
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/** How many kernels clear-history with this retention would delete, of how many. */
async function removableKernels(client: pg.Client, retention: Retention): Promise<{ kernels: number; removable: number } | undefined> {
  const { rows } = await client.query<{ exists: boolean }>(`SELECT to_regclass('kernels') IS NOT NULL AS exists`);
  if (!rows[0]!.exists) return undefined;
  const counted = await client.query<{ kernels: string; removable: string }>(`SELECT count(*) AS kernels, count(*) FILTER (WHERE terminated_at < now() - $1::interval) AS removable FROM kernels`, [
    retentionInterval(retention),
  ]);
  return { kernels: Number(counted.rows[0]!.kernels), removable: Number(counted.rows[0]!.removable) };
}
