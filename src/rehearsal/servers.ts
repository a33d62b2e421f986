/**
 * Disposable PostgreSQL, Redis and etcd for a rehearsal, started with Testcontainers.
 *
 * By default the official images of the versions Backend.AI shipped with the snapshot's release
 * (its halfstack compose files, src/releases/line-facts.ts), with mapped ports. Runners that cannot pull from
 * Docker Hub can give one image that holds all three servers from Debian's packages (the one
 * scripts/testbed.sh builds); it runs with host networking on free loopback ports.
 *
 * Redis starts from a config file, as deployments do, so CONFIG REWRITE works.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { MigrationError, messageOf } from '../core/errors.js';
import { HALFSTACK_IMAGES, type HalfstackImages } from '../releases/line-facts.js';

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

export interface DisposableServers {
  readonly postgres: ServerAddress & { readonly user: string; readonly password: string; readonly database: string };
  readonly redis: ServerAddress & { readonly password: string };
  readonly etcd: ServerAddress;
  /** "postgres:13.7, redis:6.2.7, quay.io/coreos/etcd:v3.5.4" or the local image. */
  readonly description: string;
  readonly containers: { readonly postgres: string; readonly redis: string; readonly etcd: string };
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly line: string;
  /** One image with postgresql, redis-server and etcd from Debian's packages; host networking. */
  readonly localImage?: string;
  readonly passwords?: { readonly postgres: string; readonly redis: string };
}

type TC = typeof import('testcontainers');
interface Started {
  readonly container: import('testcontainers').StartedTestContainer;
  readonly address: ServerAddress;
}

export async function startServers(options: StartOptions): Promise<DisposableServers> {
  const images = HALFSTACK_IMAGES[options.line];
  if (!images && !options.localImage) throw new MigrationError('unsupported', `no server images are known for Backend.AI ${options.line}`);
  const passwords = options.passwords ?? { postgres: randomBytes(12).toString('hex'), redis: randomBytes(12).toString('hex') };
  if (options.localImage) {
    // Ryuk's image comes from Docker Hub too; the containers are stopped by stop() instead.
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';
  }
  let tc: TC;
  try {
    // A CommonJS package: bundled, its exports arrive as the default export.
    const loaded = (await import('testcontainers')) as TC & { default?: TC };
    tc = loaded.GenericContainer ? loaded : loaded.default!;
  } catch (error) {
    throw new MigrationError('unsupported', `Testcontainers cannot load: ${messageOf(error)}`);
  }
  const recipes = options.localImage ? localRecipes(tc, options.localImage, passwords) : officialRecipes(tc, images!, passwords);
  const outcomes = await Promise.allSettled(recipes);
  const started = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  if (started.length < outcomes.length) {
    await Promise.allSettled(started.map((s) => s.container.stop({ timeout: 2_000 })));
    const reasons = outcomes.flatMap((o) => (o.status === 'rejected' ? [messageOf(o.reason)] : []));
    throw new MigrationError('unreachable', `the disposable servers did not start (is a Docker engine running?): ${reasons.join('; ')}`);
  }
  const [pg, redis, etcd] = started as [Started, Started, Started];
  return {
    postgres: { ...pg.address, user: 'postgres', password: passwords.postgres, database: 'postgres' },
    redis: { ...redis.address, password: passwords.redis },
    etcd: etcd.address,
    description: options.localImage ? `${options.localImage} (host network)` : `${images!.postgres}, ${images!.redis}, ${images!.etcd}`,
    containers: { postgres: pg.container.getId(), redis: redis.container.getId(), etcd: etcd.container.getId() },
    async stop() {
      await Promise.allSettled(started.map((s) => s.container.stop({ timeout: 2_000 })));
    },
  };
}

