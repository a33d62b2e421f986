/**
 * The per-line facts of src/releases/line-facts.ts: every line of the catalogue has its record,
 * and the values checked here by hand against the release reference (its catalogue and
 * halfstack tables, the manager CLI's rescan forms, clear-history per release).
 */
import { describe, expect, it } from 'vitest';
import {
  CLEAR_HISTORY_POLICIES,
  clearHistoryEraEnd,
  clearHistoryPolicy,
  HALFSTACK_IMAGES,
  LINE_FACTS,
  lineFacts,
  managerClearHistoryFailure,
  OWN_MODE_THROUGH,
  ownModeRefusal,
} from '../../../src/releases/line-facts.js';
import { findRelease, LINES, RELEASES, sameLine } from '../../../src/releases/releases.js';
import { parseRetention } from '../../../src/releases/retention.js';
import { splitVersion } from '../../../src/releases/catalogue.js';

const release = (version: string) => {
  const found = findRelease(version);
  if (!found) throw new Error(`${version} is not in the catalogue`);
  return found;
};

describe('line facts', () => {
  it('has one record per line of the catalogue, 21.03 … 26.9, in order', () => {
    expect(LINE_FACTS.map((f) => f.line)).toEqual(LINES);
    expect(LINES[0]).toBe('21.03');
    expect(LINES.at(-1)).toBe('26.9');
    expect(() => lineFacts('20.09')).toThrow(/no facts are recorded for Backend.AI 20.09/);
  });

  it('rescans with mgr etcd rescan-images through 21.09 and mgr image rescan from 22.03 on', () => {
    expect(lineFacts('21.03').imageRescanCommand).toEqual(['mgr', 'etcd', 'rescan-images']);
    expect(lineFacts('21.09').imageRescanCommand).toEqual(['mgr', 'etcd', 'rescan-images']);
    for (const line of ['22.03', '23.09', '24.09', '26.8', '26.9']) expect(lineFacts(line).imageRescanCommand).toEqual(['mgr', 'image', 'rescan']);
  });

  it('names the halfstack images of each line as its compose files do', () => {
    expect(HALFSTACK_IMAGES['21.03']).toEqual({ postgres: 'postgres:13.7', redis: 'redis:6.2.7', etcd: 'quay.io/coreos/etcd:v3.4.18' });
    expect(HALFSTACK_IMAGES['21.09']).toEqual({ postgres: 'postgres:13.7', redis: 'redis:6.2.7', etcd: 'quay.io/coreos/etcd:v3.5.4' });
    expect(HALFSTACK_IMAGES['22.09']).toEqual({ postgres: 'postgres:13.7', redis: 'redis:6.2.7', etcd: 'quay.io/coreos/etcd:v3.5.4' });
    expect(HALFSTACK_IMAGES['23.03']).toEqual({ postgres: 'postgres:15.1', redis: 'redis:7.0.5', etcd: 'quay.io/coreos/etcd:v3.5.6' });
    expect(HALFSTACK_IMAGES['25.15']).toEqual({ postgres: 'postgres:16.3', redis: 'redis:7.2.4', etcd: 'quay.io/coreos/etcd:v3.5.14' });
    expect(HALFSTACK_IMAGES['25.16']!.redis).toBe('redis:7.2.11');
    expect(HALFSTACK_IMAGES['26.8']).toEqual({ postgres: 'postgres:16.3', redis: 'valkey/valkey:9.1.0-alpine', etcd: 'quay.io/coreos/etcd:v3.5.14' });
    expect(HALFSTACK_IMAGES['26.9']).toEqual({ postgres: 'postgres:16.3', redis: 'valkey/valkey:9.1.1-alpine', etcd: 'quay.io/coreos/etcd:v3.5.14' });
  });

  it('knows where each line counts keypair concurrency, and which kernels 22.03 leaves out of the count', () => {
    expect(lineFacts('21.09').concurrencyCounter).toBe('keypairs-column');
    expect(lineFacts('22.03').concurrencyCounter).toBe('redis');
    expect(lineFacts('26.4').concurrencyCounter).toBe('redis');
    expect(lineFacts('26.8').concurrencyCounter).toBe('none');
    expect(lineFacts('26.9').concurrencyCounter).toBe('none');
    expect(lineFacts('26.9')).toMatchObject({ alembicDriver: 'asyncpg', imageRescanFailures: lineFacts('26.8').imageRescanFailures });
    expect([...lineFacts('22.03').notOccupyingKernelStatuses!].sort()).toEqual(['CANCELLED', 'PENDING', 'TERMINATED', 'TERMINATING']);
  });
});

