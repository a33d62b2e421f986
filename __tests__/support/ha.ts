/**
 * Highly available and secured servers for the HA tests: a 3-member etcd cluster, Redis behind
 * Sentinel, PostgreSQL and etcd over TLS, etcd with authentication.
 *
 * Every container here uses host networking on free loopback ports, with the local test-bed image
 * or the official images alike (GitHub's Linux runners support host networking), so one code path
 * serves both; only the image and binary paths differ. Nothing skips: a server that cannot start
 * fails the test.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StartedTestContainer } from 'testcontainers';
import { freePort, LOCAL_IMAGE, localImageAvailable, SECRETS } from './testbed.js';
import { redisConfig } from '../../src/rehearsal/servers.js';
import { HALFSTACK_IMAGES } from '../../src/releases/line-facts.js';

const HOST = '127.0.0.1';

interface Runtime {
  local: boolean;
  etcdImage: string;
  etcdBinary: string;
  redisImage: string;
  postgresImage: string;
}

async function runtime(): Promise<Runtime & typeof import('testcontainers')> {
  const local = localImageAvailable();
  if (local) {
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    process.env.TESTCONTAINERS_HOST_OVERRIDE = HOST;
  }
  const tc = await import('testcontainers');
  return {
    ...tc,
    local,
    etcdImage: local ? LOCAL_IMAGE : HALFSTACK_IMAGES['21.09']!.etcd,
    etcdBinary: local ? 'etcd' : '/usr/local/bin/etcd',
    redisImage: local ? LOCAL_IMAGE : HALFSTACK_IMAGES['21.09']!.redis,
    postgresImage: local ? LOCAL_IMAGE : HALFSTACK_IMAGES['21.09']!.postgres,
  };
}

async function stopAll(containers: readonly StartedTestContainer[]): Promise<void> {
  await Promise.allSettled(containers.map((c) => c.stop({ timeout: 2_000 })));
}

/** Starts every container or none: a partial start is stopped again and the cause rethrown. */
async function startAllOrNone(starts: Array<Promise<StartedTestContainer>>, what: string): Promise<StartedTestContainer[]> {
  const outcomes = await Promise.allSettled(starts);
  const started = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  if (started.length < outcomes.length) {
    await stopAll(started);
    const reasons = outcomes.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : []));
    throw new Error(`${what} did not start: ${reasons.join('; ')}`);
  }
  return started;
}

// ---------------------------------------------------------------------------------------------
// Certificates

export interface Certificates {
  dir: string;
  ca: string;
  /** A second, unrelated CA: what a wrong postgres-ca / etcd-ca looks like. */
  otherCa: string;
  serverCert: string;
  serverKey: string;
  /** CN=postgres, so PostgreSQL's clientcert=verify-full accepts it for the postgres user. */
  clientCert: string;
  clientKey: string;
}

