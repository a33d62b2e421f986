/** Percent-decoding of URL parts: a malformed escape never throws URIError; an input holding one is refused by name. */
import { describe, expect, it } from 'vitest';
import { decodeUrlPart, tryDecodeURIComponent } from '../../../src/core/uri.js';
import { MigrationError } from '../../../src/core/errors.js';
import { parseOptions, secretInputs } from '../../../src/options/index.js';
import { postgresFromUrl, redisFromUrl } from '../../../src/stores/connections.js';
import { isSecretEtcdKey } from '../../../src/rehearsal/sanitize.js';

function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('nothing was thrown');
}

describe('tryDecodeURIComponent', () => {
  it.each([
    ['p%40ss', 'p@ss'],
    ['100%25', '100%'],
    ['%E2%82%AC', '€'],
    ['plain', 'plain'],
    ['', ''],
  ])('decodes %j to %j', (text, decoded) => {
    expect(tryDecodeURIComponent(text)).toBe(decoded);
  });

  it.each(['p%zz', '%', 'tail%', '%4', '%ff', '%E2%82'])('gives undefined for %j, which is not valid percent-encoding', (text) => {
    expect(() => decodeURIComponent(text)).toThrow(URIError);
    expect(tryDecodeURIComponent(text)).toBeUndefined();
  });
});

describe('decodeUrlPart', () => {
  it('decodes a valid part', () => {
    expect(decodeUrlPart('p%40ss', 'postgres-url', 'password')).toBe('p@ss');
  });

  it('refuses a malformed escape as invalid input naming the input and the part, without quoting it', () => {
    const error = thrown(() => decodeUrlPart('Secr3t%zz', 'postgres-url', 'password'));
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).code).toBe('invalid-input');
    expect((error as MigrationError).message).toBe(
      'postgres-url: the password is not valid percent-encoding (a "%" must start an escape of two hex digits, as UTF-8); accepted: a literal "%" written as %25',
    );
    expect((error as MigrationError).message).not.toContain('Secr3t');
  });
});

describe('URL inputs with a malformed escape', () => {
  const base = { command: 'plan', 'to-version': '22.03' };

  it('are refused while the inputs are validated, each part by name', () => {
    expect(() => parseOptions({ ...base, 'postgres-url': 'postgresql://u:Secr3t%zz@h:5432/db' })).toThrow(/^postgres-url: the password is not valid percent-encoding/);
    expect(() => parseOptions({ ...base, 'postgres-url': 'postgresql://u%zz:pw@h:5432/db' })).toThrow(/^postgres-url: the user name is not valid percent-encoding/);
    expect(() => parseOptions({ ...base, 'postgres-url': 'postgresql://u:pw@h:5432/back%end' })).toThrow(/^postgres-url: the database name is not valid percent-encoding/);
    expect(() => parseOptions({ ...base, 'redis-url': 'redis://:Secr3t%zz@h:6379' })).toThrow(/^redis-url: the password is not valid percent-encoding/);
  });

  it('are reported with the other input problems', () => {
    expect(() => parseOptions({ ...base, 'postgres-url': 'postgresql://u:Secr3t%zz@h:5432/db', 'connect-timeout': 'soon' })).toThrow(
      /invalid inputs:\n(- .*\n)*- postgres-url: the password is not valid percent-encoding/,
    );
  });

  it('are refused when the targets are read too, as invalid input, not a URIError', () => {
    const fromUrl = thrown(() => postgresFromUrl('postgresql://u:Secr3t%zz@h:5432/db'));
    expect(fromUrl).toBeInstanceOf(MigrationError);
    expect((fromUrl as MigrationError).code).toBe('invalid-input');
    expect(() => redisFromUrl('redis://us%er:pw@h:6379', 'redis-url')).toThrow(/^redis-url: the user name is not valid percent-encoding/);
  });

  it('still have their password masked, as written', () => {
    expect(secretInputs({ 'postgres-url': 'postgresql://u:Secr3t%zz@h:5432/db' })).toEqual(expect.arrayContaining(['Secr3t%zz']));
  });
});

describe('etcd keys with a malformed escape', () => {
  it('are read as written when deciding whether they name a secret', () => {
    expect(isSecretEtcdKey('config/redis/pass%zzword')).toBe(false);
    expect(isSecretEtcdKey('config/registry/password%zz')).toBe(true);
    expect(isSecretEtcdKey('config/registry/pass%77ord')).toBe(true);
    expect(isSecretEtcdKey('volumes/proxies/x%zz')).toBe(false);
  });
});
