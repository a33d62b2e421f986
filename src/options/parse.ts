/**
 * Raw inputs (the Action's, the CLI's) to validated options: every problem is found before anything
 * is read or written, and reported at once. Each input is read as its entry in spec.ts says: by its
 * kind (booleans, choices, numbers, versions, retentions, lists) or by its own `parse` (URLs,
 * endpoints, etcd-namespace, snapshot-key). `Options` is typed from the same entries, so a new input
 * is one entry in spec.ts. Only the fields made of several inputs (the TLS files, the manager venv)
 * and the checks across inputs are written here.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { invalidInput, invalidInputs, MigrationError } from '../core/errors.js';
import { tryDecodeURIComponent } from '../core/uri.js';
import { parseVersion, type VersionRef } from '../releases/catalogue.js';
import { compareLines } from '../releases/releases.js';
import { parseRetention, type Retention } from '../releases/retention.js';
import { readTlsFiles, type TlsFiles } from './tls-files.js';
import { acceptedText, inputSpec, INPUTS, type Command, type DeclaredInput, type InputName, type InputSpec, type NumberRange, usedByText } from './spec.js';

/** manager-venv and the inputs that shape its venvs (manager/venv.ts makes them). */
export interface ManagerVenvOptions {
  readonly dir: string;
  /** Given by the operator; otherwise chosen per release (chooseInterpreter). */
  readonly python?: string;
  readonly pipArgs: readonly string[];
  readonly systemSitePackages: boolean;
}

/** "lock-timeout" → "lockTimeout". */
type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;

/** The value in `Options` of an input: what its own `parse` returns, else by its kind (see `InputKind` in spec.ts). */
type KindValue<S extends InputSpec> = S extends { readonly parse: (value: string) => infer R }
  ? Exclude<R, undefined>
  : S extends { readonly kind: 'boolean' }
    ? boolean
    : S extends { readonly kind: 'number' }
      ? number
      : S extends { readonly kind: 'enum'; readonly values: readonly (infer V)[] }
        ? V
        : S extends { readonly kind: 'version' }
          ? VersionRef
          : S extends { readonly kind: 'retention' }
            ? Retention
            : S extends { readonly kind: 'list' }
              ? readonly string[]
              : string;

type Declared<N extends InputName> = Extract<DeclaredInput, { readonly name: N }>;
type FieldName<S extends DeclaredInput> = S extends { readonly key: infer K extends string } ? K : CamelCase<S['name']>;
/** Never undefined: it has a default (and its parse does not read the value as given), or is a list that is [] when empty. */
type AlwaysSet<S extends DeclaredInput> = S extends { readonly asGiven: true }
  ? false
  : S extends { readonly default: string }
    ? true
    : S extends { readonly separator: 'commas or newlines' }
      ? true
      : false;
/** The inputs with a field of their own in `Options` (the others name the field they go `into`). */
type OwnField = Exclude<DeclaredInput, { readonly into: string }>;

/** One field per input of spec.ts that has one, typed by its entry: a new input is one entry in spec.ts. */
export type InputOptions = { readonly [S in OwnField as AlwaysSet<S> extends true ? FieldName<S> : never]: KindValue<S> } & {
  readonly [S in OwnField as AlwaysSet<S> extends true ? never : FieldName<S>]?: KindValue<S>;
};

/** The fields parse.ts builds from several inputs (those inputs' `into`), and one that is never an input. */
interface ComposedOptions {
  /** postgres-ca, postgres-client-cert and postgres-client-key, read. */
  readonly postgresTls?: TlsFiles;
  /** etcd-ca, etcd-client-cert and etcd-client-key, read. */
  readonly etcdTls?: TlsFiles;
  /** manager-venv, python, pip-args and venv-system-site-packages. */
  readonly managerVenv?: ManagerVenvOptions;
  /**
   * Set by rehearse for its inner runs (never an input): the deployment is a disposable copy, so
   * manager-starts starts the manager whatever start-manager says, after pointing the copy's
   * outward addresses at loopback.
   */
  readonly disposableCopy?: boolean;
}

