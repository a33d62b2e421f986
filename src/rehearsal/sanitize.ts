/**
 * What a snapshot must not carry out of production, and what it puts in its place. A column leaves
 * as it is only when the allowlist below names it (what the steps, clear-history and the
 * constraints need); identities become pseudonyms that stay consistent within one snapshot, so a
 * keypair still points at its user; every other column, and every column of a table or release
 * the allowlist does not know, gets NULL or its type's neutral value. The pseudonyms are keyed by
 * a random key that is never written, so they cannot be reversed by hashing a list of known
 * addresses.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { parseTOML, ParseError, type AST } from 'toml-eslint-parser';
import { parse as parseTomlStrictly } from 'smol-toml';
import { messageOf, MigrationError } from '../core/errors.js';
import { tryDecodeURIComponent } from '../core/uri.js';
import { isLookedUpName } from '../releases/looked-up-names.js';

/** What happens to a column's values: kept, replaced by a keyed pseudonym, or replaced by a neutral value. */
export type ColumnTreatment = 'copy' | 'pseudonym' | 'neutral';

interface Allowed {
  readonly rule: 'copy' | 'pseudonym';
  /** Who needs it: the reason it may leave production at all. */
  readonly why: string;
}

const copy = (why: string): Allowed => ({ rule: 'copy', why });
const pseudonym = (why: string): Allowed => ({ rule: 'pseudonym', why });

/**
 * The columns a snapshot may carry, per table; the only place that says so. Column names as at
 * backend.ai-manager@21.09.9:src/ai/backend/manager/models/ (kernel.py, keypair.py, user.py,
 * agent.py, scaling_group.py, resource_policy.py) and 22.03's image.py.
 */
export const SNAPSHOT_ALLOWLIST: Readonly<Record<string, Readonly<Record<string, Allowed>>>> = {
  alembic_version: { version_num: copy('the schema position every step plans from') },
  kernels: {
    id: copy('primary key; clear-history deletes and counts by it'),
    session_id: copy('services-stopped groups live kernels by session'),
    session_name: pseudonym('services-stopped names a live session; unique per access key while live'),
    access_key: copy('joins keypairs; concurrency-to-redis counts kernels per access key'),
    agent: copy('foreign key to agents'),
    status: copy('services-stopped, concurrency-to-redis and the live-kernel count read it'),
    cluster_role: copy('the unique session-name index covers main kernels only'),
    created_at: copy('services-stopped orders live sessions by it'),
    terminated_at: copy('clear-history deletes by it'),
    architecture: copy('NOT NULL from 22.03; a label, not user data'),
    scaling_group: copy('foreign key to scaling_groups'),
    domain_name: copy('foreign key to domains'),
    group_id: copy('foreign key to groups'),
    user_uuid: copy('foreign key to users'),
    // 23.03's session back-fill (backend.ai@23.03.12 revision b6b884fbae1f) makes a session of every
    // kernel with cluster_size 1 and of every cluster of more: neutral zeros would leave kernels
    // without a session and fail the rehearsed upgrade. Numbers and labels the manager sets.
    cluster_size: copy('23.03 groups kernels into sessions by it; a count'),
    cluster_idx: copy("a kernel's place in its cluster; a number"),
    cluster_mode: copy('SINGLE_NODE or MULTI_NODE, copied into sessions by 23.03'),
    session_type: copy('INTERACTIVE, BATCH or INFERENCE, copied into sessions by 23.03'),
    role: copy('COMPUTE, INFERENCE or SYSTEM (22.09 to 24.03); kept across 22.09 → 23.03'),
  },
  keypairs: {
    access_key: copy('primary key; the Redis concurrency counters are named by it'),
    user_id: pseudonym("the owner's email"),
    user: copy('foreign key to users'),
    concurrency_used: copy('concurrency-to-redis moves it to Redis'),
    resource_policy: copy('foreign key to keypair_resource_policies'),
    is_active: copy('a flag, not user data'),
    is_admin: copy('a flag, not user data'),
    rate_limit: copy("a number the manager's rate limiter reads on every request"),
  },
  keypair_resource_policies: { name: copy('primary key that keypairs reference') },
  scaling_groups: { name: copy('primary key that agents and kernels reference') },
  domains: { name: copy('primary key that users, groups and kernels reference') },
  groups: { id: copy('primary key that kernels reference'), domain_name: copy('foreign key to domains') },
  users: {
    uuid: copy('primary key that keypairs and kernels reference'),
    email: pseudonym('unique; keypairs.user_id holds the same address'),
    username: pseudonym('unique'),
    full_name: pseudonym('a name'),
    domain_name: copy('foreign key to domains'),
    role: copy("an enum label the manager reads by value (a superadmin's rights; the manager's proof needs one)"),
    status: copy('an enum label the manager and revisions read by value (active, inactive, deleted, before-verification)'),
  },
  agents: {
    id: copy('primary key; services-stopped names live agents'),
    status: copy('services-stopped looks for ALIVE agents'),
    scaling_group: copy('foreign key to scaling_groups'),
    architecture: copy('NOT NULL from 22.03; a label, not user data'),
    available_slots: copy("resource numbers (cpu, mem, …) the manager's scheduler and API read, not user data"),
    occupied_slots: copy("resource numbers the manager's scheduler and API read, not user data"),
  },
  // Image metadata from the registries: image-metadata and image-rescan read and write all of it.
  images: Object.fromEntries(
    ['id', 'name', 'image', 'created_at', 'tag', 'registry', 'architecture', 'config_digest', 'size_bytes', 'type', 'accelerators', 'labels', 'resources'].map((c) => [
      c,
      copy('image metadata the image steps compare'),
    ]),
  ),
  image_aliases: { id: copy('primary key'), alias: copy('image-metadata compares aliases'), image: copy('foreign key to images') },
  // 24.09.14's downgrade to e9e574a6e22d makes endpoints.image NOT NULL with a foreign key to images again (downgrade-guards).
  endpoints: {
    id: copy('primary key; downgrade-guards names the endpoints it refuses by it'),
    name: pseudonym("a user's name for their endpoint"),
    image: copy('the image it serves: the downgrade requires one that exists, which downgrade-guards checks'),
  },
  // 24.09's d7df3baf3779 gives each vfolder its owner's domain (vfolder-domains checks that one exists); the name is the user's.
  vfolders: {
    id: copy('primary key'),
    name: pseudonym("a user's name for their folder"),
    user: copy('owning user: 24.09 takes the domain from it'),
    group: copy('owning group: 24.09 takes the domain from it'),
    domain_name: copy('foreign key to domains (from 24.09)'),
  },
};

