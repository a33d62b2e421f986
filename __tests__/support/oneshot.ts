/**
 * A release's own schema for tests that compare with its real manager: a new database made by the
 * release's `backend.ai mgr schema oneshot` (its models, not a migration), as a fresh install of
 * that release has it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { requireSuccess, runManagerCli } from '../../src/manager/cli.js';
import { operatorManagerToml } from './operator-toml.js';
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
