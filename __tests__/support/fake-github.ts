/**
 * GitHub's issue-comment endpoints, in memory, on a loopback port: the calls the rehearsal
 * comment makes (list, create, update, and GET /user for the token's own identity). There is no GitHub to reach from the tests; this checks
 * the requests bai-migrate sends and keeps the comments they leave. The list is paged as GitHub
 * pages it: `per_page` (default 30, at most 100) and `page`, with a `Link` header to the next and last pages.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeComment {
  id: number;
  body: string;
  html_url: string;
  user: { login: string; type: 'User' | 'Bot' };
}

export interface FakeGitHub {
  url: string;
  comments: FakeComment[];
  requests: Array<{ method: string; path: string; authorization?: string; apiVersion?: string }>;
  close(): Promise<void>;
}

/** Whose token it is: an installation's (the workflow's GITHUB_TOKEN, refused by GET /user) or a person's. */
export type FakeIdentity = { kind: 'installation' } | { kind: 'user'; login: string };

/**
 * The PR starts with a person's comment; `quoting` makes it begin with the given text (a quoted
 * marker). `earlier` comments follow it, numbered from 2.
 */
export async function startFakeGitHub(
  repository: string,
  pr: number,
  token: string,
  quoting = '',
  {
    identity = { kind: 'installation' },
    earlier = [],
    badGateways = 0,
  }: {
    identity?: FakeIdentity;
    earlier?: Array<Pick<FakeComment, 'body' | 'user'>>;
    /** The first this many requests get 502 Bad Gateway, as from an overloaded proxy. */
    badGateways?: number;
  } = {},
): Promise<FakeGitHub> {
  const url = (id: number) => `https://github.com/${repository}/pull/${pr}#issuecomment-${id}`;
  const comments: FakeComment[] = [
    { id: 1, body: `${quoting}LGTM`, html_url: url(1), user: { login: 'operator', type: 'User' } },
    ...earlier.map((c, i) => ({ ...c, id: i + 2, html_url: url(i + 2) })),
  ];
  // Comments made with a workflow's token are the github-actions app's; a person's token writes as that person.
  const author: FakeComment['user'] = identity.kind === 'installation' ? { login: 'github-actions[bot]', type: 'Bot' } : { login: identity.login, type: 'User' };
  const requests: FakeGitHub['requests'] = [];
  // New comments' ids follow every existing one's, as GitHub's do.
  let nextId = Math.max(100, comments.at(-1)!.id + 1);
  const readBody = async (req: IncomingMessage) => {
    let data = '';
    for await (const chunk of req) data += chunk;
    return JSON.parse(data) as { body: string };
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '';
    requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization, apiVersion: req.headers['x-github-api-version'] as string | undefined });
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (requests.length <= badGateways) return send(502, { message: 'Bad Gateway' });
    // GitHub takes either scheme; Octokit sends `token`.
    if (req.headers.authorization !== `Bearer ${token}` && req.headers.authorization !== `token ${token}`) return send(401, { message: 'Bad credentials' });
    if (req.method === 'GET' && path === '/user') {
      return identity.kind === 'installation' ? send(403, { message: 'Resource not accessible by integration' }) : send(200, { login: identity.login, type: 'User' });
    }
    const listUrl = new URL(path, base);
    if (req.method === 'GET' && listUrl.pathname === `/repos/${repository}/issues/${pr}/comments`) {
      const perPage = Math.min(100, Number(listUrl.searchParams.get('per_page') ?? 30));
      const page = Number(listUrl.searchParams.get('page') ?? 1);
      const last = Math.max(1, Math.ceil(comments.length / perPage));
      const link = (rel: string, n: number) => `<${base}${listUrl.pathname}?per_page=${perPage}&page=${n}>; rel="${rel}"`;
      if (page < last) res.setHeader('link', [link('next', page + 1), link('last', last)].join(', '));
      return send(200, comments.slice((page - 1) * perPage, page * perPage));
    }
    if (req.method === 'POST' && path === `/repos/${repository}/issues/${pr}/comments`) {
      const id = nextId++;
      const comment: FakeComment = { id, body: (await readBody(req)).body, html_url: url(id), user: author };
      comments.push(comment);
      return send(201, comment);
    }
    const update = new RegExp(`^/repos/${repository}/issues/comments/(\\d+)$`).exec(path);
    const existing = update && comments.find((c) => c.id === Number(update[1]));
    if (req.method === 'PATCH' && existing) {
      existing.body = (await readBody(req)).body;
      return send(200, existing);
    }
    send(404, { message: 'Not Found' });
  };
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    comments,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