describe('clear-history per release', () => {
  it('has a policy for every release of the catalogue, its changes at releases that exist, oldest first', () => {
    for (const r of RELEASES) expect(clearHistoryPolicy(r), r.version).toBeDefined();
    for (const p of CLEAR_HISTORY_POLICIES) expect(findRelease(p.since), p.since).toBeDefined();
    expect(CLEAR_HISTORY_POLICIES[0]!.since).toBe(RELEASES[0]!.version);
  });

  it('has no manager command before 21.09.2', () => {
    expect(clearHistoryPolicy(release('21.03.32')).managerCommand).toBe(false);
    expect(clearHistoryPolicy(release('21.09.1')).managerCommand).toBe(false);
    expect(clearHistoryPolicy(release('21.09.2')).managerCommand).toBe(true);
  });

  it('deletes Redis stat keys from 22.03 on, and accepts the s unit from 22.09 on', () => {
    expect(clearHistoryPolicy(release('21.09.9'))).toMatchObject({ deletesRedisStatKeys: false, secondsUnit: false, ownMode: true });
    expect(clearHistoryPolicy(release('22.03.0'))).toMatchObject({ deletesRedisStatKeys: true, secondsUnit: false, ownMode: true });
    expect(clearHistoryPolicy(release('22.09.0'))).toMatchObject({ deletesRedisStatKeys: true, secondsUnit: true, ownMode: true });
    // bai-migrate's own mode does what the manager does in every era (compared with the real manager per era, 26.4.16 for
    // 26.1–26.7, which delete as 25.19.0 does with a UTC cutoff); from 26.8.0 the manager sweeps retention_policies, which
    // own mode does as 26.8.3 and 26.9.6 do (clear-history-sweep.test.ts).
    expect(clearHistoryPolicy(release('24.03.3'))).toMatchObject({ purge: 'kernels', ownMode: true });
    expect(clearHistoryPolicy(release('24.03.4'))).toMatchObject({ purge: 'sessions', ownMode: true });
    expect(clearHistoryPolicy(release('24.12.1'))).toMatchObject({ purge: 'sessions', deletes: ['kernels', 'sessions', 'error_logs'], ownMode: true });
    expect(OWN_MODE_THROUGH).toBe('26.9.6');
    // Every release the catalogue knows is at or before it: own mode takes them all.
    for (const r of RELEASES) expect(clearHistoryPolicy(r).ownMode, r.version).toBe(true);
    expect(clearHistoryPolicy(release('25.1.0'))).toMatchObject({ since: '24.09.0', purge: 'sessions', ownMode: true });
    expect(clearHistoryPolicy(release('25.13.4'))).toMatchObject({ since: '24.09.0', deletes: ['kernels', 'sessions', 'error_logs'], ownMode: true });
    expect(clearHistoryPolicy(release('25.19.2'))).toMatchObject({ since: '25.19.0', deletes: ['kernels', 'sessions', 'error_logs'], ownMode: true });
    expect(clearHistoryPolicy(release('26.1.0'))).toMatchObject({ since: '26.1.0', purge: 'sessions', deletes: ['kernels', 'sessions', 'error_logs'], ownMode: true });
    expect(clearHistoryPolicy(release('26.4.10'))).toMatchObject({ purge: 'sessions', ownMode: true });
    expect(clearHistoryPolicy(release('26.7.0'))).toMatchObject({ since: '26.1.0', purge: 'sessions', ownMode: true });
    expect(clearHistoryPolicy(release('26.8.0'))).toMatchObject({ purge: 'retention-policies', ownMode: true, retentionGovernsDatabase: false });
    expect(clearHistoryPolicy(release('26.9.0'))).toMatchObject({ purge: 'retention-policies', ownMode: true });
    // What a release the catalogue learns later is refused with, until it is compared.
    expect(ownModeRefusal({ ...clearHistoryPolicy(release('26.9.0')), ownMode: false })).toBe(
      "whose manager sweeps its retention policies as 26.9.0's does, on a schema bai-migrate's own mode is not yet compared with the real manager on (a later release may delete from other tables)",
    );
    expect(clearHistoryPolicy(release('26.8.1')).deletesRedisStatKeys).toBe(true);
    // 26.9 runs the command as 26.8 does, but a sweep of its own: its catalogue (entity_shares, the graph's teardown).
    expect(clearHistoryPolicy(release('26.9.6'))).toEqual({ ...clearHistoryPolicy(release('26.8.0')), since: '26.9.0', sweep: '26.9.0' });
    expect(clearHistoryPolicy(release('26.9.0')).sweep).toBe('26.9.0');
    expect(clearHistoryPolicy(release('26.8.3')).sweep).toBe('26.8.0');
    expect(clearHistoryPolicy(release('26.4.16'))).toMatchObject({ since: '26.1.0', purge: 'sessions', ownMode: true });
  });

  it('purges sessions from 24.03.4 (without VACUUM there) and error_logs from 24.09, and leaves the database to retention_policies from 26.8', () => {
    expect(clearHistoryPolicy(release('24.03.3'))).toMatchObject({ deletes: ['kernels'], vacuum: 'database' });
    expect(clearHistoryPolicy(release('24.03.4'))).toMatchObject({ deletes: ['kernels', 'sessions'], vacuum: 'ignored' });
    expect(clearHistoryPolicy(release('24.09.0'))).toMatchObject({ deletes: ['kernels', 'sessions', 'error_logs'], vacuum: 'database' });
    expect(clearHistoryPolicy(release('26.4.10'))).toMatchObject({ retentionGovernsDatabase: true, cutoffClock: 'utc' });
    expect(clearHistoryPolicy(release('25.19.2')).cutoffClock).toBe('local');
    expect(clearHistoryPolicy(release('26.8.0')).retentionGovernsDatabase).toBe(false);
  });

  it("records where the manager's own clear-history fails (26.1.0 to 26.7.0: a mapper error before any row is deleted), the same for every release of a schema", () => {
    expect(managerClearHistoryFailure(release('25.19.2'))).toBeUndefined();
    expect(managerClearHistoryFailure(release('26.1.0'))).toMatch(/AgentRow/);
    expect(managerClearHistoryFailure(release('26.4.10'))).toMatch(/exits 1 .* before deleting any row/);
    expect(managerClearHistoryFailure(release('26.7.0'))).toBeDefined();
    expect(managerClearHistoryFailure(release('26.8.0'))).toBeUndefined();
    expect(managerClearHistoryFailure(release('26.4.16'))).toBeDefined();
    expect(managerClearHistoryFailure(release('26.9.6'))).toBeUndefined();
    for (const r of RELEASES) {
      const sharing = RELEASES.filter((o) => o.head === r.head);
      expect(new Set(sharing.map((o) => managerClearHistoryFailure(o) ?? '')).size, `${r.head}: ${sharing.map((o) => o.version).join(', ')}`).toBe(1);
    }
  });

  it('counts the Redis keys over every chunk from 25.19.0; each era ends where the next begins', () => {
    expect(clearHistoryPolicy(release('25.18.1')).managerRedisCount).toBe('last-chunk');
    expect(clearHistoryPolicy(release('25.19.0')).managerRedisCount).toBe('summed');
    expect(clearHistoryEraEnd(clearHistoryPolicy(release('24.09.14')))).toBe('25.19.0');
    expect(clearHistoryEraEnd(clearHistoryPolicy(release('26.8.1')))).toBe('26.9.0');
    expect(clearHistoryEraEnd(clearHistoryPolicy(release('26.9.6')))).toBeUndefined();
  });

  it('gives every release sharing an alembic head the same deletion, so the head alone says what to delete', () => {
    const deletion = (r: (typeof RELEASES)[number]) => {
      const p = clearHistoryPolicy(r);
      return JSON.stringify([p.purge, p.deletes, p.deletesRedisStatKeys, p.ownMode]);
    };
    for (const r of RELEASES) {
      const sharing = RELEASES.filter((o) => o.head === r.head);
      expect(new Set(sharing.map(deletion)).size, `${r.head}: ${sharing.map((o) => o.version).join(', ')}`).toBe(1);
    }
  });

  it("parses a retention with the release's rules", () => {
    expect(() => parseRetention('30s', { release: release('22.03.14') })).toThrow(/accepts only from 22\.09/);
    expect(parseRetention('30s', { release: release('22.09.0'), allowShort: true })).toMatchObject({ kind: 'seconds', seconds: 30 });
    expect(parseRetention('3d', { release: release('21.09.9') })).toMatchObject({ kind: 'seconds', seconds: 259200 });
  });
});

describe('versions', () => {
  it('compares lines of positions with sameLine', () => {
    expect(sameLine(release('21.09.2'), release('21.09.9'))).toBe(true);
    expect(sameLine('22.03', release('22.03.1'))).toBe(true);
    expect(sameLine(release('21.09.9'), '22.03')).toBe(false);
  });

  it('splits a version into line and patch, also outside the catalogue', () => {
    expect(splitVersion('21.9.9')).toEqual({ line: '21.09', patch: 9 });
    expect(splitVersion(' 26.4.12 ')).toEqual({ line: '26.4', patch: 12 });
    expect(splitVersion('25.01')).toEqual({ line: '25.1', patch: null });
    expect(splitVersion('latest')).toBeUndefined();
  });
});
