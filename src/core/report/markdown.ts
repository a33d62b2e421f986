/** The job summary: the report as GitHub-flavoured Markdown, with the downtime table and gantt chart. */
import { changedNothing, countByStatus, wouldChange, type Forecast, type Growth, type Report, type Status, type StepFailure, type StepTiming } from './model.js';

export const ICON: Record<Status, string> = { ok: '✅', changed: '🛠️', warning: '⚠️', failed: '❌', skipped: '⏭️' };
/** A dry run's change to come (model.ts, wouldChange). */
const WOULD_CHANGE = '🔍';

/** GitHub-flavoured Markdown for the job summary; kept well under the summary's 1 MiB limit. */
export function renderMarkdown(report: Report, maxBytes = 512 * 1024): string {
  const outcome = report.outcome === 'success' ? (changedNothing(report) ? 'already at the target, nothing to do' : 'succeeded') : 'failed';
  const title = `bai-migrate ${report.command}${report.dryRun ? ' (dry run)' : ''}: ${outcome}`;
  const lines = [`## ${report.outcome === 'success' ? '✅' : '❌'} ${title}`, ''];
  const facts: Array<[string, string | undefined]> = [
    ['From', report.fromVersion],
    ['To', report.toVersion],
    ['Current revision', report.currentRevision && `\`${report.currentRevision}\``],
    ['Target revision', report.targetRevision && `\`${report.targetRevision}\``],
  ];
  const shown = facts.filter(([, v]) => v);
  if (shown.length > 0) {
    lines.push('| | |', '|---|---|', ...shown.map(([k, v]) => `| ${k} | ${v} |`), '');
  }
  lines.push(...renderError(report));
  // Short first: what to fix, the downtime and the heavy revisions; every row and the SQL collapsed below.
  lines.push(...renderOnTop(report));
  lines.push(...renderRetentionSweep(report));
  lines.push(`<details><summary>Every step (${report.entries.length} rows)</summary>`, '', '| Phase | Hop | Step | Status | Detail |', '|---|---|---|---|---|');
  let size = lines.join('\n').length;
  let omitted = 0;
  for (const e of report.entries) {
    const status = wouldChange(report, e) ? `${WOULD_CHANGE} would change` : `${ICON[e.status]} ${e.status}`;
    const row = `| ${e.phase} | ${e.hop ?? ''} | ${e.step} | ${status} | ${cell(e.detail)} |`;
    if (size + row.length > maxBytes) {
      omitted++;
      continue;
    }
    size += row.length + 1;
    lines.push(row);
  }
  if (omitted > 0) lines.push('', `_${omitted} more rows are in the report file._`);
  lines.push('', '</details>');
  for (const a of report.attachments) {
    const content = a.content.length > 60_000 ? `${a.content.slice(0, 60_000)}\n… (truncated; the whole text is in the report file)` : a.content;
    if (size + content.length > maxBytes) continue;
    size += content.length;
    lines.push('', `<details><summary>${a.step}: ${a.name}</summary>`, '', '```', content, '```', '', '</details>');
  }
  if (report.backup) lines.push('', `Backup bundle: \`${report.backup}\``);
  const counts = countByStatus(report);
  const toCome = report.entries.filter((e) => wouldChange(report, e)).length;
  counts.skipped -= toCome;
  lines.push('', [...(Object.keys(counts) as Status[]).map((s) => `${ICON[s]} ${counts[s]} ${s}`), ...(report.dryRun ? [`${WOULD_CHANGE} ${toCome} would change`] : [])].join(' · '));
  return `${lines.join('\n')}\n`;
}

/**
 * What to fix when a step failed inside an alembic revision: the revision, what it was doing, the
 * cause with its constraint and DETAIL, the rows the DETAIL names, what preflight made of that
 * revision, and the remedy.
 */
/**
 * What a reader needs first, in the job summary and the PR comment alike: what to fix, what needs
 * attention, the downtime, and what will take longer in production (growth, heavy revisions).
 */
