/**
 * The CLI adapter (src/cli/cli.ts main()) without servers: runCommand replays a real report
 * (__tests__/fixtures/reports). What an operator or a script sees: the exit code (0 success, 1
 * failure, 2 invalid input), the report on stdout as text or --json, the log on stderr.
 */
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadReportFixture, replay, type LogEvent, type ReportFixture } from '../../support/report-fixtures.js';
import type { Options } from '../../../src/options/index.js';
import type { RunHooks } from '../../../src/commands/run-command.js';

const engine = vi.hoisted(() => ({
  fixture: undefined as ReportFixture | undefined,
  throws: undefined as Error | undefined,
  options: [] as Options[],
  env: [] as Array<NodeJS.ProcessEnv | undefined>,
}));
vi.mock('../../../src/commands/run-command.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../src/commands/run-command.js')>()),
  runCommand: vi.fn(async (options: Options, hooks: RunHooks) => {
    engine.options.push(options);
    engine.env.push(hooks.env);
    if (engine.throws) throw engine.throws;
    return replay(engine.fixture!, hooks);
  }),
}));

const output = { stdout: '', stderr: '' };
const writes = {
  stdout: vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((output.stdout += String(chunk)), true)),
  stderr: vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((output.stderr += String(chunk)), true)),
};

// cli.ts runs main() on process.argv when it loads: let that be --help, then measure main() alone.
const argv = process.argv;
process.argv = [argv[0]!, 'bai-migrate', '--help'];
const { main } = await import('../../../src/cli/cli.js');
process.argv = argv;
process.exitCode = undefined;

afterAll(() => {
  writes.stdout.mockRestore();
  writes.stderr.mockRestore();
});
beforeEach(() => {
  output.stdout = '';
  output.stderr = '';
  engine.options.length = 0;
  engine.env.length = 0;
  engine.throws = undefined;
});
afterEach(() => {
  expect(process.exitCode, 'main() returns its exit code; cli.ts alone sets it').toBeUndefined();
});

/** The flags of the fixtures' runs (make-report-fixtures.ts), as an operator would type them. */
function fixtureArgs(name: string): string[] {
  // Flag and value on one line, as typed.
  // prettier-ignore
  const migrate = [
    'migrate',
    '--to-version', '22.03',
    '--manager-config', '/tmp/bai-migrate-test/manager.toml',
    '--alembic-command', '/usr/bin/python3 -m alembic',
    '--alembic-config', '/work/__tests__/fixtures/alembic/alembic.ini',
    '--periodic-sync-stats', 'true',
    '--backup-dir', '/tmp/bai-migrate-backup',
    '--report-file', '/tmp/bai-migrate-run/report.json',
    '--connect-timeout', '5',
  ];
  if (name === 'dry-run') return [...migrate, '--lock-backend', 'etcd', '--dry-run', 'true'];
  // preflight takes no backup: --backup-dir given to it would be warned about as ignored.
  if (name === 'failed-preflight') return ['preflight', ...migrate.slice(1).filter((arg, i, all) => arg !== '--backup-dir' && all[i - 1] !== '--backup-dir'), '--lock-backend', 'redlock'];
  if (name === 'missing-manager-config') return ['preflight', '--to-version', '22.03', '--manager-config', '/nonexistent/manager.toml'];
  return [...migrate, '--lock-backend', 'etcd'];
}

/** The stderr log for the engine's logger calls: info as it is, warning:/error:/debug: prefixes, "== group" headings. */
function expectedLog(events: LogEvent[]): string {
  return events
    .map((e) => {
      if (e.kind === 'group') return `== ${e.name}\n`;
      if (e.kind === 'group-end') return '';
      if (e.kind === 'info') return `${e.message}\n`;
      // Debug lines show only with --debug.
      if (e.kind === 'debug') return '';
      return `${e.kind}: ${e.message}\n`;
    })
    .join('');
}

