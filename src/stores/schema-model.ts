/**
 * What a PostgreSQL schema holds, as far as a migration's DDL can stop on it: tables, columns,
 * constraints, indexes and enum types of the `public` schema. The drift check (commands/schema-drift.ts)
 * reads the live database into one, then plays the revisions' offline SQL over it statement by
 * statement: a statement that drops, alters or renames something that is not there, or creates
 * something that already is, is where PostgreSQL would stop the revision (and roll the hop back).
 *
 * The model follows only DDL whose meaning is plain from its text; anything else (data changes,
 * DO blocks, comments) is passed over, so it can miss a stop but does not invent one on a table the
 * database had. Objects of a table the path creates itself are judged more loosely: PostgreSQL
 * names a constraint declared without a name, and the model only guesses those names.
 */
import type pg from 'pg';

export interface SchemaObjects {
  readonly tables: readonly string[];
  /** "table.column" */
  readonly columns: readonly string[];
  /** "table.constraint" */
  readonly constraints: readonly string[];
  readonly indexes: ReadonlyArray<{ readonly name: string; readonly table: string }>;
  /** Enum types. */
  readonly types: readonly string[];
}

/** The live `public` schema (bai-migrate's own tables live in their own schema and are not read). */
export async function readSchemaObjects(client: pg.Client): Promise<SchemaObjects> {
  const names = async (sql: string) => (await client.query<{ name: string }>(sql)).rows.map((r) => r.name);
  const [tables, columns, constraints, indexes, types] = await Promise.all([
    names(`SELECT relname AS name FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'v', 'm')`),
    names(`SELECT c.relname || '.' || a.attname AS name FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped`),
    names(`SELECT c.relname || '.' || con.conname AS name FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid WHERE c.relnamespace = 'public'::regnamespace`),
    client
      .query<{ name: string; table: string }>(
        `SELECT i.relname AS name, t.relname AS table FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
          WHERE i.relnamespace = 'public'::regnamespace`,
      )
      .then((r) => r.rows),
    names(`SELECT typname AS name FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typtype = 'e'`),
  ]);
  return { tables, columns, constraints, indexes, types };
}

/** Where a statement would stop: what it needs or what is in its way. */
export interface Stop {
  readonly statement: string;
  readonly problem: string;
  /** Whether the object belongs to a table the database had (exact) or to one the path creates (a guess). */
  readonly certain: boolean;
  /** The table and the object the statement names: what an earlier revision the check could not follow would have to mention to make the difference. */
  readonly names: readonly string[];
  /** Set when the table a statement alters is missing: the caller may assume it (assumeTable) where an earlier revision it could not follow makes it. */
  readonly missingTable?: string;
}

/** A schema to play DDL over. */
export class SchemaModel {
  private readonly tables = new Set<string>();
  private readonly columns = new Set<string>();
  private readonly constraints = new Set<string>();
  private readonly indexes = new Map<string, string>();
  private readonly types = new Set<string>();
  /** Tables the played DDL created: their objects' names are partly PostgreSQL's guesses. */
  private readonly created = new Set<string>();

  constructor(objects: SchemaObjects) {
    objects.tables.forEach((t) => this.tables.add(t));
    objects.columns.forEach((c) => this.columns.add(c));
    objects.constraints.forEach((c) => this.constraints.add(c));
    objects.indexes.forEach((i) => this.indexes.set(i.name, i.table));
    objects.types.forEach((t) => this.types.add(t));
  }

  hasType(name: string): boolean {
    return this.types.has(name);
  }

  /** A table some revision the check could not follow makes: its objects are judged as guesses from here on. */
  assumeTable(name: string): void {
    this.tables.add(name);
    this.created.add(name);
  }

  renameType(from: string, to: string): void {
    this.types.delete(from);
    this.types.add(to);
  }

  /**
   * Plays one revision's offline SQL; returns every statement where PostgreSQL would stop (it stops
   * at the first; the others are what the operator would meet next).
   */
  play(sql: string): Stop[] {
    return statements(sql).flatMap((statement) => this.playStatement(statement) ?? []);
  }