export interface ColumnInfo {
  readonly name: string;
  readonly type: string;
  readonly notNull: boolean;
  readonly generated?: string;
}

/** A constraint or unique index, by column names, as the catalog gives it. */
export interface KeyInfo {
  readonly kind: 'primary' | 'unique' | 'foreign' | 'check';
  readonly table: string;
  readonly columns: readonly string[];
  readonly refTable?: string;
  readonly refColumns?: readonly string[];
}

export interface ColumnPlan {
  readonly name: string;
  readonly type: string;
  readonly notNull: boolean;
  readonly treatment: ColumnTreatment;
  readonly why: string;
}

const TEXT_TYPE = /^(text|character varying|character|varchar|char|citext|name)\b/;
const STRUCTURED_TYPE = /^(jsonb?|bytea|xml)$/;

/** A type that can hold free text (or anything at all): a pseudonym or a neutral value, never a copy. */
function freeText(type: string): boolean {
  return TEXT_TYPE.test(type) || STRUCTURED_TYPE.test(type) || type.endsWith('[]');
}

/**
 * What each column of each table gets. Allowlisted columns follow the allowlist. A column it does
 * not name is neutralised, unless a constraint needs its values: in a primary key, unique
 * constraint or index, foreign key or exclusion constraint, text and uuids become keyed pseudonyms
 * (distinct where the values were, and equal across tables, so keys stay unique and still join);
 * other scalar types (integers, timestamps, enums) hold no free text and are kept, as they are for
 * CHECK constraints. A foreign key whose one side is allowlisted makes the other side follow it.
 */
