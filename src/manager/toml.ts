/**
 * A TOML reader for manager.toml: tables, dotted and quoted keys, strings of all four kinds,
 * numbers, booleans, date-times (kept as text), arrays and inline tables, arrays of tables.
 * Errors name the line and column, because the operator fixes the file by hand.
 */
export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

export class TomlError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`line ${line}, column ${column}: ${message}`);
    this.name = 'TomlError';
  }
}

const BARE_KEY = /[A-Za-z0-9_-]/;
const ESCAPES: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };

export function parseToml(text: string): TomlTable {
  return new Parser(text).document();
}

class Parser {
  private pos = 0;
  private readonly root: TomlTable = {};
  /** Tables created by a [header] or by a key, which a later [header] may not define again. */
  private readonly defined = new Set<TomlTable>();

  constructor(private readonly text: string) {}

  document(): TomlTable {
    let current = this.root;
    for (;;) {
      this.skipBlankLinesAndComments();
      if (this.pos >= this.text.length) return this.root;
      if (this.peek() === '[') {
        current = this.header();
      } else {
        this.keyValue(current);
      }
      this.endOfLine();
    }
  }

  private header(): TomlTable {
    const isArray = this.text.startsWith('[[', this.pos);
    this.pos += isArray ? 2 : 1;
    this.skipSpaces();
    const path = this.key();
    this.skipSpaces();
    const close = isArray ? ']]' : ']';
    if (!this.text.startsWith(close, this.pos)) this.fail(`expected "${close}" to close the table header`);
    this.pos += close.length;
    const parent = this.descend(this.root, path.slice(0, -1));
    const last = path[path.length - 1]!;
    if (isArray) {
      const existing = parent[last];
      if (existing !== undefined && !Array.isArray(existing)) this.fail(`"${path.join('.')}" is already a table`);
      const table: TomlTable = {};
      parent[last] = [...((existing as TomlValue[] | undefined) ?? []), table];
      return table;
    }
    const existing = parent[last];
    if (existing === undefined) {
      const table: TomlTable = {};
      parent[last] = table;
      this.defined.add(table);
      return table;
    }
    if (!isTable(existing) || this.defined.has(existing)) this.fail(`table [${path.join('.')}] is defined twice`);
    this.defined.add(existing);
    return existing;
  }

  /** Walks (and creates) the tables on a dotted path; the last element of an array of tables is entered. */
  private descend(from: TomlTable, path: string[]): TomlTable {
    let table = from;
    for (const part of path) {
      let next = table[part];
      if (next === undefined) {
        next = {};
        table[part] = next;
      }
      if (Array.isArray(next)) next = next[next.length - 1] as TomlValue;
      if (!isTable(next)) this.fail(`"${part}" is a value, not a table`);
      table = next;
    }
    return table;
  }

  private keyValue(table: TomlTable): void {
    const path = this.key();
    this.skipSpaces();
    if (this.peek() !== '=') this.fail(`expected "=" after the key "${path.join('.')}"`);
    this.pos++;
    this.skipSpaces();
    const target = this.descend(table, path.slice(0, -1));
    const last = path[path.length - 1]!;
    if (last in target) this.fail(`the key "${path.join('.')}" is defined twice`);
    const value = this.value();
    if (isTable(value)) this.defined.add(value);
    target[last] = value;
  }

  private key(): string[] {
    const parts: string[] = [];
    for (;;) {
      this.skipSpaces();
      const c = this.peek();
      if (c === '"') parts.push(this.basicString());
      else if (c === "'") parts.push(this.literalString());
      else {
        const start = this.pos;
        while (this.pos < this.text.length && BARE_KEY.test(this.text[this.pos]!)) this.pos++;
        if (start === this.pos) this.fail(c === undefined ? 'expected a key' : `unexpected "${c}" where a key was expected`);
        parts.push(this.text.slice(start, this.pos));
      }
      this.skipSpaces();
      if (this.peek() !== '.') return parts;
      this.pos++;
    }
  }

