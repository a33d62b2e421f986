import { describe, expect, it } from 'vitest';
import { parseToml } from '../../../src/manager/toml.js';

/** The shape of Backend.AI's configs/manager/sample.toml. */
const SAMPLE = `
[etcd]
namespace = "local"                         # env: BACKEND_NAMESPACE
addr = { host = "127.0.0.1", port = 2379 }  # env: BACKEND_ETCD_ADDR (host:port)
user = ""                                   # env: BACKEND_ETCD_USER
password = ""                               # env: BACKEND_ETCD_PASSWORD

[db]
type = "postgresql"
addr = { host = "localhost", port = 5432 }
name = "backend"
user = "postgres"
password = "develove"

[manager]
num-proc = 4
service-addr = { host = "0.0.0.0", port = 8080 }
heartbeat-timeout = 30.0
# distributed-lock = "pg_advisory"
hide-agents = true
allowed-plugins = [
  "a",  # trailing comments inside arrays
  'b',
]

[logging.pkg-ns]
"" = "WARNING"
"aiohttp" = "INFO"
'ai.backend' = "DEBUG"

[[plugins.list]]
name = """multi
line"""
path = 'C:\\no\\escapes'
`;

describe('TOML reader', () => {
  it('reads a manager.toml', () => {
    const t = parseToml(SAMPLE);
    expect(t.etcd).toEqual({ namespace: 'local', addr: { host: '127.0.0.1', port: 2379 }, user: '', password: '' });
    expect(t.db).toMatchObject({ name: 'backend', password: 'develove', addr: { host: 'localhost', port: 5432 } });
    expect(t.manager).toMatchObject({ 'num-proc': 4, 'heartbeat-timeout': 30, 'hide-agents': true, 'allowed-plugins': ['a', 'b'] });
    expect(t.logging).toEqual({ 'pkg-ns': { '': 'WARNING', aiohttp: 'INFO', 'ai.backend': 'DEBUG' } });
    expect(t.plugins).toEqual({ list: [{ name: 'multi\nline', path: 'C:\\no\\escapes' }] });
  });

  it('reads escapes, numbers and dotted keys', () => {
    expect(parseToml('a = "tab\\tq\\"\\u00e9"\nb = 1_000\nc = -0.5e2\nd = 0x1F\ne.f = 2\nt = 1979-05-27T07:32:00Z\n')).toEqual({
      a: 'tab\tq"é',
      b: 1000,
      c: -50,
      d: 31,
      e: { f: 2 },
      t: '1979-05-27T07:32:00.000Z',
    });
  });

  it.each([
    ['[db\nname = "x"', 'line 1, column 4: illegal character in key'],
    ['name = "x', 'line 1, column 8: unfinished string'],
    ['name = x', 'line 1, column 8: invalid value'],
    ['a = 1\na = 2', 'line 2, column 1: trying to redefine an already defined table or value'],
    ['[db]\n[db]', 'line 2, column 2: trying to redefine an already defined table or value'],
    ['a = 1 b = 2', 'line 1, column 7: each key-value declaration must be followed by an end-of-line'],
    ['addr = { host = "h", port = 1', 'line 1, column 30: expected comma or end of structure'],
    ['x = [1, 2', 'line 1, column 10: expected comma or end of structure'],
    ['= 3', 'line 1, column 1: unexpected end of key'],
    // What the hand-written parser let through: a table defined by dotted keys and again by a header, a raw control character.
    ['a.b = 1\n[a]\nc = 2', 'line 2, column 2: trying to redefine an already defined table or value'],
    ['x = "a\u0001b"', 'line 1, column 7: control characters are not allowed in strings'],
  ])('rejects %j with its position', (text, message) => {
    expect(() => parseToml(text)).toThrow(message);
  });

  it('keeps integers past 2^53 exact instead of rounding them', () => {
    expect(parseToml('n = 9007199254740993\nm = 5')).toEqual({ n: '9007199254740993', m: 5 });
  });
});
