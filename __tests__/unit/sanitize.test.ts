/** What a snapshot puts in place of secrets and personal data, and the rehearsal's manager.toml. */
import { describe, expect, it } from 'vitest';
import { columnRule, redactToml, Sanitizer, stripUrlPassword } from '../../src/engine/sanitize.js';
import { rehearsalManagerToml } from '../../src/engine/rehearse.js';
import { replaceTomlTable } from '../../src/engine/toml-edit.js';
import { parseToml } from '../../src/engine/toml.js';
import type { Options } from '../../src/engine/options.js';
import type { SnapshotManifest } from '../../src/engine/snapshot-file.js';

describe('sanitizing', () => {
  const sanitizer = new Sanitizer();

  it('gives each kind of column a value of its own type', () => {
    expect(columnRule('environ')).toBe('secret');
    expect(columnRule('internal_data')).toBe('secret');
    expect(columnRule('callback_url')).toBe('secret');
    expect(columnRule('email')).toBe('pseudonym');
    expect(columnRule('access_key')).toBeUndefined();
    expect(sanitizer.replace('secret', 'character varying[]', false, '{HOME=/home/work,HF_TOKEN=abc}')).toBe('{}');
    expect(sanitizer.replace('secret', 'character varying(40)', false, 'abc')).toBe('REDACTED');
    expect(sanitizer.replace('secret', 'jsonb', false, '{"ssh_keypair": {}}')).toBeNull();
    expect(sanitizer.replace('secret', 'jsonb', true, '{"ssh_keypair": {}}')).toBe('{}');
    expect(sanitizer.replace('pseudonym', 'uuid', true, 'f6a0…')).toBe('f6a0…');
    expect(sanitizer.pseudonym('a@example.com')).toBe(sanitizer.pseudonym('a@example.com'));
    expect(sanitizer.pseudonym('a@example.com')).toMatch(/^u-[0-9a-f]{12}@redacted\.invalid$/);
  });

  it('removes passwords from URLs, also ones a URL parser cannot read', () => {
    expect(stripUrlPassword('https://admin:pw@cr.example.com/v2')).toBe('https://admin@cr.example.com/v2');
    expect(stripUrlPassword('https://admin:p/w@cr.example.com')).toBe('https://cr.example.com');
    expect(stripUrlPassword('https://cr.example.com/a@b')).toBe('https://cr.example.com/a@b');
  });

  it('empties secret values in manager.toml and keeps its layout', () => {
    const { text, redacted } = redactToml('[db]\npassword = "s3cret"  # prod\naddr = { host = "h", port = 5432 }\n');
    expect(text).toBe('[db]\npassword = ""  # prod\naddr = { host = "h", port = 5432 }\n');
    expect(redacted).toEqual(['password']);
  });
});

describe("the rehearsal's manager.toml", () => {
  it('replaces [db] and [etcd] with the disposable servers, so nothing reading it reaches production', () => {
    const pr = '# prod\n[etcd]\nnamespace = "prod"\naddr = { host = "10.0.0.9", port = 2379 }\npassword = "etcd-pw"\n\n[db]\naddr = { host = "10.0.0.5", port = 5432 }\nname = "backend"\npassword = "pg-pw"\n\n[manager]\nnum-proc = 4\n';
    const replaced = replaceTomlTable(pr, 'db', 'name = "x"');
    expect(replaced).toContain('[db]\nname = "x"\n\n[manager]');
    const manifest = { etcd: { namespace: 'prod' } } as SnapshotManifest;
    const servers = { postgres: { host: '127.0.0.1', port: 41001, user: 'postgres', password: 'tmp-pw', database: 'postgres' }, redis: { host: '127.0.0.1', port: 41002 }, etcd: '127.0.0.1:41003', description: '' };
    const text = rehearsalManagerToml({ managerConfig: undefined } as Options, manifest, pr, servers, 'bai_rehearsal_1');
    expect(text).not.toMatch(/10\.0\.0\.|pg-pw|etcd-pw/);
    expect(parseToml(text)).toMatchObject({
      db: { addr: { host: '127.0.0.1', port: 41001 }, name: 'bai_rehearsal_1', user: 'postgres', password: 'tmp-pw' },
      etcd: { namespace: 'prod', addr: { host: '127.0.0.1', port: 41003 } },
      manager: { 'num-proc': 4 },
    });
  });
});
