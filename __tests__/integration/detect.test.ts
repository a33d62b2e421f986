import { describe, expect, it } from 'vitest';
import { useDeployments } from '../support/deployment.js';
import { runEngine } from '../support/run.js';
import { workerTestbed } from '../support/worker-testbed.js';

const { deploy } = useDeployments(workerTestbed());

async function planFor(revisions: string[] | null, raw: Record<string, string> = {}) {
  const deployment = await deploy({ revisions });
  return runEngine({ command: 'plan', 'to-version': '22.03', 'postgres-url': deployment.postgresUrl, ...raw });
}

describe('version detection from alembic_version', () => {
  it('detects 21.09.3+ from 60a1effa77d2 and plans one hop to 22.03', async () => {
    const { report } = await planFor(['60a1effa77d2']);
    expect(report.outcome).toBe('success');
    expect(report.currentRevision).toBe('60a1effa77d2');
    expect(report.fromVersion).toBe('21.09');
    expect(report.plan.map((h) => h.hop)).toEqual(['21.09 → 22.03']);
    expect(report.entries.find((e) => e.step === 'from-version')?.detail).toContain('21.09.3–21.09.9');
  });

  it('plans from 21.03 when the revision is shared by 21.03.3+ and 21.09.0-2', async () => {
    const { report } = await planFor(['8679d0a7e22b']);
    expect(report.fromVersion).toBe('21.03');
    expect(report.plan.map((h) => [h.hop, h.targetRevision])).toEqual([
      ['21.03 → 21.09', '60a1effa77d2'],
      ['21.09 → 22.03', '81c264528f20'],
    ]);
  });

  it('recognises an interrupted upgrade inside the 22.03 graph, fork rows included', async () => {
    const { report } = await planFor(['7dd1d81c3204', '911023380bc9']);
    expect(report.outcome).toBe('success');
    expect(report.entries.find((e) => e.step === 'from-version')?.detail).toContain('part-way from 21.09.9 to 22.03.0');
  });

  it("plans the 21.09 → 22.03 hop again for a database already at 22.03's schema (its later steps may not have run)", async () => {
    const { report } = await planFor(['81c264528f20'], { 'from-version': '21.09' });
    expect(report.outcome).toBe('success');
    expect(report.plan.map((h) => [h.hop, h.targetRevision])).toEqual([['21.09 → 22.03', '81c264528f20']]);
    // The steps that change data after the schema are planned too (the guide's notes follow them).
    expect(report.plan[0]!.steps.map((s) => s.id).slice(0, 10)).toEqual([
      'services-stopped',
      'manager-connects',
      'schema',
      'concurrency-to-redis',
      'last-stat-sync',
      'redis-persistence',
      'image-metadata',
      'image-rescan',
      'prune-etcd-images',
      'distributed-lock',
    ]);
  });

  it("plans from where the database is: a database at 22.03's head needs nothing, unless bai-migrate's journal has the hop into 22.03 started and not finished", async () => {
    const deployment = await deploy({ revisions: ['81c264528f20'] });
    const plan = () => runEngine({ command: 'plan', 'to-version': '22.03', 'postgres-url': deployment.postgresUrl });
    const there = await plan();
    expect(there.report.fromVersion).toBe('22.03');
    expect(there.report.plan).toEqual([]);
    // As a migrate killed after the hop's schema step leaves it.
    await deployment.pg.query(`CREATE SCHEMA IF NOT EXISTS bai_migrate`);
    await deployment.pg.query(`CREATE TABLE bai_migrate.hops (hop text PRIMARY KEY, target_release text NOT NULL, started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz)`);
    await deployment.pg.query(`INSERT INTO bai_migrate.hops (hop, target_release) VALUES ('21.09 → 22.03', '22.03.14')`);
    const resumed = await plan();
    expect(resumed.report.plan.map((h) => h.hop)).toEqual(['21.09 → 22.03']);
    expect(resumed.report.entries.find((e) => e.step === 'from-version')?.detail).toMatch(/bai-migrate's journal has the hop 21\.09 → 22\.03 as started and not finished, so it is planned again$/);
  });

  it("tells 24.09.6–24.09.14 from 25.2.0, which share the head ecc9f6322be4, by the schema under it (25.2's users.container_uid and endpoint_auto_scaling_rules)", async () => {
    const deployment = await deploy({ revisions: ['ecc9f6322be4'] });
    const plan = () => runEngine({ command: 'plan', 'to-version': '25.3', 'postgres-url': deployment.postgresUrl });
    // The fixture's 21.09 tables, made to look like 24.09.14's where bai-migrate looks (22.03's images, 23.03's sessions, 23.09's users.main_access_key).
    for (const ddl of [
      'CREATE TABLE images (id uuid)',
      'CREATE TABLE image_aliases (id uuid)',
      'ALTER TABLE keypairs DROP COLUMN concurrency_used',
      'CREATE TABLE sessions (id uuid)',
      'CREATE TABLE users (uuid uuid, main_access_key varchar(20))',
    ]) {
      await deployment.pg.query(ddl);
    }
    const at2409 = await plan();
    expect(at2409.report.error).toBeUndefined();
    expect(at2409.report.fromVersion).toBe('24.09');
    expect(at2409.report.plan.map((h) => h.hop)).toEqual(['24.09 → 24.12', '24.12 → 25.1', '25.1 → 25.2', '25.2 → 25.3']);
    // What 25.1.1's fb89f5d7817b and 25.2.0's f6ca2f2d04c1 add: 25.2.0's schema.
    await deployment.pg.query('CREATE TABLE endpoint_auto_scaling_rules (id uuid)');
    await deployment.pg.query('ALTER TABLE users ADD COLUMN container_uid integer');
    const at2502 = await plan();
    expect(at2502.report.error).toBeUndefined();
    expect(at2502.report.fromVersion).toBe('25.2');
    expect(at2502.report.plan.map((h) => h.hop)).toEqual(['25.2 → 25.3']);
    expect(at2502.report.entries.find((e) => e.step === 'from-version')?.detail).toContain('25.2.0');
    expect(at2502.report.entries.find((e) => e.step === 'from-version')?.detail).not.toContain('24.09');
  });

  it('plans nothing when the database and from-version are at the target release', async () => {
    const { report } = await planFor(['81c264528f20'], { 'from-version': '22.03.14', 'to-version': '22.03.14' });
    expect(report.outcome).toBe('success');
    expect(report.plan).toEqual([]);
    expect(report.entries.filter((e) => e.phase === 'plan')).toEqual([{ phase: 'plan', step: 'hops', status: 'ok', detail: 'already at 22.03.14: nothing to migrate' }]);
  });

  it.each([
    [['0d553d59f369'], /head of Backend.AI 20\.03\.19, older than any release bai-migrate knows/],
    [['ecc9f6322be4'], /revision ecc9f6322be4 \(Backend\.AI 24\.09\.6–24\.09\.14 or 25\.2\.0\), already newer than to-version 22\.03\.14; bai-migrate does not downgrade/],
    [['deadbeef0000'], /deadbeef0000, which is no revision of a known Backend.AI release/],
    [[], /alembic_version is empty/],
    [['81c264528f20', 'aaaaaaaaaaaa'], /holds 2 revisions .* several heads/],
    [null, /no alembic_version table/],
  ])('refuses %j with a clear message', async (revisions, message) => {
    const { report } = await planFor(revisions);
    expect(report.outcome).toBe('failure');
    expect(report.error).toMatch(message);
  });

  it('refuses a from-version that contradicts the database', async () => {
    const { report } = await planFor(['518ecf41f567'], { 'from-version': '21.09' });
    expect(report.error).toMatch(/older than from-version 21\.09/);
  });

  it('refuses a database already newer than to-version', async () => {
    const { report } = await planFor(['81c264528f20'], { 'from-version': '21.09', 'to-version': '21.09' });
    expect(report.error).toMatch(/already newer than to-version 21\.09\.9; bai-migrate does not downgrade/);
  });
});
