/**
 * 24.09 → 24.12 downgrades with 24.09.14 to e9e574a6e22d first, which makes endpoints.image NOT
 * NULL with a foreign key to images again and shrinks vfolders.name to 64 characters: preflight
 * names the rows that would stop it, and changes nothing. On the stand-in of 24.09's revision graph,
 * with the three tables as 24.09 has their columns (the stand-in's schema holds only what its facts check).
 */
import { describe, expect, it } from 'vitest';
import { migrateInputs, snapshotState, useDeployments } from '../support/deployment.js';
import { graphAlembic, graphTemplate } from '../support/graph-alembic.js';
import { standinManagerCli } from '../support/standin-manager-cli.js';
import { runEngine } from '../support/run.js';
import { latestRelease } from '../../src/releases/releases.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

describe('24.09 → 24.12: what the downgrade to e9e574a6e22d would stop on', () => {
  it('names endpoints without an image that exists and vfolders with names over 64 characters, and passes once they are fixed', async () => {
    const template = await graphTemplate(admin(), info, '24.09', latestRelease('24.09').head);
    const deployment = await deploy({ schemaOf: { template, async beforeSeed() {}, async afterSeed() {} } });
    const db = deployment.pg;
    await db.query(`INSERT INTO images (id, name, image, tag, registry, architecture, config_digest, size_bytes, type, labels, resources, registry_id)
      SELECT '00000000-0000-4000-8000-00000000000a', 'cr.backend.ai/stable/python:3.9', 'stable/python', '3.9', 'cr.backend.ai', 'x86_64', repeat('0', 72), 1, 'COMPUTE', '{}', '{}', gen_random_uuid()`);
    await db.query(`CREATE TABLE endpoints (id uuid PRIMARY KEY, name varchar(512) NOT NULL, image uuid, lifecycle_stage text NOT NULL DEFAULT 'created')`);
    await db.query(`CREATE TABLE vfolders (id uuid PRIMARY KEY, name varchar(128) NOT NULL)`);
    await db.query(
      `INSERT INTO endpoints VALUES ('00000000-0000-4000-8000-000000000e01', 'serving', '00000000-0000-4000-8000-00000000000a', 'created'),
                                   ('00000000-0000-4000-8000-000000000e02', 'old-model', NULL, 'destroyed'),
                                   ('00000000-0000-4000-8000-000000000e03', 'gone-image', '00000000-0000-4000-8000-0000000000ff', 'destroyed')`,
    );
    await db.query(`INSERT INTO vfolders VALUES ('00000000-0000-4000-8000-000000000f01', 'data'), ('00000000-0000-4000-8000-000000000f02', repeat('n', 70))`);
    const toml = deployment.writeManagerToml();
    const inputs = migrateInputs(toml, { 'from-version': '24.09', 'to-version': '24.12', 'alembic-config': graphAlembic('24.12').config, 'manager-command': standinManagerCli() });
    const before = await snapshotState(admin(), deployment);
    const { report } = await runEngine({ ...inputs, command: 'preflight' });
    expect(report.errorCode).toBe('checks-failed');
    expect(report.entries.filter((e) => e.phase === 'preflight' && e.step === 'downgrade-guards').map((e) => [e.status, e.detail])).toEqual([
      [
        'failed',
        "2 endpoint(s) have no image or one that is gone, e.g. old-model (00000000-0000-4000-8000-000000000e02, image NULL), gone-image (00000000-0000-4000-8000-000000000e03, image 00000000-0000-4000-8000-0000000000ff): 24.09.14's downgrade to e9e574a6e22d makes endpoints.image NOT NULL with a foreign key to images and stops on them. Delete those endpoints (destroyed ones lose nothing) or point them at an existing image",
      ],
      [
        'failed',
        "1 vfolder(s) have a name longer than 64 characters, e.g. 00000000-0000-4000-8000-000000000f02 (70): 24.09.14's downgrade to e9e574a6e22d shrinks vfolders.name to 64 and stops on them (25.1 widens it again). Rename them first",
      ],
    ]);
    expect(await snapshotState(admin(), deployment)).toEqual(before);

    await db.query(`DELETE FROM endpoints WHERE lifecycle_stage = 'destroyed'`);
    await db.query(`UPDATE vfolders SET name = left(name, 64)`);
    const fixed = await runEngine({ ...inputs, command: 'preflight' });
    expect(fixed.report.entries.filter((e) => e.phase === 'preflight' && e.step === 'downgrade-guards').map((e) => e.status)).toEqual(['ok', 'ok']);
  });
});