describe.each([
  ['migrate', 0],
  ['dry-run', 0],
  ['failed-preflight', 1],
  ['missing-manager-config', 2],
] as const)('the CLI with the report of a real %s', (name, code) => {
  const fixture = loadReportFixture(name);

  it(`exits ${code}, logs the run on stderr and prints the report as text on stdout`, async () => {
    engine.fixture = fixture;
    expect(await main(fixtureArgs(name), {})).toBe(code);
    expect(engine.options).toHaveLength(1);
    expect(engine.options[0]).toMatchObject({ command: fixture.report.command, dryRun: fixture.report.dryRun });
    expect(output.stderr).toBe(expectedLog(fixture.log));
    expect(output.stdout.split('\n')[0]).toBe(`bai-migrate ${fixture.report.command}${fixture.report.dryRun ? ' (dry run)' : ''}`);
    // A failure ends with its summary: the findings it counts were each logged already.
    expect(output.stdout.endsWith(fixture.report.outcome === 'success' ? 'Result: success\n' : `Result: failure\n${fixture.report.errorSummary ?? fixture.report.error}\n`)).toBe(true);
    // The log printed each finding already: stdout counts them instead of repeating them.
    for (const entry of fixture.report.entries.filter((e) => e.phase !== 'plan')) expect(output.stdout).not.toContain(entry.detail);
  });

  it(`with --json exits ${code} and prints exactly the report as JSON`, async () => {
    engine.fixture = fixture;
    expect(await main([...fixtureArgs(name), '--json'], {})).toBe(code);
    expect(JSON.parse(output.stdout)).toEqual(fixture.report);
    expect(output.stdout.endsWith('}\n')).toBe(true);
    expect(output.stderr).toBe(expectedLog(fixture.log));
  });
});

describe('the CLI around the engine', () => {
  it('an error that escapes the engine (a bug) exits 1 with its message; its stack only with --debug', async () => {
    // Not a report: nothing real returns this, which is the point of the path.
    engine.throws = new TypeError("Cannot read properties of undefined (reading 'rows')");
    expect(await main(fixtureArgs('migrate'), {})).toBe(1);
    expect(output.stderr).toBe("bai-migrate: Cannot read properties of undefined (reading 'rows')\n");
    output.stderr = '';
    expect(await main([...fixtureArgs('migrate'), '--debug'], {})).toBe(1);
    expect(output.stderr).toBe(`bai-migrate: Cannot read properties of undefined (reading 'rows')\ndebug: ${engine.throws.stack}\n`);
    expect(output.stdout).toBe('');
  });

  it('reads BAI_MIGRATE_* variables as the flags, and hands the environment to the engine', async () => {
    engine.fixture = loadReportFixture('dry-run');
    const env = { BAI_MIGRATE_TO_VERSION: '22.03', BAI_MIGRATE_DRY_RUN: 'true', BACKEND_CONFIG_FILE: '/etc/backend.ai/manager.toml' };
    expect(await main(['migrate'], env)).toBe(0);
    expect(engine.options[0]).toMatchObject({ command: 'migrate', dryRun: true, toVersion: { input: '22.03' } });
    expect(engine.env).toEqual([env]);
  });

  it('refuses an input it cannot parse with exit code 2 and the reason on stderr, never starting the engine', async () => {
    for (const args of [['migrate', '--to-version', '22.03', '--dry-run', 'maybe'], ['migrate', '--to-version', '22.03', '--no-such-flag', 'x'], ['migrate']]) {
      output.stderr = '';
      expect(await main(args, {}), args.join(' ')).toBe(2);
      expect(output.stderr).toMatch(/^bai-migrate: .+\n$/);
      expect(output.stdout).toBe('');
    }
    expect(engine.options).toEqual([]);
  });

  it('keeps a secret given on the command line out of its error message', async () => {
    const url = 'postgresql://postgres:pg-Secr3t@db.internal:5432/backend';
    expect(await main(['migrate', '--to-version', 'not-a-version', '--postgres-url', url], {})).toBe(2);
    expect(output.stderr).toMatch(/^bai-migrate: /);
    expect(output.stderr).not.toContain('pg-Secr3t');
  });

  it('--help prints the usage on stdout and exits 0 without running anything', async () => {
    expect(await main(['--help'], {})).toBe(0);
    expect(output.stdout.startsWith('Usage: bai-migrate <command> [options]\n')).toBe(true);
    expect(output.stderr).toBe('');
    expect(engine.options).toEqual([]);
  });

  it.each([['--version'], ['-V'], ['plan', '--version']])('%s prints bai-migrate and the version of package.json, and exits 0 without running anything', async (...args) => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(await main(args, {})).toBe(0);
    expect(output.stdout).toBe(`bai-migrate ${version}\n`);
    expect(output.stderr).toBe('');
    expect(engine.options).toEqual([]);
  });
});