/** A 21.09-style Redis: a password, no persistence yet (the migration turns AOF on). */
export function redisConfig(port: number, bind: string, password: string, dir = '/tmp', extra: readonly string[] = []): string {
  return [`port ${port}`, `bind ${bind}`, 'protected-mode no', `requirepass ${password}`, ...extra, `dir ${dir}`, 'appendonly no', 'save ""', ''].join('\n');
}

/** A single-member etcd cluster. */
export function etcdCommand(binary: string, listenClient: string, advertiseClient: string, peer: string, name = 'bai'): string[] {
  return [
    binary,
    `--name=${name}`,
    '--data-dir=/tmp/etcd-data',
    `--listen-client-urls=${listenClient}`,
    `--advertise-client-urls=${advertiseClient}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=${name}=${peer}`,
  ];
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

function localRecipes({ GenericContainer, Wait }: TC, image: string, passwords: { postgres: string; redis: string }): Array<Promise<Started>> {
  const host = '127.0.0.1';
  const postgres = async (): Promise<Started> => {
    const port = await freePort();
    const container = await new GenericContainer(image)
      .withNetworkMode('host')
      .withUser('postgres')
      .withEnvironment({ PGPASSWORD_INIT: passwords.postgres })
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
    const container = await new GenericContainer(image)
      .withNetworkMode('host')
      .withCopyContentToContainer([{ content: redisConfig(port, host, passwords.redis), target: '/etc/bai-redis.conf' }])
      .withCommand(['redis-server', '/etc/bai-redis.conf'])
      .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
      .withStartupTimeout(30_000)
      .start();
    return { container, address: { host, port } };
  };
  const etcd = async (): Promise<Started> => {
    const [port, peer] = [await freePort(), await freePort()];
    const container = await new GenericContainer(image)
      .withNetworkMode('host')
      .withCommand(etcdCommand('etcd', `http://${host}:${port}`, `http://${host}:${port}`, `http://${host}:${peer}`))
      .withWaitStrategy(Wait.forLogMessage(/ready to serve client requests/))
      .withStartupTimeout(30_000)
      .start();
    return { container, address: { host, port } };
  };
  return [postgres(), redis(), etcd()];
}

function officialRecipes({ GenericContainer, Wait }: TC, images: HalfstackImages, passwords: { postgres: string; redis: string }): Array<Promise<Started>> {
  const postgres = async (): Promise<Started> => {
    const container = await new GenericContainer(images.postgres)
      .withEnvironment({ POSTGRES_PASSWORD: passwords.postgres })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .withStartupTimeout(120_000)
      .start();
    return { container, address: { host: container.getHost(), port: container.getMappedPort(5432) } };
  };
  const redis = async (): Promise<Started> => {
    // The image runs Redis as user redis: its config must sit in a folder that user may write,
    // or CONFIG REWRITE (the redis-persistence step) fails.
    const container = await new GenericContainer(images.redis)
      .withCopyContentToContainer([{ content: redisConfig(6379, '0.0.0.0', passwords.redis), target: '/tmp/redis-in.conf' }])
      .withCommand(['sh', '-c', 'set -e; mkdir -p /srv/redis; cp /tmp/redis-in.conf /srv/redis/redis.conf; chown -R redis /srv/redis; exec docker-entrypoint.sh redis-server /srv/redis/redis.conf'])
      .withExposedPorts(6379)
      .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
      .start();
    return { container, address: { host: container.getHost(), port: container.getMappedPort(6379) } };
  };
  const etcd = async (): Promise<Started> => {
    const container = await new GenericContainer(images.etcd)
      .withCommand(etcdCommand('/usr/local/bin/etcd', 'http://0.0.0.0:2379', 'http://127.0.0.1:2379', 'http://127.0.0.1:2380'))
      .withExposedPorts(2379)
      .withWaitStrategy(Wait.forLogMessage(/ready to serve client requests/))
      .start();
    return { container, address: { host: container.getHost(), port: container.getMappedPort(2379) } };
  };
  return [postgres(), redis(), etcd()];
}