export function renderOnTop(report: Report): string[] {
  return [
    ...(report.failure ? [...renderFailure(report.failure), ''] : []),
    ...renderManagerProof(report),
    ...renderAttention(report),
    ...(report.timings && report.timings.length > 0 ? [...renderTimings(report.timings), ''] : []),
    ...(report.venvSetup && report.venvSetup.made > 0 ? [renderVenvSetup(report.venvSetup), ''] : []),
    ...(report.growth ? [...renderGrowth(report.growth), ''] : []),
    ...(report.forecast ? [...renderForecast(report.forecast), ''] : []),
  ];
}

/** clear-history from 26.8.0: each retention policy, what changed in it, and what its sweep deleted. */
export function renderRetentionSweep(report: Report): string[] {
  const sweep = report.history?.retention;
  if (!sweep) return [];
  const verb = report.dryRun ? 'Would delete' : 'Deleted';
  const lines = [
    `Retention policies swept at ${sweep.now} (per-tick budget: ${sweep.perTickBudget ?? 'none'}); \`retention\` governed the Redis part only.`,
    '',
    `| Category | State | Retention | Before | ${verb} |`,
    '|---|---|---|---|---|',
  ];
  for (const c of sweep.categories) {
    const retention = c.period === null ? '' : `${c.enabled ? '' : '(disabled) '}${c.period}${c.days === null ? '' : ` (${c.days} days)`}`;
    const tables = Object.entries(c.deleted).filter(([, n]) => n > 0);
    const deleted = tables.length === 0 ? '0' : tables.map(([t, n]) => `${n.toLocaleString('en-US')} ${t}`).join(', ');
    lines.push(`| ${c.category} | ${c.state}${c.reason ? `: ${cell(c.reason)}` : ''} | ${retention} | ${c.threshold ?? ''} | ${deleted} |`);
  }
  for (const c of sweep.changes) {
    const show = (p: { enabled: boolean; period: string } | null) => (p ? `${p.enabled ? 'enabled' : 'disabled'}, ${p.period}` : 'no row');
    lines.push('', `- retention-policies ${report.dryRun ? 'would change' : 'changed'} ${c.category}: ${show(c.before)} → ${show(c.after)}`);
  }
  return [...lines, ''];
}

/**
 * The proof that the target release's manager serves on the migrated data (steps/manager-starts.ts),
 * where the run gave it; a proof that failed is already said where the failure is.
 */
export function renderManagerProof(report: Report): string[] {
  const proof = report.entries.find((e) => e.phase === 'apply' && e.step === 'manager-starts' && e.status === 'changed');
  return proof ? ['### The manager comes back', '', `✅ ${proof.detail}`, ''] : [];
}

export function renderFailure(failure: StepFailure): string[] {
  const where = `${failure.hop ? `${failure.hop} ` : ''}${failure.step}`;
  const lines = [
    '### What to fix',
    '',
    failure.revision
      ? `${where} stopped in revision \`${failure.revision}\`${failure.running ? ` (alembic: Running ${code(failure.running)})` : ''}.`
      : `${where} stopped; alembic's output names no revision that was running.`,
    '',
    '| | |',
    '|---|---|',
  ];
  const cause = failure.cause;
  const facts: Array<[string, string | undefined]> = [
    ['Doing', [failure.doing && code(failure.doing), failure.statement && `(${failure.statement})`].filter(Boolean).join(' ') || undefined],
    ['Cause', cause && `${code(cause.driverException ?? cause.exception)}${cause.driverException ? ` (raised as ${code(cause.exception)})` : ''}: ${cause.message}`],
    ['Constraint', cause?.constraint && code(cause.constraint)],
    ['DETAIL', cause?.detail],
    ['Rows', failure.rows.length > 0 ? failure.rows.map((r) => `${r.table ? `${r.table} ` : ''}${code(r.key)} ${r.problem}`).join('<br>') : undefined],
    [
      'Preflight',
      failure.preflight
        ? `${failure.preflight.step} (${failure.preflight.hop}) checks this revision: ${PREFLIGHT[failure.preflight.status]}`
        : failure.revision
          ? 'no preflight check covers this revision'
          : undefined,
    ],
  ];
  lines.push(...facts.filter(([, v]) => v).map(([k, v]) => `| ${k} | ${cell(v!)} |`), '', `**Next:** ${failure.remedy}`);
  return lines;
}

