/**
 * Edits of an operator's manager.toml that keep its comments, order and layout: the text is
 * spliced at the exact source ranges of a TOML syntax tree (toml-eslint-parser), so only the
 * key's own value changes, or one line is added. After each edit the document is parsed again
 * and must differ from the original in the intended key alone. CRLF files, dotted keys
 * (`manager.distributed-lock = …`) and quoted headers (`["manager"]`) are edited where they are.
 */
import { isDeepStrictEqual } from 'node:util';
import { parseTOML, type AST } from 'toml-eslint-parser';
import { MigrationError } from '../core/errors.js';
import { parseToml, type TomlTable } from './toml.js';

type Path = readonly (string | number)[];

interface Assignment {
  readonly node: AST.TOMLKeyValue;
  /** The full path of the key: its table's, then its own dotted parts. */
  readonly path: readonly string[];
}

function keyNames(key: AST.TOMLKey): string[] {
  return key.keys.map((k) => (k.type === 'TOMLBare' ? k.name : k.value));
}

function samePath(a: Path, b: Path): boolean {
  return a.length === b.length && a.every((part, i) => part === b[i]);
}

/** Every key = value outside inline tables, with its full path, and every [header] table. */
function outline(text: string): { assignments: Assignment[]; tables: AST.TOMLTable[] } {
  const program = parseTOML(text);
  const assignments: Assignment[] = [];
  const tables: AST.TOMLTable[] = [];
  for (const node of program.body[0].body) {
    if (node.type === 'TOMLKeyValue') assignments.push({ node, path: keyNames(node.key) });
    else {
      tables.push(node);
      for (const kv of node.body) assignments.push({ node: kv, path: [...node.resolvedKey.map(String), ...keyNames(kv.key)] });
    }
  }
  return { assignments, tables };
}

function literal(value: string | boolean): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** Returns the new text with `table.key = value`; the result must parse, and differ only there. */
export function setTomlValue(text: string, table: string, key: string, value: string | boolean): string {
  const { assignments, tables } = outline(text);
  const newline = text.includes('\r\n') ? '\r\n' : '\n';
  const found = assignments.find((a) => samePath(a.path, [table, key]));
  let result: string;
  if (found) {
    const [start, end] = found.node.value.range;
    result = text.slice(0, start) + literal(value) + text.slice(end);
  } else if (assignments.some((a) => a.path[0] === table && a.node.value.type === 'TOMLInlineTable' && a.path.length === 1)) {
    throw new MigrationError('unsupported', `manager.toml defines [${table}] as an inline table (${table} = { … }); set ${table}.${key} = ${literal(value)} there by hand`);
  } else {
    const header = tables.find((t) => t.kind === 'standard' && samePath(t.resolvedKey, [table]));
    const dotted = assignments.filter((a) => a.path[0] === table && a.path.length > 1 && a.node.parent.type === 'TOMLTopLevelTable');
    const lines = text.split(newline);
    if (header) {
      // Beside a commented-out default (`# distributed-lock = …`) if there is one, else after the header.
      const first = header.loc.start.line; // 1-based: the header's line
      // Up to the next header: a commented-out default often follows the table's last key.
      const following = tables.find((t) => t.range[0] > header.range[0]);
      const last = following ? following.loc.start.line - 1 : lines.length;
      const commented = lines.findIndex((line, i) => i >= first && i < last && new RegExp(`^\\s*#\\s*${escapeRegExp(key)}\\s*=`).test(line));
      const at = commented >= 0 ? commented + 1 : first;
      result = [...lines.slice(0, at), `${key} = ${literal(value)}`, ...lines.slice(at)].join(newline);
    } else if (dotted.length > 0) {
      // [table] exists only through dotted keys: a header would define it twice, so add one more.
      const at = Math.max(...dotted.map((a) => a.node.loc.end.line));
      result = [...lines.slice(0, at), `${table}.${key} = ${literal(value)}`, ...lines.slice(at)].join(newline);
    } else {
      const trailing = text === '' || text.endsWith(newline) ? '' : newline;
      result = `${text}${trailing}${newline}[${table}]${newline}${key} = ${literal(value)}${newline}`;
    }
  }
  const expected = parseToml(text);
  const section = expected[table];
  expected[table] = { ...(typeof section === 'object' && !Array.isArray(section) ? section : {}), [key]: value };
  return onlyChanged(result, expected, `${table}.${key}`);
}

/**
 * Replaces a whole [table] (its header line up to the next header) with `body`, or appends it.
 * For copies of manager.toml that must point somewhere else; comments inside the table go with it.
 */
export function replaceTomlTable(text: string, table: string, body: string): string {
  const { assignments, tables } = outline(text);
  const newline = text.includes('\r\n') ? '\r\n' : '\n';
  const section = [`[${table}]`, ...body.trimEnd().split('\n'), ''].join(newline);
  if (assignments.some((a) => a.path[0] === table && a.node.parent.type === 'TOMLTopLevelTable')) {
    throw new MigrationError('unsupported', `manager.toml defines [${table}] through dotted keys or an inline table; bai-migrate replaces only a [${table}] section`);
  }
  const index = tables.findIndex((t) => t.kind === 'standard' && samePath(t.resolvedKey, [table]));
  let result: string;
  if (index < 0) {
    result = `${text}${text === '' || text.endsWith(newline) ? '' : newline}${newline}${section}`;
  } else {
    const lines = text.split(newline);
    const start = tables[index]!.loc.start.line - 1;
    const next = tables[index + 1];
    const end = next ? next.loc.start.line - 1 : lines.length;
    result = [...lines.slice(0, start), section, ...lines.slice(end)].join(newline);
  }
  // Every other table must come through as it was; [table] holds what the body says.
  const before = parseToml(text);
  const after = parseToml(result);
  const others = (t: TomlTable) => Object.fromEntries(Object.entries(t).filter(([k]) => k !== table));
  const wanted = parseToml(section.replaceAll('\r\n', '\n'))[table] as TomlTable;
  const got = (after[table] ?? {}) as TomlTable;
  if (!isDeepStrictEqual(others(after), others(before)) || Object.entries(wanted).some(([k, v]) => !isDeepStrictEqual(got[k], v))) {
    throw new MigrationError('inconsistent-state', `replacing [${table}] in manager.toml would change more than that table; edit it by hand`);
  }
  return result;
}

/** The edited text must be valid TOML that holds exactly `expected`: no other key may have moved. */
function onlyChanged(result: string, expected: TomlTable, what: string): string {
  const actual = parseToml(result);
  if (!isDeepStrictEqual(actual, expected)) {
    throw new MigrationError('inconsistent-state', `editing ${what} in manager.toml would change more than that key; set it by hand`);
  }
  return result;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
}