/** The inputs validated: a field per input (`InputOptions`, from spec.ts) and the composed ones. */
export interface Options extends InputOptions, ComposedOptions {}

export type RawInputs = Readonly<Record<string, string | undefined>>;

/** The secrets among raw inputs, so that an adapter can mask them before anything is printed. */
export function secretInputs(raw: RawInputs): string[] {
  return INPUTS.filter((spec) => spec.kind === 'secret')
    .map((spec) => raw[spec.name]?.trim() ?? '')
    .filter((value) => value !== '')
    .flatMap((value) => [value, ...secretsInUrl(value)]);
}

export function secretsInUrl(value: string): string[] {
  try {
    const url = new URL(value);
    // A password that is not valid percent-encoding is refused later; it is masked as written.
    return [url.password, tryDecodeURIComponent(url.password) ?? ''].filter((p) => p !== '');
  } catch {
    return [];
  }
}

/**
 * Inputs given to a command that does not read them, one warning each: workflows often pass one
 * set of inputs to every command, so they are ignored rather than refused. A value equal to the
 * default counts as not given (the Action hands every default over as if given).
 */
export function unusedInputs(raw: RawInputs, command: Command): string[] {
  return INPUTS.filter((spec) => !spec.usedBy.includes(command))
    .filter((spec) => {
      const value = raw[spec.name]?.trim();
      return value !== undefined && value !== '' && value !== spec.default;
    })
    .map((spec) => `input ${spec.name} is ignored: command ${command} does not use it (${usedByText(spec)})`);
}

/**
 * The order problems are listed in when several inputs are bad, as parseOptions listed them before
 * it was driven by the spec, so that a message with several stays as it was; an input not named here
 * is listed after these, in the spec's order, and the checks across inputs come last. `postgresTls`,
 * `etcdTls` and `managerVenv` stand for the checks of their composed fields. A new input needs no
 * place here.
 */
const PROBLEM_ORDER: readonly string[] = [
  'command',
  'from-version',
  'to-version',
  'allow-short-retention',
  'retention',
  'lock-backend',
  'dry-run',
  'allow-running-services',
  'start-manager',
  'lock-timeout',
  'alembic-lock-timeout',
  'connect-timeout',
  'postgres-url',
  'postgresTls',
  'etcdTls',
  'redis-url',
  'etcd-endpoints',
  'periodic-sync-stats',
  'prune-etcd-images',
  'skip-unusable-images',
  'sweep-orphaned-stat-keys',
  'redis-persistence',
  'batch-size',
  'vacuum',
  'redis-failure',
  'keep-rehearsal',
  'measure-growth',
  'venv-system-site-packages',
  'managerVenv',
  'image-rescan',
  'mode',
  'rehearsal-servers',
  'snapshot-key',
  'snapshot-cache-key',
  'etcd-namespace',
];

/** An input's field in `Options` (FieldName above, at run time). */
export function fieldName(spec: InputSpec): string {
  return spec.key ?? spec.name.replace(/-([a-z])/g, (_dash, letter: string) => letter.toUpperCase());
}

/** A problem with the inputs, and what it is about (an input's name, or a composed field's) to order it by. */
interface Problem {
  readonly about: string;
  readonly message: string;
}

/**
 * Validates every input before anything is read or written, and reports all problems at once.
 * `raw` maps input names (as in action.yml) to their text; empty means "not given".
 */
export function parseOptions(raw: RawInputs): Options {
  const problems: Problem[] = [];
  const attempt = <T>(about: string, parse: () => T): T | undefined => {
    try {
      return parse();
    } catch (error) {
      if (!(error instanceof MigrationError)) throw error;
      problems.push({ about, message: error.message });
      return undefined;
    }
  };
  const values = readInputs(raw, attempt);
  const value = <N extends InputName>(name: N) => values.get(name) as KindValue<Declared<N>> | undefined;
  const composed = composedOptions(raw, value, attempt, problems);
  const messages = [...unknownInputs(raw), ...inOrder(problems), ...acrossInputs(raw, value, problems)];
  if (messages.length > 0) {
    throw invalidInputs(messages);
  }
  const fields = Object.fromEntries(INPUTS.filter((spec) => spec.into === undefined).map((spec) => [fieldName(spec), values.get(spec.name)]));
  return { ...(fields as InputOptions), ...composed };
}

