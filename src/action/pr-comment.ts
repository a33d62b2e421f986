/**
 * The rehearsal's pull-request comment on GitHub: an upsert that finds the comment (rendered by
 * core/report/pr-comment.ts) by its hidden marker, so a PR has one comment per deployment however often the
 * check runs, through Octokit as `@actions/github` configures it.
 */
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { getOctokit } from '@actions/github';
import { retry } from '@octokit/plugin-retry';

export { commentMarker, rehearsalComment } from '../core/report/pr-comment.js';

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

/**
 * GitHub's REST API through Octokit (`@actions/github`): GITHUB_API_URL for Enterprise, the
 * runner's proxy variables, and @octokit/plugin-retry, which retries a 5xx or a dropped connection
 * (up to 3 times, 1 s, 4 s and 9 s apart) but not an answer that will not change (401, 403, 404, 422).
 */
function client(pr: PullRequest, token: string) {
  // Only baseUrl is set: any `request` option would replace the package's proxy-aware fetch (options merge shallowly).
  const octokit = getOctokit(token, { baseUrl: pr.apiUrl, userAgent: 'bai-migrate' }, retry);
  octokit.hook.before('request', (options) => {
    options.headers['x-github-api-version'] = '2022-11-28';
    // Per request, so a page of the comment list that hangs cannot hold the job.
    options.request = { ...options.request, signal: AbortSignal.timeout(30_000) };
  });
  return octokit;
}

/** Octokit's RequestError ("HttpError"), recognised by shape rather than class: the package is Octokit's, not a dependency of ours. */
interface RequestFailure {
  status: number;
  message: string;
  request: { method: string; url: string };
  response?: unknown;
}

function requestFailure(error: unknown): RequestFailure | undefined {
  if (!(error instanceof Error) || error.name !== 'HttpError') return undefined;
  const failure = error as Error & Partial<RequestFailure>;
  return typeof failure.status === 'number' && failure.request ? (failure as RequestFailure) : undefined;
}

/** An Octokit error as the operator needs it: which call, and GitHub's answer or why there was none. */
function describeFailure(error: unknown, pr: PullRequest): Error {
  const failure = requestFailure(error);
  if (!failure) return error instanceof Error ? error : new Error(String(error), { cause: error });
  const { method, url } = failure.request;
  const path = url.startsWith(pr.apiUrl) ? url.slice(pr.apiUrl.length) : url;
  if (!failure.response) return new Error(`GitHub could not be reached for ${method} ${path}: ${failure.message}`, { cause: error });
  const hint = failure.status === 403 || failure.status === 404 ? ' (the token needs pull-requests: write, or issues: write)' : '';
  return new Error(`GitHub answered ${method} ${path} with ${failure.status} ${STATUS_CODES[failure.status] ?? ''}${hint}`, { cause: error });
}

/** Updates the comment that carries `marker`, or creates it. Returns its URL and what was done. */
export async function upsertComment(pr: PullRequest, token: string, marker: string, body: string): Promise<{ url: string; action: 'created' | 'updated' }> {
  const octokit = client(pr, token);
  const [owner, repo] = pr.repository.split('/') as [string, string];
  const issue = { owner, repo, issue_number: pr.number };
  try {
    let me: string | undefined;
    // Page by page through the Link headers, stopping at the page that has ours.
    for await (const { data: comments } of octokit.paginate.iterator(octokit.rest.issues.listComments, { ...issue, per_page: 100, page: 1 })) {
      // Ours starts with the marker and was written by the token's own identity: anyone else's comment
      // with the marker (a person quoting it, another workflow's token) is left alone.
      const candidates = comments.filter((c) => c.body?.startsWith(marker));
      if (candidates.length > 0) me ??= await loginOf(octokit);
      const mine = candidates.find((c) => c.user?.login === me);
      if (mine) {
        const { data: updated } = await octokit.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
        return { url: updated.html_url, action: 'updated' };
      }
    }
    const { data: created } = await octokit.rest.issues.createComment({ ...issue, body });
    return { url: created.html_url, action: 'created' };
  } catch (error) {
    throw describeFailure(error, pr);
  }
}

/** The workflow's GITHUB_TOKEN comments as this app; GET /user refuses installation tokens. */
export const ACTIONS_BOT_LOGIN = 'github-actions[bot]';

/**
 * The login that comments made with `token` carry: GET /user for a person's token (classic or
 * fine-grained); an installation token such as the workflow's GITHUB_TOKEN is refused there (403),
 * and its comments are github-actions[bot]'s.
 */
export async function tokenLogin(pr: PullRequest, token: string): Promise<string> {
  try {
    return await loginOf(client(pr, token));
  } catch (error) {
    throw describeFailure(error, pr);
  }
}

async function loginOf(octokit: ReturnType<typeof client>): Promise<string> {
  let login: unknown;
  try {
    login = (await octokit.rest.users.getAuthenticated()).data.login;
  } catch (error) {
    const failure = requestFailure(error);
    if (failure?.status === 403) return ACTIONS_BOT_LOGIN;
    if (failure?.response)
      throw new Error(`GitHub answered GET /user with ${failure.status} ${STATUS_CODES[failure.status] ?? ''}: the token's own identity is needed to find its earlier comment`, { cause: error });
    throw error;
  }
  if (typeof login !== 'string' || login === '') throw new Error('GitHub answered GET /user without a login');
  return login;
}
