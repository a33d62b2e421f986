/**
 * Before the manager starts on a disposable copy, every address in the copy that the manager
 * would dial outside the copy's own PostgreSQL, Redis and etcd is pointed at a loopback listener
 * the step owns: a rehearsal on a CI runner must never reach production's app proxy, storage
 * proxies or agents. What the release dials (read in backend.ai@24.12.1):
 * - scaling_groups.wsproxy_addr: the app proxy (api/session.py, api/service.py, api/scaling_group.py
 *   query_wsproxy_status; the scheduler's endpoint routing, as seen when it was tried by hand);
 * - agents.addr: the agents' RPC (agent_cache.py, PeerInvoker from agents.addr) and their
 *   watchers (api/resource.py, get_watcher_info);
 * - etcd volumes/proxies/<name>/client_api and manager_api: the storage proxies (models/storage.py).
 * Container registries are dialled only by an image rescan, which nothing here asks for.
 */
import { createServer, type Server as NetServer } from 'node:net';
import type { Deployment } from '../stores/deployment.js';

export interface LoopbackListener {
  readonly port: number;
  /** The remote addresses of the connections it accepted (each is closed at once). */
  readonly peers: readonly string[];
  close(): Promise<void>;
}

/** A listener on 127.0.0.1 that accepts and closes every connection, and remembers who came. */
export async function loopbackListener(): Promise<LoopbackListener> {
  const peers: string[] = [];
  const server: NetServer = createServer((socket) => {
    peers.push(`${socket.remoteAddress}:${socket.remotePort}`);
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { port, peers, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function hasColumn(deployment: Deployment, table: string, column: string): Promise<boolean> {
  const { rowCount } = await deployment.postgres.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`, [table, column]);
  return (rowCount ?? 0) > 0;
}

/** Points the copy's outward addresses at 127.0.0.1:port; returns what it changed, e.g. "2 agents.addr". */
export async function pointOutwardAtLoopback(deployment: Deployment, port: number): Promise<string[]> {
  const changed: string[] = [];
  const http = `http://127.0.0.1:${port}`;
  const updates: Array<[table: string, column: string, value: string]> = [
    ['scaling_groups', 'wsproxy_addr', http],
    ['agents', 'addr', `tcp://127.0.0.1:${port}`],
  ];
  for (const [table, column, value] of updates) {
    if (!(await hasColumn(deployment, table, column))) continue;
    const { rowCount } = await deployment.postgres.query(`UPDATE ${table} SET ${column} = $1 WHERE ${column} IS NOT NULL AND ${column} <> '' AND ${column} <> $1`, [value]);
    if (rowCount) changed.push(`${rowCount} ${table}.${column}`);
  }
  const proxies = Object.keys(await deployment.etcdPrefix('volumes/proxies/')).filter((key) => /\/(client_api|manager_api)$/.test(key));
  for (const key of proxies) await deployment.etcd.put(key).value(http);
  if (proxies.length > 0) changed.push(`${proxies.length} etcd volumes/proxies/*/{client_api,manager_api}`);
  return changed;
}
