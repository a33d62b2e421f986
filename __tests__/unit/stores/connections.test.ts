import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { postgresFromUrl, resolveTargets } from '../../../src/stores/connections.js';
import { parseOptions } from '../../../src/options/index.js';
import { readTlsFiles } from '../../../src/options/tls-files.js';

// Only the PEM markers are checked before connecting: these files need not hold real certificates.
const dir = mkdtempSync(join(tmpdir(), 'bai-migrate-pem-'));
const KEY_LINE = 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAAAAAAAAAAAAAAAA';
const files = {
  ca: join(dir, 'ca.pem'),
  cert: join(dir, 'cert.pem'),
  key: join(dir, 'key.pem'),
};
writeFileSync(files.ca, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
writeFileSync(files.cert, '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n');
writeFileSync(files.key, `-----BEGIN PRIVATE KEY-----\n${KEY_LINE}\n-----END PRIVATE KEY-----\n`);

const URL = 'postgresql://u:pw@db.example:5432/backend';

describe('PostgreSQL TLS', () => {
  it('is off without sslmode and TLS inputs', () => {
    expect(postgresFromUrl(URL).tls).toBeUndefined();
  });

  it('means verify-full when a CA is given; sslmode=require with a CA verifies the chain, as libpq does', () => {
    const tls = readTlsFiles('postgres', { ca: files.ca })!;
    expect(postgresFromUrl(URL, tls).tls?.mode).toBe('verify-full');
    expect(postgresFromUrl(`${URL}?sslmode=verify-ca`, tls).tls?.mode).toBe('verify-ca');
    expect(postgresFromUrl(`${URL}?sslmode=require`, tls).tls?.mode).toBe('verify-ca');
    expect(postgresFromUrl(`${URL}?sslmode=require`).tls).toEqual({ mode: 'require', ca: undefined, cert: undefined, key: undefined });
  });

  it('refuses sslmodes that may fall back to plain text, and file parameters in the URL', () => {
    expect(() => postgresFromUrl(`${URL}?sslmode=prefer`)).toThrow('postgres-url sslmode=prefer is not accepted; accepted: disable, require, verify-ca, verify-full');
    expect(() => postgresFromUrl(`${URL}?sslrootcert=/ca.pem`)).toThrow('postgres-url ?sslrootcert= is not read; accepted: the inputs postgres-ca, postgres-client-cert and postgres-client-key');
  });

  it('refuses a client certificate without a CA unless sslmode=require says so', () => {
    const tls = readTlsFiles('postgres', { cert: files.cert, key: files.key })!;
    expect(() => postgresFromUrl(URL, tls)).toThrow('postgres-client-cert is set without postgres-ca');
    expect(postgresFromUrl(`${URL}?sslmode=require`, tls).tls?.cert?.path).toBe(files.cert);
  });
});

describe('etcd TLS', () => {
  it('turns endpoints into https:// and refuses an http:// one', () => {
    const options = parseOptions({ command: 'plan', 'to-version': '22.03', 'etcd-endpoints': 'h1:2379, https://h2:2379', 'etcd-namespace': 'local', 'etcd-ca': files.ca });
    expect(resolveTargets(options, {}).etcd?.endpoints).toEqual(['https://h1:2379', 'https://h2:2379']);
    const plain = parseOptions({ command: 'plan', 'to-version': '22.03', 'etcd-endpoints': 'http://h1:2379', 'etcd-namespace': 'local', 'etcd-ca': files.ca });
    expect(() => resolveTargets(plain, {})).toThrow('etcd-endpoints entry "http://h1:2379" says http:// but etcd-ca is set');
  });

  it("counts a client key's text among the secrets", () => {
    const options = parseOptions({
      command: 'plan',
      'to-version': '22.03',
      'etcd-endpoints': 'h1:2379',
      'etcd-namespace': 'local',
      'etcd-ca': files.ca,
      'etcd-client-cert': files.cert,
      'etcd-client-key': files.key,
    });
    expect(resolveTargets(options, {}).secrets).toContain(KEY_LINE);
  });
});
