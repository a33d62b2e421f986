/**
 * The PR check as a workflow runs it: dist/index.js rehearses a snapshot on servers it starts,
 * comments on the pull request, and on the next push updates that same comment.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateInputs, useDeployments } from '../support/deployment.js';
import { localImageAvailable, LOCAL_IMAGE, SECRETS } from '../support/testbed.js';
import { runAction, runEngine, tempDir } from '../support/run.js';
import { startFakeGitHub, type FakeGitHub } from '../support/fake-github.js';
import { commentMarker } from '../../src/action/pr-comment.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { deploy } = useDeployments(info);
const TOKEN = 'ghs_FakeToken0123456789abcdef';
const REPOSITORY = 'example-org/cluster-config';

let github: FakeGitHub | undefined;
afterEach(async () => github?.close());

/** As a workflow keeps it in secrets.BACKENDAI_SNAPSHOT_KEY. */
const SNAPSHOT_KEY = randomBytes(32).toString('hex');

async function snapshotOfSeededDeployment() {
  const deployment = await deploy();
  const toml = deployment.writeManagerToml();
  const file = join(tempDir(), 'snapshot.jsonl.gz');
  const { report } = await runEngine({ command: 'snapshot', 'manager-config': toml, 'snapshot-file': file, 'snapshot-key': SNAPSHOT_KEY });
  expect(report.outcome).toBe('success');
  return { deployment, toml, file };
}

function rehearsalInputs(toml: string, file: string): Record<string, string> {
  const { 'backup-dir': _backup, ...inputs } = migrateInputs(toml);
  return { ...inputs, command: 'rehearse', 'snapshot-file': file, 'snapshot-key': SNAPSHOT_KEY, ...(localImageAvailable() ? { 'rehearsal-image': LOCAL_IMAGE } : {}) };
}

function pullRequestEnv(apiUrl: string): NodeJS.ProcessEnv {
  const event = join(tempDir(), 'event.json');
  writeFileSync(event, JSON.stringify({ action: 'synchronize', pull_request: { number: 7 } }));
  return { GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: event, GITHUB_REPOSITORY: REPOSITORY, GITHUB_API_URL: apiUrl };
}

describe('rehearse through the Action', () => {
  it('comments on the pull request, and a second rehearsal updates the same comment', async () => {
    const { deployment, toml, file } = await snapshotOfSeededDeployment();
    // A person's comment that quotes the marker is not ours to overwrite.
    github = await startFakeGitHub(REPOSITORY, 7, TOKEN, `${commentMarker(deployment.namespace)}\n> quoted: `);
    const env = pullRequestEnv(github.url);

    const first = await runAction({ ...rehearsalInputs(toml, file), 'github-token': TOKEN }, env);
    expect(first.result.stdout.split('\n').filter((line) => line.startsWith('::error'))).toEqual([]);
    expect(first.result.stderr).toBe('');
    expect(first.result.code).toBe(0);
    expect(first.outputs.outcome).toBe('success');
    expect(github.comments).toHaveLength(2);
    const ours = github.comments[1]!;
    expect(first.outputs['comment-url']).toBe(ours.html_url);
    expect(ours.body.startsWith(`${commentMarker(deployment.namespace)}\n## ✅ Migration rehearsal 21.09 → 22.03.14: succeeded`)).toBe(true);
    expect(ours.body).toContain('| 21.09 → 22.03 | image-metadata |');
    expect(ours.body).toContain('```sql');

    const second = await runAction({ ...rehearsalInputs(toml, file), 'github-token': TOKEN }, env);
    expect(second.result.code).toBe(0);
    expect(github.comments.map((c) => c.id)).toEqual([1, ours.id]);
    expect(second.outputs['comment-url']).toBe(ours.html_url);
    // The workflow's token is refused by GET /user (403): its comments are github-actions[bot]'s.
    const list = `GET /repos/${REPOSITORY}/issues/7/comments`;
    expect(github.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`)).toEqual([
      list,
      'GET /user',
      `POST /repos/${REPOSITORY}/issues/7/comments`,
      list,
      'GET /user',
      `PATCH /repos/${REPOSITORY}/issues/comments/${ours.id}`,
    ]);
    expect(second.result.stdout).toContain(`::add-mask::${SNAPSHOT_KEY}`);
    for (const secret of [TOKEN, SECRETS.postgres, SECRETS.redis, SNAPSHOT_KEY]) {
      expect(github.comments[1]!.body).not.toContain(secret);
      expect(
        second.result.stdout
          .split('\n')
          .filter((l) => !l.startsWith('::add-mask::'))
          .join('\n'),
      ).not.toContain(secret);
      expect(readFileSync(second.files.report, 'utf8')).not.toContain(secret);
    }
  }, 180_000);

  it('skips the comment with a notice when no token is given', async () => {
    const { toml, file } = await snapshotOfSeededDeployment();
    github = await startFakeGitHub(REPOSITORY, 7, TOKEN);
    const { result, outputs, summary } = await runAction(rehearsalInputs(toml, file), pullRequestEnv(github.url));
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('::notice::bai-migrate rehearse: no github-token, so no pull-request comment (the job summary has the result)');
    expect(github.requests).toEqual([]);
    expect(outputs['comment-url']).toBe('');
    expect(summary).toContain('bai-migrate rehearse: succeeded');
  }, 180_000);

  it('refuses snapshot-cache-key outside GitHub Actions before starting anything', async () => {
    const { result, outputs } = await runAction({ command: 'rehearse', 'to-version': '22.03', 'snapshot-cache-key': 'snapshot-prod-v1', 'snapshot-key': SNAPSHOT_KEY });
    expect(result.code).toBe(1);
    expect(outputs.outcome).toBe('failure');
    expect(result.stdout).toContain(
      '::error::snapshot-cache-key "snapshot-prod-v1" is set, but the Actions cache is not available here (it exists only inside GitHub Actions); accepted: no snapshot-cache-key, with snapshot-file pointing at the file',
    );
  });

  it('refuses snapshot-cache-key without snapshot-key as an input error, before the cache is asked', async () => {
    for (const command of ['snapshot', 'rehearse']) {
      const { result, outputs, summary } = await runAction({ command, 'to-version': '22.03', 'snapshot-cache-key': 'snapshot-prod-v1' });
      expect(result.code).toBe(1);
      expect(outputs.outcome).toBe('failure');
      expect(result.stdout).toContain('::error::snapshot-cache-key is set without snapshot-key: a snapshot in the Actions cache must be sealed, since pull requests can restore it;');
      // Input validation comes first: the cache (unavailable here) is never reached.
      expect(result.stdout).not.toContain('Actions cache is not available');
      expect(summary).toContain('bai-migrate did not start');
    }
  });
});
