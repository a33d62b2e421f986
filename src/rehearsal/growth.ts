/**
 * How a hop's time grows with the data: the rehearsal migrates the snapshot twice, whole and with
 * the older half of its history cleared, and compares each hop's time with the rows. A hop whose
 * time grows faster than the rows (the OFFSET-paged back-fills of 23.03 are one) will take
 * disproportionately longer as the history grows, and clearing history first shortens it most.
 */
import { join } from 'node:path';
import type pg from 'pg';
import { formatDuration, formatRatio, type Growth, type GrowthVerdict, type Report, type ReportEntry, type StepTiming } from '../core/report/index.js';
import { managerStarts } from '../steps/manager-starts.js';
import type { Options } from '../options/index.js';
import { parseRetention } from '../releases/retention.js';

/** What one inner run of the engine needs: the rehearse command's caller passes runCommand in. */
export type RunInner = (options: Options) => Promise<Report>;

/** Fewer terminated kernels than this make two sizes too close to tell growth from noise. */
export const MIN_HISTORY_KERNELS = 1_000;
/** A ratio of times this much above the ratio of rows is growth, not noise. */
export const GROWTH_TOLERANCE = 1.25;
/** A hop shorter than this at full size is too short to judge (timer and process start-up noise). */
export const MIN_JUDGED_MS = 1_000;

/** The history rows whose number the heavy revisions' time follows: kernels, with sessions where the schema has them. */
export async function historyRows(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ sessions: boolean }>(`SELECT to_regclass('sessions') IS NOT NULL AS sessions`);
  const tables = rows[0]!.sessions ? ['kernels', 'sessions'] : ['kernels'];
  const counted = await client.query<{ n: string }>(`SELECT ${tables.map((t) => `(SELECT count(*) FROM ${t})`).join(' + ')} AS n`);
  return Number(counted.rows[0]!.n);
}

/** The terminated kernels, and how many seconds ago their median one ended: the retention that clears the older half. */
export async function halfOfHistory(client: pg.Client): Promise<{ terminated: number; retentionSeconds: number }> {
  const { rows } = await client.query<{ terminated: string; seconds: string | null }>(
    `SELECT count(*) AS terminated,
            extract(epoch FROM now() - percentile_disc(0.5) WITHIN GROUP (ORDER BY terminated_at)) AS seconds
       FROM kernels WHERE terminated_at IS NOT NULL`,
  );
  // At least a second: a retention of zero is refused.
  return { terminated: Number(rows[0]!.terminated), retentionSeconds: Math.max(1, Math.floor(Number(rows[0]!.seconds ?? 0))) };
}

/**
 * Each hop's time (apply and verify of its steps) and its schema step's, from a migration's timings.
 * The manager's start at the end of a rehearsal (manager-starts) is no migration time: left out.
 */
export function hopTimes(timings: readonly StepTiming[]): Map<string, { totalMs: number; schemaMs: number }> {
  const hops = new Map<string, { totalMs: number; schemaMs: number }>();
  for (const t of timings) {
    if (!t.hop || t.step === managerStarts.id) continue;
    const hop = hops.get(t.hop) ?? { totalMs: 0, schemaMs: 0 };
    hop.totalMs += t.applyMs + t.verifyMs;
    if (t.step === 'schema') hop.schemaMs += t.applyMs + t.verifyMs;
    hops.set(t.hop, hop);
  }
  return hops;
}

/**
 * Whether a hop's time grew faster than the rows. Fixed costs (the manager's start-up) only pull the
 * ratio of times down, so "faster" is never a false alarm from them; "not faster" at small sizes can
 * hide growth that shows only on more data.
 */
export function judgeGrowth(fullMs: number, smallerMs: number, rowRatio: number): GrowthVerdict {
  if (fullMs < MIN_JUDGED_MS) return 'too short';
  return fullMs / Math.max(1, smallerMs) > rowRatio * GROWTH_TOLERANCE ? 'faster than the data' : 'not faster than the data';
}

/** The comparison of the two migrations, hop by hop. */
export function compareSizes(full: { rows: number; timings: readonly StepTiming[] }, smaller: { rows: number; timings: readonly StepTiming[] }): Growth {
  const rowRatio = full.rows / Math.max(1, smaller.rows);
  const small = hopTimes(smaller.timings);
  const hops = [...hopTimes(full.timings)].map(([hop, f]) => {
    const s = small.get(hop) ?? { totalMs: 0, schemaMs: 0 };
    return { hop, fullMs: f.totalMs, smallerMs: s.totalMs, schemaFullMs: f.schemaMs, schemaSmallerMs: s.schemaMs, verdict: judgeGrowth(f.totalMs, s.totalMs, rowRatio) };
  });
  return { rows: { full: full.rows, smaller: smaller.rows }, hops };
}

/** What the migration of the smaller copy measured, and the history rows of the whole snapshot. */
export interface SmallerCopy {
  readonly fullRows: number;
  readonly rows: number;
  readonly timings: readonly StepTiming[];
}

