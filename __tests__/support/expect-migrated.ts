/** The end state of a clean 21.09 → 22.03 migration of a seeded test deployment, shared by every test that ends in one. */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { SEED_IMAGES, type Admin, type TestDeployment } from './deployment.js';

export const IMAGE_COUNT = Object.values(SEED_IMAGES).flat().length;

/** Schema at 22.03's head, every image and alias in PostgreSQL, counters and AOF in Redis, manager.toml edited in place. */
export async function expectMigrated(admin: Admin, deployment: TestDeployment, toml: string): Promise<void> {
  const pg = deployment.pg;
  expect((await pg.query('SELECT version_num FROM alembic_version')).rows).toEqual([{ version_num: '81c264528f20' }]);
  const column = await pg.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'keypairs' AND column_name = 'concurrency_used'`);
  expect(column.rowCount).toBe(0);
  const images = await pg.query<{ name: string; resources: unknown; size_bytes: string }>('SELECT name, resources, size_bytes FROM images ORDER BY name');
  expect(images.rows).toHaveLength(IMAGE_COUNT);
  const python = images.rows.find((r) => r.name === 'cr.backend.ai/stable/python:3.9-ubuntu20.04');
  expect(python?.resources).toEqual({ cpu: { min: '1', max: '8' }, mem: { min: '1g' } });
  const aliases = await pg.query('SELECT a.alias, i.name FROM image_aliases a JOIN images i ON i.id = a.image ORDER BY a.alias');
  expect(aliases.rows).toEqual([
    { alias: 'python', name: 'cr.backend.ai/stable/python:3.9-ubuntu20.04' },
    { alias: 'python:3.9', name: 'cr.backend.ai/stable/python:3.9-ubuntu20.04' },
    { alias: 'tensorflow', name: 'cr.backend.ai/stable/tensorflow:2.7-py38-cuda11.3' },
  ]);
  const redis = admin.redis(0);
  expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
  const counters = await redis.keys('keypair.concurrency_used.*');
  expect(counters).toHaveLength(12);
  expect(new Set(await redis.mget(counters))).toEqual(new Set(['0']));
  // etcd keeps its image tree: pruning it is a separate, later decision.
  expect((await admin.etcd.getAll().prefix(`/sorna/${deployment.namespace}/images/`).keys()).length).toBeGreaterThan(IMAGE_COUNT);
  const text = readFileSync(toml, 'utf8');
  expect(text).toContain('# distributed-lock = "pg_advisory"\ndistributed-lock = "etcd"\n');
  expect(text).toMatch(/\n\[debug\]\nperiodic-sync-stats = true\n$/);
  expect(text).toContain('namespace = "' + deployment.namespace + '"   # env: BACKEND_NAMESPACE');
}
