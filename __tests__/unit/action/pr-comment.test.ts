/**
 * The rehearsal's pull-request comment, as a golden file: the report of a real rehearsal (21.09 →
 * 22.03 of a seeded deployment) renders to exactly __tests__/fixtures/rehearsal/comment.md.
 * After an intended change: UPDATE_GOLDEN=1 npx vitest run --project unit, then review the diff.
 * failed-report.json, a real rehearsal that failed inside a revision, is written by
 * UPDATE_REPORT_FIXTURES=1 npx vitest run __tests__/integration/revision-failure.test.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commentMarker, rehearsalComment, upsertComment } from '../../../src/action/pr-comment.js';
import { startFakeGitHub, type FakeGitHub } from '../../support/fake-github.js';
import type { Report, StepTiming } from '../../../src/core/report/index.js';
import { makePlan } from '../../../src/hops/plan.js';
import { parseVersion } from '../../../src/releases/catalogue.js';
import { makeForecast } from '../../../src/commands/forecast.js';
import { parseRetention } from '../../../src/releases/retention.js';
import { compareSizes, describeGrowth } from '../../../src/rehearsal/growth.js';

const FIXTURES = join(import.meta.dirname, '../../fixtures/rehearsal');
const report = JSON.parse(readFileSync(join(FIXTURES, 'report.json'), 'utf8')) as Report;

describe('the rehearsal comment', () => {
  it('matches the golden file', () => {
    const { body } = rehearsalComment(report);
    if (process.env.UPDATE_GOLDEN) writeFileSync(join(FIXTURES, 'comment.md'), body);
    expect(body).toBe(readFileSync(join(FIXTURES, 'comment.md'), 'utf8'));
  });

  it('shows how long each step and hop took, as a table and a mermaid gantt chart (golden file)', () => {
    // The steps of the fixture's plan, each given a duration: the renderer's input.
    const steps = report.plan.flatMap((hop) => hop.steps.map((s) => ({ hop: hop.hop, step: s.id })));
    let at = 120;
    const timings = [{ step: 'backup', startMs: 0, applyMs: 120, verifyMs: 0 }];
    for (const [i, s] of steps.entries()) {
      const applyMs = 40 + i * 250;
      timings.push({ ...s, startMs: at, applyMs, verifyMs: 15 });
      at += applyMs + 15;
    }
    const { body } = rehearsalComment({ ...report, timings });
    const golden = join(FIXTURES, 'comment-with-timings.md');
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, body);
    expect(body).toBe(readFileSync(golden, 'utf8'));
    expect(body).toContain('### Downtime, step by step');
    expect(body).toContain('```mermaid\ngantt\n');
    for (const t of timings.slice(1)) expect(body).toContain(`  ${t.step} (`);
  });

  it('shows the heavy revisions with the rows they meet, and how each hop grew with the history (golden file)', async () => {
    // A rehearsal of 22.09 → 23.09: the plan and forecast bai-migrate makes for it, with the rows
    // a snapshot of 40,000 history rows holds, timed whole and with the older half cleared.
    const plan = makePlan(parseVersion('22.09', 'from-version'), parseVersion('23.09', 'to-version'));
    const forecast = await makeForecast(plan, undefined, undefined, parseRetention('30d'));
    const withRows = {
      ...forecast,
      // 22.09's schema has no sessions table yet: plan counts only the tables that exist.
      hops: forecast.hops.map((h) => ({
        ...h,
        revisions: h.revisions.map((r) => ({
          ...r,
          rows: Object.fromEntries(r.tables.filter((t) => t !== 'sessions').map((t) => [t, { count: t === 'kernels' ? 40_000 : 1_200, estimated: t === 'images' }])),
        })),
      })),
      history: { kernels: 40_000, removable: 31_000, revisions: forecast.hops.flatMap((h) => h.revisions.filter((r) => r.tables.includes('kernels')).map((r) => r.revision)) },
    };
    const timed = (schemaMs: Record<string, number>): StepTiming[] => {
      let at = 0;
      return plan.hops.flatMap((hop) =>
        hop.steps
          .filter((s) => s.kind === 'change')
          .map((s) => {
            const applyMs = s.id === 'schema' ? schemaMs[hop.label]! : 200;
            const t = { hop: hop.label, step: s.id, startMs: at, applyMs, verifyMs: 20 };
            at += applyMs + 20;
            return t;
          }),
      );
    };
    // 22.09 → 23.03 (the OFFSET-paged sessions back-fill) takes 3.6 times as long for twice the rows; 23.03 → 23.09 takes 1.4 times.
    const full = timed({ '22.09 → 23.03': 72_000, '23.03 → 23.09': 5_600 });
    const smaller = timed({ '22.09 → 23.03': 19_800, '23.03 → 23.09': 3_900 });
    const growth = compareSizes({ rows: 40_000, timings: full }, { rows: 20_000, timings: smaller });
    expect(growth.hops.map((h) => [h.hop, h.verdict])).toEqual([
      ['22.09 → 23.03', 'faster than the data'],
      ['23.03 → 23.09', 'not faster than the data'],
    ]);
    // The proof that ends the run, in the words the real 23.09.10 manager's run gave (manager-starts.test.ts).
    const proof = {
      phase: 'apply' as const,
      hop: '23.03 → 23.09',
      step: 'manager-starts',
      status: 'changed' as const,
      detail:
        'the 23.09.10 manager started on the copy in 4.3 s, answered GET / ({"version": "v7.20230615", "manager": "23.09.10"}), served a signed GraphQL query of users, vfolders, sessions and agents (user_list 2, vfolder_list 0, compute_session_list 0, agent_list 1), logged no error, and stopped by SIGTERM in 1.7 s; pointed 1 scaling_groups.wsproxy_addr, 1 agents.addr, 2 etcd volumes/proxies/*/{client_api,manager_api} at 127.0.0.1:39577',
    };
    const entries = [...report.entries.filter((e) => e.phase === 'rehearse' && e.step !== 'result'), ...describeGrowth(growth).map((e) => ({ phase: 'rehearse' as const, ...e })), proof];
    const rehearsal: Report = {
      ...report,
      fromVersion: '22.09',
      toVersion: plan.to.version,
      plan: plan.hops.map((h) => ({ hop: h.label, targetRevision: h.to.head, steps: h.steps.map((s) => ({ id: s.id, title: s.title, action: s.action })) })),
      entries,
      attachments: [],
      timings: full,
      growth,
      forecast: withRows,
    };
    const { body } = rehearsalComment(rehearsal);
    const golden = join(FIXTURES, 'comment-with-growth.md');
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, body);
    expect(body).toBe(readFileSync(golden, 'utf8'));
    expect(body).toContain('| 22.09 → 23.03 | 1 min 12 s | 20.0 s | 3.6× | 1 min 12 s, 19.8 s | ⚠️ faster than the data |');
    expect(body).toContain('| 22.09 → 23.03 | `b6b884fbae1f` | 23.03.0 | creates sessions from kernels with OFFSET paging of 100 rows | with the square of kernels | kernels 40,000 |');
    expect(body).toContain('```mermaid\ngantt\n');
    expect(body).toContain(`### The manager comes back\n\n✅ ${proof.detail}\n`);
  });

  it('starts with the hidden marker of its deployment, which the next rehearsal finds', () => {
    const { marker, body } = rehearsalComment(report);
    expect(marker).toBe(commentMarker(report.rehearsal!.namespace));
    expect(body.split('\n')[0]).toBe(marker);
  });

  it('stays under GitHub’s 65,536-character limit when the offline SQL is huge', () => {
    const sql = report.attachments.find((a) => a.name.endsWith('--sql'))!;
    const huge: Report = { ...report, attachments: [{ ...sql, content: 'SELECT 1;\n'.repeat(20_000) }] };
    const { body } = rehearsalComment(huge);
    expect(body.length).toBeLessThan(65_536);
    expect(body).toContain('-- … cut to fit a comment; the whole SQL is in the report file');
  });

  it('shows the error of a failed rehearsal first', () => {
    const failed: Report = { ...report, outcome: 'failure', error: 'the migration failed in the rehearsal: 21.09 → 22.03 schema failed: alembic exited with 1' };
    const { body } = rehearsalComment(failed);
    expect(body).toContain('## ❌ Migration rehearsal 21.09 → 22.03.14: failed');
    expect(body.indexOf('**Error:**')).toBeLessThan(body.indexOf('<details><summary>Plan'));
  });

  it('is short on top: the outcome, what needs attention, the downtime and the heavy revisions; the plan, every row and the SQL collapsed', () => {
    const { body } = rehearsalComment(report);
    const top = body.slice(0, body.indexOf('<details>'));
    expect(top).toContain('### Needs attention');
    expect(top).not.toContain('| apply |');
    for (const summary of ['<details><summary>Plan: 1 hop(s), 10 step(s)</summary>', '<details><summary>Every step: 26 row(s)</summary>', '<details><summary>Offline SQL: <code>'])
      expect(body).toContain(summary);
  });

  it('a rehearsal that failed inside a revision says what to fix first (golden file; the report of a real rehearsal, integration/revision-failure.test.ts)', () => {
    const failed = JSON.parse(readFileSync(join(FIXTURES, 'failed-report.json'), 'utf8')) as Report;
    const { body } = rehearsalComment(failed);
    const golden = join(FIXTURES, 'comment-failed-revision.md');
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, body);
    expect(body).toBe(readFileSync(golden, 'utf8'));
    const top = body.slice(0, body.indexOf('<details>'));
    expect(top).toContain('stopped in revision `d7df3baf3779` (alembic: Running `upgrade 5d92c9cc930c -> d7df3baf3779`)');
    expect(top).toContain(
      '| Cause | `asyncpg.exceptions.ForeignKeyViolationError` (raised as `sqlalchemy.exc.IntegrityError`): insert or update on table "standin_projects" violates foreign key constraint "standin_projects_resource_policy_fkey" |',
    );
    expect(top).toContain('| DETAIL | Key (resource_policy)=(default) is not present in table "standin_policies". |');
    expect(top).toContain('| Preflight | vfolder-domains (24.03 → 24.09) checks this revision: ✅ passed |');
    expect(top).toContain('preflight did not predict this. Please report it');
    expect(top).toContain('### Downtime, step by step');
    expect(top).toContain('### Heavy revisions on the path');
    expect(top).not.toContain('Fix the cause and run migrate again');
  });
});

