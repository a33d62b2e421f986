/**
 * The Action adapter (src/action/main.ts run()) without a runner or servers: @actions/core is a
 * recorder and runCommand replays a real report (__tests__/fixtures/reports). What the workflow
 * gets, $GITHUB_OUTPUT and the job summary, is compared with golden files in
 * __tests__/fixtures/golden; after an intended change: UPDATE_GOLDEN=1 npx vitest run --project unit.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { expectGolden, fixtureSecret, loadReportFixture, replay, REPORT_FIXTURES, type ReportFixture } from '../../support/report-fixtures.js';
import { startFakeGitHub, type FakeGitHub } from '../../support/fake-github.js';
import { tempDir } from '../../support/run.js';
import { inputSpec, OUTPUTS, type OutputValues } from '../../../src/options/index.js';
import type { Options } from '../../../src/options/index.js';
import type { RunHooks } from '../../../src/commands/run-command.js';
import type { Report } from '../../../src/core/report/index.js';

/** Every call the adapter made on @actions/core, in order. */
const calls: Array<[string, ...unknown[]]> = [];
const state = { inputs: {} as Record<string, string>, summary: '', summaryFails: false, outputFails: false };

vi.mock('@actions/core', () => {
  const record =
    (name: string) =>
    (...args: unknown[]) => {
      calls.push([name, ...args]);
    };
  const summary = {
    addRaw(text: string) {
      state.summary += text;
      return summary;
    },
    async write() {
      if (state.summaryFails) throw new Error('Unable to find environment variable for $GITHUB_STEP_SUMMARY');
      calls.push(['summary.write', state.summary]);
      return summary;
    },
  };
  return {
    // As the runner's getInput: INPUT_<NAME>, trimmed; the runner sets action.yml's default when the workflow gives none, else ''.
    getInput: (name: string) => (state.inputs[name] ?? inputSpec(name)?.default ?? '').trim(),
    setSecret: record('setSecret'),
    // As @actions/core does when GITHUB_OUTPUT names a file in a folder that is gone.
    setOutput: (...args: unknown[]) => {
      if (state.outputFails) throw new Error('Missing file at path: /home/runner/gone/set_output_1');
      record('setOutput')(...args);
    },
    setFailed: record('setFailed'),
    info: record('info'),
    debug: record('debug'),
    notice: record('notice'),
    warning: record('warning'),
    error: record('error'),
    async group<T>(name: string, body: () => Promise<T>): Promise<T> {
      calls.push(['startGroup', name]);
      try {
        return await body();
      } finally {
        calls.push(['endGroup', name]);
      }
    },
    summary,
  };
});

const engine = vi.hoisted(() => ({ fixture: undefined as ReportFixture | undefined, options: [] as Options[] }));
vi.mock('../../../src/commands/run-command.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../src/commands/run-command.js')>()),
  runCommand: vi.fn(async (options: Options, hooks: RunHooks) => {
    engine.options.push(options);
    return replay(engine.fixture!, hooks);
  }),
}));

const { run, outputValues } = await import('../../../src/action/main.js');

/** The inputs of the fixtures' runs (make-report-fixtures.ts), as a workflow would give them. */
function fixtureInputs(name: string): Record<string, string> {
  const migrate = {
    command: 'migrate',
    'to-version': '22.03',
    'manager-config': '/tmp/bai-migrate-test/manager.toml',
    'alembic-command': '/usr/bin/python3 -m alembic',
    'alembic-config': '/work/__tests__/fixtures/alembic/alembic.ini',
    'lock-backend': 'etcd',
    'periodic-sync-stats': 'true',
    'backup-dir': '/tmp/bai-migrate-backup',
    'report-file': '/tmp/bai-migrate-run/report.json',
    'connect-timeout': '5',
  };
  if (name === 'dry-run') return { ...migrate, 'dry-run': 'true' };
  if (name === 'failed-preflight') {
    // preflight takes no backup: a workflow that passes backup-dir to it gets a warning that it is ignored.
    const { 'backup-dir': _unused, ...preflight } = migrate;
    return { ...preflight, command: 'preflight', 'lock-backend': 'redlock' };
  }
  return migrate;
}