export function planColumns(
  tables: ReadonlyArray<{ readonly name: string; readonly columns: readonly ColumnInfo[] }>,
  keys: readonly KeyInfo[],
  allowlist: typeof SNAPSHOT_ALLOWLIST = SNAPSHOT_ALLOWLIST,
): Map<string, ColumnPlan[]> {
  const at = (table: string, column: string) => `${table}\u0000${column}`;
  const explicit = new Map<string, ColumnPlan>();
  const chosen = new Map<string, ColumnPlan>();
  const roles = new Map<string, Set<KeyInfo['kind']>>();
  const addRole = (table: string, column: string, kind: KeyInfo['kind']) => {
    const set = roles.get(at(table, column)) ?? new Set();
    roles.set(at(table, column), set.add(kind));
  };
  for (const key of keys) {
    for (const column of key.columns) addRole(key.table, column, key.kind);
    // What a foreign key points at is unique by definition.
    for (const column of key.refTable ? (key.refColumns ?? []) : []) addRole(key.refTable!, column, 'unique');
  }
  for (const table of tables) {
    for (const column of table.columns) {
      const base = { name: column.name, type: column.type, notNull: column.notNull };
      const allowed = Object.hasOwn(allowlist, table.name) && Object.hasOwn(allowlist[table.name]!, column.name) ? allowlist[table.name]![column.name]! : undefined;
      if (allowed) {
        const plan = { ...base, treatment: allowed.rule, why: allowed.why };
        explicit.set(at(table.name, column.name), plan);
        chosen.set(at(table.name, column.name), plan);
        continue;
      }
      const role = roles.get(at(table.name, column.name)) ?? new Set();
      const inKey = role.has('primary') || role.has('unique') || role.has('foreign');
      let plan: ColumnPlan;
      if (inKey && (TEXT_TYPE.test(column.type) || column.type === 'uuid')) plan = { ...base, treatment: 'pseudonym', why: 'not allowlisted; in a key, so pseudonymised to stay unique and join' };
      else if ((inKey || role.has('check')) && !freeText(column.type))
        plan = { ...base, treatment: 'copy', why: `not allowlisted; a ${column.type} in a ${inKey ? 'key' : 'CHECK constraint'}, which holds no free text` };
      else if (role.has('check') && TEXT_TYPE.test(column.type)) plan = { ...base, treatment: 'pseudonym', why: 'not allowlisted; in a CHECK constraint, so a non-empty stand-in' };
      else plan = { ...base, treatment: 'neutral', why: 'not allowlisted' };
      chosen.set(at(table.name, column.name), plan);
    }
  }
  // Both sides of a foreign key must be treated alike, or the restored rows no longer join; an
  // allowlisted side decides, and a decision travels along chains of keys (so: until nothing changes).
  const decided = new Set(explicit.keys());
  for (let changed = true, rounds = 0; changed && rounds <= keys.length; rounds++) {
    changed = false;
    for (const key of keys) {
      if (key.kind !== 'foreign' || !key.refTable) continue;
      key.columns.forEach((column, i) => {
        const [child, parent] = [at(key.table, column), at(key.refTable!, key.refColumns?.[i] ?? '')];
        const [c, p] = [chosen.get(child), chosen.get(parent)];
        if (!c || !p || c.treatment === p.treatment) return;
        if (explicit.has(child) && explicit.has(parent)) {
          throw new Error(
            `snapshot allowlist: ${key.table}.${column} (${c.treatment}) references ${key.refTable}.${key.refColumns?.[i]} (${p.treatment}); both sides of a foreign key must be treated alike`,
          );
        }
        // The decided side wins; between two undecided ones, the parent (its key rule sees uniqueness).
        const childFollows = decided.has(parent) || !decided.has(child);
        const [follower, leader, target] = childFollows ? [c, p, child] : [p, c, parent];
        chosen.set(target, { ...follower, treatment: leader.treatment, why: `not allowlisted; ${childFollows ? 'references' : 'referenced by'} a column treated so` });
        decided.add(target);
        changed = true;
      });
    }
  }
  return new Map(tables.map((t) => [t.name, t.columns.map((c) => chosen.get(at(t.name, c.name))!)]));
}

