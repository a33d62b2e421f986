#!/usr/bin/env node
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
} from "./chunks/chunk-VQORVXQM.js";
import "./chunks/chunk-SCUMJWIY.js";
import "./chunks/chunk-O7VACBHG.js";

// src/cli.ts
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
    "Options (each also read from BAI_MIGRATE_<NAME>, e.g. BAI_MIGRATE_TO_VERSION):",
    ...lines,
    "  --json" + " ".repeat(width - 4) + "Print the report as JSON instead of text.",
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
    if (value !== void 0) raw[spec.name] = value;
  }
  let json = false;
  let help = false;
  let commandGiven = false;
  const names = new Set(INPUTS.map((s) => s.name));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") help = true;
    else if (arg === "--json") json = true;
    else if (arg.startsWith("--")) {
      const [flag, inline] = arg.slice(2).split(/=(.*)/s, 2);
      if (!names.has(flag)) throw new MigrationError("invalid-input", `unknown option --${flag}; see bai-migrate --help`);
      const value = inline ?? argv[++i];
      if (value === void 0) throw new MigrationError("invalid-input", `option --${flag} needs a value`);
      raw[flag] = value;
    } else if (!commandGiven) {
      raw.command = arg;
      commandGiven = true;
    } else throw new MigrationError("invalid-input", `unexpected argument "${arg}"; see bai-migrate --help`);
  }
  return { raw, json, help };
}
var stderrLogger = {
  info: (m) => process.stderr.write(`${m}
`),
  warning: (m) => process.stderr.write(`warning: ${m}
`),
  error: (m) => process.stderr.write(`error: ${m}
`),
  async group(name, body) {
    process.stderr.write(`== ${name}
`);
    return body();
  }
};
async function main(argv, env) {
  let secrets = [];
  try {
    const { raw, json, help } = parseArgs(argv, env);
    if (help) {
      process.stdout.write(usage());
      return 0;
    }
    secrets = secretInputs(raw);
    const options = parseOptions(raw);
    const report = await runCommand(options, { log: stderrLogger, onSecret: (s) => secrets.push(s), env });
    process.stdout.write(json ? `${JSON.stringify(report, null, 2)}
` : renderText(report));
    if (report.outcome === "success") return 0;
    return report.errorCode === "invalid-input" ? EXIT_USAGE : EXIT_FAILED;
  } catch (error) {
    process.stderr.write(`bai-migrate: ${redact(messageOf(error), secrets)}
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
