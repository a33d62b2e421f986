/**
 * Real PostgreSQL, Redis and etcd for the integration tests, started with Testcontainers by the
 * same code that starts a rehearsal's servers (src/rehearsal/servers.ts):
 *
 * - With Docker Hub (GitHub runners): the official images of the 21.09 halfstack (PostgreSQL
 *   13.7, Redis 6.2.7, etcd 3.5.4; src/releases/line-facts.ts) with mapped ports.
 * - Without registry access: the image scripts/testbed.sh builds from Debian's packages, run with
 *   host networking on free loopback ports (there is no bridge to map ports through).
 *
 * Nothing here skips: a test bed that cannot start fails the run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startServers, type DisposableServers } from '../../src/rehearsal/servers.js';
import type { PostgresTls } from '../../src/stores/connections.js';

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

export { freePort };

/**
 * The shared test bed: the same disposable servers a rehearsal starts (src/rehearsal/servers.ts),
 * with the passwords above; the 21.09 halfstack's images when Docker Hub is reachable.
 */
export async function startTestbed(): Promise<Testbed> {
  const local = localImageAvailable();
  let servers: DisposableServers;
  try {
    servers = await startServers({ line: '21.09', localImage: local ? LOCAL_IMAGE : undefined, passwords: SECRETS });
  } catch (error) {
    throw new Error(`the test bed did not start (${local ? `image ${LOCAL_IMAGE}, host network` : 'official images'}): ${String(error)}`, { cause: error });
  }
  const info: TestbedInfo = {
    mode: local ? 'local-image' : 'official-images',
    postgres: { host: servers.postgres.host, port: servers.postgres.port, user: 'postgres', password: SECRETS.postgres, database: 'postgres' },
    redis: { host: servers.redis.host, port: servers.redis.port, password: SECRETS.redis },
    etcd: { host: servers.etcd.host, port: servers.etcd.port },
    containers: { ...servers.containers },
  };
  return { info, stop: () => servers.stop() };
}

/**
 * An extra Redis shaped like the ones operators run into: started from command-line arguments with
 * no config file, or with CONFIG renamed away as managed Redis services do, or a plain second
 * instance (a config file, a password, no AOF yet) such as 25.13's container logs may have.
 */
/** The second instance's own password (a secret like the others: never in a report). */
export const SECOND_REDIS_PASSWORD = 'redis2-Secr3t-Q7w4';

export async function startExtraRedis(
  kind: 'no-config-file' | 'config-renamed' | 'second-instance' | 'tls-only',
): Promise<{ url: string; host: string; port: number; password?: string; stop(): Promise<void> }> {
  const local = localImageAvailable();
  const { GenericContainer, Wait } = await import('testcontainers');
  const port = local ? await freePort() : 6379;
  const bind = local ? '127.0.0.1' : '0.0.0.0';
  let container = new GenericContainer(local ? LOCAL_IMAGE : 'redis:6.2').withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/));
  container = local ? container.withNetworkMode('host') : container.withExposedPorts(6379);
  if (kind === 'no-config-file') {
    container = container.withCommand(['redis-server', '--port', String(port), '--bind', bind, '--protected-mode', 'no', '--save', '', '--dir', '/tmp']);
  } else if (kind === 'tls-only') {
    // TLS only (no plain port), with a self-signed certificate made for this run: 25.13's use_tls.
    const dir = mkdtempSync(join(tmpdir(), 'bai-redis-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=bai-redis-test'], {
      stdio: 'ignore',
    });
    const config = `port 0\ntls-port ${port}\ntls-cert-file /etc/bai-tls/cert.pem\ntls-key-file /etc/bai-tls/key.pem\ntls-auth-clients no\nbind ${bind}\nprotected-mode no\nsave ""\ndir /tmp\nrequirepass ${SECOND_REDIS_PASSWORD}\n`;
    container = container
      .withCopyContentToContainer([
        { content: config, target: '/etc/bai-redis-tls.conf' },
        { content: readFileSync(join(dir, 'cert.pem'), 'utf8'), target: '/etc/bai-tls/cert.pem' },
        { content: readFileSync(join(dir, 'key.pem'), 'utf8'), target: '/etc/bai-tls/key.pem' },
      ])
      .withCommand(['redis-server', '/etc/bai-redis-tls.conf']);
    rmSync(dir, { recursive: true, force: true });
  } else if (kind === 'second-instance') {
    const config = `port ${port}\nbind ${bind}\nprotected-mode no\nsave ""\ndir /tmp\nappendonly no\nrequirepass ${SECOND_REDIS_PASSWORD}\n`;
    container = container.withCopyContentToContainer([{ content: config, target: '/etc/bai-redis-second.conf' }]).withCommand(['redis-server', '/etc/bai-redis-second.conf']);
  } else {
    const config = `port ${port}\nbind ${bind}\nprotected-mode no\nsave ""\ndir /tmp\nrename-command CONFIG ""\n`;
    container = container.withCopyContentToContainer([{ content: config, target: '/etc/bai-redis-managed.conf' }]).withCommand(['redis-server', '/etc/bai-redis-managed.conf']);
  }
  const started = await container.start();
  const host = local ? '127.0.0.1' : started.getHost();
  const mapped = local ? port : started.getMappedPort(6379);
  const password = kind === 'second-instance' || kind === 'tls-only' ? SECOND_REDIS_PASSWORD : undefined;
  return {
    url: password ? `redis://:${password}@${host}:${mapped}` : `redis://${host}:${mapped}`,
    host,
    port: mapped,
    password,
    stop: async () => void (await started.stop({ timeout: 2_000 })),
  };
}
