/**
 * The command-line adapter: `bai-migrate <command> --to-version 22.03 …` (args.ts reads the
 * command line). The report goes to stdout, the log to stderr.
 */
import { runCommand } from '../commands/run-command.js';
import { MigrationError, messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { parseOptions, secretInputs, unusedInputs } from '../options/index.js';
import { parseCommandLine, usage } from './args.js';
import { redact, renderText } from '../core/report/index.js';
// Bundled into dist/cli.js by esbuild, read as it is from src/ (tests, scripts/run-ts.mjs).
import packageJson from '../../package.json' with { type: 'json' };

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

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
    const { raw, json, help, version } = parseCommandLine(argv, env);
    if (version) {
      process.stdout.write(`bai-migrate ${packageJson.version}\n`);
      return 0;
    }
    if (help) {
      process.stdout.write(usage(raw.command));
      return 0;
    }
    secrets = secretInputs(raw);
    const options = parseOptions(raw);
    const log = stderrLogger(debug);
    for (const warning of unusedInputs(raw, options.command)) log.warning(warning);
    const report = await runCommand(options, { log, onSecret: (s) => secrets.push(s), env });
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
