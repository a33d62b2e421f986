/**
 * What the real-package tests give the manager: a client of one database on the test bed, and a
 * manager.toml as an operator's (what the releases' loaders require, num-proc within any runner's cores).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { MANAGER_TOML_LOGGING } from './real-manager.js';
import type { TestbedInfo } from './testbed.js';

/** A client of `database` that ignores the error event of a server going away (the test's own checks fail instead). */
export function databaseClient(info: TestbedInfo, database: string): pg.Client {
  const { host, port, user, password } = info.postgres;
  const client = new pg.Client({ host, port, user, password, database });
  client.on('error', () => undefined);
  return client;
}

/**
 * manager.toml in a new folder (named from `prefix`) for `database` and etcd's `namespace`:
 * [etcd], [db], [manager] with `managerLines` (each ending in a newline) after its three settings,
 * then [docker-registry] and [logging] as the loaders require.
 */
export function operatorManagerToml(info: TestbedInfo, options: { database: string; namespace: string; prefix: string; managerLines?: string }): string {
  const { host, port, user, password } = info.postgres;
  const path = join(mkdtempSync(join(tmpdir(), options.prefix)), 'manager.toml');
  writeFileSync(
    path,
    `[etcd]\nnamespace = "${options.namespace}"\naddr = { host = "${info.etcd.host}", port = ${info.etcd.port} }\nuser = ""\npassword = ""\n\n` +
      `[db]\ntype = "postgresql"\naddr = { host = "${host}", port = ${port} }\nname = "${options.database}"\nuser = "${user}"\npassword = "${password}"\n\n` +
      `[manager]\nnum-proc = 1\nservice-addr = { host = "0.0.0.0", port = 8080 }\nheartbeat-timeout = 30.0\n${options.managerLines ?? ''}\n${MANAGER_TOML_LOGGING}`,
  );
  return path;
}