/** A NOT NULL column's neutral value in PostgreSQL's text form; undefined for a type it has none for. */
export function neutralValue(type: string, enums: ReadonlyMap<string, readonly string[]>): string | (() => string) | undefined {
  if (type.endsWith('[]')) return '{}';
  if (TEXT_TYPE.test(type) || type === 'xml') return '';
  if (type === 'jsonb' || type === 'json') return '{}';
  if (type === 'bytea') return '\\x';
  if (type === 'boolean') return 'false';
  if (/^(smallint|integer|bigint|numeric|real|double precision|money)\b/.test(type)) return '0';
  if (type === 'interval') return '0';
  if (type === 'date') return '1970-01-01';
  if (/^timestamp\b/.test(type)) return '1970-01-01 00:00:00+00';
  if (/^time\b/.test(type)) return '00:00:00';
  if (type === 'inet' || type === 'cidr') return '0.0.0.0';
  if (type === 'uuid') return () => randomUUID();
  const name = type.startsWith('"') ? type.slice(1, -1).replaceAll('""', '"') : type;
  const labels = enums.get(name);
  return labels?.[0];
}

export class Sanitizer {
  private readonly key = randomBytes(32);

  /** The value to store for a column, given as PostgreSQL's text form. */
  value(plan: ColumnPlan, value: string | null, neutral: string | (() => string) | undefined): string | null {
    switch (plan.treatment) {
      case 'copy':
        return value;
      case 'pseudonym':
        if (value === null) return null;
        if (plan.type === 'uuid') return this.uuidPseudonym(value);
        if (TEXT_TYPE.test(plan.type)) return this.pseudonym(value).slice(0, lengthLimit(plan.type));
        // An identity column of another type (a number) carries no name: kept so that rows join.
        if (!freeText(plan.type)) return value;
        return this.neutral(plan, neutral);
      case 'neutral':
        return this.neutral(plan, neutral);
    }
  }

  private neutral(plan: ColumnPlan, neutral: string | (() => string) | undefined): string | null {
    if (!plan.notNull) return null;
    if (neutral === undefined) throw new Error(`no neutral value for NOT NULL column ${plan.name} of type ${plan.type}`);
    return typeof neutral === 'function' ? neutral() : neutral;
  }

  /**
   * The same input gives the same pseudonym within this snapshot; an email stays an email. A name
   * Backend.AI's code looks up by value ("default", "model-store") stays itself, in every column
   * alike, so that foreign keys still join. A name longer than a pseudonym keeps its length (the
   * column's limit still cuts it): a revision that shrinks the column (24.09.14's downgrade of
   * vfolders.name to 64 characters) stops on the stand-in as on the original.
   */
  pseudonym(value: string): string {
    if (isLookedUpName(value)) return value;
    if (value.includes('@')) return `u-${this.digest(value).slice(0, 12)}@redacted.invalid`;
    let digest = this.digest(value);
    while (digest.length < value.length - 2) digest += this.digest(`${value}\u0000${digest.length}`);
    return `u-${digest.slice(0, Math.max(12, value.length - 2))}`;
  }

  /** A uuid key's stand-in: the same uuid always maps to the same one, which reveals nothing of it. */
  uuidPseudonym(value: string): string {
    const h = this.digest(value.toLowerCase());
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[parseInt(h[16]!, 16) % 4]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }

  private digest(value: string): string {
    return createHmac('sha256', this.key).update(value).digest('hex');
  }
}

/** varchar(64) → 64: a pseudonym must fit its column. */
function lengthLimit(type: string): number | undefined {
  const match = /^(character varying|varchar|character|char)\((\d+)\)/.exec(type);
  return match ? Number(match[2]) : undefined;
}

/** etcd keys whose last part names a secret: config/redis/password, volumes/proxies/{name}/secret, registry passwords. */
const SECRET_KEY_PART = /(password|secret|token|credential|private[-_]?key|api[-_]?key)/i;

export const REDACTED = 'REDACTED';

export function isSecretEtcdKey(key: string): boolean {
  const last =
    key
      .split('/')
      .filter((part) => part !== '')
      .pop() ?? '';
  // A part that is not valid percent-encoding is read as written.
  return SECRET_KEY_PART.test(tryDecodeURIComponent(last) ?? last);
}

/**
 * Removes a password embedded in a URL value (https://user:pass@registry). A URL that does not
 * parse (a password with a raw "/" in it) loses its whole user part.
 */
export function stripUrlPassword(value: string): string {
  try {
    const url = new URL(value);
    if (!url.password) return value;
    url.password = '';
    return url.toString();
  } catch {
    return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@\s]*:[^@\s]*@/i, '$1');
  }
}

