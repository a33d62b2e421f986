/**
 * Servers a test may crash, freeze and bring back: PostgreSQL, Redis and etcd of its own, each a
 * host-network container on a free loopback port whose command survives `docker kill` + `docker
 * start` at the same address (PostgreSQL keeps its data directory and skips initdb, etcd keeps its
 * data directory, Redis keeps the config file CONFIG REWRITE writes). Redis keeps data across a
 * restart only with appendonly on, as in production: a 21.09 Redis without AOF comes back empty.
 *
 * Plain `docker run` rather than Testcontainers: the same command starts the container the first
 * time and every `docker start` after a kill, and readiness is checked the same way both times.
 * The local test-bed image is used when present, else the official images (GitHub's runners
 * support host networking), as in support/ha.ts. Nothing skips: a server that does not come up
 * fails the test.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { Etcd3 } from 'etcd3';
import { freePort, LOCAL_IMAGE, localImageAvailable, SECRETS, type TestbedInfo } from './testbed.js';
import type { Admin } from './deployment.js';
import { MemoryLogger } from '../../src/core/logger.js';
import type { Server } from '../../src/stores/deployment.js';
import { etcdCommand, redisConfig } from '../../src/rehearsal/servers.js';
import { HALFSTACK_IMAGES } from '../../src/releases/line-facts.js';

/** On GitHub runners: the images the shared test bed and a rehearsal of 21.09 use. */
const OFFICIAL = HALFSTACK_IMAGES['21.09']!;

const HOST = '127.0.0.1';
const READY_WITHIN_MS = 60_000;

export interface FaultServers {
  info: TestbedInfo;
  /** SIGKILL, as a crash or a power cut: no clean shutdown, connections drop at once. */
  kill(server: Server): void;
  /** docker start, then waits until the server answers again at the same address. */
  start(server: Server): Promise<void>;
  /** Freezes every process of the server: connections stay open and nothing answers. */
  pause(server: Server): void;
  unpause(server: Server): Promise<void>;
  /** Every server running and answering, whatever a test left behind. */
  restoreAll(): Promise<void>;
  remove(): void;
}

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function containerState(id: string): 'running' | 'paused' | 'exited' | string {
  return docker('inspect', '-f', '{{.State.Status}}', id);
}

export async function startFaultServers(): Promise<FaultServers> {
  const local = localImageAvailable();
  const suffix = randomBytes(3).toString('hex');
  const [pgPort, redisPort, etcdPort, etcdPeer] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const run = (name: string, args: string[]) => docker('run', '-d', '--network', 'host', '--name', `bai-fault-${name}-${suffix}`, ...args);

  const pgServer = `-p ${pgPort} -c listen_addresses=${HOST} -c fsync=off -c full_page_writes=off`;
  const postgres = local
    ? run('postgres', [
        '--user',
        'postgres',
        '-e',
        `PGPASSWORD_INIT=${SECRETS.postgres}`,
        LOCAL_IMAGE,
        'bash',
        '-c',
        // initdb only on the first start: a restarted container finds its data directory.
        'set -e; if [ ! -s /tmp/pgdata/PG_VERSION ]; then printf %s "$PGPASSWORD_INIT" > /tmp/pwfile; ' +
          '/usr/lib/postgresql/15/bin/initdb -D /tmp/pgdata -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile=/tmp/pwfile >/dev/null; fi; ' +
          `exec /usr/lib/postgresql/15/bin/postgres -D /tmp/pgdata -k /tmp ${pgServer}`,
      ])
    : // The official entrypoint skips initialisation when PGDATA holds a database.
      run('postgres', ['-e', `POSTGRES_PASSWORD=${SECRETS.postgres}`, OFFICIAL.postgres, ...`postgres ${pgServer}`.split(' ')]);

  // Written on the first start only: a restart must keep what CONFIG REWRITE put there. The
  // directory is writable by anyone, as the official image runs Redis as user redis.
  const config = redisConfig(redisPort, HOST, SECRETS.redis, '/srv/redis').replaceAll('\n', '\\n');
  const redis = run('redis', [
    local ? LOCAL_IMAGE : OFFICIAL.redis,
    'bash',
    '-c',
    `set -e; mkdir -p /srv/redis; [ -f /srv/redis/redis.conf ] || printf '${config}' > /srv/redis/redis.conf; chmod -R a+rwX /srv/redis; ` +
      `exec ${local ? '' : 'docker-entrypoint.sh '}redis-server /srv/redis/redis.conf`,
  ]);

  const peer = `http://${HOST}:${etcdPeer}`;
  const client = `http://${HOST}:${etcdPort}`;
  const etcd = run('etcd', [local ? LOCAL_IMAGE : OFFICIAL.etcd, ...etcdCommand(local ? 'etcd' : '/usr/local/bin/etcd', client, client, peer, 'faults')]);

  const info: TestbedInfo = {
    mode: local ? 'local-image' : 'official-images',
    postgres: { host: HOST, port: pgPort, user: 'postgres', password: SECRETS.postgres, database: 'postgres' },
    redis: { host: HOST, port: redisPort, password: SECRETS.redis },
    etcd: { host: HOST, port: etcdPort },
    containers: { postgres, redis, etcd },
  };
  const ids = info.containers;
  const servers: FaultServers = {
    info,
    kill: (server) => void docker('kill', ids[server]),
    async start(server) {
      docker('start', ids[server]);
      await untilAnswers(info, server);
    },
    pause: (server) => void docker('pause', ids[server]),
    async unpause(server) {
      docker('unpause', ids[server]);
      await untilAnswers(info, server);
    },
    async restoreAll() {
      for (const server of ['postgres', 'redis', 'etcd'] as const) {
        const state = containerState(ids[server]);
        if (state === 'paused') await servers.unpause(server);
        else if (state !== 'running') await servers.start(server);
      }
    },
    remove: () => void docker('rm', '-f', '-v', ...Object.values(ids)),
  };
  try {
    for (const server of ['postgres', 'redis', 'etcd'] as const) await untilAnswers(info, server);
  } catch (error) {
    servers.remove();
    throw error;
  }
  return servers;
}