/** $GITHUB_OUTPUT as the runner's file command format writes it (a fixed delimiter instead of a random one). */
function outputFile(): string {
  return calls
    .filter(([name]) => name === 'setOutput')
    .map(([, name, value]) => `${String(name)}<<ghadelimiter_golden\n${String(value)}\nghadelimiter_golden\n`)
    .join('');
}

const named = (name: string) => calls.filter(([call]) => call === name).map(([, ...args]) => args);

beforeEach(() => {
  calls.length = 0;
  engine.options.length = 0;
  Object.assign(state, { inputs: {}, summary: '', summaryFails: false, outputFails: false });
});

describe.each(REPORT_FIXTURES)('the Action with the report of a real %s', (name) => {
  const fixture = loadReportFixture(name);

  it('writes the golden outputs and job summary', async () => {
    engine.fixture = fixture;
    state.inputs = fixtureInputs(name);
    await run();
    expect(engine.options).toHaveLength(1);
    expect(engine.options[0]).toMatchObject({ command: fixture.report.command, dryRun: fixture.report.dryRun, toVersion: { input: '22.03' } });
    expect(named('setOutput').map(([output]) => output)).toEqual(OUTPUTS.map((o) => o.name));
    expect(JSON.parse(named('setOutput').find(([output]) => output === 'report')![1] as string)).toEqual(fixture.report);
    expectGolden(`action-${name}.outputs.txt`, outputFile());
    expect(named('summary.write')).toHaveLength(1);
    expectGolden(`action-${name}.summary.md`, state.summary);
  });

  it("annotates each of the engine's warnings and errors once, with its title, and fails the step only for a failed run", async () => {
    engine.fixture = fixture;
    state.inputs = fixtureInputs(name);
    await run();
    const titled = (kind: 'warning' | 'error') => fixture.log.flatMap((e) => (e.kind === kind ? [[e.message, e.title ? { title: e.title } : {}]] : []));
    expect(named('warning')).toEqual(titled('warning'));
    expect(named('error')).toEqual(titled('error'));
    expect(named('notice')).toEqual([]);
    // Each group the engine opened is one log group, in the same order.
    expect(named('startGroup').map(([group]) => group)).toEqual(fixture.log.flatMap((e) => (e.kind === 'group' ? [e.name] : [])));
    expect(named('setSecret')).toEqual(Array.from({ length: fixture.secrets }, (_, i) => [fixtureSecret(i)]));
    if (fixture.report.outcome === 'failure') {
      // The summary of the failure, not the list of findings annotated one by one already.
      expect(named('setFailed')).toEqual([[fixture.report.errorSummary ?? fixture.report.error]]);
      expect(fixture.report.error!.length).toBeGreaterThan(String(named('setFailed')[0]![0]).length);
    } else expect(named('setFailed')).toEqual([]);
  });
});

