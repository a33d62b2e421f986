import { describe, expect, it } from 'vitest';
import { setTomlValue } from '../../src/manager/toml-edit.js';
import { parseToml } from '../../src/manager/toml.js';

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
