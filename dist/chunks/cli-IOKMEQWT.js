import { createRequire as __baiCreateRequire } from 'node:module'; const require = __baiCreateRequire(import.meta.url);
import {
  COMMANDS,
  INPUTS,
  MigrationError,
  checkKind,
  inputSpec,
  messageOf,
  parseOptions,
  redact,
  renderText,
  runCommand,
  secretInputs,
  unusedInputs
} from "./chunk-FRIAXNRL.js";
import "./chunk-PS4AXIT4.js";
import "./chunk-YIVHD5DW.js";

// src/cli/args.ts
import { parseArgs } from "node:util";
var CLI_FLAGS = [
  { name: "json", description: "Print the report as JSON instead of text." },
  { name: "debug", description: "Also print debug lines (an unexpected error's stack) to stderr." },
  { name: "help", short: "h", description: "Show this help; after a command, only the options it uses." },
  { name: "version", short: "V", description: "Print bai-migrate's version." }
];
var FLAG_INPUTS = INPUTS.filter((spec) => spec.name !== "command");
var PARSE_OPTIONS = Object.fromEntries([
  ...FLAG_INPUTS.map((spec) => [spec.name, { type: spec.kind === "boolean" ? "boolean" : "string" }]),
  ...CLI_FLAGS.map((flag) => [flag.name, { type: "boolean", ..."short" in flag ? { short: flag.short } : {} }])
]);
function environmentName(spec) {
  return `BAI_MIGRATE_${spec.name.toUpperCase().replaceAll("-", "_")}`;
}
function parseCommandLine(argv, env) {
  const raw = {};
  for (const spec of INPUTS) {
    const value = env[environmentName(spec)];
    if (value !== void 0 && value.trim() !== "") raw[spec.name] = value;
  }
  let parsed;
  const args = normalise(argv);
  try {
    parsed = parseArgs({ args, options: PARSE_OPTIONS, allowPositionals: true, allowNegative: true, strict: true });
  } catch (error) {
    throw new MigrationError("invalid-input", `${error instanceof Error ? error.message : String(error)}; see bai-migrate --help`);
  }
  for (const spec of FLAG_INPUTS) {
    const value = parsed.values[spec.name];
    if (value !== void 0) raw[spec.name] = String(value);
  }
  const [command, extra] = parsed.positionals;
  if (extra !== void 0) throw new MigrationError("invalid-input", `unexpected argument "${extra}"; see bai-migrate --help`);
  if (command !== void 0) raw.command = command;
  return { raw, json: parsed.values.json === true, help: parsed.values.help === true, debug: parsed.values.debug === true, version: parsed.values.version === true };
}
function normalise(argv) {
  const { tokens } = parseArgs({ args: [...argv], options: PARSE_OPTIONS, allowPositionals: true, allowNegative: true, strict: false, tokens: true });
  const args = [];
  const consumed = /* @__PURE__ */ new Set();
  for (const [i, token] of tokens.entries()) {
    if (token.kind === "option-terminator") {
      args.push("--");
    } else if (token.kind === "positional") {
      if (!consumed.has(token.index)) args.push(token.value);
    } else if (token.name.startsWith("no-") && PARSE_OPTIONS[token.name.slice(3)]?.type === "boolean") {
      throw new MigrationError("invalid-input", `option ${token.rawName} takes no value; see bai-migrate --help`);
    } else if (!(token.name in PARSE_OPTIONS) || token.rawName.startsWith("--no-") && PARSE_OPTIONS[token.name].type !== "boolean") {
      throw new MigrationError("invalid-input", `unknown option ${token.rawName}; see bai-migrate --help`);
    } else if (CLI_FLAGS.some((flag) => flag.name === token.name)) {
      if (token.value !== void 0) throw new MigrationError("invalid-input", `option ${token.rawName} takes no value; see bai-migrate --help`);
      args.push(token.rawName);
    } else if (PARSE_OPTIONS[token.name].type === "string") {
      if (token.value === void 0 || !token.inlineValue && isOption(token.value)) throw new MigrationError("invalid-input", `option --${token.name} needs a value`);
      if (token.value.trim() === "") throw new MigrationError("invalid-input", emptyFlag(token.name));
      args.push(`--${token.name}=${token.value}`);
    } else {
      const next = tokens[i + 1];
      let value = token.value;
      if (value === void 0 && !token.rawName.startsWith("--no-") && next?.kind === "positional" && next.index === token.index + 1 && !COMMANDS.includes(next.value)) {
        value = next.value;
        consumed.add(next.index);
      }
      if (value === void 0) args.push(token.rawName);
      else if (value.trim() === "") throw new MigrationError("invalid-input", emptyFlag(token.name));
      else args.push(checkKind(inputSpec(token.name), value) ? `--${token.name}` : `--no-${token.name}`);
    }
  }
  return args;
}
function isOption(arg) {
  if (CLI_FLAGS.some((flag) => "short" in flag && arg === `-${flag.short}`)) return true;
  if (!arg.startsWith("--")) return false;
  const name = arg.slice(2).split("=")[0];
  return name in PARSE_OPTIONS || name.startsWith("no-") && PARSE_OPTIONS[name.slice(3)]?.type === "boolean";
}
function emptyFlag(flag) {
  const spec = inputSpec(flag);
  const fallback = FALLBACKS[flag] ?? (spec?.default !== void 0 ? `its default (${spec.default})` : "the default");
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
function valueHint(spec) {
  switch (spec.kind) {
    case "boolean":
      return "[=true|false]";
    case "enum":
      return ` <${spec.values.join("|")}>`;
    case "number":
      return spec.range.unit === "seconds" ? " <seconds>" : " <n>";
    case "list":
      return " <list>";
    case "secret":
      return " <secret>";
    case "string":
      return " <text>";
    default:
      return ` <${spec.kind}>`;
  }
}
function usage(command) {
  const forCommand = COMMANDS.find((c) => c === command);
  const specs = FLAG_INPUTS.filter((spec) => !forCommand || spec.usedBy.includes(forCommand));
  const labels = specs.map((spec) => `--${spec.name}${valueHint(spec)}`);
  const width = Math.max(...labels.map((l) => l.length), ...CLI_FLAGS.map((f) => f.name.length + 7)) + 2;
  const line = (label, description) => `  ${label.padEnd(width)}${description}`;
  const heading = (spec) => forCommand ? "Options:" : spec.usedBy.length === COMMANDS.length ? "Options of every command:" : `Options of ${spec.usedBy.join(", ")}:`;
  const groups = /* @__PURE__ */ new Map([["Options of every command:", []]]);
  specs.forEach((spec, i) => {
    const lines = groups.get(heading(spec)) ?? [];
    lines.push(line(labels[i], `${spec.description}${spec.default !== void 0 ? ` (default: ${FALLBACKS[spec.name] ?? spec.default})` : ""}`));
    groups.set(heading(spec), lines);
  });
  const sections = [...groups].filter(([, lines]) => lines.length > 0).flatMap(([title, lines]) => ["", title, ...lines]);
  return [
    forCommand ? `Usage: bai-migrate ${forCommand} [options]` : "Usage: bai-migrate <command> [options]",
    "",
    `Commands: ${COMMANDS.join(", ")} (default: migrate). bai-migrate <command> --help shows only the options it uses.`,
    "",
    "Each option is also read from BAI_MIGRATE_<NAME>, e.g. BAI_MIGRATE_TO_VERSION; a flag wins over its variable.",
    "An option needs a value: omit it to use the default (an empty BAI_MIGRATE_<NAME> counts as unset).",
    "A true/false option alone is true: --dry-run is --dry-run=true; --no-dry-run is --dry-run=false.",
    "An option given to a command that does not use it is ignored, with a warning.",
    ...sections,
    "",
    ...CLI_FLAGS.map((flag) => line(`${"short" in flag ? `-${flag.short}, ` : ""}--${flag.name}`, flag.description)),
    "",
    "Example: bai-migrate preflight --manager-config /etc/backend.ai/manager.toml --to-version 22.03",
    ""
  ].join("\n");
}

// package.json
var package_default = {
  name: "bai-migrate",
  version: "0.1.0",
  description: "Plan, preflight, migrate and verify a Backend.AI cluster upgrade (PostgreSQL, Redis, etcd) as a GitHub Action and a CLI",
  license: "MIT",
  private: true,
  type: "module",
  engines: {
    node: ">=24"
  },
  bin: {
    "bai-migrate": "dist/cli.js"
  },
  scripts: {
    typecheck: "tsc --noEmit",
    bundle: "node scripts/bundle.mjs",
    docs: "node scripts/bundle.mjs --docs",
    "check-dist": "node scripts/bundle.mjs && git status --porcelain -- dist action.yml README.md docs | (! grep .) && git diff --exit-code -- dist action.yml README.md docs",
    testbed: "bash scripts/testbed.sh",
    test: "bash scripts/testbed.sh && npm run -s real-manager && vitest run",
    "real-manager": "node scripts/run-ts.mjs scripts/real-manager.ts",
    "test:unit": "vitest run --project unit",
    goldens: "node scripts/run-ts.mjs scripts/plan-goldens.ts",
    demo: "bash scripts/testbed.sh && npm run -s bundle && node scripts/run-ts.mjs scripts/demo.ts",
    all: "npm run typecheck && npm run bundle && npm test",
    bench: "bash scripts/testbed.sh && npm run -s real-manager && node scripts/run-ts.mjs scripts/bench-images.ts && node scripts/run-ts.mjs scripts/bench-migrate.ts && node --expose-gc scripts/run-ts.mjs scripts/bench-clear-history.ts && node scripts/run-ts.mjs scripts/bench-clear-history-sessions.ts && node scripts/run-ts.mjs scripts/bench-clear-history-retention.ts",
    lint: "eslint --cache --cache-location node_modules/.cache/eslint/ . && prettier --check --cache . && madge --circular --no-spinner --extensions ts --ts-config tsconfig.json src && node scripts/check-layers.mjs",
    format: "prettier --write ."
  },
  dependencies: {
    "@actions/cache": "^6.3.0",
    "@actions/core": "^3.0.1",
    "@actions/exec": "^3.0.0",
    "@actions/github": "^9.1.1",
    "@octokit/plugin-retry": "^8.1.1",
    diff: "^9.0.0",
    etcd3: "^1.1.2",
    ioredis: "^6.0.0",
    pg: "^8.23.1",
    "smol-toml": "^1.9.1",
    testcontainers: "^12.2.0",
    "toml-eslint-parser": "^1.0.3"
  },
  devDependencies: {
    "@eslint/js": "^10.0.1",
    "@types/node": "^24.19.2",
    "@types/pg": "^8.15.6",
    esbuild: "^0.28.2",
    eslint: "^10.15.0",
    madge: "^8.0.0",
    node: "^24.21.0",
    prettier: "^3.10.1",
    typescript: "^5.9.3",
    "typescript-eslint": "^8.74.0",
    vitest: "^5.1.1",
    yaml: "^2.9.1"
  }
};

// src/cli/cli.ts
var EXIT_FAILED = 1;
var EXIT_USAGE = 2;
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
    const { raw, json, help, version } = parseCommandLine(argv, env);
    if (version) {
      process.stdout.write(`bai-migrate ${package_default.version}
`);
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
  main
};
//# sourceMappingURL=cli-IOKMEQWT.js.map
