import { homedir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { INPUTS, OUTPUTS, parseOptions, secretInputs, type RawInputs } from '../../../src/options/index.js';
import { parseRetention } from '../../../src/releases/retention.js';
import { managerRequirement, venvCacheKey } from '../../../src/manager/venv.js';

/** parseOptions' message for inputs it refuses. */
function refusal(raw: RawInputs): string {
  try {
    parseOptions(raw);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  return 'accepted';
}

describe('inputs', () => {
  it('has defaults, and every input named in action.yml', () => {
    const options = parseOptions({ 'to-version': '22.03' });
    expect(options).toMatchObject({ command: 'migrate', dryRun: false, lockTimeoutSeconds: 60, connectTimeoutSeconds: 10, etcdEndpoints: [], reportFile: 'bai-migrate-report.json' });
    const manifest = readFileSync('action.yml', 'utf8');
    const names = [...manifest.split('\noutputs:')[0]!.matchAll(/^ {2}([a-z-]+):$/gm)].map((m) => m[1]);
    expect(names).toEqual(INPUTS.map((i) => i.name));
    const outputs = [
      ...manifest
        .split('\noutputs:')[1]!
        .split('\nruns:')[0]!
        .matchAll(/^ {2}([a-z-]+):$/gm),
    ].map((m) => m[1]);
    expect(outputs).toEqual(OUTPUTS.map((o) => o.name));
    expect(manifest).toContain('using: node24');
  });

  it('reports every bad input in one message', () => {
    expect(() => parseOptions({ command: 'upgrade', 'to-version': '23.04', 'lock-timeout': '-1', 'etcd-endpoints': 'a:1, b' })).toThrow(
      /invalid inputs:\n- command "upgrade" is not accepted; accepted: migrate, preflight, verify, plan, clear-history, snapshot, rehearse\n- to-version "23\.04" .*\n- lock-timeout "-1" .*\n- etcd-endpoints entry "b" is not host:port/,
    );
  });

  it('checks the inputs of snapshot and rehearse', () => {
    expect(parseOptions({ command: 'snapshot' })).toMatchObject({ command: 'snapshot', snapshotFile: 'bai-migrate-snapshot.jsonl.gz', rehearsalServers: 'start', keepRehearsal: false });
    expect(() => parseOptions({ command: 'rehearse' })).toThrow('to-version is required for command "rehearse", e.g. to-version: 22.03');
    expect(() => parseOptions({ command: 'rehearse', 'to-version': '22.03', 'rehearsal-servers': 'given', 'redis-url': 'redis://h:6379' })).toThrow(
      'rehearsal-servers: given needs postgres-url, etcd-endpoints (the disposable servers to restore into)',
    );
    expect(() => parseOptions({ command: 'rehearse', 'to-version': '22.03', 'rehearsal-servers': 'docker' })).toThrow('rehearsal-servers "docker" is not accepted; accepted: start, given');
    expect(() => parseOptions({ command: 'rehearse', 'to-version': '22.03', 'keep-rehearsal': 'maybe' })).toThrow('keep-rehearsal "maybe" is not a boolean; accepted: true, false');
    expect(secretInputs({ 'github-token': 'ghs_abc123' })).toEqual(['ghs_abc123']);
  });

  it('takes drop-duplicate-images as a boolean, false unless given', () => {
    expect(parseOptions({ command: 'preflight', 'to-version': '25.4' }).dropDuplicateImages).toBe(false);
    expect(parseOptions({ command: 'migrate', 'to-version': '25.4', 'drop-duplicate-images': 'true' }).dropDuplicateImages).toBe(true);
    expect(() => parseOptions({ command: 'migrate', 'to-version': '25.4', 'drop-duplicate-images': 'newest' })).toThrow('drop-duplicate-images "newest" is not a boolean; accepted: true, false');
  });

  it('takes etcd-namespace from manager.toml when not given or from-manager-config, and refuses it empty', () => {
    const namespace = (value?: string) => parseOptions({ command: 'verify', 'to-version': '22.03', ...(value === undefined ? {} : { 'etcd-namespace': value }) }).etcdNamespace;
    expect(namespace()).toBeUndefined();
    expect(namespace('from-manager-config')).toBeUndefined();
    expect(namespace(' local ')).toBe('local');
    const accepted = `accepted: letters, digits, ".", "_" and "-" (e.g. local), or from-manager-config (the default) for manager.toml's [etcd] namespace`;
    expect(() => namespace('')).toThrow(`etcd-namespace is empty (as an unset workflow variable gives it); ${accepted}`);
    expect(() => namespace('  ')).toThrow(`etcd-namespace is empty (as an unset workflow variable gives it); ${accepted}`);
    expect(() => namespace('a/b')).toThrow(`etcd-namespace "a/b" may hold only letters, digits, ".", "_" and "-"; ${accepted}`);
  });

  it("refuses a database number in redis-url (bai-migrate picks the manager's own), without repeating the URL", () => {
    for (const url of ['redis://:r3dis-pw@h:6379/99', 'redis://:r3dis-pw@h:6379/0', 'redis://h/1?x=y']) {
      const message = refusal({ 'to-version': '22.03', 'redis-url': url });
      expect(message).toBe(
        "redis-url has a path (a database number such as /2), which bai-migrate would ignore: it picks the manager's fixed database numbers itself; accepted: redis://user:password@host:port, without a path",
      );
    }
    expect(parseOptions({ 'to-version': '22.03', 'redis-url': 'redis://:r3dis-pw@h:6379/' }).redisUrl).toBe('redis://:r3dis-pw@h:6379/');
    expect(parseOptions({ 'to-version': '22.03', 'redis-url': 'redis://h:6379' }).redisUrl).toBe('redis://h:6379');
  });

  it('reads lists of etcd endpoints', () => {
    expect(parseOptions({ command: 'plan', 'to-version': '22.03', 'etcd-endpoints': 'http://10.0.0.1:2379,\n10.0.0.2:2379' }).etcdEndpoints).toEqual(['http://10.0.0.1:2379', '10.0.0.2:2379']);
  });

  it('finds the secrets among inputs, including URL passwords, and never repeats them in errors', () => {
    const raw = { 'postgres-url': 'postgresql://u:p%40ss@h:5432/db', 'redis-url': 'redis://:r3dis@h:6379', 'etcd-password': 'etcdpw' };
    expect(secretInputs(raw)).toEqual(expect.arrayContaining(['p%40ss', 'p@ss', 'r3dis', 'etcdpw']));
    expect(() => parseOptions({ 'to-version': '22.03', 'postgres-url': 'http://u:topsecret@h/db' })).toThrow(/postgres-url must be a postgresql:\/\//);
    const unparsable = refusal({ 'to-version': '22.03', 'postgres-url': 'postgresql://u:topsecret@[bad' });
    expect(unparsable).toMatch(/postgres-url/);
    expect(unparsable).not.toContain('topsecret');
  });
});

describe("retention (the manager's TimeDuration)", () => {
  it.each([
    ['86400', 86400],
    ['1e5', 100000],
    ['1440m', 86400],
    ['36h', 129600],
    ['1.5d', 129600],
    ['3d', 259200],
    ['2w', 1209600],
    [' 7d ', 604800],
    ['36525d', 3155760000],
    ['3155760000', 3155760000],
  ])('%j is %d seconds', (text, seconds) => {
    expect(parseRetention(text)).toMatchObject({ kind: 'seconds', seconds });
  });

  it.each([
    ['1', 1],
    ['0.001', 0.001],
    ['1e3', 1000],
    ['30m', 1800],
    ['1.5h', 5400],
    ['6h', 21600],
    ['0.5d', 43200],
  ])('%j (%d seconds) is under one day: refused, unless allowed', (text, seconds) => {
    expect(() => parseRetention(text)).toThrow(`retention "${text}" is under one day, which would delete kernels that finished only hours ago; accepted:`);
    expect(parseRetention(text, { allowShort: true })).toMatchObject({ kind: 'seconds', seconds });
  });

  it.each(['0', '0.0', '-0', '0e5', '0d', '0.0w', '0m', '0mo', '0yr'])('refuses the zero %j, even when short ones are allowed', (text) => {
    expect(() => parseRetention(text, { allowShort: true })).toThrow(`retention "${text}" is zero, which would delete every finished kernel; accepted:`);
  });

  it.each(['999999999999999yr', '101yr', '1201mo', '36526d', '5218w', '3155760001', '1e30', '1e999'])('refuses %j, more than 100 years, before PostgreSQL would', (text) => {
    expect(() => parseRetention(text)).toThrow(
      `retention "${text}" is more than 100 years; accepted: a number of seconds ("86400"), or a number with a unit: w, d, h, m (minutes), s (22.09+) such as "3d" or "1.5d", or a whole number of mo or yr such as "3mo", "1yr"; from one day (1d, 86400) to 100 years (100yr, 1200mo, 36525d or 3155760000), or more than zero but under a day with allow-short-retention: true`,
    );
  });

  it.each([
    ['3mo', 3],
    ['1mo', 1],
    ['1yr', 12],
    ['12yr', 144],
    ['100yr', 1200],
    ['1200mo', 1200],
  ])('%s is %d calendar months', (text, months) => {
    expect(parseRetention(text)).toMatchObject({ kind: 'months', months });
  });

  it.each(['', '-1d', '-5', '1.5mo', '0.5yr', '10ms', '30s', 'xxh', '3D', '1H', 'd', 'mo', '5 d', 'one day', '1d2h'])('rejects %j', (text) => {
    expect(() => parseRetention(text)).toThrow(/accepted: a number of seconds/);
  });

  it('accepts seconds for 22.09 and later', () => {
    expect(parseRetention('86400s', { secondsUnit: true })).toMatchObject({ seconds: 86400 });
    expect(parseRetention('30s', { secondsUnit: true, allowShort: true })).toMatchObject({ seconds: 30 });
  });

  it('as an input: under one day only with allow-short-retention: true, named in the refusal', () => {
    const clearHistory = (extra: Record<string, string>) => parseOptions({ command: 'clear-history', ...extra });
    expect(clearHistory({})).toMatchObject({ retention: { kind: 'months', months: 12 }, allowShortRetention: false });
    expect(() => clearHistory({ retention: '6h' })).toThrow(/^retention "6h" is under one day, .*or more than zero but under a day with allow-short-retention: true$/);
    expect(clearHistory({ retention: '6h', 'allow-short-retention': 'true' })).toMatchObject({ retention: { kind: 'seconds', seconds: 21600 }, allowShortRetention: true });
    expect(() => clearHistory({ retention: '0', 'allow-short-retention': 'true' })).toThrow(/^retention "0" is zero/);
    expect(() => clearHistory({ retention: '1e30' })).toThrow(/^retention "1e30" is more than 100 years; accepted: .*to 100 years/);
    expect(() => clearHistory({ retention: '6h', 'allow-short-retention': 'yes' })).toThrow(/allow-short-retention "yes" is not a boolean; accepted: true, false/);
  });
});

describe('manager-venv', () => {
  it('is read with its pip arguments, and keyed in the cache by release, Python and OS', () => {
    const options = parseOptions({ 'to-version': '22.03', 'manager-venv': '/opt/bai/venv', 'pip-args': '--index-url https://mirror.example/simple  --timeout 30' });
    expect(options.managerVenv).toEqual({ dir: '/opt/bai/venv', python: undefined, pipArgs: ['--index-url', 'https://mirror.example/simple', '--timeout', '30'], systemSitePackages: false });
    expect(venvCacheKey(managerRequirement('22.03.14'), '3.10.12', 'linux', 'x64')).toBe('bai-migrate-venv-linux-x64-py3.10.12-backend.ai-manager==22.03.14');
  });
});

describe('backup-dir', () => {
  it('defaults to a folder outside the workspace, under the home folder, as a shell reads "~"', () => {
    expect(parseOptions({ command: 'migrate', 'to-version': '22.03' }).backupDir).toBe(join(homedir(), '.local/state/bai-migrate/backup'));
    expect(parseOptions({ command: 'migrate', 'to-version': '22.03', 'backup-dir': '~/bk' }).backupDir).toBe(join(homedir(), 'bk'));
    expect(parseOptions({ command: 'migrate', 'to-version': '22.03', 'backup-dir': '/srv/~bk' }).backupDir).toBe('/srv/~bk');
  });
});
