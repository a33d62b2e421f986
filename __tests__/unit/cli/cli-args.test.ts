import { describe, expect, it } from 'vitest';
import { parseCommandLine, usage } from '../../../src/cli/args.js';
import { COMMANDS, INPUTS, parseOptions, unusedInputs } from '../../../src/options/index.js';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseCommandLine(argv, env);

describe('the command line', () => {
  it('reads the command, values and the CLI switches', () => {
    expect(parse(['plan', '--to-version', '22.03', '--from-version=21.09', '--json', '--debug'])).toEqual({
      raw: { command: 'plan', 'to-version': '22.03', 'from-version': '21.09' },
      json: true,
      help: false,
      debug: true,
      version: false,
    });
    expect(parse(['-h'])).toMatchObject({ raw: {}, help: true, json: false });
    expect(parse(['preflight', '--help']).help).toBe(true);
    expect(parse(['--version'])).toMatchObject({ raw: {}, version: true, help: false });
    expect(parse(['-V']).version).toBe(true);
    expect(() => parse(['--version=1'])).toThrow('option --version takes no value; see bai-migrate --help');
    expect(() => parse(['preflight', '--to-version', '-V'])).toThrow(/^option --to-version needs a value$/);
  });

  it('takes boolean inputs as switches, with an optional true or false', () => {
    expect(parse(['migrate', '--dry-run']).raw).toEqual({ command: 'migrate', 'dry-run': 'true' });
    expect(parse(['--dry-run', 'migrate']).raw).toEqual({ command: 'migrate', 'dry-run': 'true' });
    expect(parse(['migrate', '--dry-run', '--to-version', '22.03']).raw).toEqual({ command: 'migrate', 'dry-run': 'true', 'to-version': '22.03' });
    expect(parse(['migrate', '--dry-run=false']).raw['dry-run']).toBe('false');
    expect(parse(['migrate', '--dry-run', 'false']).raw).toEqual({ command: 'migrate', 'dry-run': 'false' });
    expect(parse(['migrate', '--dry-run', 'True']).raw['dry-run']).toBe('true');
    expect(parse(['migrate', '--dry-run=TRUE']).raw['dry-run']).toBe('true');
    expect(parse(['migrate', '--no-dry-run']).raw['dry-run']).toBe('false');
    // --no-dry-run is a bare switch: a true or false after it is an argument of its own.
    expect(() => parse(['migrate', '--no-dry-run', 'false'])).toThrow('unexpected argument "false"; see bai-migrate --help');
    // The last one wins, as for every option.
    expect(parse(['migrate', '--dry-run', '--dry-run=false']).raw['dry-run']).toBe('false');
    expect(parse(['migrate', '--periodic-sync-stats', 'false']).raw['periodic-sync-stats']).toBe('false');
  });

  it('refuses a boolean value that is none, naming the input and what it accepts', () => {
    expect(() => parse(['preflight', '--dry-run', 'yes'])).toThrow(/^dry-run "yes" is not a boolean; accepted: true, false$/);
    expect(() => parse(['preflight', '--keep-rehearsal=maybe'])).toThrow(/^keep-rehearsal "maybe" is not a boolean; accepted: true, false$/);
    expect(() => parse(['preflight', '--no-dry-run=true'])).toThrow('option --no-dry-run takes no value; see bai-migrate --help');
    expect(() => parse(['preflight', '--json=false'])).toThrow('option --json takes no value; see bai-migrate --help');
  });

  it('keeps values that start with a dash, given as the next argument or after =', () => {
    expect(parse(['migrate', '--pip-args', '--index-url https://mirror.example/simple']).raw['pip-args']).toBe('--index-url https://mirror.example/simple');
    expect(parse(['migrate', '--pip-args=--timeout 30']).raw['pip-args']).toBe('--timeout 30');
    expect(parse(['clear-history', '--batch-size', '-5']).raw['batch-size']).toBe('-5');
    expect(parse(['migrate', '--etcd-endpoints=a:1,b:2']).raw['etcd-endpoints']).toBe('a:1,b:2');
  });

  it('refuses unknown options', () => {
    expect(() => parse(['preflight', '--from', '21.09'])).toThrow(/^unknown option --from; see bai-migrate --help$/);
    expect(() => parse(['preflight', '--from=21.09'])).toThrow(/^unknown option --from; see bai-migrate --help$/);
    expect(() => parse(['preflight', '-x'])).toThrow(/^unknown option -x; see bai-migrate --help$/);
    // Only switches have a --no- form.
    expect(() => parse(['preflight', '--no-to-version'])).toThrow(/^unknown option --no-to-version; see bai-migrate --help$/);
    // The command is the positional, not a flag.
    expect(() => parse(['--command', 'plan'])).toThrow(/^unknown option --command; see bai-migrate --help$/);
  });

  it('refuses an option without its value, also when the next argument is an option', () => {
    expect(() => parse(['preflight', '--to-version'])).toThrow(/^option --to-version needs a value$/);
    expect(() => parse(['preflight', '--to-version', '--json'])).toThrow(/^option --to-version needs a value$/);
    expect(() => parse(['preflight', '--to-version', '--dry-run'])).toThrow(/^option --to-version needs a value$/);
    expect(() => parse(['preflight', '--to-version', '--no-dry-run'])).toThrow(/^option --to-version needs a value$/);
    expect(() => parse(['preflight', '--to-version', '--backup-dir=x'])).toThrow(/^option --to-version needs a value$/);
    expect(() => parse(['preflight', '--to-version', '-h'])).toThrow(/^option --to-version needs a value$/);
  });

  it('refuses an empty value, naming what omitting it would fall back to', () => {
    expect(() => parse(['migrate', '--etcd-namespace', ''])).toThrow(/^option --etcd-namespace was given an empty value; omit it to use manager\.toml's \[etcd\] namespace$/);
    expect(() => parse(['migrate', '--etcd-namespace='])).toThrow(/^option --etcd-namespace was given an empty value; omit it to use manager\.toml's \[etcd\] namespace$/);
    expect(() => parse(['migrate', '--lock-timeout', ' '])).toThrow(/^option --lock-timeout was given an empty value; omit it to use its default \(60\)$/);
    expect(() => parse(['migrate', '--to-version='])).toThrow(/^option --to-version was given an empty value; omit it to use the default$/);
    expect(() => parse(['migrate', '--dry-run='])).toThrow(/^option --dry-run was given an empty value; omit it to use its default \(false\)$/);
  });

  it('refuses a second positional argument', () => {
    expect(() => parse(['plan', 'migrate'])).toThrow(/^unexpected argument "migrate"; see bai-migrate --help$/);
    expect(() => parse(['migrate', '--dry-run', 'plan'])).toThrow(/^unexpected argument "plan"; see bai-migrate --help$/);
  });

  it('reads BAI_MIGRATE_<NAME>, an empty one as unset, and lets a flag win over it', () => {
    const env = { BAI_MIGRATE_TO_VERSION: '22.03', BAI_MIGRATE_POSTGRES_URL: 'postgresql://u:p@h/db', BAI_MIGRATE_ETCD_NAMESPACE: '', BAI_MIGRATE_DRY_RUN: 'true', BAI_MIGRATE_COMMAND: 'verify' };
    expect(parse([], env).raw).toEqual({ 'to-version': '22.03', 'postgres-url': 'postgresql://u:p@h/db', 'dry-run': 'true', command: 'verify' });
    expect(parse(['plan', '--to-version', '22.09', '--dry-run=false'], env).raw).toEqual({ 'to-version': '22.09', 'postgres-url': 'postgresql://u:p@h/db', 'dry-run': 'false', command: 'plan' });
    expect(parse(['--no-dry-run'], { BAI_MIGRATE_DRY_RUN: 'true' }).raw['dry-run']).toBe('false');
    // Whitespace alone is unset too; the value itself is passed as it is (parseOptions trims it).
    expect(parse([], { BAI_MIGRATE_TO_VERSION: '  ', BAI_MIGRATE_RETENTION: ' 7d ' }).raw).toEqual({ retention: ' 7d ' });
    // A variable's value is checked by parseOptions, with the message an input gets.
    expect(() => parseOptions(parse([], { BAI_MIGRATE_DRY_RUN: 'yes', BAI_MIGRATE_TO_VERSION: '22.03' }).raw)).toThrow('dry-run "yes" is not a boolean; accepted: true, false');
  });

  it('gives parseOptions what the Action would', () => {
    const options = parseOptions(parse(['clear-history', '--retention', '30d', '--batch-size', '500', '--vacuum', 'analyze', '--sweep-orphaned-stat-keys']).raw);
    expect(options).toMatchObject({ command: 'clear-history', batchSize: 500, vacuum: 'analyze', sweepOrphanedStatKeys: true, dryRun: false });
  });
});

describe('the help', () => {
  it('lists every input but command once, grouped by the commands that use it', () => {
    const text = usage();
    for (const spec of INPUTS.filter((s) => s.name !== 'command')) expect(text.match(new RegExp(`^ {2}--${spec.name}[ [<]`, 'gm')), spec.name).toHaveLength(1);
    expect(text).not.toMatch(/^ {2}--command/m);
    expect(text).toMatch(/Options of clear-history:\n(.*\n)*? {2}--vacuum <none\|analyze\|full> +clear-history: none, analyze/);
    expect(text).toMatch(/Options of every command:\n {2}--manager-config <path>/);
    expect(text).toMatch(/^ {2}--dry-run\[=true\|false\] +Check and report/m);
    expect(text).toMatch(/^ {2}-h, --help +Show this help/m);
    expect(text).toMatch(/^ {2}-V, --version +Print bai-migrate's version\.$/m);
  });

  it("shows etcd-namespace's default as what it means, and an omitted flag still falls back to it", () => {
    expect(usage()).toMatch(/^ {2}--etcd-namespace <text> +etcd namespace .*\(default: manager\.toml's \[etcd\] namespace\)$/m);
    expect(usage()).not.toContain('(default: from-manager-config)');
    expect(parseOptions(parse(['verify', '--to-version', '22.03']).raw).etcdNamespace).toBeUndefined();
    expect(parseOptions(parse(['verify', '--to-version', '22.03', '--etcd-namespace', 'local']).raw).etcdNamespace).toBe('local');
  });

  it('after a command, shows only the options it uses', () => {
    const text = usage('clear-history');
    expect(text).toContain('Usage: bai-migrate clear-history [options]');
    expect(text).toMatch(/^ {2}--vacuum /m);
    expect(text).toMatch(/^ {2}--retention /m);
    expect(text).not.toMatch(/^ {2}--snapshot-file /m);
    expect(text).not.toMatch(/^ {2}--from-version /m);
    expect(parse(['clear-history', '--help'])).toMatchObject({ help: true, raw: { command: 'clear-history' } });
  });
});

describe('inputs given to a command that does not use them', () => {
  it('are named in a warning with the commands that use them; defaults and empty values are not', () => {
    expect(unusedInputs({ command: 'plan', 'to-version': '22.03', vacuum: 'full', 'dry-run': 'false', 'batch-size': '', 'report-file': 'r.json' }, 'plan')).toEqual([
      'input vacuum is ignored: command plan does not use it (used by: clear-history)',
    ]);
    expect(unusedInputs({ 'snapshot-key': 'k', 'github-token': 't' }, 'snapshot')).toEqual(['input github-token is ignored: command snapshot does not use it (used by: rehearse)']);
  });

  it('every input names the commands that use it, in the order of COMMANDS', () => {
    for (const spec of INPUTS) {
      expect(spec.usedBy.length, spec.name).toBeGreaterThan(0);
      expect(
        [...spec.usedBy].sort((a, b) => COMMANDS.indexOf(a) - COMMANDS.indexOf(b)),
        spec.name,
      ).toEqual(spec.usedBy);
    }
  });
});