describe('the Action around the engine', () => {
  it('masks secret inputs, and the passwords in their URLs, before it validates anything', async () => {
    engine.fixture = loadReportFixture('migrate');
    state.inputs = { ...fixtureInputs('migrate'), 'postgres-url': 'postgresql://postgres:pg-Secr3t@db.internal:5432/backend', 'etcd-password': 'etcd-Secr3t', 'to-version': 'not-a-version' };
    await run();
    const secrets = named('setSecret').map(([secret]) => secret);
    expect(secrets).toEqual(expect.arrayContaining(['pg-Secr3t', 'etcd-Secr3t', 'postgresql://postgres:pg-Secr3t@db.internal:5432/backend']));
    const firstOther = calls.findIndex(([call]) => call !== 'setSecret');
    expect(calls.slice(0, firstOther).map(([call]) => call)).toEqual(secrets.map(() => 'setSecret'));
    expect(engine.options).toEqual([]);
  });

  it('an input it refuses: outcome failure, a "did not start" summary, the step failed with the reason, the engine never run', async () => {
    state.inputs = { command: 'migrate', 'to-version': '22.03', 'dry-run': 'maybe' };
    await run();
    expect(engine.options).toEqual([]);
    expect(named('setOutput')).toEqual([['outcome', 'failure']]);
    const [[reason]] = named('setFailed') as [[string]];
    expect(reason).toMatch(/dry-run/);
    expect(state.summary).toBe(`## ❌ bai-migrate did not start\n\n\`\`\`text\n${reason}\n\`\`\`\n`);
  });

  it("an empty etcd-namespace (an unset variable) is refused before the engine runs; the runner's default means manager.toml's", async () => {
    // etcd-namespace: ${{ vars.BACKENDAI_NAMESPACE }} with the variable unset.
    state.inputs = { ...fixtureInputs('migrate'), 'etcd-namespace': '' };
    await run();
    expect(engine.options).toEqual([]);
    expect(named('setOutput')).toEqual([['outcome', 'failure']]);
    expect(named('setFailed')).toEqual([
      [
        `etcd-namespace is empty (as an unset workflow variable gives it); accepted: letters, digits, ".", "_" and "-" (e.g. local), or from-manager-config (the default) for manager.toml's [etcd] namespace`,
      ],
    ]);

    engine.fixture = loadReportFixture('migrate');
    state.inputs = fixtureInputs('migrate');
    await run();
    expect(engine.options).toHaveLength(1);
    expect(engine.options[0]!.etcdNamespace).toBeUndefined();
  });

  it('a summary the runner cannot take is a warning; the outputs and the outcome stand', async () => {
    engine.fixture = loadReportFixture('migrate');
    state.inputs = fixtureInputs('migrate');
    state.summaryFails = true;
    await run();
    expect(named('warning').at(-1)).toEqual(['bai-migrate: the job summary was not written (Unable to find environment variable for $GITHUB_STEP_SUMMARY); the outcome stands: success']);
    expect(named('setOutput').find(([output]) => output === 'outcome')).toEqual(['outcome', 'success']);
    expect(named('setFailed')).toEqual([]);
  });

  it("a GITHUB_OUTPUT that cannot be written fails the step in words that name it and the run's outcome, not with a stack; the summary stands", async () => {
    engine.fixture = loadReportFixture('migrate');
    state.inputs = fixtureInputs('migrate');
    state.outputFails = true;
    await expect(run()).resolves.toBeUndefined();
    expect(engine.options).toHaveLength(1);
    expect(named('setFailed')).toEqual([["bai-migrate: the step outputs could not be written to GITHUB_OUTPUT (Missing file at path: /home/runner/gone/set_output_1); the run's outcome: success"]]);
    expect(named('summary.write')).toHaveLength(1);
    expect(state.summary).toContain('bai-migrate migrate: succeeded');

    // A run that did not start says why, and that its outputs are missing too.
    Object.assign(state, { summary: '', inputs: { command: 'migrate', 'to-version': '22.03', 'dry-run': 'maybe' } });
    calls.length = 0;
    await expect(run()).resolves.toBeUndefined();
    expect(named('setFailed')).toEqual([
      ['dry-run "maybe" is not a boolean; accepted: true, false\nbai-migrate: the step outputs could not be written to GITHUB_OUTPUT (Missing file at path: /home/runner/gone/set_output_1)'],
    ]);
  });
});

describe('every output action.yml declares (OUTPUTS)', () => {
  const rehearsal: ReportFixture = { report: loadRehearsal(), log: [], secrets: 0 };
  const runs: Array<[string, ReportFixture, Record<string, string>]> = [
    ...REPORT_FIXTURES.map((name): [string, ReportFixture, Record<string, string>] => [name, loadReportFixture(name), fixtureInputs(name)]),
    ['rehearse', rehearsal, { command: 'rehearse', 'to-version': '22.03', 'snapshot-file': '/tmp/bai-migrate-run/snapshot.jsonl.gz', 'report-file': '/tmp/bai-migrate-run/report.json' }],
  ];

  it.each(runs)('is set once by a run that made a report (%s), in the declared order', async (_name, fixture, inputs) => {
    engine.fixture = fixture;
    state.inputs = inputs;
    await run();
    expect(named('setOutput').map(([output]) => output)).toEqual(OUTPUTS.map((o) => o.name));
    const outcome = named('setOutput').find(([output]) => output === 'outcome')![1];
    expect(outcome).toBe(fixture.report.outcome);
  });

  it('a run that did not start sets only outcome: with no report, every other output has no value to give', async () => {
    state.inputs = { command: 'migrate', 'to-version': '22.03', 'lock-timeout': 'soon' };
    await run();
    expect(named('setOutput')).toEqual([['outcome', 'failure']]);
  });

  it('is a type error to leave out or misspell in what the adapter sets', () => {
    const report = loadReportFixture('migrate').report;
    const values = outputValues(report, { command: 'migrate', snapshotFile: 'unused' } as Options);
    expect(Object.keys(values)).toEqual(OUTPUTS.map((o) => o.name));
    const { 'comment-url': _left, ...withoutOne } = values;
    // @ts-expect-error comment-url is missing
    const missing: OutputValues = withoutOne;
    // @ts-expect-error comment_url is not a declared output
    const misspelt: OutputValues = { ...withoutOne, comment_url: '' };
    expect([missing, misspelt]).toHaveLength(2);
  });
});

