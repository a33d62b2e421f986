/**
 * Real PostgreSQL, Redis and etcd for the integration tests, started with Testcontainers.
 *
 * - With Docker Hub (GitHub runners): the official images of the 21.09 era (PostgreSQL 13,
 *   Redis 6.2, etcd 3.4; reference §1.4) with mapped ports.
 * - Without registry access: the image scripts/testbed.sh builds from Debian's packages, run with
 *   host networking on free loopback ports (there is no bridge to map ports through).
 *
 * Redis starts from a config file so that CONFIG REWRITE works, as on a real deployment.
 * Nothing here skips: a test bed that cannot start fails the run.
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import type { PostgresTls } from '../../src/engine/connections.js';

export const LOCAL_IMAGE = process.env.BAI_TESTBED_IMAGE ?? 'bai-migrate/testbed:bookworm';

/** Passwords are distinctive so that a test can search every output for them. */
export const SECRETS = {
  postgres: 'pg-Secr3t-ZT81q',
  redis: 'redis-Secr3t-K2p9',
} as const;

export interface ServerAddress {
  host: string;
  port: number;
}

export interface TestbedInfo {
  mode: 'local-image' | 'official-images';
  /** tls: the server accepts TLS connections only (HA tests); the shared test bed has none. */
  postgres: ServerAddress & { user: string; password: string; database: string; tls?: PostgresTls };
  redis: ServerAddress & { password: string };
  etcd: ServerAddress;
  containers: { postgres: string; redis: string; etcd: string };
}

export interface Testbed {
  info: TestbedInfo;
  stop(): Promise<void>;
}

export function localImageAvailable(): boolean {
  if (process.env.BAI_TESTBED === 'official') return false;
  try {
    execFileSync('docker', ['image', 'inspect', LOCAL_IMAGE], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function redisConfig(port: number, bind: string): string {
  return [`port ${port}`, `bind ${bind}`, 'protected-mode no', `requirepass ${SECRETS.redis}`, 'dir /tmp', 'appendonly no', 'save ""', ''].join('\n');
}

export async function startTestbed(): Promise<Testbed> {
  const local = localImageAvailable();
  if (local) {
    // Ryuk's image cannot be pulled here, and containers share the host's loopback.
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    process.env.TESTCONTAINERS_HOST_OVERRIDE = '127.0.0.1';
  }
  const { GenericContainer, Wait } = await import('testcontainers');
  const outcomes = await Promise.allSettled(local ? startLocal(GenericContainer, Wait) : startOfficial(GenericContainer, Wait));
  const started = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  if (started.length < outcomes.length) {
    await Promise.allSettled(started.map((s) => s.container.stop()));
    const reasons = outcomes.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : []));
    throw new Error(`the test bed did not start (${local ? `image ${LOCAL_IMAGE}, host network` : 'official images'}): ${reasons.join('; ')}`);
  }
  const [pg, redis, etcd] = started as [Started, Started, Started];
  const info: TestbedInfo = {
    mode: local ? 'local-image' : 'official-images',
    postgres: { ...pg.address, user: 'postgres', password: SECRETS.postgres, database: 'postgres' },
    redis: { ...redis.address, password: SECRETS.redis },
    etcd: etcd.address,
    containers: { postgres: pg.container.getId(), redis: redis.container.getId(), etcd: etcd.container.getId() },
  };
  return {
    info,
    async stop() {
      await Promise.allSettled(started.map((s) => s.container.stop({ timeout: 2_000 })));
    },
  };
}

type TC = typeof import('testcontainers');
interface Started {
  container: import('testcontainers').StartedTestContainer;
  address: ServerAddress;
}

function startLocal(GenericContainer: TC['GenericContainer'], Wait: TC['Wait']): Array<Promise<Started>> {
  const host = '127.0.0.1';
  const postgres = async (): Promise<Started> => {
    const port = await freePort();
    const container = await new GenericContainer(LOCAL_IMAGE)
      .withNetworkMode('host')
      .withUser('postgres')
      .withEnvironment({ PGPASSWORD_INIT: SECRETS.postgres })
      .withCommand([
        'bash',
        '-c',
        'set -e; printf %s "$PGPASSWORD_INIT" > /tmp/pwfile; ' +
          '/usr/lib/postgresql/15/bin/initdb -D /tmp/pgdata -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile=/tmp/pwfile >/dev/null; ' +
          `exec /usr/lib/postgresql/15/bin/postgres -D /tmp/pgdata -p ${port} -k /tmp -c listen_addresses=${host} -c fsync=off -c full_page_writes=off`,
      ])
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/))
      .withStartupTimeout(60_000)
      .start();
    return { container, address: { host, port } };
  };
  const redis = async (): Promise<Started> => {
    const port = await freePort();
    const container = await new GenericContainer(LOCAL_IMAGE)
      .withNetworkMode('host')
      .withCopyContentToContainer([{ content: redisConfig(port, host), target: '/etc/bai-redis.conf' }])
      .withCommand(['redis-server', '/etc/bai-redis.conf'])
      .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
      .withStartupTimeout(30_000)
      .start();
    return { container, address: { host, port } };
  };
  const etcd = async (): Promise<Started> => {
    const [port, peer] = [await freePort(), await freePort()];
    const container = await new GenericContainer(LOCAL_IMAGE)
      .withNetworkMode('host')
      .withCommand(etcdCommand('etcd', `http://${host}:${port}`, `http://${host}:${port}`, `http://${host}:${peer}`))
      .withWaitStrategy(Wait.forLogMessage(/ready to serve client requests/))
      .withStartupTimeout(30_000)
      .start();
    return { container, address: { host, port } };
  };
  return [postgres(), redis(), etcd()];
}