const PREFLIGHT: Record<NonNullable<StepFailure['preflight']>['status'], string> = {
  ok: '✅ passed',
  changed: '✅ passed',
  warning: '⚠️ passed with a warning',
  failed: '❌ failed',
  skipped: '⏭️ skipped',
  'not run': 'did not run',
};

/** Inline code; a backtick inside becomes a look-alike. */
function code(text: string): string {
  return `\`${text.replaceAll('`', 'ˋ')}\``;
}

/** The error, without the remedy that "What to fix" ends with (renderFailure): said once. */
export function renderError(report: Report): string[] {
  if (!report.error) return [];
  const error = report.failure ? report.error.replace(report.failure.remedy, '').trimEnd() : report.error;
  return ['**Error:**', '', '```text', error, '```', ''];
}

const ATTENTION_ROWS = 30;

/** The rows that failed or warn, outside the collapsed table: what an operator must read that the error does not say. */
export function renderAttention(report: Report): string[] {
  // A failed row the error already quotes (a failed preflight lists them all) is not repeated.
  const rows = report.entries.filter((e) => (e.status === 'failed' || e.status === 'warning') && !report.error?.includes(e.detail));
  if (rows.length === 0) return [];
  const shown = rows.slice(0, ATTENTION_ROWS).map((e) => `| ${e.phase} | ${e.hop ? `${e.hop} ` : ''}${e.step} | ${ICON[e.status]} ${e.status} | ${cell(e.detail)} |`);
  const more = rows.length > ATTENTION_ROWS ? ['', `_${rows.length - ATTENTION_ROWS} more among every step below._`] : [];
  return ['### Needs attention', '', '| Phase | Step | Status | Detail |', '|---|---|---|---|', ...shown, ...more, ''];
}

/** "850 ms", "12.4 s", "3 min 05 s": how long a step took, as an operator plans downtime. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
}

/** "3.6×": how many times `a` is `b`, as the growth tables show it. */
export function formatRatio(a: number, b: number): string {
  return `${(a / Math.max(1, b)).toFixed(1)}×`;
}

/** The venvs' time, apart from the downtime: a preflight run before the window makes them, so that migrate pays nothing for them. */
export function renderVenvSetup(setup: NonNullable<Report['venvSetup']>): string {
  return `Manager venvs: ${setup.made} made${setup.reused > 0 ? ` and ${setup.reused} reused` : ''} in ${formatDuration(setup.ms)}, before the lock and the first change: not part of the downtime (run preflight before the window and migrate pays nothing for them).`;
}

/**
 * How long each step and each hop took, as a table and a mermaid gantt chart (GitHub renders
 * it in summaries and comments): the downtime the migration needs, measured.
 */