  private value(): TomlValue {
    const c = this.peek();
    if (c === '"') return this.text.startsWith('"""', this.pos) ? this.multilineBasicString() : this.basicString();
    if (c === "'") return this.text.startsWith("'''", this.pos) ? this.multilineLiteralString() : this.literalString();
    if (c === '[') return this.array();
    if (c === '{') return this.inlineTable();
    const rest = this.text.slice(this.pos);
    const word = /^[^\s,\]}#]+(?: \d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?/.exec(rest)?.[0] ?? '';
    if (word === '') this.fail(c === undefined || c === '\n' ? 'expected a value' : `unexpected "${c}" where a value was expected`);
    const parsed = parseScalar(word);
    if (parsed === undefined) this.fail(`"${word}" is not a valid value (quote strings: "${word}")`);
    this.pos += word.length;
    return parsed;
  }

  private array(): TomlValue[] {
    this.pos++;
    const items: TomlValue[] = [];
    for (;;) {
      this.skipWhitespaceAndComments();
      if (this.peek() === ']') break;
      items.push(this.value());
      this.skipWhitespaceAndComments();
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      if (this.peek() !== ']') this.fail('expected "," or "]" in the array');
      break;
    }
    this.pos++;
    return items;
  }

  private inlineTable(): TomlTable {
    this.pos++;
    const table: TomlTable = {};
    this.skipSpaces();
    if (this.peek() === '}') {
      this.pos++;
      return table;
    }
    for (;;) {
      this.keyValue(table);
      this.skipSpaces();
      const c = this.peek();
      this.pos++;
      if (c === '}') return table;
      if (c !== ',') {
        this.pos--;
        this.fail('expected "," or "}" in the inline table');
      }
    }
  }

  private basicString(): string {
    this.pos++;
    let out = '';
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined || c === '\n') this.fail('unterminated string');
      this.pos++;
      if (c === '"') return out;
      out += c === '\\' ? this.escape() : c;
    }
  }

  private multilineBasicString(): string {
    this.pos += 3;
    if (this.peek() === '\n') this.pos++;
    else if (this.text.startsWith('\r\n', this.pos)) this.pos += 2;
    let out = '';
    for (;;) {
      if (this.pos >= this.text.length) this.fail('unterminated multi-line string');
      if (this.text.startsWith('"""', this.pos) && !this.text.startsWith('""""', this.pos)) {
        this.pos += 3;
        return out;
      }
      const c = this.text[this.pos++]!;
      if (c !== '\\') {
        out += c;
        continue;
      }
      if (/^[ \t]*\r?\n/.test(this.text.slice(this.pos))) {
        // A line-ending backslash trims the newline and the whitespace after it.
        while (/\s/.test(this.peek() ?? '')) this.pos++;
        continue;
      }
      out += this.escape();
    }
  }

  private literalString(): string {
    const end = this.text.indexOf("'", this.pos + 1);
    const newline = this.text.indexOf('\n', this.pos + 1);
    if (end < 0 || (newline >= 0 && newline < end)) this.fail('unterminated string');
    const out = this.text.slice(this.pos + 1, end);
    this.pos = end + 1;
    return out;
  }

  private multilineLiteralString(): string {
    const end = this.text.indexOf("'''", this.pos + 3);
    if (end < 0) this.fail('unterminated multi-line string');
    let out = this.text.slice(this.pos + 3, end);
    if (out.startsWith('\n')) out = out.slice(1);
    else if (out.startsWith('\r\n')) out = out.slice(2);
    this.pos = end + 3;
    return out;
  }

  private escape(): string {
    const c = this.text[this.pos++];
    if (c !== undefined && c in ESCAPES) return ESCAPES[c]!;
    if (c === 'u' || c === 'U') {
      const length = c === 'u' ? 4 : 8;
      const hex = this.text.slice(this.pos, this.pos + length);
      if (!/^[0-9A-Fa-f]+$/.test(hex) || hex.length !== length) this.fail(`invalid \\${c} escape`);
      this.pos += length;
      return String.fromCodePoint(parseInt(hex, 16));
    }
    this.pos--;
    this.fail(`invalid escape "\\${c ?? ''}"`);
  }

  private endOfLine(): void {
    this.skipSpaces();
    if (this.peek() === '#') this.skipComment();
    const c = this.peek();
    if (c === undefined) return;
    if (c === '\n') return void this.pos++;
    if (this.text.startsWith('\r\n', this.pos)) return void (this.pos += 2);
    this.fail(`unexpected "${c}" after the value (one key = value per line)`);
  }

  private skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }

  private skipComment(): void {
    while (this.pos < this.text.length && this.text[this.pos] !== '\n') this.pos++;
  }

  private skipWhitespaceAndComments(): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.pos++;
      else if (c === '#') this.skipComment();
      else return;
    }
  }

  private skipBlankLinesAndComments(): void {
    this.skipWhitespaceAndComments();
  }

  private peek(): string | undefined {
    return this.text[this.pos];
  }

  private fail(message: string): never {
    const before = this.text.slice(0, this.pos);
    const line = before.split('\n').length;
    const column = this.pos - before.lastIndexOf('\n');
    throw new TomlError(message, line, column);
  }
}

function parseScalar(word: string): TomlValue | undefined {
  if (word === 'true') return true;
  if (word === 'false') return false;
  if (/^[+-]?(inf|nan)$/.test(word)) return word.endsWith('inf') ? (word.startsWith('-') ? -Infinity : Infinity) : NaN;
  if (/^[+-]?(0|[1-9](_?\d)*)$/.test(word)) return Number(word.replaceAll('_', ''));
  if (/^0x[0-9A-Fa-f](_?[0-9A-Fa-f])*$/.test(word)) return parseInt(word.slice(2).replaceAll('_', ''), 16);
  if (/^0o[0-7](_?[0-7])*$/.test(word)) return parseInt(word.slice(2).replaceAll('_', ''), 8);
  if (/^0b[01](_?[01])*$/.test(word)) return parseInt(word.slice(2).replaceAll('_', ''), 2);
  if (/^[+-]?(0|[1-9](_?\d)*)(\.\d(_?\d)*)?([eE][+-]?\d(_?\d)*)?$/.test(word)) return Number(word.replaceAll('_', ''));
  // Dates and times stay text: manager.toml has none that bai-migrate reads.
  if (/^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|z|[+-]\d{2}:\d{2})?)?$/.test(word)) return word;
  if (/^\d{2}:\d{2}:\d{2}(\.\d+)?$/.test(word)) return word;
  return undefined;
}

export function isTable(value: TomlValue | undefined): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
