/**
 * A deployment that has run for years (support/long-lived.ts) on real PostgreSQL, Redis and
 * etcd: the image tree read as 21.09 reads it, alias chains, exact clear-history counts, and
 * refusals that name what blocks. Every expected number comes from the seed or from SQL and Redis
 * reads made by the test, never from bai-migrate.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { migrateInputs, snapshotState, useDeployments } from '../support/deployment.js';
import { seedLongLived } from '../support/long-lived.js';
import { runEngine } from '../support/run.js';
import type { Report } from '../../src/core/report/index.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

const detail = (report: Report, phase: string, step: string) => report.entries.filter((e) => e.phase === phase && e.step === step).map((e) => e.detail);

describe('image metadata of a long-lived 21.09 deployment', () => {
  it('preflight fails only on the entries 21.09 itself cannot use, names each key, and writes nothing', async () => {
    const deployment = await deploy();
    const seeded = await seedLongLived(admin(), deployment);
    const before = await snapshotState(admin(), deployment);
    const { report } = await runEngine(migrateInputs(seeded.managerToml, { command: 'preflight' }));
    expect(report.outcome).toBe('failure');
    const failures = report.entries.filter((e) => e.status === 'failed');
    expect(failures.map((f) => f.step)).toEqual(['image-metadata']);
    const message = failures[0]!.detail;
    expect(message).toMatch(new RegExp(`^${seeded.unusableKeys.length} etcd image entries the 21.09 manager itself cannot use: `));
    for (const key of seeded.unusableKeys) expect(message).toContain(key);
    expect(message).toContain('set skip-unusable-images: true');
    // The hand-registered image (no size) and the chains are fine.
    expect(message).not.toContain('handmade');
    expect(detail(report, 'preflight', 'image-metadata').join('\n')).toContain('py → python3 → python → cr.backend.ai/stable/kernel-0:0.0-py30-ubuntu20.04');
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });

  it('the dry run counts exactly what migrate writes; chains, non-ASCII names, the hand-registered image and admin limits arrive; a second run writes nothing', async () => {
    const deployment = await deploy();
    const seeded = await seedLongLived(admin(), deployment);
    const inputs = migrateInputs(seeded.managerToml, { 'skip-unusable-images': 'true' });
    const expectedCounts = `${seeded.images.size} image row(s) and ${seeded.aliases.size} alias row(s)`;

    const dry = await runEngine({ ...inputs, 'dry-run': 'true' });
    expect(dry.report.error).toBeUndefined();
    expect(detail(dry.report, 'apply', 'image-metadata')).toEqual([`dry run: would write ${expectedCounts} into PostgreSQL; ${seeded.unusableKeys.length} unusable entries skipped`]);

    const { report } = await runEngine(inputs);
    expect(report.error).toBeUndefined();
    expect(detail(report, 'apply', 'image-metadata')).toEqual([
      `wrote ${expectedCounts}; skipped ${seeded.unusableKeys.length} unusable entries (kept in etcd and the backup bundle); ${seeded.dangling.length} dangling alias(es) not copied; etcd images/ left intact`,
    ]);

    const pg = deployment.pg;
    const rows = await pg.query<{ name: string; size_bytes: string; max_cpu: string | null; architecture: string }>(
      `SELECT name, size_bytes, resources -> 'cpu' ->> 'max' AS max_cpu, architecture FROM images`,
    );
    expect(new Map(rows.rows.map((r) => [r.name, { sizeBytes: Number(r.size_bytes), ...(r.max_cpu ? { maxCpu: r.max_cpu } : {}) }]))).toEqual(
      new Map([...seeded.images].map(([name, v]) => [name, { sizeBytes: v.sizeBytes, ...(v.maxCpu ? { maxCpu: v.maxCpu } : {}) }])),
    );
    const aliases = await pg.query<{ alias: string; name: string }>('SELECT a.alias, i.name FROM image_aliases a JOIN images i ON i.id = a.image');
    expect(new Map(aliases.rows.map((r) => [r.alias, r.name]))).toEqual(seeded.aliases);

    expect(rows.rows.find((r) => r.name.endsWith('/team/arm-app:1.0'))?.architecture).toBe('aarch64');
    // verify (by name and architecture) names the dangling aliases and the skipped entries; nothing fails.
    const verify = report.entries.filter((e) => e.phase === 'verify' && e.step === 'image-metadata');
    expect(verify.filter((e) => e.status === 'failed')).toEqual([]);
    const dangling = verify.find((e) => e.status === 'warning')!.detail;
    expect(dangling).toMatch(/^2 alias\(es\) point at no image etcd holds/);
    expect(dangling).toContain('r points at cr.backend.ai/stable/r-base:3.6,');
    expect(dangling).toContain('r-latest points at cr.backend.ai/stable/r-base:3.6 (via r),');
    const skippedEntries = verify.find((e) => e.status === 'skipped')!.detail;
    for (const key of seeded.unusableKeys) expect(skippedEntries).toContain(key);

    // Counters of keypairs that run nothing are 0, whatever the crashed manager left.
    const counters = await admin()
      .redis(0)
      .mget(seeded.accessKeys.map((ak) => `keypair.concurrency_used.${ak}`));
    expect(new Set(counters)).toEqual(new Set(['0']));
    // manager.toml: comments and layout kept, one line added.
    const toml = readFileSync(seeded.managerToml, 'utf8');
    expect(toml).toContain('# distributed-lock = "pg_advisory"\ndistributed-lock = "etcd"\n');
    expect(toml).toContain('service-addr = { host = "0.0.0.0", port = 8080 }  # behind the load balancer\n');
    expect(toml).toContain('# Backend.AI manager configuration (hand-edited since 20.09)\n');

    // The finished hop named again: its steps find their work done.
    const again = await runEngine({ ...inputs, 'from-version': '21.09', 'dry-run': 'true' });
    expect(detail(again.report, 'apply', 'image-metadata')).toEqual([`dry run: would write 0 image row(s) and 0 alias row(s) into PostgreSQL; ${seeded.unusableKeys.length} unusable entries skipped`]);
    const second = await runEngine({ ...inputs, 'from-version': '21.09' });
    expect(second.report.error).toBeUndefined();
    expect(second.report.entries.find((e) => e.phase === 'apply' && e.step === 'image-metadata')?.status).toBe('ok');
  });

  it('with prune-etcd-images, aliases reached through other aliases are in PostgreSQL before etcd loses them', async () => {
    const deployment = await deploy();
    const seeded = await seedLongLived(admin(), deployment);
    const { report } = await runEngine(migrateInputs(seeded.managerToml, { 'skip-unusable-images': 'true', 'prune-etcd-images': 'true' }));
    expect(report.error).toBeUndefined();
    expect(await admin().etcd.getAll().prefix(`/sorna/${deployment.namespace}/images/`).keys()).toEqual([]);
    const aliases = await deployment.pg.query<{ alias: string; name: string }>('SELECT a.alias, i.name FROM image_aliases a JOIN images i ON i.id = a.image');
    expect(new Map(aliases.rows.map((r) => [r.alias, r.name]))).toEqual(seeded.aliases);
    // The bundle still holds every key, the unusable and dangling ones included.
    const bundle = JSON.parse(readFileSync(`${report.backup}/etcd-images.json`, 'utf8')) as Record<string, string>;
    for (const key of [...seeded.unusableKeys, 'images/_aliases/r-latest']) {
      expect(Object.keys(bundle).some((saved) => saved.startsWith(key.replace(/\/resource$/, '')))).toBe(true);
    }
  });
});

describe('clear-history on a long-lived 22.03 deployment', () => {
  /** The kernels older than a year by PostgreSQL's clock, and which of them have a stat key, read by the test itself. */
  async function expectation(deployment: Awaited<ReturnType<typeof deploy>>) {
    const { rows } = await deployment.pg.query<{ id: string }>(`SELECT id::text FROM kernels WHERE terminated_at < now() - interval '1 year'`);
    const ids = rows.map((r) => r.id);
    const exists = ids.length
      ? await admin()
          .redis(0)
          .exists(...ids)
      : 0;
    return { kernels: ids.length, redisKeys: exists, ids };
  }

  it('by default deletes exactly what the 22.03 manager deletes; the dry run reports the same numbers; orphaned stat keys stay', async () => {
    const deployment = await deploy({ schema: '81c264528f20' });
    const seeded = await seedLongLived(admin(), deployment);
    const toml = seeded.managerToml;
    const expected = await expectation(deployment);
    expect(expected.kernels).toBeGreaterThan(2_000);
    expect(expected.redisKeys).toBeLessThan(expected.kernels);
    const inputs = { command: 'clear-history', 'manager-config': toml, retention: '1yr' };

    const dry = await runEngine({ ...inputs, 'dry-run': 'true' });
    expect(dry.report.history).toMatchObject({ kernels: expected.kernels, redisKeys: expected.redisKeys, sweptRedisKeys: null });
    const real = await runEngine(inputs);
    expect(real.report.error).toBeUndefined();
    expect(real.report.history).toMatchObject({ kernels: expected.kernels, redisKeys: expected.redisKeys, sweptRedisKeys: null });

    const redis = admin().redis(0);
    expect(await redis.exists(...expected.ids)).toBe(0);
    expect(await redis.exists(...seeded.orphanStatKeys)).toBe(seeded.orphanStatKeys.length);
    const left = await deployment.pg.query<{ n: string }>(`SELECT count(*) AS n FROM kernels WHERE terminated_at < now() - interval '1 year'`);
    expect(Number(left.rows[0]!.n)).toBe(0);
  });

  it('sweep-orphaned-stat-keys removes the keys of kernels long gone, counted apart, dry run and run alike', async () => {
    const deployment = await deploy({ schema: '81c264528f20' });
    const seeded = await seedLongLived(admin(), deployment);
    const inputs = { command: 'clear-history', 'manager-config': seeded.managerToml, retention: '1yr', 'sweep-orphaned-stat-keys': 'true' };
    const expected = await expectation(deployment);

    const dry = await runEngine({ ...inputs, 'dry-run': 'true' });
    expect(dry.report.history).toMatchObject({ kernels: expected.kernels, redisKeys: expected.redisKeys, sweptRedisKeys: seeded.orphanStatKeys.length });
    const real = await runEngine(inputs);
    expect(real.report.error).toBeUndefined();
    expect(real.report.history).toMatchObject({ kernels: expected.kernels, redisKeys: expected.redisKeys, sweptRedisKeys: seeded.orphanStatKeys.length });
    expect(detail(real.report, 'apply', 'clear-history')).toContain(`swept ${seeded.orphanStatKeys.length} stat key(s) of kernels that no longer exist from Redis DB 0 (sweep-orphaned-stat-keys)`);
    expect(
      await admin()
        .redis(0)
        .exists(...seeded.orphanStatKeys),
    ).toBe(0);
    // Every stat key left belongs to a kernel that is still there.
    const keys = (await admin().redis(0).keys('*')).filter((k) => /^[0-9a-f]{8}-/.test(k));
    const alive = await deployment.pg.query<{ n: string }>('SELECT count(*) AS n FROM kernels WHERE id = ANY($1::uuid[])', [keys]);
    expect(Number(alive.rows[0]!.n)).toBe(keys.length);
  });
});