/** Polls with a real request (not just a TCP connect, which a frozen server's kernel still accepts). */
async function untilAnswers(info: TestbedInfo, server: Server): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await answers(info, server);
      return;
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`${server} (container ${info.containers[server]}) did not answer within ${READY_WITHIN_MS / 1000} s: ${String(last)}`);
}

async function answers(info: TestbedInfo, server: Server): Promise<void> {
  if (server === 'postgres') {
    const client = new pg.Client({ ...info.postgres, connectionTimeoutMillis: 2_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
    } finally {
      await client.end().catch(() => undefined);
    }
  } else if (server === 'redis') {
    const client = new Redis({ ...info.redis, lazyConnect: true, connectTimeout: 2_000, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
    } finally {
      client.disconnect();
    }
  } else {
    const client = new Etcd3({ hosts: `http://${info.etcd.host}:${info.etcd.port}`, dialTimeout: 2_000 });
    try {
      await client.maintenance.status();
    } finally {
      client.close();
    }
  }
}

/** A fresh PostgreSQL client for `admin` (and the deployment's own), after the server came back. */
export async function reconnectPostgres(info: TestbedInfo, database: string): Promise<pg.Client> {
  const client = new pg.Client({ ...info.postgres, database });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Replaces the admin's PostgreSQL connection, which died with the server. */
export async function renewAdmin(admin: Admin, info: TestbedInfo): Promise<void> {
  await admin.pg.end().catch(() => undefined);
  admin.pg = await reconnectPostgres(info, info.postgres.database);
}

/**
 * A run's log that fires `hook` once, synchronously, when a line matches `pattern`: a hook that
 * kills a server with execFileSync has done so before the engine takes its next step.
 */
export class TriggerLogger extends MemoryLogger {
  fired = false;
  constructor(
    private readonly pattern: RegExp,
    private readonly hook: () => void,
  ) {
    super();
  }
  override info(message: string): void {
    super.info(message);
    this.check(message);
  }
  override warning(message: string): void {
    super.warning(message);
    this.check(message);
  }
  override async group<T>(name: string, body: () => Promise<T>): Promise<T> {
    this.check(`[${name}]`);
    return super.group(name, body);
  }
  private check(line: string): void {
    if (!this.fired && this.pattern.test(line)) {
      this.fired = true;
      this.hook();
    }
  }
}

/** Calls `probe` every `everyMs` until it says yes (then runs `action` once) or `until` settles. */
export async function whenProbe(until: Promise<unknown>, probe: () => Promise<boolean>, action: () => void, everyMs = 20): Promise<boolean> {
  let settled = false;
  void until.finally(() => (settled = true)).catch(() => undefined);
  while (!settled) {
    if (await probe().catch(() => false)) {
      action();
      return true;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return false;
}