describe('the Action after a rehearsal (the report of a real one, __tests__/fixtures/rehearsal)', () => {
  const rehearsal: ReportFixture = { report: loadRehearsal(), log: [], secrets: 0 };
  const repository = 'example-org/cluster-config';
  const token = 'ghs_FakeToken0123456789abcdef';
  let github: FakeGitHub | undefined;
  const runnerVariables = ['GITHUB_EVENT_PATH', 'GITHUB_REPOSITORY', 'GITHUB_API_URL'] as const;
  const saved = Object.fromEntries(runnerVariables.map((key) => [key, process.env[key]]));
  afterEach(async () => {
    await github?.close();
    github = undefined;
    for (const key of runnerVariables) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  });
  const inputs = (extra: Record<string, string> = {}) => ({
    command: 'rehearse',
    'to-version': '22.03',
    'snapshot-file': '/tmp/bai-migrate-run/snapshot.jsonl.gz',
    'report-file': '/tmp/bai-migrate-run/report.json',
    ...extra,
  });

  function forPullRequest(apiUrl: string): void {
    const event = join(tempDir(), 'event.json');
    writeFileSync(event, JSON.stringify({ action: 'synchronize', pull_request: { number: 7 } }));
    Object.assign(process.env, { GITHUB_EVENT_PATH: event, GITHUB_REPOSITORY: repository, GITHUB_API_URL: apiUrl });
  }

  it('without a github-token: a notice, no comment, an empty comment-url', async () => {
    engine.fixture = rehearsal;
    state.inputs = inputs();
    await run();
    expect(named('notice')).toEqual([['bai-migrate rehearse: no github-token, so no pull-request comment (the job summary has the result)']]);
    expect(named('setOutput').find(([output]) => output === 'comment-url')).toEqual(['comment-url', '']);
    expect(named('setOutput').find(([output]) => output === 'snapshot-file')).toEqual(['snapshot-file', '/tmp/bai-migrate-run/snapshot.jsonl.gz']);
  });

  it('with a token on a pull request: comments, and sets comment-url and the report to the comment', async () => {
    github = await startFakeGitHub(repository, 7, token);
    forPullRequest(github.url);
    engine.fixture = rehearsal;
    state.inputs = inputs({ 'github-token': token });
    await run();
    expect(named('setSecret')).toEqual([[token]]);
    const url = github.comments[1]!.html_url;
    expect(named('info')).toContainEqual([`Pull-request comment created: ${url}`]);
    expect(named('setOutput').find(([output]) => output === 'comment-url')).toEqual(['comment-url', url]);
    expect(JSON.parse(named('setOutput').find(([output]) => output === 'report')![1] as string).commentUrl).toBe(url);
    expect(named('warning')).toEqual([]);
  });

  it('a comment GitHub refuses is a warning, not a failed rehearsal', async () => {
    github = await startFakeGitHub(repository, 7, token);
    forPullRequest(github.url);
    engine.fixture = rehearsal;
    state.inputs = inputs({ 'github-token': 'ghs_NotTheRightToken' });
    await run();
    expect(named('warning')).toEqual([
      [`bai-migrate rehearse: the pull-request comment was not written: GitHub answered GET /repos/${repository}/issues/7/comments?per_page=100&page=1 with 401 Unauthorized`],
    ]);
    expect(named('setOutput').find(([output]) => output === 'outcome')).toEqual(['outcome', 'success']);
    expect(named('setFailed')).toEqual([]);
  });
});

function loadRehearsal(): Report {
  return JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/rehearsal/report.json'), 'utf8')) as Report;
}