describe('upserting the comment on the loopback stand-in of GitHub', () => {
  const repository = 'example-org/cluster-config';
  const token = 'ghp_PersonalToken0123456789';
  const marker = commentMarker('prod');
  let github: FakeGitHub | undefined;
  afterEach(async () => github?.close());
  const pr = () => ({ apiUrl: github!.url, repository, number: 7 });

  it("updates a personal token's own earlier comment, and leaves another user's comment with the marker alone", async () => {
    github = await startFakeGitHub(repository, 7, token, '', {
      identity: { kind: 'user', login: 'release-manager' },
      earlier: [
        { body: `${marker}\nsomeone else's rehearsal`, user: { login: 'colleague', type: 'User' } },
        { body: `${marker}\nthe previous push's rehearsal`, user: { login: 'release-manager', type: 'User' } },
      ],
    });
    const result = await upsertComment(pr(), token, marker, `${marker}\nthis push`);
    expect(result).toEqual({ action: 'updated', url: `https://github.com/${repository}/pull/7#issuecomment-3` });
    expect(github.comments.map((c) => [c.id, c.user.login, c.body])).toEqual([
      [1, 'operator', 'LGTM'],
      [2, 'colleague', `${marker}\nsomeone else's rehearsal`],
      [3, 'release-manager', `${marker}\nthis push`],
    ]);
    expect(github.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`)).toEqual([`GET /repos/${repository}/issues/7/comments`, 'GET /user', `PATCH /repos/${repository}/issues/comments/3`]);
  });

  it("creates a personal token's first comment when only another user's carries the marker, and updates it next time", async () => {
    github = await startFakeGitHub(repository, 7, token, '', {
      identity: { kind: 'user', login: 'release-manager' },
      earlier: [{ body: `${marker}\nsomeone else's rehearsal`, user: { login: 'colleague', type: 'User' } }],
    });
    expect((await upsertComment(pr(), token, marker, `${marker}\nfirst`)).action).toBe('created');
    expect((await upsertComment(pr(), token, marker, `${marker}\nsecond`)).action).toBe('updated');
    expect(github.comments.map((c) => [c.user.login, c.body])).toEqual([
      ['operator', 'LGTM'],
      ['colleague', `${marker}\nsomeone else's rehearsal`],
      ['release-manager', `${marker}\nsecond`],
    ]);
  });

  it("with an installation token (GET /user answers 403) updates github-actions[bot]'s comment only", async () => {
    github = await startFakeGitHub(repository, 7, token, '', {
      earlier: [
        { body: `${marker}\nanother app's comment`, user: { login: 'other-app[bot]', type: 'Bot' } },
        { body: `${marker}\nours`, user: { login: 'github-actions[bot]', type: 'Bot' } },
      ],
    });
    expect((await upsertComment(pr(), token, marker, `${marker}\nnew`)).action).toBe('updated');
    expect(github.comments.map((c) => c.body)).toEqual(['LGTM', `${marker}\nanother app's comment`, `${marker}\nnew`]);
  });

  it('follows the Link header to page 2 when the PR has more than 100 comments and ours is there', async () => {
    const chatter = Array.from({ length: 120 }, (_, i) => ({ body: `review note ${i}`, user: { login: 'reviewer', type: 'User' as const } }));
    github = await startFakeGitHub(repository, 7, token, '', {
      earlier: [...chatter.slice(0, 110), { body: `${marker}\nours`, user: { login: 'github-actions[bot]', type: 'Bot' } }, ...chatter.slice(110)],
    });
    // 1 + 110 comments come before ours: it is the 112th, on the second page of 100.
    const result = await upsertComment(pr(), token, marker, `${marker}\nnew`);
    expect(result).toEqual({ action: 'updated', url: `https://github.com/${repository}/pull/7#issuecomment-112` });
    expect(github.comments).toHaveLength(122);
    expect(github.comments.find((c) => c.id === 112)!.body).toBe(`${marker}\nnew`);
    expect(github.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /repos/${repository}/issues/7/comments?per_page=100&page=1`,
      `GET /repos/${repository}/issues/7/comments?per_page=100&page=2`,
      'GET /user',
      `PATCH /repos/${repository}/issues/comments/112`,
    ]);
  });

  it('reads every page before creating a comment when none of them has ours', async () => {
    github = await startFakeGitHub(repository, 7, token, '', { earlier: Array.from({ length: 250 }, (_, i) => ({ body: `review note ${i}`, user: { login: 'reviewer', type: 'User' as const } })) });
    expect((await upsertComment(pr(), token, marker, `${marker}\nfirst`)).action).toBe('created');
    expect(github.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      ...[1, 2, 3].map((page) => `GET /repos/${repository}/issues/7/comments?per_page=100&page=${page}`),
      `POST /repos/${repository}/issues/7/comments`,
    ]);
    expect(github.comments.at(-1)).toMatchObject({ id: 252, body: `${marker}\nfirst` });
  });

  it('sends the token and the API version GitHub documents, to the API URL it is given (GitHub Enterprise)', async () => {
    github = await startFakeGitHub(repository, 7, token);
    await upsertComment(pr(), token, marker, `${marker}\nfirst`);
    expect(github.requests.every((r) => r.authorization === `token ${token}`)).toBe(true);
    expect(github.requests.map((r) => r.apiVersion)).toEqual(['2022-11-28', '2022-11-28']);
  });

  it('retries a 502 and then writes the comment', async () => {
    github = await startFakeGitHub(repository, 7, token, '', { badGateways: 1 });
    const result = await upsertComment(pr(), token, marker, 'x');
    expect(result.action).toBe('created');
    expect(github.requests.map((r) => r.method)).toEqual(['GET', 'GET', 'POST']);
  });

  it('names the call when GitHub cannot be reached (after the retries: 1 s, 4 s, 9 s)', { timeout: 30_000 }, async () => {
    github = await startFakeGitHub(repository, 7, token);
    const url = github.url;
    await github.close();
    github = undefined;
    await expect(upsertComment({ apiUrl: url, repository, number: 7 }, token, marker, 'x')).rejects.toThrow(
      /^GitHub could not be reached for GET \/repos\/example-org\/cluster-config\/issues\/7\/comments\?per_page=100&page=1: /,
    );
  });

  it('names GitHub’s answer when the token is refused outright', async () => {
    github = await startFakeGitHub(repository, 7, token, '', { earlier: [{ body: `${marker}\nours`, user: { login: 'github-actions[bot]', type: 'Bot' } }] });
    await expect(upsertComment(pr(), 'ghp_wrong', marker, 'x')).rejects.toThrow('GitHub answered GET /repos/example-org/cluster-config/issues/7/comments?per_page=100&page=1 with 401 Unauthorized');
  });
});
