/**
 * The rehearsal's pull-request comment, found again by a hidden marker: short on top (the outcome,
 * what to fix, the measured downtime, the heavy revisions), the plan, every row and the offline SQL
 * collapsed below.
 */
import type { Report } from './model.js';
import { cell, ICON, renderError, renderOnTop } from './markdown.js';

/** GitHub refuses comments over 65,536 characters; the SQL is cut to keep well under. */
const MAX_COMMENT = 60_000;

export function commentMarker(namespace: string): string {
  return `<!-- bai-migrate rehearsal: ${namespace} -->`;
}

/** The comment for a rehearsal report, and the marker that finds it again. */
export function rehearsalComment(report: Report): { marker: string; body: string } {
  const marker = commentMarker(report.rehearsal?.namespace ?? 'unknown');
  return { marker, body: renderComment(report, marker) };
}

function renderComment(report: Report, marker: string): string {
  const manifest = report.entries.find((e) => e.phase === 'rehearse' && e.step === 'snapshot');
  const succeeded = report.outcome === 'success';
  const lines = [marker, `## ${succeeded ? '✅' : '❌'} Migration rehearsal ${report.fromVersion ?? '?'} → ${report.toVersion ?? '?'}: ${succeeded ? 'succeeded' : 'failed'}`, ''];
  if (manifest) lines.push(`Snapshot ${manifest.detail}.`, '');
  lines.push(...renderError(report));
  // Short first: what to fix, what needs attention, the downtime the migration took on the restored
  // snapshot (what the real one will need, roughly), and what will take longer in production.
  lines.push(...renderOnTop(report));

  // Collapsed: the plan, every row of the rehearsal, its changes and checks, and the offline SQL.
  if (report.plan.length > 0) {
    const steps = report.plan.reduce((n, hop) => n + hop.steps.length, 0);
    lines.push(`<details><summary>Plan: ${report.plan.length} hop(s), ${steps} step(s)</summary>`, '', '| Hop | Step | What it does |', '|---|---|---|');
    for (const hop of report.plan) for (const step of hop.steps) lines.push(`| ${hop.hop} | ${step.id} | ${cell(step.action)} |`);
    lines.push('', '</details>', '');
  }
  const rows = report.entries.filter((e) => e.phase === 'rehearse' || e.phase === 'apply' || e.phase === 'verify' || e.status === 'warning' || e.status === 'failed');
  lines.push(`<details><summary>Every step: ${rows.length} row(s)</summary>`, '', '| Phase | Step | Status | Detail |', '|---|---|---|---|');
  for (const e of rows) lines.push(`| ${e.phase} | ${e.hop ? `${e.hop} ` : ''}${e.step} | ${ICON[e.status]} ${e.status} | ${cell(e.detail)} |`);
  lines.push('', '</details>', '');

  let size = lines.join('\n').length;
  for (const a of report.attachments.filter((x) => x.name.includes('--sql'))) {
    const room = Math.max(0, MAX_COMMENT - size - 500);
    const sql = a.content.length > room ? `${a.content.slice(0, room)}\n-- … cut to fit a comment; the whole SQL is in the report file` : a.content;
    lines.push('<details><summary>Offline SQL: <code>' + a.name + '</code></summary>', '', '```sql', sql, '```', '', '</details>', '');
    size += sql.length + 100;
  }
  lines.push(`<sub>bai-migrate rehearse · ${report.finishedAt ?? report.startedAt}</sub>`);
  return `${lines.join('\n')}\n`;
}