function startOfficial(GenericContainer: TC['GenericContainer'], Wait: TC['Wait']): Array<Promise<Started>> {
  const postgres = async (): Promise<Started> => {
    const container = await new GenericContainer('postgres:13')
      .withEnvironment({ POSTGRES_PASSWORD: SECRETS.postgres })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .withStartupTimeout(120_000)
      .start();
    return { container, address: { host: container.getHost(), port: container.getMappedPort(5432) } };
  };
  const redis = async (): Promise<Started> => {
    const container = await new GenericContainer('redis:6.2')
      .withCopyContentToContainer([{ content: redisConfig(6379, '0.0.0.0'), target: '/usr/local/etc/redis/redis.conf' }])
      .withCommand(['redis-server', '/usr/local/etc/redis/redis.conf'])
      .withExposedPorts(6379)
      .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
      .start();
    return { container, address: { host: container.getHost(), port: container.getMappedPort(6379) } };
  };
  const etcd = async (): Promise<Started> => {
    const container = await new GenericContainer('quay.io/coreos/etcd:v3.4.18')
      .withCommand(etcdCommand('/usr/local/bin/etcd', 'http://0.0.0.0:2379', 'http://127.0.0.1:2379', 'http://127.0.0.1:2380'))
      .withExposedPorts(2379)
      .withWaitStrategy(Wait.forLogMessage(/ready to serve client requests/))
      .start();
    return { container, address: { host: container.getHost(), port: container.getMappedPort(2379) } };
  };
  return [postgres(), redis(), etcd()];
}

function etcdCommand(binary: string, listenClient: string, advertiseClient: string, peer: string): string[] {
  return [
    binary,
    '--name=testbed',
    '--data-dir=/tmp/etcd-data',
    `--listen-client-urls=${listenClient}`,
    `--advertise-client-urls=${advertiseClient}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=testbed=${peer}`,
  ];
}

/**
 * An extra Redis shaped like the ones operators run into: started from command-line arguments with
 * no config file, or with CONFIG renamed away as managed Redis services do.
 */
export async function startExtraRedis(kind: 'no-config-file' | 'config-renamed'): Promise<{ url: string; stop(): Promise<void> }> {
  const local = localImageAvailable();
  const { GenericContainer, Wait } = await import('testcontainers');
  const port = local ? await freePort() : 6379;
  const bind = local ? '127.0.0.1' : '0.0.0.0';
  let container = new GenericContainer(local ? LOCAL_IMAGE : 'redis:6.2').withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/));
  container = local ? container.withNetworkMode('host') : container.withExposedPorts(6379);
  if (kind === 'no-config-file') {
    container = container.withCommand(['redis-server', '--port', String(port), '--bind', bind, '--protected-mode', 'no', '--save', '', '--dir', '/tmp']);
  } else {
    const config = `port ${port}\nbind ${bind}\nprotected-mode no\nsave ""\ndir /tmp\nrename-command CONFIG ""\n`;
    container = container.withCopyContentToContainer([{ content: config, target: '/etc/bai-redis-managed.conf' }]).withCommand(['redis-server', '/etc/bai-redis-managed.conf']);
  }
  const started = await container.start();
  const host = local ? '127.0.0.1' : started.getHost();
  const mapped = local ? port : started.getMappedPort(6379);
  return { url: `redis://${host}:${mapped}`, stop: async () => void (await started.stop({ timeout: 2_000 })) };
}