/** A throwaway CA with a server certificate for 127.0.0.1/localhost and a client certificate. */
export function makeCertificates(): Certificates {
  const dir = mkdtempSync(join(tmpdir(), 'bai-migrate-certs-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca']) {
    openssl('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '2', '-subj', `/CN=bai-migrate test ${ca}`);
  }
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [
    ['server', 'localhost'],
    ['client', 'postgres'],
  ] as const) {
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`);
    // libpq refuses a client key that others can read.
    chmodSync(join(dir, `${name}.key`), 0o600);
  }
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    otherCa: join(dir, 'other-ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  };
}

/** The server side of the certificates, for copying into a container under /certs. */
function serverCertFiles(certs: Certificates) {
  return [
    { source: certs.ca, target: '/certs/ca.crt', mode: 0o644 },
    { source: certs.serverCert, target: '/certs/server.crt', mode: 0o644 },
    { source: certs.serverKey, target: '/certs/server.key', mode: 0o644 },
  ];
}

// ---------------------------------------------------------------------------------------------
// etcd

export interface EtcdServers {
  /** host:port per member (http://) or https://host:port with TLS. */
  endpoints: string[];
  containers: StartedTestContainer[];
  stop(): Promise<void>;
}

export interface EtcdOptions {
  members?: number;
  /** Serve clients over TLS with these certificates. */
  tls?: Certificates;
  /** Require a client certificate signed by the CA (--client-cert-auth). */
  clientCertAuth?: boolean;
}

/** An etcd cluster of `members` members (default 1), all in one --initial-cluster. */
export async function startEtcd(options: EtcdOptions = {}): Promise<EtcdServers> {
  const rt = await runtime();
  const count = options.members ?? 1;
  const scheme = options.tls ? 'https' : 'http';
  const members: Array<{ name: string; client: number; peer: number }> = [];
  for (let i = 0; i < count; i++) members.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const cluster = members.map((m) => `${m.name}=http://${HOST}:${m.peer}`).join(',');
  const tlsArgs = options.tls ? ['--cert-file=/certs/server.crt', '--key-file=/certs/server.key', ...(options.clientCertAuth ? ['--client-cert-auth', '--trusted-ca-file=/certs/ca.crt'] : [])] : [];
  const containers = await startAllOrNone(
    members.map((m) => {
      let container = new rt.GenericContainer(rt.etcdImage)
        .withNetworkMode('host')
        .withCommand([
          rt.etcdBinary,
          `--name=${m.name}`,
          '--data-dir=/tmp/etcd-data',
          `--listen-client-urls=${scheme}://${HOST}:${m.client}`,
          `--advertise-client-urls=${scheme}://${HOST}:${m.client}`,
          `--listen-peer-urls=http://${HOST}:${m.peer}`,
          `--initial-advertise-peer-urls=http://${HOST}:${m.peer}`,
          `--initial-cluster=${cluster}`,
          '--initial-cluster-state=new',
          `--initial-cluster-token=bai-${members[0]!.client}`,
          ...tlsArgs,
        ])
        .withWaitStrategy(rt.Wait.forLogMessage(/ready to serve client requests/))
        .withStartupTimeout(60_000);
      if (options.tls) container = container.withCopyFilesToContainer(serverCertFiles(options.tls));
      return container.start();
    }),
    `etcd (${count} member(s))`,
  );
  return {
    endpoints: members.map((m) => (options.tls ? `https://${HOST}:${m.client}` : `${HOST}:${m.client}`)),
    containers,
    stop: () => stopAll(containers),
  };
}

// ---------------------------------------------------------------------------------------------
// Redis Sentinel

export interface SentinelRedis {
  serviceName: string;
  master: { host: string; port: number };
  replica: { host: string; port: number };
  /** host:port per sentinel, as etcd config/redis/sentinel lists them. */
  sentinels: string[];
  stop(): Promise<void>;
}

/**
 * One master and one replica, each started from a writable config file (so CONFIG REWRITE works
 * on whichever is master), watched by three sentinels with quorum 2.
 */
export async function startSentinelRedis(serviceName = 'bai-redis'): Promise<SentinelRedis> {
  const rt = await runtime();
  const [masterPort, replicaPort] = [await freePort(), await freePort()];
  const sentinelPorts = [await freePort(), await freePort(), await freePort()];
  const base = (port: number) => redisConfig(port, HOST, SECRETS.redis, '/tmp', [`masterauth ${SECRETS.redis}`]).trimEnd();
  // Config files live in a directory anyone may write: CONFIG REWRITE and Sentinel rewrite their
  // file (Redis 7 by renaming a new one over it), and the official image runs Redis as user redis.
  const entrypoint = rt.local ? '' : 'docker-entrypoint.sh ';
  const redis = (config: string, args: string[] = []) =>
    new rt.GenericContainer(rt.redisImage)
      .withNetworkMode('host')
      .withCopyContentToContainer([{ content: `${config}\n`, target: '/tmp/redis-in.conf', mode: 0o644 }])
      .withCommand([
        'bash',
        '-c',
        `set -e; mkdir -p /srv/redis; cp /tmp/redis-in.conf /srv/redis/redis.conf; chmod -R a+rwX /srv/redis; exec ${entrypoint}redis-server /srv/redis/redis.conf ${args.join(' ')}`,
      ])
      .withWaitStrategy(rt.Wait.forLogMessage(args.includes('--sentinel') ? /Sentinel ID is/ : /Ready to accept connections/))
      .withStartupTimeout(30_000)
      .start();
  const servers = await startAllOrNone([redis(base(masterPort)), redis(`${base(replicaPort)}\nreplicaof ${HOST} ${masterPort}`)], 'Redis master and replica');
  const sentinelConfig = (port: number) =>
    [
      `port ${port}`,
      `bind ${HOST}`,
      'protected-mode no',
      'dir /tmp',
      `sentinel monitor ${serviceName} ${HOST} ${masterPort} 2`,
      `sentinel auth-pass ${serviceName} ${SECRETS.redis}`,
      `sentinel down-after-milliseconds ${serviceName} 2000`,
      `sentinel failover-timeout ${serviceName} 10000`,
    ].join('\n');
  let sentinels: StartedTestContainer[];
  try {
    sentinels = await startAllOrNone(
      sentinelPorts.map((port) => redis(sentinelConfig(port), ['--sentinel'])),
      'Redis sentinels',
    );
  } catch (error) {
    await stopAll(servers);
    throw error;
  }
  return {
    serviceName,
    master: { host: HOST, port: masterPort },
    replica: { host: HOST, port: replicaPort },
    sentinels: sentinelPorts.map((port) => `${HOST}:${port}`),
    stop: () => stopAll([...sentinels, ...servers]),
  };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL over TLS

export interface TlsPostgres {
  host: string;
  port: number;
  user: string;
  password: string;
  stop(): Promise<void>;
}

/**
 * PostgreSQL with ssl=on whose pg_hba accepts TCP connections only over TLS and only with a client
 * certificate signed by the CA (clientcert=verify-full: its CN must be the user name).
 */
export async function startTlsPostgres(certs: Certificates): Promise<TlsPostgres> {
  const rt = await runtime();
  const port = await freePort();
  const hba = ['local all all trust', `hostssl all all ${HOST}/32 scram-sha-256 clientcert=verify-full`, ''].join('\n');
  const ssl = [
    // scram: PostgreSQL 13 still stores md5 hashes by default, which pg_hba's scram-sha-256 refuses.
    `-p ${port} -c listen_addresses=${HOST} -c fsync=off -c full_page_writes=off -c password_encryption=scram-sha-256`,
    '-c ssl=on -c ssl_cert_file=/tmp/ssl/server.crt -c ssl_key_file=/tmp/ssl/server.key -c ssl_ca_file=/tmp/ssl/ca.crt',
    '-c hba_file=/tmp/ssl/pg_hba.conf',
  ].join(' ');
  // PostgreSQL wants its key 0600 and owned by the server's user: copy the files as that user.
  const install = 'mkdir -p /tmp/ssl && cp /certs/* /tmp/ssl/ && chmod 600 /tmp/ssl/server.key';
  let container = new rt.GenericContainer(rt.postgresImage)
    .withNetworkMode('host')
    .withCopyFilesToContainer(serverCertFiles(certs))
    .withCopyContentToContainer([{ content: hba, target: '/certs/pg_hba.conf', mode: 0o644 }])
    .withEnvironment({ PGPASSWORD_INIT: SECRETS.postgres, POSTGRES_PASSWORD: SECRETS.postgres })
    .withStartupTimeout(120_000);
  if (rt.local) {
    container = container
      .withUser('postgres')
      .withCommand([
        'bash',
        '-c',
        `set -e; ${install}; printf %s "$PGPASSWORD_INIT" > /tmp/pwfile; ` +
          '/usr/lib/postgresql/15/bin/initdb -D /tmp/pgdata -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile=/tmp/pwfile >/dev/null; ' +
          `exec /usr/lib/postgresql/15/bin/postgres -D /tmp/pgdata -k /tmp ${ssl}`,
      ])
      .withWaitStrategy(rt.Wait.forLogMessage(/database system is ready to accept connections/));
  } else {
    container = container
      .withCommand(['bash', '-c', `set -e; ${install}; chown -R postgres /tmp/ssl; exec docker-entrypoint.sh postgres ${ssl}`])
      .withWaitStrategy(rt.Wait.forLogMessage(/database system is ready to accept connections/, 2));
  }
  const started = await container.start();
  return { host: HOST, port, user: 'postgres', password: SECRETS.postgres, stop: () => stopAll([started]) };
}

/** The PEM text of a file, for clients configured with contents rather than paths. */
export function pem(path: string): Buffer {
  return readFileSync(path);
}