/** A key part that names a secret, anywhere in a manager.toml key path: db.password, etcd.password, registry tokens. */
const SECRET_TOML_KEY = /(password|passwd|secret|token|credential|private[-_]?key|api[-_]?key)/i;

type TomlPath = ReadonlyArray<string | number>;

/** db.password, "odd key".token, registries[0].password: what the report shows. */
function showPath(path: TomlPath): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i > 0 ? '.' : ''}${/^[A-Za-z0-9_-]+$/.test(part) ? part : JSON.stringify(part)}`)).join('');
}

/**
 * A random stand-in of a secret's shape: as long, of hex digits where it was hex, else of letters
 * and digits. Never blank: a loader that requires the value (24.09's [manager] secret) still
 * accepts the redacted file, and nothing of the original is in it.
 */
export function secretStandIn(value: string): string {
  const alphabet = /^[0-9a-f]+$/i.test(value) ? '0123456789abcdef' : 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(Math.max(1, value.length));
  let out = '';
  for (const byte of bytes) out += alphabet[byte % alphabet.length];
  // Vanishingly unlikely, but a stand-in must never be the value it replaces.
  return out === value ? secretStandIn(value) : out;
}

/** Removed values shorter than this are not searched for elsewhere in the text: too short to be told from other text. */
const SHORTEST_SEARCHED = 6;

/**
 * manager.toml with every secret value replaced, layout and comments kept: each value under a key
 * path with a part named like a secret ([db] and [etcd] passwords, [manager] secret, tokens,
 * private keys), in any TOML form (basic, literal and multi-line strings, dotted or quoted keys,
 * arrays, inline tables), is found in a real TOML syntax tree and its exact source range replaced:
 * a string by a random stand-in of its shape (secretStandIn), other kinds by an empty value; a
 * comment that looks like a secret assignment is emptied too. A removed string that also stands
 * elsewhere (a comment, a URL, another key; as written or percent-encoded) is replaced there by
 * its stand-in too. The result is parsed again and refused, with nothing copied, unless it is
 * valid TOML in which no removed value is left anywhere. Returns the text and the paths replaced.
 */
export function redactToml(text: string, name = 'manager.toml'): { text: string; redacted: string[] } {
  const refuse = (why: string) => new MigrationError('invalid-input', `${name} cannot be redacted safely (${why}); it is not copied`);
  let program: AST.TOMLProgram;
  try {
    program = parseTOML(text, { tomlVersion: '1.0.0' });
  } catch (error) {
    const at = error instanceof ParseError ? ` at line ${error.lineNumber}` : '';
    throw refuse(`it is not valid TOML${at}: ${messageOf(error).split('\n')[0]}`);
  }
  /** `secrets`: the strings it removes (a string's value, an array's or inline table's string leaves); `standIn`: a string's replacement. */
  const splices: Array<{ range: readonly [number, number]; by: string; path: TomlPath; label?: string; secrets: readonly string[]; standIn?: string }> = [];
  const strings = (node: AST.TOMLContentNode): string[] =>
    node.type === 'TOMLValue'
      ? node.kind === 'string' && node.value !== ''
        ? [node.value]
        : []
      : node.type === 'TOMLArray'
        ? node.elements.flatMap(strings)
        : node.type === 'TOMLInlineTable'
          ? node.body.flatMap((pair) => strings(pair.value))
          : [];
  const keyParts = (key: AST.TOMLKey) => key.keys.map((k) => (k.type === 'TOMLBare' ? k.name : k.value));
  const visit = (node: AST.TOMLContentNode, path: TomlPath, secret: boolean): void => {
    const isSecret = secret || SECRET_TOML_KEY.test(String(path.at(-1) ?? ''));
    if (isSecret && node.type === 'TOMLArray') splices.push({ range: node.range, by: '[]', path, secrets: strings(node) });
    else if (isSecret && node.type === 'TOMLInlineTable') splices.push({ range: node.range, by: '{}', path, secrets: strings(node) });
    else if (isSecret && node.type === 'TOMLValue' && node.kind === 'string') {
      const standIn = node.value === '' ? '' : secretStandIn(node.value);
      splices.push({ range: node.range, by: JSON.stringify(standIn), path, secrets: strings(node), standIn });
    } else if (isSecret && node.type === 'TOMLValue' && (node.kind === 'integer' || node.kind === 'float')) splices.push({ range: node.range, by: '0', path, secrets: [] });
    else if (node.type === 'TOMLArray') node.elements.forEach((element, i) => visit(element, [...path, i], isSecret));
    else if (node.type === 'TOMLInlineTable') for (const pair of node.body) visit(pair.value, [...path, ...keyParts(pair.key)], isSecret || keyParts(pair.key).some((k) => SECRET_TOML_KEY.test(k)));
  };
  const arrayTables = new Map<string, number>();
  for (const item of program.body[0].body) {
    if (item.type === 'TOMLKeyValue') {
      visit(
        item.value,
        keyParts(item.key),
        keyParts(item.key).some((k) => SECRET_TOML_KEY.test(k)),
      );
      continue;
    }
    const header: Array<string | number> = keyParts(item.key);
    if (item.kind === 'array') {
      const shown = JSON.stringify(header);
      const index = arrayTables.get(shown) ?? 0;
      arrayTables.set(shown, index + 1);
      header.push(index);
    }
    const secretTable = header.some((k) => typeof k === 'string' && SECRET_TOML_KEY.test(k));
    for (const pair of item.body) visit(pair.value, [...header, ...keyParts(pair.key)], secretTable || keyParts(pair.key).some((k) => SECRET_TOML_KEY.test(k)));
  }
  // A commented-out assignment (`# password = "old"`) is still a secret; one inside a removed value goes with it.
  const inside = (range: readonly [number, number]) => splices.some((s) => s.range[0] <= range[0] && range[1] <= s.range[1]);
  const comments = program.comments.filter((c) => SECRET_TOML_KEY.test(c.value) && /[=:]/.test(c.value) && !inside(c.range));
  for (const comment of comments) splices.push({ range: comment.range, by: '# (secret removed by bai-migrate)', path: [], label: `(comment on line ${comment.loc.start.line})`, secrets: [] });
  // An empty value has nothing to remove, and is not reported as removed.
  const needed = splices.filter((s) => (s.standIn === undefined ? text.slice(s.range[0], s.range[1]) !== s.by : s.standIn !== ''));

  let out = text;
  for (const splice of [...needed].sort((a, b) => b.range[0] - a.range[0])) out = out.slice(0, splice.range[0]) + splice.by + out.slice(splice.range[1]);
  // The same value elsewhere (a comment, a URL, another key) goes too: a removed value never leaves.
  for (const splice of needed) {
    for (const secret of splice.secrets) {
      const standIn = splice.standIn ?? secretStandIn(secret);
      for (const form of new Set([secret, encodeURIComponent(secret)])) {
        if (!out.includes(form)) continue;
        if (form.length < SHORTEST_SEARCHED) throw refuse(`the value of ${showPath(splice.path)} also stands elsewhere in it, and is too short to be removed from there safely`);
        out = out.replaceAll(form, standIn);
      }
    }
  }

  // Checked on what is written, by another parser: valid, and none of the removed values left in it.
  let parsed: Record<string, unknown>;
  try {
    parsed = parseTomlStrictly(out) as Record<string, unknown>;
  } catch (error) {
    // Only the first line: the parser's message goes on to quote the text.
    throw refuse(`the redacted text is not valid TOML: ${messageOf(error).split('\n')[0]}`);
  }
  for (const splice of needed) {
    // Checked on the final bytes: no removed string is anywhere in them.
    if (splice.secrets.some((secret) => out.includes(secret))) throw refuse(`the value of ${splice.label ?? showPath(splice.path)} is still in it`);
    if (splice.label) continue;
    const value = splice.path.reduce<unknown>((at, part) => (at as Record<string | number, unknown> | undefined)?.[part], parsed);
    const replaced =
      splice.standIn !== undefined
        ? value === splice.standIn
        : value === 0 || (Array.isArray(value) && value.length === 0) || (typeof value === 'object' && value !== null && Object.keys(value).length === 0);
    if (!replaced) throw refuse(`${showPath(splice.path)} is not replaced after redaction`);
  }
  return { text: out, redacted: [...new Set(needed.map((s) => s.label ?? showPath(s.path)))] };
}
