/**
 * 24.03 → 24.09's registries, around the revision that moves them (1d42c726d8a3): preflight
 * refuses what the revision would stop on and changes nothing; a run interrupted after the
 * revision deleted etcd config/docker/registry and before PostgreSQL committed is completed by the
 * next, which puts the prefix back from bai-migrate's kept copy first; the dry run never runs the
 * revision, not even offline. With the stand-in of 24.09's revision graph (support/graph-alembic.ts:
 * its 1d42c726d8a3 reads and deletes the prefix through etcd's JSON gateway, as the real one does
 * through manager.toml); the real 24.09.14 runs in real-hop.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { migrateInputs, snapshotState, useDeployments } from '../support/deployment.js';
import { graphAlembic, graphTemplate } from '../support/graph-alembic.js';
import { standinManagerCli } from '../support/standin-manager-cli.js';
import { killDistWhen, runEngine } from '../support/run.js';
import { latestRelease } from '../../src/releases/releases.js';
import { DROPPED_VALUES } from '../../src/stores/dropped-values.js';
import { putHarbor } from '../support/etcd-registries.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

async function deploy2403() {
  const template = await graphTemplate(admin(), info, '24.03', latestRelease('24.03').head);
  const deployment = await deploy({ schemaOf: { template, async beforeSeed() {}, async afterSeed() {} } });
  const etcd = admin().etcd.namespace(`/sorna/${deployment.namespace}/`);
  // Beside the seeded cr.backend.ai (harbor2, project stable): Docker Hub without a project, and one with two projects and credentials.
  await etcd.put('config/docker/registry/index.docker.io').value('https://registry-1.docker.io');
  await putHarbor(etcd, deployment.pg, 'Registry-Secr3t');
  // An image of a registry etcd does not know: the revision links it to a "local" row.
  await deployment.pg.query(
    `INSERT INTO images (name, image, tag, registry, architecture, config_digest, size_bytes, type, labels, resources)
     VALUES ('elsewhere.io/team/tool:2', 'team/tool', '2', 'elsewhere.io', 'x86_64', repeat('1', 72), 1, 'COMPUTE', '{}', '{}')`,
  );
  return { deployment, etcd };
}

const inputsFor = (toml: string, extra: Record<string, string> = {}) =>
  migrateInputs(toml, { 'from-version': '24.03', 'to-version': '24.09', 'alembic-config': graphAlembic('24.09').config, 'manager-command': standinManagerCli(), ...extra });

describe('24.03 → 24.09: container registries from etcd to PostgreSQL', () => {
  it('preflight names every registry 24.09 would stop on, with the key to fix, and changes nothing', async () => {
    const { deployment, etcd } = await deploy2403();
    await etcd.put('config/docker/registry/no-project.example.com').value('https://no-project.example.com');
    await etcd.put('config/docker/registry/typo.example.com').value('https://typo.example.com');
    await etcd.put('config/docker/registry/typo.example.com/type').value('harbour');
    await etcd.put('config/docker/registry/typo.example.com/project').value('a,,b');
    const toml = deployment.writeManagerToml();
    const before = await snapshotState(admin(), deployment);
    const { report } = await runEngine(inputsFor(toml));
    expect(report.errorCode).toBe('checks-failed');
    const refused = report.entries.filter((e) => e.phase === 'preflight' && e.step === 'container-registries' && e.status === 'failed').map((e) => e.detail);
    expect(refused).toEqual([
      'registry no-project.example.com: config/docker/registry/no-project.example.com/project has no project, which 24.09 requires of every registry but Docker Hub and local ones: put its project name(s), comma-separated, there; 1d42c726d8a3 would stop the upgrade on it',
      'registry typo.example.com: config/docker/registry/typo.example.com/type has type "harbour"; 24.09 knows docker, harbor, harbor2, github, gitlab, ecr, ecr-public, local; 1d42c726d8a3 would stop the upgrade on it',
      'registry typo.example.com: config/docker/registry/typo.example.com/project has an empty name in its project list "a,,b", on which 24.09 stops; 1d42c726d8a3 would stop the upgrade on it',
    ]);
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });

  it('preflight refuses images named after a local registry with a path under it (1d42c726d8a3 would make a second local row and stop on MultipleResultsFound), names them and changes nothing', async () => {
    const { deployment, etcd } = await deploy2403();
    await etcd.put('config/docker/registry/local').value('http://localhost');
    await etcd.put('config/docker/registry/local/type').value('local');
    await deployment.pg.query(
      `INSERT INTO images (name, image, tag, registry, architecture, config_digest, size_bytes, type, labels, resources)
       VALUES ('local/research/trainer:1', 'research/trainer', '1', 'local', 'x86_64', repeat('2', 72), 1, 'COMPUTE', '{}', '{}')`,
    );
    const toml = deployment.writeManagerToml();
    const before = await snapshotState(admin(), deployment);
    const { report } = await runEngine(inputsFor(toml));
    expect(report.errorCode).toBe('checks-failed');
    expect(report.entries.filter((e) => e.phase === 'preflight' && e.step === 'container-registries' && e.status === 'failed').map((e) => e.detail)).toEqual([
      expect.stringMatching(
        /^1d42c726d8a3 would stop with MultipleResultsFound, rolling the upgrade back: it makes 2 container_registries rows of type local \(local \(0 images\); local\/research \(1 image\)\) and then looks up the one local registry\. The extra rows come from images named after the local registry local with a path under it \(local\/research\/trainer:1\), .*Move etcd config\/docker\/registry\/local aside before migrating/,
      ),
    ]);
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });

  it('preflight names vfolders whose owner is gone, which d7df3baf3779 cannot give a domain (the upgrade would stop on its NOT NULL)', async () => {
    const { deployment } = await deploy2403();
    // The columns d7df3baf3779 reads, as 24.03 has them (the stand-in's users and groups hold only what its schema facts check).
    await deployment.pg.query(`DROP TABLE IF EXISTS users, groups CASCADE`);
    await deployment.pg.query(`CREATE TABLE users (uuid uuid PRIMARY KEY, domain_name varchar(64))`);
    await deployment.pg.query(`CREATE TABLE groups (id uuid PRIMARY KEY, domain_name varchar(64))`);
    await deployment.pg.query(`CREATE TABLE vfolders (id uuid PRIMARY KEY, name varchar(64), "user" uuid, "group" uuid)`);
    await deployment.pg.query(`INSERT INTO users VALUES ('00000000-0000-4000-8000-0000000000a1', 'default')`);
    await deployment.pg.query(`INSERT INTO groups VALUES ('00000000-0000-4000-8000-0000000000b1', 'default')`);
    await deployment.pg.query(
      `INSERT INTO vfolders VALUES ('00000000-0000-4000-8000-000000000001', 'mine', '00000000-0000-4000-8000-0000000000a1', NULL),
                                  ('00000000-0000-4000-8000-000000000002', 'ours', NULL, '00000000-0000-4000-8000-0000000000b1'),
                                  ('00000000-0000-4000-8000-000000000003', 'orphan', '00000000-0000-4000-8000-0000000000ff', NULL)`,
    );
    const toml = deployment.writeManagerToml();
    const before = await snapshotState(admin(), deployment);
    const { report } = await runEngine(inputsFor(toml));
    expect(report.errorCode).toBe('checks-failed');
    expect(report.entries.filter((e) => e.step === 'vfolder-domains' && e.status === 'failed').map((e) => e.detail)).toEqual([
      '1 vfolder(s) belong to no user or group that still exists, e.g. orphan (00000000-0000-4000-8000-000000000003): 24.09\'s d7df3baf3779 cannot give them a domain_name and stops the upgrade on its NOT NULL. Delete them, or set their "user" or "group" to an existing owner (upstream fixed this only in 25.4.0)',
    ]);
    expect(await snapshotState(admin(), deployment)).toEqual(before);
    await deployment.pg.query(`UPDATE vfolders SET "user" = '00000000-0000-4000-8000-0000000000a1' WHERE name = 'orphan'`);
    const fixed = await runEngine({ ...inputsFor(toml), command: 'preflight' });
    expect(fixed.report.entries.find((e) => e.phase === 'preflight' && e.step === 'vfolder-domains')).toMatchObject({
      status: 'ok',
      detail: "every vfolder's owning user or group has a domain, which d7df3baf3779 copies",
    });
  });

  it('moves every registry and project, and the dry run before it neither runs 1d42c726d8a3 nor writes anything', async () => {
    const { deployment, etcd } = await deploy2403();
    const toml = deployment.writeManagerToml();
    const before = await snapshotState(admin(), deployment);
    const dry = await runEngine({ ...inputsFor(toml), 'dry-run': 'true' });
    expect(dry.report.error).toBeUndefined();
    expect(await snapshotState(admin(), deployment)).toEqual(before);
    const schema = dry.report.entries.find((e) => e.phase === 'apply' && e.step === 'schema')!;
    expect(schema.detail).toContain('not run, not even offline: 1d42c726d8a3 (it reads etcd config/docker/registry through manager.toml');
    expect(dry.report.entries.find((e) => e.phase === 'preflight' && e.step === 'container-registries' && e.status === 'ok')?.detail).toBe(
      '3 registries in etcd config/docker/registry/ and 2 image(s) become 5 container_registries row(s): cr.backend.ai/stable; index.docker.io/library; registry.example.com/ml; registry.example.com/research; local (local)',
    );

    const { report } = await runEngine(inputsFor(toml));
    expect(report.error).toBeUndefined();
    expect(report.entries.filter((e) => e.phase === 'verify' && e.step === 'registries-moved').map((e) => [e.status, e.detail])).toEqual([
      ['ok', 'every registry and project of the kept etcd config/docker/registry/ (4) has its container_registries row; 5 row(s) in all'],
      ['ok', 'every image has its registry_id'],
      ['ok', 'etcd config/docker/registry/ is gone, as 24.09 expects'],
    ]);
    const rows = await deployment.pg.query('SELECT registry_name, project, type, username FROM container_registries ORDER BY registry_name, project');
    expect(rows.rows).toEqual([
      { registry_name: 'cr.backend.ai', project: 'stable', type: 'harbor2', username: null },
      { registry_name: 'index.docker.io', project: 'library', type: 'docker', username: null },
      { registry_name: 'local', project: null, type: 'local', username: null },
      { registry_name: 'registry.example.com', project: 'ml', type: 'harbor2', username: 'robot' },
      { registry_name: 'registry.example.com', project: 'research', type: 'harbor2', username: 'robot' },
    ]);
    const linked = await deployment.pg.query(`SELECT i.name, r.registry_name, r.project FROM images i JOIN container_registries r ON r.id = i.registry_id ORDER BY i.name`);
    expect(linked.rows).toEqual([
      { name: 'elsewhere.io/team/tool:2', registry_name: 'local', project: null },
      { name: 'registry.example.com/research/llm:1.0', registry_name: 'registry.example.com', project: 'research' },
    ]);
    expect(await etcd.getAll().prefix('config/docker/registry/').keys()).toEqual([]);
    // The prefix is kept in bai-migrate's table, credentials with it, for a downgrade or an audit.
    const kept = await deployment.pg.query(`SELECT count(*)::int AS n FROM ${DROPPED_VALUES} WHERE table_name = 'etcd' AND column_name = 'config/docker/registry/'`);
    expect(kept.rows).toEqual([{ n: 9 }]);
    const again = await runEngine(inputsFor(toml));
    expect(again.report.error).toBeUndefined();
    expect(again.report.entries.filter((e) => e.phase === 'apply' && e.status === 'changed')).toEqual([]);
  });

  it('puts etcd’s registries back first when a run was interrupted after 1d42c726d8a3 deleted them and PostgreSQL rolled back', async () => {
    const { deployment, etcd } = await deploy2403();
    const toml = deployment.writeManagerToml();
    // A first run keeps the prefix and dies in its schema step, after the revision's delete and before the commit:
    // killed once container-registries is done, with the prefix then deleted as the revision's thread does.
    const raw = inputsFor(toml);
    const args = Object.entries(raw).flatMap(([k, v]) => (k === 'command' ? [v] : [`--${k}`, v]));
    const { killed } = await killDistWhen(args, {}, /== Migrate 24\.03 → 24\.09[\s\S]*(ok|changed): 24\.03 → 24\.09 container-registries: /);
    expect(killed).toBe(true);
    expect(Object.keys(await etcd.getAll().prefix('config/docker/registry/').strings())).toHaveLength(9);
    await etcd.delete().prefix('config/docker/registry/');
    expect(await deployment.pg.query(`SELECT to_regclass('container_registries') AS t`).then((r) => r.rows[0].t)).toBeNull();

    const { report } = await runEngine(inputsFor(toml));
    expect(report.error).toBeUndefined();
    expect(report.entries.find((e) => e.phase === 'apply' && e.step === 'container-registries')).toMatchObject({
      status: 'changed',
      detail: `put back 9 key(s) of etcd config/docker/registry/ from ${DROPPED_VALUES}: a run interrupted after 1d42c726d8a3 had deleted them, and PostgreSQL had rolled the move back`,
    });
    const rows = await deployment.pg.query(`SELECT registry_name, project, username FROM container_registries WHERE registry_name = 'registry.example.com' ORDER BY project`);
    expect(rows.rows).toEqual([
      { registry_name: 'registry.example.com', project: 'ml', username: 'robot' },
      { registry_name: 'registry.example.com', project: 'research', username: 'robot' },
    ]);
  });
});
