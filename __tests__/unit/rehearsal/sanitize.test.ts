/** What a snapshot puts in place of secrets and personal data, and the rehearsal's manager.toml. */
import { describe, expect, it } from 'vitest';
import { neutralValue, planColumns, redactToml, Sanitizer, stripUrlPassword, type ColumnPlan, type KeyInfo } from '../../../src/rehearsal/sanitize.js';
import { rehearsalManagerToml } from '../../../src/rehearsal/rehearse.js';
import { replaceTomlTable } from '../../../src/manager/toml-edit.js';
import { parseToml } from '../../../src/manager/toml.js';
import { parse as parseSmol } from 'smol-toml';
import type { Options } from '../../../src/options/index.js';
import type { SnapshotManifest } from '../../../src/rehearsal/snapshot-file.js';

describe('sanitizing', () => {
  const sanitizer = new Sanitizer();

  const treatments = (tables: Parameters<typeof planColumns>[0], keys: KeyInfo[] = []) =>
    Object.fromEntries([...planColumns(tables, keys)].map(([t, cols]) => [t, Object.fromEntries(cols.map((c) => [c.name, c.treatment]))]));

  it('copies only allowlisted columns; anything else, in a known table or not, is neutralised', () => {
    const column = (name: string, type = 'text', notNull = false) => ({ name, type, notNull });
    expect(
      treatments([
        {
          name: 'kernels',
          columns: [column('id', 'uuid', true), column('access_key', 'character varying(20)'), column('container_log', 'bytea'), column('startup_command'), column('some_future_column')],
        },
        { name: 'keypairs', columns: [column('access_key', 'character varying(20)', true), column('user_id', 'character varying(256)'), column('bootstrap_script', 'character varying(65536)', true)] },
        { name: 'future_table', columns: [column('note'), column('count', 'integer', true)] },
      ]),
    ).toEqual({
      kernels: { id: 'copy', access_key: 'copy', container_log: 'neutral', startup_command: 'neutral', some_future_column: 'neutral' },
      keypairs: { access_key: 'copy', user_id: 'pseudonym', bootstrap_script: 'neutral' },
      future_table: { note: 'neutral', count: 'neutral' },
    });
  });

  it('keeps keys unique and joined: text and uuid keys become pseudonyms, other scalar keys stay, foreign keys follow their other side', () => {
    const tables = [
      {
        name: 'future',
        columns: [
          { name: 'id', type: 'uuid', notNull: true },
          { name: 'slug', type: 'text', notNull: true },
          { name: 'seq', type: 'bigint', notNull: true },
          { name: 'doc', type: 'jsonb', notNull: true },
        ],
      },
      {
        name: 'kernels',
        columns: [
          { name: 'id', type: 'uuid', notNull: true },
          { name: 'future_id', type: 'uuid', notNull: false },
        ],
      },
      { name: 'future_child', columns: [{ name: 'kernel', type: 'uuid', notNull: true }] },
      { name: 'future_grandchild', columns: [{ name: 'child', type: 'uuid', notNull: true }] },
    ];
    const keys: KeyInfo[] = [
      // Listed first, so that it is settled only after the key it depends on.
      { kind: 'foreign', table: 'future_grandchild', columns: ['child'], refTable: 'future_child', refColumns: ['kernel'] },
      { kind: 'primary', table: 'future', columns: ['id'] },
      { kind: 'unique', table: 'future', columns: ['slug', 'seq'] },
      { kind: 'foreign', table: 'kernels', columns: ['future_id'], refTable: 'future', refColumns: ['id'] },
      { kind: 'foreign', table: 'future_child', columns: ['kernel'], refTable: 'kernels', refColumns: ['id'] },
    ];
    expect(treatments(tables, keys)).toEqual({
      future: { id: 'pseudonym', slug: 'pseudonym', seq: 'copy', doc: 'neutral' },
      kernels: { id: 'copy', future_id: 'pseudonym' },
      // kernels.id is allowlisted and copied, so a column pointing at it is copied too.
      future_child: { kernel: 'copy' },
      future_grandchild: { child: 'copy' },
    });
  });

  it('gives each neutralised NOT NULL column a value of its own type, and NULL where NULL is allowed', () => {
    const enums = new Map([['sessionresult', ['UNDEFINED', 'SUCCESS']]]);
    const plan = (type: string, notNull: boolean, treatment: ColumnPlan['treatment'] = 'neutral'): ColumnPlan => ({ name: 'c', type, notNull, treatment, why: '' });
    const value = (type: string, notNull: boolean, original: string | null = 'Secr3t') => sanitizer.value(plan(type, notNull), original, neutralValue(type, enums));
    expect(value('text', false)).toBeNull();
    expect(value('text', true)).toBe('');
    expect(value('character varying[]', true)).toBe('{}');
    expect(value('jsonb', true)).toBe('{}');
    expect(value('bytea', true)).toBe('\\x');
    expect(value('integer', true)).toBe('0');
    expect(value('boolean', true)).toBe('false');
    expect(value('timestamp with time zone', true)).toBe('1970-01-01 00:00:00+00');
    expect(value('sessionresult', true)).toBe('UNDEFINED');
    expect(value('uuid', true)).not.toBe(value('uuid', true));
    expect(neutralValue('tsvector', enums)).toBeUndefined();
    expect(() => value('tsvector', true)).toThrow(/no neutral value for NOT NULL column c of type tsvector/);
    // Pseudonyms: consistent, unreadable, and short enough for their column.
    expect(sanitizer.pseudonym('a@example.com')).toBe(sanitizer.pseudonym('a@example.com'));
    expect(sanitizer.pseudonym('a@example.com')).toMatch(/^u-[0-9a-f]{12}@redacted\.invalid$/);
    expect(sanitizer.value(plan('character varying(8)', true, 'pseudonym'), 'a long session name', undefined)).toMatch(/^u-[0-9a-f]{6}$/);
    const id = '2de2b9a3-2f2c-4d4c-9a35-8c8ff5a3e3c1';
    expect(sanitizer.value(plan('uuid', true, 'pseudonym'), id, undefined)).toBe(sanitizer.uuidPseudonym(id));
    expect(sanitizer.uuidPseudonym(id)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(sanitizer.uuidPseudonym(id)).not.toBe(id);
  });

  it('removes passwords from URLs, also ones a URL parser cannot read', () => {
    expect(stripUrlPassword('https://admin:pw@cr.example.com/v2')).toBe('https://admin@cr.example.com/v2');
    expect(stripUrlPassword('https://admin:p/w@cr.example.com')).toBe('https://cr.example.com');
    expect(stripUrlPassword('https://cr.example.com/a@b')).toBe('https://cr.example.com/a@b');
  });

  it('replaces secret values in manager.toml by random stand-ins of their shape, never blank, and keeps its layout', () => {
    const { text, redacted } = redactToml('[db]\npassword = "s3cret"  # prod\naddr = { host = "h", port = 5432 }\n[manager]\nsecret = "0f3a9c77e1d2b4a6"\n');
    expect(text).toMatch(/^\[db\]\npassword = "[A-Za-z0-9]{6}" {2}# prod\naddr = \{ host = "h", port = 5432 \}\n\[manager\]\nsecret = "[0-9a-f]{16}"\n$/);
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain('0f3a9c77e1d2b4a6');
    expect(redacted).toEqual(['db.password', 'manager.secret']);
    // A loader that refuses a blank secret (24.09's) accepts the stand-in.
    expect((parseSmol(text).manager as Record<string, string>).secret).toHaveLength(16);
  });

  it('removes a secret wherever else it stands in the file: a comment, a URL, percent-encoded', () => {
    const password = 'p@ss/w0rd-Secr3t';
    const source = `[db]\npassword = "${password}"\n# was: postgresql://bai:${encodeURIComponent(password)}@10.0.0.5/backend\n# also ${password} here\n[logging]\nnote = "copy of ${password}"\n`;
    const { text } = redactToml(source);
    expect(text).not.toContain(password);
    expect(text).not.toContain(encodeURIComponent(password));
    const standIn = (parseSmol(text).db as Record<string, string>).password!;
    expect(text.split(standIn)).toHaveLength(5);
    expect(() => redactToml('[db]\npassword = "abc"\n[etcd]\nnamespace = "abc"\n')).toThrow(/the value of db\.password also stands elsewhere in it, and is too short to be removed from there safely/);
  });
});

describe('manager.toml redaction, through a TOML syntax tree', () => {
  const SECRET = 'Pw-9xQ7-s3cret';
  // Each form the issue names, with what must be reported; each must lose its secret and stay valid TOML.
  const forms: Array<[string, string, string[]]> = [
    ['multi-line basic string', `[db]\npassword = """\n${SECRET}\n"""\nname = "backend"\n`, ['db.password']],
    ['multi-line literal string', `[db]\npassword = '''${SECRET}'''\nname = "backend"\n`, ['db.password']],
    ['literal string', `[db]\npassword = '${SECRET}'\n`, ['db.password']],
    ['escaped quote', `[db]\npassword = "a\\"${SECRET}"\n`, ['db.password']],
    ['quoted key', `[db]\n"password" = "${SECRET}"\n`, ['db.password']],
    ['quoted header', `["db"]\npassword = "${SECRET}"\n`, ['db.password']],
    ['dotted key', `db.password = "${SECRET}"\ndb.name = "backend"\n`, ['db.password']],
    ['dotted header and key', `[manager.plugins]\nwebhook.api_key = "${SECRET}"\n`, ['manager.plugins.webhook.api_key']],
    ['array', `[docker]\ntokens = ["${SECRET}", "second-${SECRET}"]\n`, ['docker.tokens']],
    ['inline table', `[db]\naddr = { host = "h", password = "${SECRET}" }\n`, ['db.addr.password']],
    ['secret-named inline table', `[etcd]\ncredentials = { user = "u", key = "${SECRET}" }\n`, ['etcd.credentials']],
    ['array of tables', `[[registry]]\nname = "a"\n[[registry]]\nname = "b"\ntoken = "${SECRET}"\n`, ['registry[1].token']],
    ['CRLF', `# prod\r\n[db]\r\npassword = "${SECRET}"\r\nname = "backend"\r\n[etcd]\r\npassword = """${SECRET}"""\r\n`, ['db.password', 'etcd.password']],
    ['commented-out secret', `[db]\n# password = "${SECRET}"\npassword = ""\n`, ['(comment on line 2)']],
  ];

  it.each(forms)('%s: the secret is gone, the rest stays, the output parses', (_form, source, paths) => {
    const { text, redacted } = redactToml(source);
    expect(text).not.toContain(SECRET);
    expect(redacted).toEqual(paths);
    // A parser of its own, not the one redaction used.
    const before = parseSmol(source);
    const after = parseSmol(text);
    expect(JSON.stringify(after)).not.toContain(SECRET);
    if ('db' in before && 'name' in (before.db as object)) expect((after.db as Record<string, unknown>).name).toBe('backend');
    if (source.includes('\r\n')) expect(text.split('\r\n').length).toBe(source.split('\r\n').length);
  });

  it('leaves non-secret values and already empty secrets alone', () => {
    const source = '[etcd]\nnamespace = "local"\npassword = ""\n[manager]\nnum-proc = 4\nheartbeat-timeout = 30.0\n';
    expect(redactToml(source)).toEqual({ text: source, redacted: [] });
  });

  it('refuses, naming the cause, a file that is not valid TOML', () => {
    const refusal = (() => {
      try {
        redactToml(`[db]\npassword = '''${SECRET}\n`);
      } catch (error) {
        return (error as Error).message;
      }
      return 'not refused';
    })();
    expect(refusal).toMatch(/^manager\.toml cannot be redacted safely \(it is not valid TOML at line \d+: .*\); it is not copied$/);
    // The message goes to the log: it names the place, never the text.
    expect(refusal).not.toContain(SECRET);
    expect(() => redactToml(`[db]\npassword = "x"\npassword = "y"\n`)).toThrow(/not valid TOML/);
  });
});

describe("the rehearsal's manager.toml", () => {
  it('replaces [db] and [etcd] with the disposable servers, so nothing reading it reaches production', () => {
    const pr =
      '# prod\n[etcd]\nnamespace = "prod"\naddr = { host = "10.0.0.9", port = 2379 }\npassword = "etcd-pw"\n\n[db]\naddr = { host = "10.0.0.5", port = 5432 }\nname = "backend"\npassword = "pg-pw"\n\n[manager]\nnum-proc = 4\n';
    const replaced = replaceTomlTable(pr, 'db', 'name = "x"');
    expect(replaced).toContain('[db]\nname = "x"\n\n[manager]');
    const manifest = { etcd: { namespace: 'prod' } } as SnapshotManifest;
    const servers = {
      postgres: { host: '127.0.0.1', port: 41001, user: 'postgres', password: 'tmp-pw', database: 'postgres' },
      redis: { host: '127.0.0.1', port: 41002 },
      etcd: '127.0.0.1:41003',
      description: '',
    };
    const text = rehearsalManagerToml({ managerConfig: undefined } as Options, manifest, pr, servers, 'bai_rehearsal_1');
    expect(text).not.toMatch(/10\.0\.0\.|pg-pw|etcd-pw/);
    expect(parseToml(text)).toMatchObject({
      db: { addr: { host: '127.0.0.1', port: 41001 }, name: 'bai_rehearsal_1', user: 'postgres', password: 'tmp-pw' },
      etcd: { namespace: 'prod', addr: { host: '127.0.0.1', port: 41003 } },
      manager: { 'num-proc': 4 },
    });
  });
});

describe('names Backend.AI looks up by value', () => {
  it('stay themselves wherever they stand (24.03 looks up the policy and domain "default" and makes "model-store"); other names become pseudonyms', () => {
    const sanitizer = new Sanitizer();
    expect(sanitizer.pseudonym('default')).toBe('default');
    expect(sanitizer.pseudonym('model-store')).toBe('model-store');
    expect(sanitizer.pseudonym('research-gpu')).toMatch(/^u-[0-9a-f]{12}$/);
    expect(sanitizer.pseudonym('Default')).toMatch(/^u-[0-9a-f]{12}$/);
  });
});

describe('a pseudonym of a long name', () => {
  it('keeps its length, so that a revision shrinking the column stops on it as on the original (24.09.14: vfolders.name to 64)', () => {
    const sanitizer = new Sanitizer();
    for (const length of [15, 64, 65, 70, 200]) {
      const name = 'n'.repeat(length);
      expect(sanitizer.pseudonym(name)).toMatch(new RegExp(`^u-[0-9a-f]{${length - 2}}$`));
      expect(sanitizer.pseudonym(name)).toBe(sanitizer.pseudonym(name));
    }
    expect(sanitizer.pseudonym('n'.repeat(70))).not.toBe(sanitizer.pseudonym('m'.repeat(70)));
  });
});