export function renderTimings(timings: readonly StepTiming[]): string[] {
  const total = Math.max(0, ...timings.map((t) => t.startMs + t.applyMs + t.verifyMs));
  const hops = [...new Set(timings.map((t) => t.hop ?? ''))];
  const lines = ['### Downtime, step by step', '', '| Hop | Step | Apply | Verify | Step total |', '|---|---|---:|---:|---:|'];
  for (const hop of hops) {
    const steps = timings.filter((t) => (t.hop ?? '') === hop);
    for (const t of steps) lines.push(`| ${hop} | ${t.step} | ${formatDuration(t.applyMs)} | ${formatDuration(t.verifyMs)} | ${formatDuration(t.applyMs + t.verifyMs)} |`);
    if (hop) lines.push(`| **${hop}** | | | | **${formatDuration(steps.reduce((sum, t) => sum + t.applyMs + t.verifyMs, 0))}** |`);
  }
  lines.push(`| **all** | | | | **${formatDuration(total)}** |`, '');
  // Mermaid reads "x" dates as milliseconds since the epoch: the chart starts at 0.
  // Under a minute, minutes:seconds would label every tick 00:00: seconds and milliseconds then.
  lines.push('```mermaid', 'gantt', '  title Migration steps (time from the first change)', '  dateFormat x', `  axisFormat ${total < 60_000 ? '%S.%L s' : '%M:%S'}`);
  for (const hop of hops) {
    lines.push(`  section ${mermaidText(hop || 'before the first hop')}`);
    for (const t of timings.filter((x) => (x.hop ?? '') === hop)) {
      const start = Math.round(t.startMs);
      lines.push(`  ${mermaidText(t.step)} (${formatDuration(t.applyMs + t.verifyMs)}) : ${start}, ${start + Math.max(1, Math.round(t.applyMs + t.verifyMs))}`);
    }
  }
  lines.push('```');
  return lines;
}

const GROWS: Record<Forecast['hops'][number]['revisions'][number]['growth'], string> = {
  linear: 'with',
  quadratic: 'with the square of',
  rewrite: 'with (rewrites)',
};

/** The revisions on the path whose time grows with the data, with the rows their tables hold now. */
export function renderForecast(forecast: Forecast): string[] {
  const lines = ['### Heavy revisions on the path', '', '| Hop | Revision | First in | What it does | Time grows | Rows now |', '|---|---|---|---|---|---:|'];
  for (const hop of forecast.hops) {
    for (const r of hop.revisions) {
      const rows = Object.entries(r.rows).map(([table, n]) => `${table} ${n.estimated ? '~' : ''}${n.count.toLocaleString('en-US')}`);
      lines.push(`| ${hop.hop} | \`${r.revision}\` | ${r.firstRelease} | ${cell(r.work)} | ${GROWS[r.growth]} ${r.tables.join(', ')} | ${rows.join(', ') || '–'} |`);
    }
  }
  const history = forecast.history;
  if (history && history.removable > 0) {
    lines.push(
      '',
      `Clear-history with the run's retention would first remove ${history.removable.toLocaleString('en-US')} of ${history.kernels.toLocaleString('en-US')} kernels, which ${history.revisions.map((r) => `\`${r}\``).join(', ')} read.`,
    );
  }
  return lines;
}

const VERDICT: Record<Growth['hops'][number]['verdict'], string> = {
  'faster than the data': '⚠️ faster than the data',
  'not faster than the data': '✅ not faster than the data',
  'too short': '⏭️ too short to judge',
};

/** Each hop timed at the snapshot's size and with the older half of its history cleared. */
export function renderGrowth(growth: Growth): string[] {
  const lines = [
    '### Time against the data',
    '',
    `History rows (kernels, and sessions where they exist): ${growth.rows.full.toLocaleString('en-US')} in the snapshot, ${growth.rows.smaller.toLocaleString('en-US')} with its older half cleared (${formatRatio(growth.rows.full, growth.rows.smaller)}).`,
    '',
    '| Hop | Snapshot | Half the history | Ratio | Schema step (snapshot, half) | Growth |',
    '|---|---:|---:|---:|---:|---|',
  ];
  for (const h of growth.hops) {
    lines.push(
      `| ${h.hop} | ${formatDuration(h.fullMs)} | ${formatDuration(h.smallerMs)} | ${formatRatio(h.fullMs, h.smallerMs)} | ${formatDuration(h.schemaFullMs)}, ${formatDuration(h.schemaSmallerMs)} | ${VERDICT[h.verdict]} |`,
    );
  }
  return lines;
}

/** Mermaid ends a task name at ":" and a line at "#" or ";": those become look-alikes. */
function mermaidText(text: string): string {
  return text.replaceAll(':', '꞉').replaceAll('#', '♯').replaceAll(';', ',');
}

/** A Markdown table cell: pipes escaped, lines joined. */
export function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', '<br>');
}
