import type { SnapshotManifest } from '../rehearsal/snapshot-file.js';
import type { ErrorCode } from './errors.js';

/**
 * One report model for every command: a row per step and phase with a status and a short detail.
 * The Action renders it as a job summary and outputs, the CLI as text; both write it as JSON.
 */
export type Status = 'ok' | 'changed' | 'warning' | 'failed' | 'skipped';
export type Phase = 'setup' | 'rehearse' | 'snapshot' | 'connect' | 'plan' | 'preflight' | 'apply' | 'verify';

export interface ReportEntry {
  readonly phase: Phase;
  /** The hop, e.g. "21.09 → 22.03"; absent for rows about the whole run. */
  readonly hop?: string;
  readonly step: string;
  readonly status: Status;
  readonly detail: string;
}

/** How long one step of a migrate took, from the start of the migration (the lock held, preflight passed). */
export interface StepTiming {
  /** Absent for the backup, which belongs to no hop. */
  readonly hop?: string;
  readonly step: string;
  readonly startMs: number;
  readonly applyMs: number;
  readonly verifyMs: number;
}

/** plan's downtime forecast: the revisions on the path whose run time grows with the data, and the rows they will meet. */
export interface Forecast {
  readonly hops: ReadonlyArray<{
    readonly hop: string;
    readonly revisions: ReadonlyArray<{
      readonly revision: string;
      readonly firstRelease: string;
      readonly growth: 'quadratic' | 'linear' | 'rewrite';
      readonly work: string;
      readonly tables: readonly string[];
      /** Rows of each of those tables that exists now (none without a database). */
      readonly rows: Readonly<Record<string, { count: number; estimated: boolean }>>;
    }>;
  }>;
  /** Kernels now, and how many clear-history with the run's retention would remove first; when revisions on the path read them. */
  readonly history?: { kernels: number; removable: number; revisions: readonly string[] };
}

export interface Report {
  readonly tool: 'bai-migrate';
  readonly command: string;
  readonly dryRun: boolean;
  fromVersion?: string;
  toVersion?: string;
  currentRevision?: string;
  targetRevision?: string;
  readonly startedAt: string;
  finishedAt?: string;
  outcome: 'success' | 'failure';
  /** The one message that says why the run failed, and its kind. */
  error?: string;
  errorCode?: ErrorCode;
  /** `error` without the findings it lists (each is a row, reported as it was found): what the adapters print. */
  errorSummary?: string;
  /** Longer artefacts: offline SQL, diffs. */
  attachments: Array<{ step: string; name: string; content: string }>;
  /** What clear-history deleted (or would delete, in a dry run). */
  history?: { cutoff: string; kernels: number; redisKeys: number | null; sweptRedisKeys: number | null };
  /** snapshot: the file written and its manifest. */
  snapshot?: { file: string; manifest: SnapshotManifest };
  /** The manager venv alembic ran from, when bai-migrate made or reused it. */
  managerVenv?: { dir: string; requirement: string; cacheKey?: string; created: boolean };
  /** rehearse: the restored deployment's etcd namespace (one PR comment per namespace). */
  rehearsal?: { namespace: string };
  /** rehearse: the pull-request comment, once the Action has written it. */
  commentUrl?: string;
  /** Where this report was written as JSON; absent when the file could not be written. */
  reportFile?: string;
  /** Where the backup bundle of this run was written. */
  backup?: string;
  /** plan (and every command that plans): the heavy revisions on the path and the rows they will meet. */
  forecast?: Forecast;
  /** migrate: the backup and each change step, in the order they ran: the downtime, measured. */
  timings?: StepTiming[];
  plan: Array<{ hop: string; targetRevision: string; steps: Array<{ id: string; title: string; action: string }> }>;
  readonly entries: ReportEntry[];
}

export function newReport(command: string, dryRun: boolean): Report {
  return { tool: 'bai-migrate', command, dryRun, startedAt: new Date().toISOString(), outcome: 'success', plan: [], entries: [], attachments: [] };
}

export function countByStatus(report: Report): Record<Status, number> {
  const counts: Record<Status, number> = { ok: 0, changed: 0, warning: 0, failed: 0, skipped: 0 };
  for (const entry of report.entries) counts[entry.status]++;
  return counts;
}

const ICON: Record<Status, string> = { ok: '✅', changed: '🛠️', warning: '⚠️', failed: '❌', skipped: '⏭️' };