type Record = (entry: Omit<ReportEntry, 'phase'>) => void;

/**
 * On a restored snapshot: clears the older half of its history (bai-migrate's own clear-history,
 * then VACUUM FULL, so that the copy is as a smaller database would be, not one full of dead rows)
 * and migrates it. `copy`: the smaller size's timings; none, with a row that says why, where the
 * history is too small or either run fails (the rehearsal then goes on at the snapshot's size
 * only). `changed`: whether the restored copy was written to (cleared, or migrated in part), so
 * that the full size needs a fresh restore.
 */
export async function migrateSmallerCopy(client: pg.Client, inner: Options, runInner: RunInner, record: Record, work: string): Promise<{ copy?: SmallerCopy; changed: boolean }> {
  const only = "the migration is timed at the snapshot's size only";
  const fullRows = await historyRows(client);
  const half = await halfOfHistory(client);
  if (half.terminated < MIN_HISTORY_KERNELS) {
    record({
      step: 'growth',
      status: 'skipped',
      detail: `the snapshot holds ${half.terminated.toLocaleString('en-US')} terminated kernel(s), fewer than the ${MIN_HISTORY_KERNELS.toLocaleString('en-US')} two sizes need to tell growth from noise: ${only}`,
    });
    return { changed: false };
  }
  const cleared = await runInner({
    ...inner,
    command: 'clear-history',
    dryRun: false,
    // The median may have ended minutes before the snapshot: a copy's history, not a mistake.
    retention: parseRetention(String(half.retentionSeconds), { allowShort: true }),
    clearHistoryMode: 'bai-migrate',
    sweepOrphanedStatKeys: false,
    vacuum: 'full',
    reportFile: join(work, 'smaller-clear-history.json'),
  });
  if (cleared.outcome === 'failure') {
    record({ step: 'growth', status: 'warning', detail: `the older half of the history could not be cleared for a second size (${cleared.error ?? 'see the report'}): ${only}` });
    return { changed: true };
  }
  const rows = await historyRows(client);
  if (rows * 1.2 > fullRows) {
    record({ step: 'growth', status: 'skipped', detail: `clearing the older half of the terminated kernels left ${rows} of ${fullRows} history rows, too close to tell growth: ${only}` });
    return { changed: true };
  }
  // The manager starts once, on the full copy.
  const migrated = await runInner({ ...inner, dryRun: false, disposableCopy: false, startManager: false, reportFile: join(work, 'smaller-migrate.json') });
  if (migrated.outcome === 'failure') {
    // The full size is still rehearsed, from a fresh restore: its own run shows where it stops.
    record({
      step: 'growth',
      status: 'warning',
      detail: `the migration of the copy with half the history failed (${migrated.error ?? 'see the report'}): ${only}; the full size is rehearsed from a fresh restore`,
    });
    return { changed: true };
  }
  const timings = migrated.timings ?? [];
  const took = Math.max(0, ...timings.map((t) => t.startMs + t.applyMs + t.verifyMs));
  record({
    step: 'smaller copy',
    status: 'ok',
    detail: `${cleared.history?.kernels ?? 0} kernel(s) that ended before ${cleared.history?.cutoff ?? '?'} cleared from a second restore: ${rows.toLocaleString('en-US')} history rows against ${fullRows.toLocaleString('en-US')}, migrated in ${formatDuration(took)}`,
  });
  return { copy: { fullRows, rows, timings }, changed: true };
}

/** The rows that say how each hop grew: a warning per hop faster than the data, one row for the rest. */
export function describeGrowth(growth: Growth): Array<Omit<ReportEntry, 'phase'>> {
  const sizes = `${growth.rows.full.toLocaleString('en-US')} and ${growth.rows.smaller.toLocaleString('en-US')} history rows (${formatRatio(growth.rows.full, growth.rows.smaller)})`;
  const times = (h: Growth['hops'][number]) => `${formatDuration(h.fullMs)} against ${formatDuration(h.smallerMs)} (${formatRatio(h.fullMs, h.smallerMs)})`;
  const entries: Array<Omit<ReportEntry, 'phase'>> = growth.hops
    .filter((h) => h.verdict === 'faster than the data')
    .map((h) => ({
      hop: h.hop,
      step: 'growth',
      status: 'warning',
      detail: `${times(h)} at ${sizes}: its time grows faster than the data. Clear history before migrating (plan says how much it would remove), and expect this hop to take disproportionately longer as the history grows`,
    }));
  const rest = growth.hops.filter((h) => h.verdict !== 'faster than the data');
  if (rest.length > 0) {
    entries.push({
      step: 'growth',
      status: 'ok',
      detail: `timed at ${sizes}: ${rest.map((h) => `${h.hop} ${times(h)}${h.verdict === 'too short' ? ', too short to judge' : ''}`).join('; ')}; none of these grew faster than the data`,
    });
  }
  return entries;
}
