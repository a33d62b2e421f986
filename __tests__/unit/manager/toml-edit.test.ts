import { describe, expect, it } from 'vitest';
import { setTomlValue } from '../../../src/manager/toml-edit.js';
import { parseToml } from '../../../src/manager/toml.js';

const BASE = `# Backend.AI manager
[etcd]
namespace = "local"   # env: BACKEND_NAMESPACE

[manager]
num-proc = 4
# distributed-lock = "pg_advisory"
heartbeat-timeout = 30.0

[debug]
enabled = false
`;

describe('manager.toml editing', () => {
  it('adds the key beside its commented-out default and changes nothing else', () => {
    const out = setTomlValue(BASE, 'manager', 'distributed-lock', 'etcd');
    expect(out).toBe(BASE.replace('# distributed-lock = "pg_advisory"\n', '# distributed-lock = "pg_advisory"\ndistributed-lock = "etcd"\n'));
  });

  it('replaces an existing value in place, keeping its comment', () => {
    const text = BASE.replace('num-proc = 4', 'num-proc = 4\n  distributed-lock = "filelock"  # single node');
    expect(setTomlValue(text, 'manager', 'distributed-lock', 'pg_advisory')).toContain('  distributed-lock = "pg_advisory"  # single node');
  });

  it('is idempotent', () => {
    const once = setTomlValue(BASE, 'debug', 'periodic-sync-stats', true);
    expect(setTomlValue(once, 'debug', 'periodic-sync-stats', true)).toBe(once);
    expect(parseToml(once).debug).toEqual({ enabled: false, 'periodic-sync-stats': true });
  });

  it('adds a missing table at the end', () => {
    const out = setTomlValue('[etcd]\nnamespace = "x"', 'manager', 'distributed-lock', 'etcd');
    expect(out).toBe('[etcd]\nnamespace = "x"\n\n[manager]\ndistributed-lock = "etcd"\n');
  });

  it('does not touch a key of the same name in another table', () => {
    const text = '[other]\ndistributed-lock = "x"\n[manager]\n';
    expect(parseToml(setTomlValue(text, 'manager', 'distributed-lock', 'etcd'))).toEqual({ other: { 'distributed-lock': 'x' }, manager: { 'distributed-lock': 'etcd' } });
  });
});

describe('manager.toml editing through the syntax tree', () => {
  it('keeps CRLF line endings and adds beside the commented default that follows the last key', () => {
    const text = '[manager]\r\nnum-proc = 4\r\n# distributed-lock = "pg_advisory"\r\n\r\n[logging]\r\nlevel = "INFO"\r\n';
    expect(setTomlValue(text, 'manager', 'distributed-lock', 'etcd')).toBe(
      text.replace('# distributed-lock = "pg_advisory"\r\n', '# distributed-lock = "pg_advisory"\r\ndistributed-lock = "etcd"\r\n'),
    );
  });

  it('changes a dotted key where it stands, and adds a dotted key where the table has no header', () => {
    const dotted = 'manager.num-proc = 4\nmanager.distributed-lock = "filelock" # one node\n[db]\nname = "x"\n';
    expect(setTomlValue(dotted, 'manager', 'distributed-lock', 'etcd')).toBe(dotted.replace('"filelock"', '"etcd"'));
    const noLock = 'manager.num-proc = 4\n[db]\nname = "x"\n';
    const out = setTomlValue(noLock, 'manager', 'distributed-lock', 'etcd');
    expect(out).toBe('manager.num-proc = 4\nmanager.distributed-lock = "etcd"\n[db]\nname = "x"\n');
    expect(parseToml(out)).toEqual({ manager: { 'num-proc': 4, 'distributed-lock': 'etcd' }, db: { name: 'x' } });
  });

  it('finds a quoted header and a quoted key', () => {
    const text = '["manager"]\n"distributed-lock" = \'filelock\'\n';
    expect(setTomlValue(text, 'manager', 'distributed-lock', 'etcd')).toBe('["manager"]\n"distributed-lock" = "etcd"\n');
  });

  it('refuses an inline table instead of rewriting it', () => {
    expect(() => setTomlValue('manager = { num-proc = 4 }\n', 'manager', 'distributed-lock', 'etcd')).toThrow(/inline table .* set manager\.distributed-lock = "etcd" there by hand/);
  });
});
