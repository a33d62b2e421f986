/**
 * The command line, read with node:util parseArgs from the input spec: `bai-migrate <command>
 * --to-version 22.03 …`. Every input is a flag of the same name, or an environment variable
 * BAI_MIGRATE_<NAME> (e.g. BAI_MIGRATE_POSTGRES_URL, which keeps passwords out of the process
 * list); a flag wins over its variable. A flag given an empty value is an error (omitting it is
 * how to say "not given"); an empty variable counts as unset, as shells and CI systems commonly
 * leave them. Boolean inputs are switches: `--dry-run` alone is true, and `--dry-run=false`,
 * `--dry-run false` and `--no-dry-run` say false.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MigrationError } from '../core/errors.js';
import { checkKind, COMMANDS, INPUTS, inputSpec, type InputSpec, type RawInputs } from '../options/index.js';

export interface CommandLine {
  readonly raw: RawInputs;
  readonly json: boolean;
  readonly help: boolean;
  readonly debug: boolean;
  readonly version: boolean;
}

/** The CLI's own switches, beside the inputs. */
const CLI_FLAGS = [
  { name: 'json', description: 'Print the report as JSON instead of text.' },
  { name: 'debug', description: "Also print debug lines (an unexpected error's stack) to stderr." },
  { name: 'help', short: 'h', description: 'Show this help; after a command, only the options it uses.' },
  { name: 'version', short: 'V', description: "Print bai-migrate's version." },
] as const;

/** The positional is the command: the input "command" is no flag. */
const FLAG_INPUTS = INPUTS.filter((spec) => spec.name !== 'command');

const PARSE_OPTIONS: NonNullable<ParseArgsConfig['options']> = Object.fromEntries([
  ...FLAG_INPUTS.map((spec) => [spec.name, { type: spec.kind === 'boolean' ? ('boolean' as const) : ('string' as const) }]),
  ...CLI_FLAGS.map((flag) => [flag.name, { type: 'boolean' as const, ...('short' in flag ? { short: flag.short } : {}) }]),
]);

export function environmentName(spec: InputSpec): string {
  return `BAI_MIGRATE_${spec.name.toUpperCase().replaceAll('-', '_')}`;
}

/** BAI_MIGRATE_* variables, then flags, become the same raw inputs the Action reads. */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): CommandLine {
  const raw: Record<string, string> = {};
  for (const spec of INPUTS) {
    const value = env[environmentName(spec)];
    if (value !== undefined && value.trim() !== '') raw[spec.name] = value;
  }
  let parsed: ReturnType<typeof parseArgs<{ options: typeof PARSE_OPTIONS; allowPositionals: true; allowNegative: true; strict: true }>>;
  const args = normalise(argv);
  try {
    parsed = parseArgs({ args, options: PARSE_OPTIONS, allowPositionals: true, allowNegative: true, strict: true });
  } catch (error) {
    // normalise() refuses what strict parsing would, in bai-migrate's words; this is the safety net.
    throw new MigrationError('invalid-input', `${error instanceof Error ? error.message : String(error)}; see bai-migrate --help`);
  }
  for (const spec of FLAG_INPUTS) {
    const value = parsed.values[spec.name];
    if (value !== undefined) raw[spec.name] = String(value);
  }
  const [command, extra] = parsed.positionals;
  if (extra !== undefined) throw new MigrationError('invalid-input', `unexpected argument "${extra}"; see bai-migrate --help`);
  if (command !== undefined) raw.command = command;
  return { raw, json: parsed.values.json === true, help: parsed.values.help === true, debug: parsed.values.debug === true, version: parsed.values.version === true };
}

/**
 * The arguments as strict parseArgs takes them, with this CLI's own rules applied first, from the
 * tokens of a lenient parse:
 * - an unknown option, or a value-taking option without a value, is refused in bai-migrate's words;
 * - a value is passed as --name=value, so that one starting with "-" (pip-args: --index-url …)
 *   stays a value; the next argument is no value when it is itself an option (--to-version --json);
 * - a boolean input takes the next argument as its value unless that is an option or a command
 *   name (--dry-run yes is refused as no boolean; --dry-run plan is the switch and the command),
 *   and becomes --name or --no-name.
 */