/** GitHub-flavoured Markdown for the job summary; kept well under the summary's 1 MiB limit. */
export function renderMarkdown(report: Report, maxBytes = 512 * 1024): string {
  const title = `bai-migrate ${report.command}${report.dryRun ? ' (dry run)' : ''}: ${report.outcome === 'success' ? 'succeeded' : 'failed'}`;
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
  if (report.error) lines.push('**Error:**', '', '```text', report.error, '```', '');
  lines.push('| Phase | Hop | Step | Status | Detail |', '|---|---|---|---|---|');
  let size = lines.join('\n').length;
  let omitted = 0;
  for (const e of report.entries) {
    const row = `| ${e.phase} | ${e.hop ?? ''} | ${e.step} | ${ICON[e.status]} ${e.status} | ${cell(e.detail)} |`;
    if (size + row.length > maxBytes) {
      omitted++;
      continue;
    }
    size += row.length + 1;
    lines.push(row);
  }
  if (omitted > 0) lines.push('', `_${omitted} more rows are in the report file._`);
  for (const a of report.attachments) {
    const content = a.content.length > 60_000 ? `${a.content.slice(0, 60_000)}\n… (truncated; the whole text is in the report file)` : a.content;
    if (size + content.length > maxBytes) continue;
    size += content.length;
    lines.push('', `<details><summary>${a.step}: ${a.name}</summary>`, '', '```', content, '```', '', '</details>');
  }
  if (report.timings && report.timings.length > 0) lines.push('', ...renderTimings(report.timings));
  if (report.backup) lines.push('', `Backup bundle: \`${report.backup}\``);
  const counts = countByStatus(report);
  lines.push('', (Object.keys(counts) as Status[]).map((s) => `${ICON[s]} ${counts[s]} ${s}`).join(' · '));
  return `${lines.join('\n')}\n`;
}

/**
 * Plain text for a terminal. `logged`: the findings were printed one by one as the run went (the
 * CLI's log), so they are counted here, not repeated; the report file has every row.
 */
export function renderText(report: Report, { logged = false }: { logged?: boolean } = {}): string {
  const out = [`bai-migrate ${report.command}${report.dryRun ? ' (dry run)' : ''}`];
  if (report.fromVersion || report.toVersion) out.push(`  ${report.fromVersion ?? '?'} → ${report.toVersion ?? '?'}${report.targetRevision ? ` (target revision ${report.targetRevision})` : ''}`);
  if (report.currentRevision) out.push(`  current revision ${report.currentRevision}`);
  // The plan's rows are the whole output of `plan` (the log never prints them); elsewhere the hops line above says enough.
  const planRow = (entry: ReportEntry) => entry.phase === 'plan' && (report.command === 'plan' || entry.step === 'from-version');
  for (const e of report.entries.filter((entry) => (logged ? planRow(entry) : entry.phase !== 'plan' || planRow(entry)))) {
    out.push(`  ${e.status.toUpperCase().padEnd(8)} ${e.phase.padEnd(9)} ${(e.hop ? `${e.hop} ` : '') + e.step}: ${e.detail}`);
  }
  if (logged) {
    const counts = countByStatus(report);
    const shown = (Object.keys(counts) as Status[]).filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${s}`);
    out.push(`  ${shown.join(', ') || 'no findings'}${report.reportFile ? `; every row is in ${report.reportFile}` : ''}`);
    if (report.backup) out.push(`  backup bundle ${report.backup}`);
  }
  const error = logged ? (report.errorSummary ?? report.error) : report.error;
  out.push(report.outcome === 'success' ? 'Result: success' : `Result: failure\n${error ?? ''}`);
  return `${out.join('\n')}\n`;
}

/** "850 ms", "12.4 s", "3 min 05 s": how long a step took, as an operator plans downtime. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
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
  lines.push('```mermaid', 'gantt', '  title Migration steps (time from the first change)', '  dateFormat x', '  axisFormat %M:%S');
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

/** Mermaid ends a task name at ":" and a line at "#" or ";": those become look-alikes. */
function mermaidText(text: string): string {
  return text.replaceAll(':', '꞉').replaceAll('#', '♯').replaceAll(';', ',');
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', '<br>');
}

/** Replaces every secret in `text`; secrets shorter than 4 characters are still masked. */
export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  const sorted = [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  for (const secret of sorted) out = out.split(secret).join('***');
  return out;
}
