/** The CLI's stdout: the report as plain text. */
import { changedNothing, countByStatus, wouldChange, type Report, type ReportEntry, type Status, type StepFailure } from './model.js';

/**
 * Plain text for a terminal. `logged`: the findings were printed one by one as the run went (the
 * CLI's log), so they are counted here, not repeated; the report file has every row.
 */
export function renderText(report: Report, { logged = false }: { logged?: boolean } = {}): string {
  const out = [`bai-migrate ${report.command}${report.dryRun ? ' (dry run)' : ''}`];
  if (report.fromVersion || report.toVersion) out.push(`  ${report.fromVersion ?? '?'} → ${report.toVersion ?? '?'}${report.targetRevision ? ` (target revision ${report.targetRevision})` : ''}`);
  if (report.currentRevision) out.push(`  current revision ${report.currentRevision}`);
  // The plan's rows are the whole output of `plan` (the log never prints them); elsewhere the hops line above says enough,
  // with how the versions were read.
  const planRow = (entry: ReportEntry) => entry.phase === 'plan' && (report.command === 'plan' || entry.step === 'from-version' || entry.step === 'to-version');
  for (const e of report.entries.filter((entry) => (logged ? planRow(entry) : entry.phase !== 'plan' || planRow(entry)))) {
    out.push(`  ${e.status.toUpperCase().padEnd(8)} ${e.phase.padEnd(9)} ${(e.hop ? `${e.hop} ` : '') + e.step}: ${e.detail}`);
  }
  if (logged) {
    const counts = countByStatus(report);
    const toCome = report.entries.filter((e) => wouldChange(report, e)).length;
    counts.skipped -= toCome;
    const shown = [...(Object.keys(counts) as Status[]).filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${s}`), ...(toCome > 0 ? [`${toCome} would change`] : [])];
    out.push(`  ${shown.join(', ') || 'no findings'}${report.reportFile ? `; every row is in ${report.reportFile}` : ''}`);
    if (report.backup) out.push(`  backup bundle ${report.backup}`);
  }
  if (report.failure) out.push(...failureLines(report.failure));
  const error = logged ? (report.errorSummary ?? report.error) : report.error;
  out.push(report.outcome === 'success' ? `Result: success${changedNothing(report) ? ' (already at the target, nothing to do)' : ''}` : `Result: failure\n${error ?? ''}`);
  return `${out.join('\n')}\n`;
}

/** What to fix, as the summary's table has it (markdown.ts, renderFailure); the remedy ends the error below. */
function failureLines(failure: StepFailure): string[] {
  const where = `${failure.hop ? `${failure.hop} ` : ''}${failure.step}`;
  const cause = failure.cause;
  const lines: Array<[string, string | undefined]> = [
    ['doing', [failure.doing, failure.statement && `(${failure.statement})`].filter(Boolean).join(' ') || undefined],
    ['cause', cause && `${cause.driverException ?? cause.exception}${cause.driverException ? ` (raised as ${cause.exception})` : ''}: ${cause.message}`],
    ['constraint', cause?.constraint],
    ['DETAIL', cause?.detail],
    ...failure.rows.map((r): [string, string] => ['row', `${r.table ? `${r.table} ` : ''}${r.key} ${r.problem}`]),
    [
      'preflight',
      failure.preflight
        ? `${failure.preflight.step} (${failure.preflight.hop}) checks this revision: ${failure.preflight.status === 'ok' ? 'passed' : failure.preflight.status}`
        : failure.revision
          ? 'no check covers this revision'
          : undefined,
    ],
  ];
  return [
    `  What to fix: ${where} stopped in ${failure.revision ? `revision ${failure.revision}${failure.running ? ` (${failure.running})` : ''}` : 'alembic'}`,
    ...lines.filter(([, v]) => v).map(([k, v]) => `    ${k}: ${v}`),
  ];
}