type Attempt = <T>(about: string, parse: () => T) => T | undefined;
type ValueOf = <N extends InputName>(name: N) => KindValue<Declared<N>> | undefined;

function unknownInputs(raw: RawInputs): string[] {
  const known = new Set(INPUTS.map((spec) => spec.name));
  return Object.keys(raw)
    .filter((name) => !known.has(name) && raw[name] !== undefined)
    .map((name) => `unknown input "${name}"; accepted: ${[...known].join(', ')}`);
}

/**
 * An input's text: as given, trimmed, else its default (an empty value is not given), unless its
 * entry reads it `asGiven`. A path may start at the home folder, as a shell would read it
 * (backup-dir's default does).
 */
function inputText(raw: RawInputs, name: string): string | undefined {
  const spec = inputSpec(name);
  const given = raw[name]?.trim();
  const value = spec?.asGiven ? given : given || spec?.default;
  return value !== undefined && spec?.kind === 'path' ? expandHome(value) : value;
}

/** Every input's value by its entry, once each (retention reads allow-short-retention's value); undefined when it is bad. */
function readInputs(raw: RawInputs, attempt: Attempt): Map<string, unknown> {
  const values = new Map<string, unknown>();
  const read = (spec: InputSpec): unknown => {
    if (!values.has(spec.name))
      values.set(
        spec.name,
        attempt(spec.name, () => valueOf(spec, inputText(raw, spec.name), read)),
      );
    return values.get(spec.name);
  };
  for (const spec of INPUTS) read(spec);
  return values;
}

/** The fields made of several inputs, read once every input is (their problems go to `problems`). */
function composedOptions(raw: RawInputs, value: ValueOf, attempt: Attempt, problems: Problem[]): ComposedOptions {
  const text = (name: InputName) => inputText(raw, name);
  const postgresTls = attempt('postgresTls', () => readTlsFiles('postgres', { ca: text('postgres-ca'), cert: text('postgres-client-cert'), key: text('postgres-client-key') }));
  const etcdTls = attempt('etcdTls', () => readTlsFiles('etcd', { ca: text('etcd-ca'), cert: text('etcd-client-cert'), key: text('etcd-client-key') }));
  if (text('manager-venv') && raw['alembic-command']?.trim()) {
    problems.push({ about: 'managerVenv', message: 'manager-venv and alembic-command are both set; accepted: one of them (manager-venv makes the venv alembic runs from)' });
  }
  const managerVenv: ManagerVenvOptions | undefined = text('manager-venv')
    ? { dir: value('manager-venv')!, python: value('python'), pipArgs: value('pip-args') ?? [], systemSitePackages: value('venv-system-site-packages')! }
    : undefined;
  if (text('snapshot-cache-key') && !text('snapshot-key')) {
    // Every workflow run of the repository, pull requests from forks included, may restore the cache.
    problems.push({
      about: 'snapshot-cache-key',
      message:
        'snapshot-cache-key is set without snapshot-key: a snapshot in the Actions cache must be sealed, since pull requests can restore it; accepted: snapshot-key from a secret, e.g. snapshot-key: ${{ secrets.BACKENDAI_SNAPSHOT_KEY }} holding the output of `openssl rand -hex 32` (pull requests from forks get no secrets, so they cannot rehearse)',
    });
  }
  return { postgresTls, etcdTls, managerVenv };
}

/** The problems' messages in PROBLEM_ORDER, then the spec's. */
function inOrder(problems: readonly Problem[]): string[] {
  const rank = (about: string) => {
    const listed = PROBLEM_ORDER.indexOf(about);
    return listed >= 0 ? listed : PROBLEM_ORDER.length + INPUTS.findIndex((spec) => spec.name === about);
  };
  return [...problems].sort((a, b) => rank(a.about) - rank(b.about)).map((p) => p.message);
}

