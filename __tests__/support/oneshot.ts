/**
 * A release's own schema for tests that compare with its real manager: a new database made by the
 * release's `backend.ai mgr schema oneshot` (its models, not a migration), as a fresh install of
 * that release has it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { requireSuccess, runManagerCli } from '../../src/manager/cli.js';
import type { Admin } from './deployment.js';
import { databaseClient, operatorManagerToml } from './operator-toml.js';
import { managerAlembicIni } from './real-manager.js';
import type { TestbedInfo } from './testbed.js';

/**
 * Creates `database` with the schema of the release whose CLI is `managerCli`, and makes a key pair
 * with that CLI's generate-rpc-keypair (from 23.09 manager.toml must name one): returns its path.
 */
export async function oneshotDatabase(info: TestbedInfo, adminPg: pg.Client, managerCli: string, database: string): Promise<string> {
  await adminPg.query(`CREATE DATABASE ${database}`);
  const dir = mkdtempSync(join(tmpdir(), 'bai-oneshot-'));
  const ini = join(dir, 'alembic.ini');
  const { host, port, user, password } = info.postgres;
  writeFileSync(ini, managerAlembicIni(`postgresql+asyncpg://${user}:${encodeURIComponent(password)}@${host}:${port}/${database}`));
  const cli = { command: [managerCli], configFile: operatorManagerToml(info, { database, namespace: 'unused', prefix: 'bai-oneshot-' }) };
  for (const args of [
    ['mgr', 'schema', 'oneshot', '-f', ini],
    ['mgr', 'generate-rpc-keypair', dir, 'manager'],
  ])
    requireSuccess(cli, args, await runManagerCli(cli, args));
  return join(dir, 'manager.key_secret');
}

/** A copy of `template` (`<prefix>_<hex>`), with an etcd namespace naming the test bed's Redis; `drop` removes both. */
export async function copyOfTemplate(
  info: TestbedInfo,
  admin: Admin,
  template: string,
  prefix: string,
  timeZone?: string,
): Promise<{ database: string; namespace: string; pg: pg.Client; drop(): Promise<void> }> {
  const suffix = randomBytes(4).toString('hex');
  const database = `${prefix}_${suffix}`;
  const namespace = `ns-${prefix}-${suffix}`;
  await admin.pg.query(`CREATE DATABASE ${database} TEMPLATE ${template}`);
  if (timeZone) await admin.pg.query(`ALTER DATABASE ${database} SET timezone TO '${timeZone}'`);
  const etcd = admin.etcd.namespace(`/sorna/${namespace}/`);
  await etcd.put('config/redis/addr').value(`${info.redis.host}:${info.redis.port}`);
  await etcd.put('config/redis/password').value(info.redis.password);
  const c = databaseClient(info, database);
  await c.connect();
  return {
    database,
    namespace,
    pg: c,
    drop: async () => {
      await c.end();
      await admin.pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.etcd.delete().prefix(`/sorna/${namespace}/`);
    },
  };
}

/** Redis DB 0 as the manager sees it: only a stat key per kernel row of `c`, and `others` (keys that are no kernel's). */
export async function seedStatKeys(admin: Admin, c: pg.Client, others: Readonly<Record<string, string>> = {}): Promise<void> {
  const redis = admin.redis(0);
  await redis.flushdb();
  const { rows } = await c.query<{ id: string }>('SELECT id::text FROM kernels');
  for (let i = 0; i < rows.length; i += 10_000) {
    const stats = redis.pipeline();
    for (const { id } of rows.slice(i, i + 10_000)) stats.set(id, JSON.stringify({ cpu_util: { current: '12.5' } }));
    await stats.exec();
  }
  for (const [key, value] of Object.entries(others)) await redis.set(key, value);
}

/** A copy of `template` (`bai_bench_<hex>`) with manager.toml naming it, and Redis DB 0 holding a stat key per kernel. */
export interface CopyWithStatKeys {
  readonly database: string;
  readonly toml: string;
  readonly pg: pg.Client;
  drop(): Promise<void>;
}

export async function copyWithStatKeys(info: TestbedInfo, admin: Admin, template: string, managerLines = ''): Promise<CopyWithStatKeys> {
  const copy = await copyOfTemplate(info, admin, template, 'bai_bench');
  await seedStatKeys(admin, copy.pg);
  return { ...copy, toml: operatorManagerToml(info, { database: copy.database, namespace: copy.namespace, prefix: 'bai-bench-', managerLines }) };
}