describe('refusals name what blocks', () => {
  it('names the live sessions (name, id, access key, status), the registered managers and the agents still sending heartbeats', async () => {
    const deployment = await deploy({ managersRegistered: ['i-mgr-a', 'i-mgr-b'] });
    const seeded = await seedLongLived(admin(), deployment);
    // Seven live sessions, the oldest first; session-live-1 has two kernels.
    const sessions = Array.from({ length: 7 }, (_, i) => ({
      name: `session-live-${i}`,
      id: `00000000-0000-4000-8000-00000000000${i}`,
      ak: seeded.accessKeys[i]!,
      status: i % 2 ? 'RUNNING' : 'PREPARING',
    }));
    for (const [i, s] of sessions.entries()) {
      for (let k = 0; k < (i === 1 ? 2 : 1); k++) {
        await deployment.pg.query(
          `INSERT INTO kernels (id, session_id, session_name, access_key, agent, status, cluster_role, created_at) VALUES (gen_random_uuid(), $1, $2, $3, 'i-agent-1', $4, $5, now() - $6 * interval '1 hour')`,
          [s.id, s.name, s.ak, s.status, k === 0 ? 'main' : 'sub', 10 - i],
        );
      }
    }
    const stream = admin().redis(4);
    const [seconds] = await stream.time();
    await stream.xadd('events', `${Number(seconds) * 1000 - 2_000}-0`, 'name', 'agent_heartbeat', 'source', 'i-gpu-07');
    await stream.xadd('events', `${Number(seconds) * 1000 - 1_000}-0`, 'name', 'agent_heartbeat', 'source', 'i-gpu-12');
    const before = await snapshotState(admin(), deployment);

    const { report } = await runEngine(migrateInputs(seeded.managerToml, { command: 'preflight', 'skip-unusable-images': 'true' }));
    expect(report.outcome).toBe('failure');
    const failed = report.entries.filter((e) => e.status === 'failed' && e.step === 'services-stopped').map((e) => e.detail);
    expect(failed).toHaveLength(3);
    const named = sessions.slice(0, 5).map((s, i) => `"${s.name}" (${s.id}) of ${s.ak}: ${s.status}${i === 1 ? ', 2 kernels' : ''}`);
    expect(failed).toContain(`7 session(s) with 8 kernel(s) are not TERMINATED or CANCELLED: ${named.join('; ')}, and 2 more. Terminate them (or wait for them) before migrating`);
    expect(failed.find((d) => d.startsWith('2 manager(s)'))).toMatch(/^2 manager\(s\) registered in etcd nodes\/manager\/: i-mgr-a, i-mgr-b\. /);
    expect(failed.find((d) => d.includes('heartbeats'))).toMatch(/^2 agent\(s\) sent heartbeats to the Redis events stream \(DB 4\) in the last minute: i-gpu-12 \(\d s ago\), i-gpu-07 \(\d s ago\);/);
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });
});