  private playStatement(text: string): Stop | undefined {
    // alembic's own bookkeeping: offline mode may create its table afresh in every rendering.
    if (/\balembic_version\b/i.test(text)) return undefined;
    const s = new Tokens(text);
    // `names`: what a revision the check could not follow must all mention to explain the stop (the object; a column with its table).
    const stop = (problem: string, table: string | undefined, ...names: string[]): Stop => ({
      statement: text,
      problem,
      certain: table === undefined || !this.created.has(table),
      names: names.length > 0 ? names : table !== undefined ? [table] : [],
    });
    if (s.take('CREATE', 'TABLE')) {
      const ifNotExists = s.take('IF', 'NOT', 'EXISTS');
      const table = s.name();
      if (!table) return undefined;
      if (this.tables.has(table)) return ifNotExists ? undefined : stop(`creates table ${table}, which already exists`, table);
      this.tables.add(table);
      this.created.add(table);
      this.defineTableBody(table, s.rest());
      return undefined;
    }
    if (s.take('DROP', 'TABLE')) {
      const ifExists = s.take('IF', 'EXISTS');
      const table = s.name();
      if (!table) return undefined;
      if (!this.tables.has(table)) return ifExists ? undefined : stop(`drops table ${table}, which the database does not have`, table);
      this.dropTable(table);
      return undefined;
    }
    if (s.take('ALTER', 'TABLE')) {
      const ifExists = s.take('IF', 'EXISTS');
      s.take('ONLY');
      const table = s.name();
      if (!table) return undefined;
      if (!this.tables.has(table)) return ifExists ? undefined : { ...stop(`alters table ${table}, which the database does not have`, table), missingTable: table };
      for (const action of splitTopLevel(s.rest(), ',')) {
        const problem = this.alterTable(table, new Tokens(action));
        if (!problem) continue;
        const named = /^\s*(?:ADD|DROP|ALTER|RENAME)\s+(CONSTRAINT\s+|COLUMN\s+)?(?:IF\s+(?:NOT\s+)?EXISTS\s+)?("?[\w$]+"?)/i.exec(action);
        const object = named?.[2]?.replaceAll('"', '');
        if (!object) return stop(problem, table);
        return /^CONSTRAINT/i.test(named?.[1] ?? '') ? stop(problem, table, object) : stop(problem, table, table, object);
      }
      return undefined;
    }
    const unique = /^CREATE\s+UNIQUE\s+INDEX/i.test(text);
    if (s.take('CREATE', 'INDEX') || s.take('CREATE', 'UNIQUE', 'INDEX')) {
      s.take('CONCURRENTLY');
      const ifNotExists = s.take('IF', 'NOT', 'EXISTS');
      const name = s.name();
      if (!name || !s.take('ON')) return undefined;
      s.take('ONLY');
      const table = s.name();
      if (!table) return undefined;
      if (this.indexes.has(name)) return ifNotExists ? undefined : stop(`creates ${unique ? 'unique ' : ''}index ${name}, and a relation of that name already exists`, this.indexes.get(name), name);
      if (!this.tables.has(table)) return stop(`creates index ${name} on table ${table}, which the database does not have`, table);
      this.indexes.set(name, table);
      return undefined;
    }
    if (s.take('DROP', 'INDEX')) {
      s.take('CONCURRENTLY');
      const ifExists = s.take('IF', 'EXISTS');
      const name = s.name();
      if (!name) return undefined;
      if (!this.indexes.has(name)) return ifExists ? undefined : stop(`drops index ${name}, which the database does not have`, undefined, name);
      this.indexes.delete(name);
      return undefined;
    }
    if (s.take('ALTER', 'INDEX')) {
      const ifExists = s.take('IF', 'EXISTS');
      const name = s.name();
      if (!name || !s.take('RENAME', 'TO')) return undefined;
      const to = s.name();
      const table = this.indexes.get(name);
      if (table === undefined) return ifExists ? undefined : stop(`renames index ${name}, which the database does not have`, undefined, name);
      this.indexes.delete(name);
      if (to) this.indexes.set(to, table);
      return undefined;
    }
    if (s.take('CREATE', 'TYPE')) {
      const name = s.name();
      if (!name || !/\bAS\s+ENUM\b/i.test(s.rest())) return undefined;
      if (this.types.has(name)) return stop(`creates type ${name}, which already exists`, undefined, name);
      this.types.add(name);
      return undefined;
    }
    if (s.take('DROP', 'TYPE')) {
      const ifExists = s.take('IF', 'EXISTS');
      const name = s.name();
      if (!name) return undefined;
      if (!this.types.has(name)) return ifExists ? undefined : stop(`drops type ${name}, which the database does not have`, undefined, name);
      this.types.delete(name);
      return undefined;
    }
    if (s.take('ALTER', 'TYPE')) {
      const name = s.name();
      if (!name) return undefined;
      // Only enum types are modelled; ALTER TYPE of another kind (a composite) is passed over.
      if (!this.types.has(name)) return /^\s*(ADD\s+VALUE|RENAME\s+(VALUE|TO))\b/i.test(s.rest()) ? stop(`alters type ${name}, which the database does not have`, undefined, name) : undefined;
      if (s.take('RENAME', 'TO')) {
        const to = s.name();
        if (to) this.renameType(name, to);
      }
      return undefined;
    }
    return undefined;
  }

