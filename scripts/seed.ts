/**
 * Seeds servers that are already running (CI service containers, say) as a stopped Backend.AI 21.09
 * deployment, and writes its manager.toml. Addresses come from the environment:
 * SEED_POSTGRES=host:port SEED_POSTGRES_PASSWORD=… SEED_REDIS=host:port SEED_REDIS_PASSWORD=…
 * SEED_ETCD=host:port; the manager.toml path is the first argument.
 */
import { copyFileSync } from 'node:fs';
import { connectAdmin, createDeployment } from '../__tests__/support/deployment.js';
import type { TestbedInfo } from '../__tests__/support/testbed.js';

function address(name: string): { host: string; port: number } {
  const value = process.env[name];
  const match = value ? /^(.+):(\d+)$/.exec(value) : null;
  if (!match) throw new Error(`${name} must be host:port`);
  return { host: match[1]!, port: Number(match[2]) };
}

const target = process.argv[2];
if (!target) throw new Error('usage: seed.ts MANAGER_TOML_PATH');
const info: TestbedInfo = {
  mode: 'official-images',
  postgres: { ...address('SEED_POSTGRES'), user: 'postgres', password: process.env.SEED_POSTGRES_PASSWORD ?? '', database: 'postgres' },
  redis: { ...address('SEED_REDIS'), password: process.env.SEED_REDIS_PASSWORD ?? '' },
  etcd: address('SEED_ETCD'),
  containers: { postgres: '', redis: '', etcd: '' },
};
const admin = await connectAdmin(info);
try {
  const deployment = await createDeployment(admin, info, {});
  copyFileSync(deployment.writeManagerToml(), target);
  await deployment.pg.end();
  console.log(`seeded database ${deployment.database} and etcd namespace ${deployment.namespace}; manager.toml at ${target}`);
} finally {
  await admin.close();
}
