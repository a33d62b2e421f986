import { createRequire as __baiCreateRequire } from 'node:module'; const require = __baiCreateRequire(import.meta.url);
import {
  COMMANDS,
  INPUTS,
  MigrationError,
  messageOf,
  parseOptions,
  redact,
  renderText,
  runCommand,
  secretInputs
} from "./chunk-27QFIF4K.js";
import "./chunk-MHY44AIF.js";
import "./chunk-YIVHD5DW.js";

// src/cli/cli.ts
var EXIT_FAILED = 1;
var EXIT_USAGE = 2;
function usage() {
  const width = Math.max(...INPUTS.map((s) => s.name.length)) + 4;
  const lines = INPUTS.filter((s) => s.name !== "command").map((s) => `  --${s.name.padEnd(width)}${s.description}${s.default ? ` (default: ${s.default})` : ""}`);
  return [
    "Usage: bai-migrate <command> [options]",
    "",
    `Commands: ${COMMANDS.join(", ")} (default: migrate)`,
    "",
    "Options (each also read from BAI_MIGRATE_<NAME>, e.g. BAI_MIGRATE_TO_VERSION; a flag wins over its variable).",
    "A flag needs a value: omit it to use the default (an empty BAI_MIGRATE_<NAME> counts as unset).",
    ...lines,
    "  --json" + " ".repeat(width - 4) + "Print the report as JSON instead of text.",
    "  --debug" + " ".repeat(width - 5) + "Also print debug lines (an unexpected error's stack) to stderr.",
    "  --help" + " ".repeat(width - 4) + "Show this help.",
    "",
    "Example: bai-migrate preflight --manager-config /etc/backend.ai/manager.toml --to-version 22.03",
    ""
  ].join("\n");
}
function parseArgs(argv, env) {
  const raw = {};
  for (const spec of INPUTS) {
    const value = env[`BAI_MIGRATE_${spec.name.toUpperCase().replaceAll("-", "_")}`];
    if (value !== void 0 && value.trim() !== "") raw[spec.name] = value;
  }
  let json = false;
  let help = false;
  let debug = false;
  let commandGiven = false;
  const names = new Set(INPUTS.map((s) => s.name));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") help = true;
    else if (arg === "--json") json = true;
    else if (arg === "--debug") debug = true;
    else if (arg.startsWith("--")) {
      const [flag, inline] = arg.slice(2).split(/=(.*)/s, 2);
      if (!names.has(flag)) throw new MigrationError("invalid-input", `unknown option --${flag}; see bai-migrate --help`);
      const value = inline ?? argv[++i];
      if (value === void 0) throw new MigrationError("invalid-input", `option --${flag} needs a value`);
      if (value.trim() === "") throw new MigrationError("invalid-input", emptyFlag(flag));
      raw[flag] = value;
    } else if (!commandGiven) {
      raw.command = arg;
      commandGiven = true;
    } else throw new MigrationError("invalid-input", `unexpected argument "${arg}"; see bai-migrate --help`);
  }
  return { raw, json, help, debug };
}
function emptyFlag(flag) {
  const fallback = FALLBACKS[flag] ?? (INPUTS.find((s) => s.name === flag)?.default !== void 0 ? `its default (${INPUTS.find((s) => s.name === flag).default})` : "the default");
  return `option --${flag} was given an empty value; omit it to use ${fallback}`;
}
var FALLBACKS = {
  "etcd-namespace": "manager.toml's [etcd] namespace",
  "etcd-endpoints": "manager.toml's [etcd] addr",
  "etcd-user": "manager.toml's [etcd] user",
  "etcd-password": "manager.toml's [etcd] password",
  "postgres-url": "manager.toml's [db]",
  "redis-url": "etcd's config/redis",
  "manager-config": "the manager.toml found as the manager finds it"
};
var stderrLogger = (debug) => ({
  info: (m) => process.stderr.write(`${m}
`),
  warning: (m) => process.stderr.write(`warning: ${m}
`),
  error: (m) => process.stderr.write(`error: ${m}
`),
  debug: (m) => {
    if (debug) process.stderr.write(`debug: ${m}
`);
  },
  async group(name, body) {
    process.stderr.write(`== ${name}
`);
    return body();
  }
});
async function main(argv, env) {
  let secrets = [];
  const debug = argv.includes("--debug");
  try {
    const { raw, json, help } = parseArgs(argv, env);
    if (help) {
      process.stdout.write(usage());
      return 0;
    }
    secrets = secretInputs(raw);
    const options = parseOptions(raw);
    const report = await runCommand(options, { log: stderrLogger(debug), onSecret: (s) => secrets.push(s), env });
    process.stdout.write(json ? `${JSON.stringify(report, null, 2)}
` : renderText(report, { logged: true }));
    if (report.outcome === "success") return 0;
    return report.errorCode === "invalid-input" ? EXIT_USAGE : EXIT_FAILED;
  } catch (error) {
    process.stderr.write(`bai-migrate: ${redact(messageOf(error), secrets)}
`);
    if (debug && !(error instanceof MigrationError) && error instanceof Error && error.stack) process.stderr.write(`debug: ${redact(error.stack, secrets)}
`);
    return error instanceof MigrationError && error.code === "invalid-input" ? EXIT_USAGE : EXIT_FAILED;
  }
}
process.exitCode = await main(process.argv.slice(2), process.env);
export {
  main,
  parseArgs,
  usage
};
//# sourceMappingURL=cli-YF7QRXNA.js.map
