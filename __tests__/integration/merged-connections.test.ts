/**
 * From 25.8 the manager reads its database and Redis from manager.toml merged with etcd (later
 * wins): an etcd key under config/db/, ai/backend/config/common/ or ai/backend/config/manager/ that
 * names another database or Redis than the ones bai-migrate migrates and checks stops preflight,
 * naming both places, before anything is written; keys that agree, or a file value etcd shadows
 * with the same servers, pass. Real PostgreSQL, etcd and Redis; the hop's stand-in alembic (the
 * check runs before any revision).
 */
import { describe, expect, it } from 'vitest';
import { snapshotState, useDeployments } from '../support/deployment.js';
import { hopInputs as inputs, useHopRigs } from '../support/hop-rigs.js';
import { runEngine } from '../support/run.js';
import { workerTestbed } from '../support/worker-testbed.js';
import { HOPS } from '../../src/hops/index.js';
import { latestRelease } from '../../src/releases/releases.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);
const { rigFor } = useHopRigs(admin, info);
const hop = HOPS.find((h) => h.from === '25.8' && h.to === '25.9')!;
const target = latestRelease('25.9').version;

const detailsOf = (report: { entries: ReadonlyArray<{ phase: string; step: string; status: string; detail: string }> }) =>
  report.entries.filter((e) => e.phase === 'preflight' && e.step === 'merged-connections').map((e) => `${e.status}: ${e.detail}`);

async function deployAt258() {
  const rig = await rigFor(hop);
  const deployment = await deploy(rig.seed);
  return { rig, deployment, etcd: admin().etcd.namespace(`/sorna/${deployment.namespace}/`), toml: deployment.writeManagerToml() };
}

describe('25.8 → 25.9: the servers the manager reads from manager.toml merged with etcd', () => {
  it('an etcd key naming another database and another Redis stops preflight, naming each place and what bai-migrate uses, and nothing is written', async () => {
    const { rig, deployment, etcd, toml } = await deployAt258();
    await etcd.put('config/db/name').value('backend_elsewhere');
    await etcd.put('ai/backend/config/common/redis/addr').value('127.0.0.1:6390');
    await etcd.put('ai/backend/config/manager/db/password').value('Another-Secr3t');
    const before = await snapshotState(admin(), deployment);
    const { report, log, secrets } = await runEngine(inputs(hop, toml, rig));
    expect(report.outcome).toBe('failure');
    const [detail, ...rest] = detailsOf(report);
    expect(rest).toEqual([]);
    expect(detail).toContain(`failed: [db] name: the ${target} manager reads "backend_elsewhere" from etcd key config/db/name, but bai-migrate uses "${deployment.database}" from manager.toml`);
    expect(detail).toContain(`[db] password: the ${target} manager reads a password from etcd key ai/backend/config/manager/db/password, but bai-migrate uses another from manager.toml`);
    expect(detail).toContain(
      `[redis] addr: the ${target} manager reads "127.0.0.1:6390" from etcd key ai/backend/config/common/redis/addr, but bai-migrate uses "${info.redis.host}:${info.redis.port}" from etcd config/redis/addr`,
    );
    expect(detail).not.toContain('[db] addr');
    expect(detail).not.toContain('[db] user');
    expect(await snapshotState(admin(), deployment)).toEqual(before);
    // Neither password is printed anywhere.
    expect(JSON.stringify(report)).not.toContain('Another-Secr3t');
    expect(log.lines.join('\n')).not.toContain('Another-Secr3t');
    expect(JSON.stringify(report)).not.toContain(info.postgres.password);
    expect(secrets).toContain(info.postgres.password);
  });

  it('etcd keys that name the same servers pass, and a manager.toml value they shadow is named', async () => {
    const { rig, deployment, etcd } = await deployAt258();
    await etcd.put('config/db/name').value(deployment.database);
    await etcd.put('ai/backend/config/manager/redis/addr').value(`${info.redis.host}:${info.redis.port}`);
    // The file also names the Redis, elsewhere: etcd's config/redis/addr (which bai-migrate reads) and the key above shadow it.
    const toml = deployment.writeManagerToml('[redis]\naddr = "127.0.0.1:6399"\n');
    const { report } = await runEngine(inputs(hop, toml, rig, { command: 'preflight' }));
    expect(report.error).toBeUndefined();
    expect(detailsOf(report)).toEqual([
      `ok: the ${target} manager reads the same database and Redis bai-migrate uses ([redis] addr in ${toml} [redis] addr is shadowed by etcd key ai/backend/config/manager/redis/addr)`,
    ]);
  });
});