function normalise(argv: readonly string[]): string[] {
  const { tokens } = parseArgs({ args: [...argv], options: PARSE_OPTIONS, allowPositionals: true, allowNegative: true, strict: false, tokens: true });
  const args: string[] = [];
  const consumed = new Set<number>();
  for (const [i, token] of tokens.entries()) {
    if (token.kind === 'option-terminator') {
      args.push('--');
    } else if (token.kind === 'positional') {
      if (!consumed.has(token.index)) args.push(token.value);
    } else if (token.name.startsWith('no-') && PARSE_OPTIONS[token.name.slice(3)]?.type === 'boolean') {
      // --no-dry-run=true: parseArgs negates only a bare switch.
      throw new MigrationError('invalid-input', `option ${token.rawName} takes no value; see bai-migrate --help`);
    } else if (!(token.name in PARSE_OPTIONS) || (token.rawName.startsWith('--no-') && PARSE_OPTIONS[token.name]!.type !== 'boolean')) {
      // Only switches have a --no- form; the lenient parse negates any option.
      throw new MigrationError('invalid-input', `unknown option ${token.rawName}; see bai-migrate --help`);
    } else if (CLI_FLAGS.some((flag) => flag.name === token.name)) {
      if (token.value !== undefined) throw new MigrationError('invalid-input', `option ${token.rawName} takes no value; see bai-migrate --help`);
      args.push(token.rawName);
    } else if (PARSE_OPTIONS[token.name]!.type === 'string') {
      if (token.value === undefined || (!token.inlineValue && isOption(token.value))) throw new MigrationError('invalid-input', `option --${token.name} needs a value`);
      // Empty would silently mean "not given" and fall back (to manager.toml, a default): say so instead.
      if (token.value.trim() === '') throw new MigrationError('invalid-input', emptyFlag(token.name));
      args.push(`--${token.name}=${token.value}`);
    } else {
      const next = tokens[i + 1];
      let value = token.value;
      if (value === undefined && !token.rawName.startsWith('--no-') && next?.kind === 'positional' && next.index === token.index + 1 && !(COMMANDS as readonly string[]).includes(next.value)) {
        value = next.value;
        consumed.add(next.index);
      }
      if (value === undefined) args.push(token.rawName);
      else if (value.trim() === '') throw new MigrationError('invalid-input', emptyFlag(token.name));
      else args.push(checkKind(inputSpec(token.name)!, value) ? `--${token.name}` : `--no-${token.name}`);
    }
  }
  return args;
}

/** An argument that names one of this CLI's options (so it is no value). */
function isOption(arg: string): boolean {
  if (CLI_FLAGS.some((flag) => 'short' in flag && arg === `-${flag.short}`)) return true;
  if (!arg.startsWith('--')) return false;
  const name = arg.slice(2).split('=')[0]!;
  return name in PARSE_OPTIONS || (name.startsWith('no-') && PARSE_OPTIONS[name.slice(3)]?.type === 'boolean');
}

function emptyFlag(flag: string): string {
  const spec = inputSpec(flag);
  const fallback = FALLBACKS[flag] ?? (spec?.default !== undefined ? `its default (${spec.default})` : 'the default');
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

/** The value a flag's help shows: the choices of an enum, the kind of anything else. */
function valueHint(spec: InputSpec): string {
  switch (spec.kind) {
    case 'boolean':
      return '[=true|false]';
    case 'enum':
      return ` <${spec.values.join('|')}>`;
    case 'number':
      return spec.range.unit === 'seconds' ? ' <seconds>' : ' <n>';
    case 'list':
      return ' <list>';
    case 'secret':
      return ' <secret>';
    case 'string':
      return ' <text>';
    default:
      return ` <${spec.kind}>`;
  }
}

/**
 * The help: options grouped by the commands that use them (every command first), each group in
 * the spec's order; with a command, only the options that command uses.
 */
export function usage(command?: string): string {
  const forCommand = COMMANDS.find((c) => c === command);
  const specs = FLAG_INPUTS.filter((spec) => !forCommand || spec.usedBy.includes(forCommand));
  const labels = specs.map((spec) => `--${spec.name}${valueHint(spec)}`);
  const width = Math.max(...labels.map((l) => l.length), ...CLI_FLAGS.map((f) => f.name.length + 7)) + 2;
  const line = (label: string, description: string) => `  ${label.padEnd(width)}${description}`;
  const heading = (spec: InputSpec) => (forCommand ? 'Options:' : spec.usedBy.length === COMMANDS.length ? 'Options of every command:' : `Options of ${spec.usedBy.join(', ')}:`);
  // Every command's options first, then each group where its first option stands in the spec.
  const groups = new Map<string, string[]>([['Options of every command:', []]]);
  specs.forEach((spec, i) => {
    const lines = groups.get(heading(spec)) ?? [];
    // A default that stands for a fallback (etcd-namespace's from-manager-config) is shown as what it means.
    lines.push(line(labels[i]!, `${spec.description}${spec.default !== undefined ? ` (default: ${FALLBACKS[spec.name] ?? spec.default})` : ''}`));
    groups.set(heading(spec), lines);
  });
  const sections = [...groups].filter(([, lines]) => lines.length > 0).flatMap(([title, lines]) => ['', title, ...lines]);
  return [
    forCommand ? `Usage: bai-migrate ${forCommand} [options]` : 'Usage: bai-migrate <command> [options]',
    '',
    `Commands: ${COMMANDS.join(', ')} (default: migrate). bai-migrate <command> --help shows only the options it uses.`,
    '',
    'Each option is also read from BAI_MIGRATE_<NAME>, e.g. BAI_MIGRATE_TO_VERSION; a flag wins over its variable.',
    'An option needs a value: omit it to use the default (an empty BAI_MIGRATE_<NAME> counts as unset).',
    'A true/false option alone is true: --dry-run is --dry-run=true; --no-dry-run is --dry-run=false.',
    'An option given to a command that does not use it is ignored, with a warning.',
    ...sections,
    '',
    ...CLI_FLAGS.map((flag) => line(`${'short' in flag ? `-${flag.short}, ` : ''}--${flag.name}`, flag.description)),
    '',
    'Example: bai-migrate preflight --manager-config /etc/backend.ai/manager.toml --to-version 22.03',
    '',
  ].join('\n');
}
