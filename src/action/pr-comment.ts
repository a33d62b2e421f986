/**
 * The rehearsal's pull-request comment: its body (plan, result, offline SQL) and an upsert that
 * finds the comment by a hidden marker, so a PR has one comment per deployment however often the
 * check runs. GitHub's REST API through fetch: the Action needs no other client.
 */
import { readFileSync } from 'node:fs';
import type { Report, ReportEntry } from '../core/report.js';

/** GitHub refuses comments over 65,536 characters; the SQL is cut to keep well under. */
const MAX_COMMENT = 60_000;
const ICON: Record<ReportEntry['status'], string> = { ok: '✅', changed: '🛠️', warning: '⚠️', failed: '❌', skipped: '⏭️' };

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
  if (report.error) lines.push('**Error:**', '', '```text', report.error, '```', '');

  if (report.plan.length > 0) {
    lines.push('### Plan', '', '| Hop | Step | What it does |', '|---|---|---|');
    for (const hop of report.plan) for (const step of hop.steps) lines.push(`| ${hop.hop} | ${step.id} | ${cell(step.action)} |`);
    lines.push('');
  }

  // What an operator must read: the rehearsal's own rows, every change and check, and anything not ok.
  const rows = report.entries.filter((e) => e.phase === 'rehearse' || e.phase === 'apply' || e.phase === 'verify' || e.status === 'warning' || e.status === 'failed');
  lines.push('### Result', '', '| Phase | Step | Status | Detail |', '|---|---|---|---|');
  for (const e of rows) lines.push(`| ${e.phase} | ${e.hop ? `${e.hop} ` : ''}${e.step} | ${ICON[e.status]} ${e.status} | ${cell(e.detail)} |`);
  lines.push('');

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

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', '<br>');
}

export interface PullRequest {
  readonly apiUrl: string;
  readonly repository: string;
  readonly number: number;
}

/** The pull request this workflow run is for, from the runner's environment; undefined for other events. */
export function pullRequestFromEnv(env: NodeJS.ProcessEnv): PullRequest | undefined {
  if (!env.GITHUB_EVENT_PATH || !env.GITHUB_REPOSITORY) return undefined;
  let event: { pull_request?: { number?: number } };
  try {
    event = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, 'utf8'));
  } catch {
    return undefined;
  }
  const number = event.pull_request?.number;
  if (!number) return undefined;
  return { apiUrl: env.GITHUB_API_URL ?? 'https://api.github.com', repository: env.GITHUB_REPOSITORY, number };
}

function apiHeaders(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'bai-migrate' };
}

/** Updates the comment that carries `marker`, or creates it. Returns its URL and what was done. */
export async function upsertComment(pr: PullRequest, token: string, marker: string, body: string): Promise<{ url: string; action: 'created' | 'updated' }> {
  const call = async (method: string, path: string, payload?: unknown) => {
    const response = await fetch(`${pr.apiUrl}${path}`, {
      method,
      headers: { ...apiHeaders(token), ...(payload ? { 'content-type': 'application/json' } : {}) },
      body: payload ? JSON.stringify(payload) : undefined,
      signal: AbortSignal.timeout(30_000),
    });
    if (!response.ok) {
      const hint = response.status === 403 || response.status === 404 ? ' (the token needs pull-requests: write, or issues: write)' : '';
      throw new Error(`GitHub answered ${method} ${path} with ${response.status} ${response.statusText}${hint}`);
    }
    return response.json() as Promise<unknown>;
  };
  const base = `/repos/${pr.repository}/issues`;
  let me: string | undefined;
  for (let page = 1; ; page++) {
    const comments = (await call('GET', `${base}/${pr.number}/comments?per_page=100&page=${page}`)) as Array<{ id: number; body?: string; html_url: string; user?: { login?: string } }>;
    // Ours starts with the marker and was written by the token's own identity: anyone else's comment
    // with the marker (a person quoting it, another workflow's token) is left alone.
    const candidates = comments.filter((c) => c.body?.startsWith(marker));
    if (candidates.length > 0) me ??= await tokenLogin(pr, token);
    const mine = candidates.find((c) => c.user?.login === me);
    if (mine) {
      const updated = (await call('PATCH', `${base}/comments/${mine.id}`, { body })) as { html_url: string };
      return { url: updated.html_url, action: 'updated' };
    }
    if (comments.length < 100) break;
  }
  const created = (await call('POST', `${base}/${pr.number}/comments`, { body })) as { html_url: string };
  return { url: created.html_url, action: 'created' };
}

/** The workflow's GITHUB_TOKEN comments as this app; GET /user refuses installation tokens. */
export const ACTIONS_BOT_LOGIN = 'github-actions[bot]';

/**
 * The login that comments made with `token` carry: GET /user for a person's token (classic or
 * fine-grained); an installation token such as the workflow's GITHUB_TOKEN is refused there (403),
 * and its comments are github-actions[bot]'s.
 */
export async function tokenLogin(pr: PullRequest, token: string): Promise<string> {
  const response = await fetch(`${pr.apiUrl}/user`, {
    headers: apiHeaders(token),
    signal: AbortSignal.timeout(30_000),
  });
  if (response.status === 403) return ACTIONS_BOT_LOGIN;
  if (!response.ok) throw new Error(`GitHub answered GET /user with ${response.status} ${response.statusText}: the token's own identity is needed to find its earlier comment`);
  const login = ((await response.json()) as { login?: unknown }).login;
  if (typeof login !== 'string' || login === '') throw new Error('GitHub answered GET /user without a login');
  return login;
}