  /** One action of ALTER TABLE; returns the problem where PostgreSQL would stop. */
  private alterTable(table: string, a: Tokens): string | undefined {
    const column = (name: string) => `${table}.${name}`;
    if (a.take('ADD', 'CONSTRAINT')) {
      const name = a.name();
      if (!name) return undefined;
      if (this.constraints.has(column(name))) return `adds constraint ${name} to ${table}, which already has it`;
      this.addConstraint(table, name, a.rest());
      return undefined;
    }
    if (a.take('DROP', 'CONSTRAINT')) {
      const ifExists = a.take('IF', 'EXISTS');
      const name = a.name();
      if (!name) return undefined;
      if (!this.constraints.has(column(name))) return ifExists ? undefined : `drops constraint ${name} of ${table}, which the database does not have`;
      this.constraints.delete(column(name));
      this.indexes.delete(name);
      return undefined;
    }
    if (a.take('RENAME', 'CONSTRAINT')) {
      const name = a.name();
      a.take('TO');
      const to = a.name();
      if (!name || !to) return undefined;
      if (!this.constraints.has(column(name))) return `renames constraint ${name} of ${table}, which the database does not have`;
      this.constraints.delete(column(name));
      this.constraints.add(column(to));
      const index = this.indexes.get(name);
      if (index !== undefined) {
        this.indexes.delete(name);
        this.indexes.set(to, index);
      }
      return undefined;
    }
    if (a.take('RENAME', 'TO')) {
      const to = a.name();
      if (!to) return undefined;
      this.renameTable(table, to);
      return undefined;
    }
    if (a.take('RENAME')) {
      a.take('COLUMN');
      const name = a.name();
      a.take('TO');
      const to = a.name();
      if (!name || !to) return undefined;
      if (!this.columns.has(column(name))) return `renames column ${name} of ${table}, which the database does not have`;
      if (this.columns.has(column(to))) return `renames column ${name} of ${table} to ${to}, which ${table} already has`;
      this.columns.delete(column(name));
      this.columns.add(column(to));
      return undefined;
    }
    if (a.take('ADD')) {
      a.take('COLUMN');
      const ifNotExists = a.take('IF', 'NOT', 'EXISTS');
      // ADD PRIMARY KEY / UNIQUE / FOREIGN KEY without a name: PostgreSQL names it.
      if (/^\s*(PRIMARY|UNIQUE|FOREIGN|CHECK|EXCLUDE)\b/i.test(a.rest())) return undefined;
      const name = a.name();
      if (!name) return undefined;
      if (this.columns.has(column(name))) return ifNotExists ? undefined : `adds column ${name} to ${table}, which already has it`;
      this.columns.add(column(name));
      this.inlineColumnConstraints(table, name, a.rest());
      return undefined;
    }
    if (a.take('DROP', 'COLUMN') || a.take('DROP')) {
      const ifExists = a.take('IF', 'EXISTS');
      const name = a.name();
      if (!name) return undefined;
      if (!this.columns.has(column(name))) return ifExists ? undefined : `drops column ${name} of ${table}, which the database does not have`;
      this.columns.delete(column(name));
      return undefined;
    }
    if (a.take('ALTER', 'CONSTRAINT')) {
      const name = a.name();
      if (name && !this.constraints.has(column(name))) return `alters constraint ${name} of ${table}, which the database does not have`;
      return undefined;
    }
    if (a.take('ALTER', 'COLUMN') || a.take('ALTER')) {
      const name = a.name();
      if (!name) return undefined;
      if (!this.columns.has(column(name))) return `alters column ${name} of ${table}, which the database does not have`;
      return undefined;
    }
    return undefined;
  }