/** The checks that take several inputs' values, each made only when those values are good. */
function acrossInputs(raw: RawInputs, value: ValueOf, problems: readonly Problem[]): string[] {
  const messages: string[] = [];
  const command = value('command');
  const fromVersion = value('from-version');
  const toVersion = value('to-version');
  if (fromVersion && toVersion && isDowngrade(fromVersion, toVersion)) {
    messages.push(`from-version ${fromVersion.input} is newer than to-version ${toVersion.input}: bai-migrate only upgrades; accepted: a to-version after ${fromVersion.input}`);
  }
  if (command === 'rehearse' && value('rehearsal-servers') === 'given') {
    const missing = (['postgres-url', 'redis-url', 'etcd-endpoints'] as const).filter((name) => !inputText(raw, name));
    if (missing.length > 0) messages.push(`rehearsal-servers: given needs ${missing.join(', ')} (the disposable servers to restore into)`);
  }
  if (command && !['clear-history', 'snapshot'].includes(command) && !toVersion && !problems.some((p) => p.about === 'to-version')) {
    messages.push(`to-version is required for command "${command}", e.g. to-version: 22.03`);
  }
  return messages;
}

/**
 * An input's value in `Options`: by its own `parse`, else by its kind; undefined when it is empty
 * without a default (a list separated by commas or newlines is then []).
 */
function valueOf(spec: InputSpec, value: string | undefined, read: (spec: InputSpec) => unknown): unknown {
  if (value === undefined) return spec.kind === 'list' && spec.separator === 'commas or newlines' ? [] : undefined;
  if (spec.parse) return spec.parse(value);
  switch (spec.kind) {
    case 'boolean':
    case 'enum':
    case 'number':
      return checkKind(spec, value);
    case 'version':
      return parseVersion(value, spec.name);
    case 'retention':
      // A retention under a day is refused unless allow-short-retention says otherwise (undefined when that is bad too).
      return parseRetention(value, { allowShort: read(inputSpec('allow-short-retention')!) as boolean | undefined });
    case 'list':
      return spec.separator === 'spaces' ? value.split(/\s+/) : value.split(/[\s,]+/).filter((entry) => entry !== '');
    default:
      return value;
  }
}

/**
 * Checks a value by its input's kind: true/false (in the three spellings YAML 1.2 knows, as
 * @actions/core getBooleanInput does), one of an enum's values, a number in its range. Other kinds
 * come back as they are: their own parsers check them.
 */
export function checkKind(spec: InputSpec, value: string): string | boolean | number {
  switch (spec.kind) {
    case 'boolean':
      if (/^(true|True|TRUE)$/.test(value)) return true;
      if (/^(false|False|FALSE)$/.test(value)) return false;
      throw invalidInput(`${spec.name} "${value}" is not a boolean; accepted: ${acceptedText(spec)}`);
    case 'enum':
      if (spec.values.includes(value)) return value;
      throw invalidInput(`${spec.name} "${value}" is not accepted; accepted: ${acceptedText(spec)}`);
    case 'number':
      if (inRange(value, spec.range)) return Number(value);
      throw invalidInput(`${spec.name} "${value}" is not accepted; accepted: ${acceptedText(spec)}`);
    default:
      return value;
  }
}

/** Plain decimal notation only: "1e3", "0x10" or " 5" are refused rather than read as a surprise. */
function inRange(value: string, range: NumberRange): boolean {
  if (!(range.integer ? /^\d+$/ : /^\d+(\.\d+)?$/).test(value)) return false;
  const n = Number(value);
  return (range.aboveMin ? n > range.min : n >= range.min) && n <= range.max;
}

function isDowngrade(from: VersionRef, to: VersionRef): boolean {
  const byLine = compareLines(from.line, to.line);
  if (byLine !== 0) return byLine > 0;
  return from.release !== undefined && to.release !== undefined && from.release.patch > to.release.patch;
}

/** "~/x" and "~" as a shell reads them; "~user" is not (no shell here to ask). */
export function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}
