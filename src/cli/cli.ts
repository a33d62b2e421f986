/**
 * The command-line adapter: `bai-migrate <command> --to-version 22.03 …`. Every Action input is a
 * flag of the same name, or an environment variable BAI_MIGRATE_<NAME> (e.g. BAI_MIGRATE_POSTGRES_URL,
 * which keeps passwords out of the process list). The report goes to stdout, the log to stderr.
 * A flag given an empty value is an error (omitting it is how to say "not given"); an empty
 * variable counts as unset, as shells and CI systems commonly leave them.
 */
import { runCommand } from '../core/run-command.js';
import { MigrationError, messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { COMMANDS, INPUTS, parseOptions, secretInputs, type RawInputs } from '../core/options.js';
import { redact, renderText } from '../core/report.js';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

export function usage(): string {
  const width = Math.max(...INPUTS.map((s) => s.name.length)) + 4;
  const lines = INPUTS.filter((s) => s.name !== 'command').map((s) => `  --${s.name.padEnd(width)}${s.description}${s.default ? ` (default: ${s.default})` : ''}`);
  return [
    'Usage: bai-migrate <command> [options]',
    '',
    `Commands: ${COMMANDS.join(', ')} (default: migrate)`,
    '',
    'Options (each also read from BAI_MIGRATE_<NAME>, e.g. BAI_MIGRATE_TO_VERSION; a flag wins over its variable).',
    'A flag needs a value: omit it to use the default (an empty BAI_MIGRATE_<NAME> counts as unset).',
    ...lines,
    '  --json' + ' '.repeat(width - 4) + 'Print the report as JSON instead of text.',
    '  --debug' + ' '.repeat(width - 5) + "Also print debug lines (an unexpected error's stack) to stderr.",
    '  --help' + ' '.repeat(width - 4) + 'Show this help.',
    '',
    'Example: bai-migrate preflight --manager-config /etc/backend.ai/manager.toml --to-version 22.03',
    '',
  ].join('\n');
}

/** Flags, then BAI_MIGRATE_* variables, become the same raw inputs the Action reads. */
export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): { raw: RawInputs; json: boolean; help: boolean; debug: boolean } {
  const raw: Record<string, string> = {};
  for (const spec of INPUTS) {
    const value = env[`BAI_MIGRATE_${spec.name.toUpperCase().replaceAll('-', '_')}`];
    if (value !== undefined && value.trim() !== '') raw[spec.name] = value;
  }
  let json = false;
  let help = false;
  let debug = false;
  let commandGiven = false;
  const names = new Set(INPUTS.map((s) => s.name));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') help = true;
    else if (arg === '--json') json = true;
    else if (arg === '--debug') debug = true;
    else if (arg.startsWith('--')) {
      const [flag, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
      if (!names.has(flag)) throw new MigrationError('invalid-input', `unknown option --${flag}; see bai-migrate --help`);
      const value = inline ?? argv[++i];
      if (value === undefined) throw new MigrationError('invalid-input', `option --${flag} needs a value`);
      // Empty would silently mean "not given" and fall back (to manager.toml, a default): say so instead.
      if (value.trim() === '') throw new MigrationError('invalid-input', emptyFlag(flag));
      raw[flag] = value;
    } else if (!commandGiven) {
      raw.command = arg;
      commandGiven = true;
    } else throw new MigrationError('invalid-input', `unexpected argument "${arg}"; see bai-migrate --help`);
  }
  return { raw, json, help, debug };
}

function emptyFlag(flag: string): string {
  const fallback = FALLBACKS[flag] ?? (INPUTS.find((s) => s.name === flag)?.default !== undefined ? `its default (${INPUTS.find((s) => s.name === flag)!.default})` : 'the default');
  return `option --${flag} was given an empty value; omit it to use ${fallback}`;
}

/** What an omitted connection flag falls back to (see connections.ts). */
const FALLBACKS: Record<string, string> = {
  'etcd-namespace': "manager.toml's [etcd] namespace",
  'etcd-endpoints': "manager.toml's [etcd] addr",
  'etcd-user': "manager.toml's [etcd] user",
  'etcd-password': "manager.toml's [etcd] password",
  'postgres-url': "manager.toml's [db]",
  'redis-url': "etcd's config/redis",
  'manager-config': 'the manager.toml found as the manager finds it',
};

const stderrLogger = (debug: boolean): Logger => ({
  info: (m) => process.stderr.write(`${m}\n`),
  warning: (m) => process.stderr.write(`warning: ${m}\n`),
  error: (m) => process.stderr.write(`error: ${m}\n`),
  debug: (m) => {
    if (debug) process.stderr.write(`debug: ${m}\n`);
  },
  async group(name, body) {
    process.stderr.write(`== ${name}\n`);
    return body();
  },
});

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let secrets: string[] = [];
  // Known even when the rest of the arguments cannot be parsed.
  const debug = argv.includes('--debug');
  try {
    const { raw, json, help } = parseArgs(argv, env);
    if (help) {
      process.stdout.write(usage());
      return 0;
    }
    secrets = secretInputs(raw);
    const options = parseOptions(raw);
    const report = await runCommand(options, { log: stderrLogger(debug), onSecret: (s) => secrets.push(s), env });
    // The log on stderr printed every finding once; the text on stdout counts them (--json has them all).
    process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : renderText(report, { logged: true }));
    if (report.outcome === 'success') return 0;
    return report.errorCode === 'invalid-input' ? EXIT_USAGE : EXIT_FAILED;
  } catch (error) {
    process.stderr.write(`bai-migrate: ${redact(messageOf(error), secrets)}\n`);
    if (debug && !(error instanceof MigrationError) && error instanceof Error && error.stack) process.stderr.write(`debug: ${redact(error.stack, secrets)}\n`);
    return error instanceof MigrationError && error.code === 'invalid-input' ? EXIT_USAGE : EXIT_FAILED;
  }
}

process.exitCode = await main(process.argv.slice(2), process.env);