  private defineTableBody(table: string, rest: string): void {
    const body = /^\s*\(([\s\S]*)\)/.exec(rest)?.[1] ?? '';
    for (const item of splitTopLevel(body, ',')) {
      const t = new Tokens(item);
      if (t.take('CONSTRAINT')) {
        const name = t.name();
        if (name) this.addConstraint(table, name, t.rest());
      } else if (t.take('PRIMARY', 'KEY')) {
        this.addConstraint(table, `${table}_pkey`, 'PRIMARY KEY');
      } else if (/^\s*(UNIQUE|FOREIGN|CHECK|EXCLUDE|LIKE)\b/i.test(item)) {
        continue;
      } else {
        const name = t.name();
        if (!name) continue;
        this.columns.add(`${table}.${name}`);
        this.inlineColumnConstraints(table, name, t.rest());
      }
    }
  }

  /** A column's own PRIMARY KEY or UNIQUE, named by PostgreSQL's rule (t_pkey, t_col_key). */
  private inlineColumnConstraints(table: string, column: string, rest: string): void {
    const named = /\bCONSTRAINT\s+("(?:[^"]|"")+"|[A-Za-z_][\w$]*)\s+(PRIMARY\s+KEY|UNIQUE)/i.exec(rest);
    if (named) this.addConstraint(table, unquote(named[1]!), named[2]!);
    else if (/\bPRIMARY\s+KEY\b/i.test(rest)) this.addConstraint(table, `${table}_pkey`, 'PRIMARY KEY');
    else if (/\bUNIQUE\b/i.test(rest)) this.addConstraint(table, `${table}_${column}_key`, 'UNIQUE');
  }

  private addConstraint(table: string, name: string, definition: string): void {
    this.constraints.add(`${table}.${name}`);
    // A primary key or unique constraint comes with an index of its name.
    if (/^\s*(PRIMARY\s+KEY|UNIQUE)\b/i.test(definition)) this.indexes.set(name, table);
  }

  private dropTable(table: string): void {
    this.tables.delete(table);
    for (const set of [this.columns, this.constraints]) for (const key of [...set]) if (key.startsWith(`${table}.`)) set.delete(key);
    for (const [name, owner] of [...this.indexes]) if (owner === table) this.indexes.delete(name);
  }

  private renameTable(from: string, to: string): void {
    this.tables.delete(from);
    this.tables.add(to);
    if (this.created.delete(from)) this.created.add(to);
    for (const set of [this.columns, this.constraints]) {
      for (const key of [...set]) {
        if (!key.startsWith(`${from}.`)) continue;
        set.delete(key);
        set.add(`${to}.${key.slice(from.length + 1)}`);
      }
    }
    for (const [name, owner] of [...this.indexes]) if (owner === from) this.indexes.set(name, to);
  }
}

/** The statements of alembic's offline SQL, each on one line, without comments. */
export function statements(sql: string): string[] {
  const kept = sql
    .split('\n')
    // alembic's "-- Running upgrade …", and any log line that reached the same stream.
    .filter((line) => !/^\s*--/.test(line) && !/^(INFO|WARNING|WARN|DEBUG|ERROR)\s+\[/.test(line))
    .join('\n');
  return splitTopLevel(kept, ';')
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s !== '');
}

/** Splits on `separator` outside parentheses, quotes and dollar-quoted bodies. */
function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      i = end === -1 ? text.length : end;
    } else if (c === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(text.slice(i))?.[0];
      if (tag) {
        const end = text.indexOf(tag, i + tag.length);
        i = end === -1 ? text.length : end + tag.length - 1;
      }
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === separator && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

function unquote(identifier: string): string {
  return identifier.startsWith('"') ? identifier.slice(1, -1).replaceAll('""', '"') : identifier.toLowerCase();
}

/** Reads keywords and names off the front of a statement. */
class Tokens {
  constructor(private text: string) {}

  /** Takes the keywords when the text starts with all of them, in order. */
  take(...words: string[]): boolean {
    const match = new RegExp(`^\\s*${words.join('\\s+')}\\b`, 'i').exec(this.text);
    if (!match) return false;
    this.text = this.text.slice(match[0].length);
    return true;
  }

  /** A (possibly schema-qualified, possibly quoted) name; `public.` is dropped. */
  name(): string | undefined {
    const match = /^\s*((?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*))?)/.exec(this.text);
    if (!match) return undefined;
    this.text = this.text.slice(match[0].length);
    const parts = match[1]!.split(/\s*\.\s*(?=(?:[^"]*"[^"]*")*[^"]*$)/).map(unquote);
    return parts.length === 2 && parts[0] === 'public' ? parts[1] : parts.length === 1 ? parts[0] : undefined;
  }

  rest(): string {
    return this.text;
  }
}
