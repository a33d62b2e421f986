/**
 * The manager-starts step with the real backend.ai-manager 24.12.1 from PyPI, in the venv
 * bai-migrate makes itself (manager-venv, pyenv's Python 3.12), on the test bed's servers.
 *
 * The schema is a fresh 24.12.1 one made by 24.12.1's own `mgr schema oneshot`, not one migrated
 * by bai-migrate (real-hop.test.ts takes 22.09 to 24.12 in about half an hour); it is seeded with
 * a domain, a superadmin and a keypair, a scaling group with an app-proxy address, an agent and a
 * storage proxy, all at addresses outside the loopback (192.0.2.x, TEST-NET).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectAdmin, type Admin } from '../support/deployment.js';
import { seedInstallation, storageProxyKeys } from '../support/installation-rows.js';
import { managerAlembicIni, productVenvs } from '../support/real-manager.js';
import { ranRealPackage } from '../support/real-lines.js';
import { MemoryLogger } from '../../src/core/logger.js';
import { parseOptions, type Options } from '../../src/options/index.js';
import { ManagerVenvs } from '../../src/manager/venvs.js';
import type { ProvisionedVenv } from '../../src/manager/venv.js';
import { pyenvInterpreters } from '../../src/manager/venv.js';
import { requireSuccess, runManagerCli } from '../../src/manager/cli.js';
import { resolveTargets } from '../../src/stores/connections.js';
import { Deployment } from '../../src/stores/deployment.js';
import { makePlan } from '../../src/hops/plan.js';
import { parseVersion } from '../../src/releases/catalogue.js';
import { targetConfigLoads } from '../../src/steps/config-loads.js';
import { runManagerProof, type ManagerProof, type ProofHooks } from '../../src/steps/manager-starts.js';
import { stepSettings, type StepContext } from '../../src/steps/step.js';
import { workerTestbed } from '../support/worker-testbed.js';
import { operatorManagerToml } from '../support/operator-toml.js';

const info = workerTestbed();
/** A release the step is tried with: its hop into the line, and the interpreter bai-migrate's venv gets. */
interface Target {
  readonly release: string;
  readonly from: string;
  readonly to: string;
  readonly python: () => string | undefined;
  /** Whether the test's manager.toml names a key pair (23.09's CLI needs it for schema oneshot); without, the step makes one. */
  readonly rpcKeypair: boolean;
}
const T2412: Target = { release: '24.12.1', from: '24.09', to: '24.12', python: () => pyenvInterpreters('3.12')[0], rpcKeypair: false };
const T2309: Target = { release: '23.09.10', from: '23.03', to: '23.09', python: () => '/usr/bin/python3.11', rpcKeypair: true };
let admin: Admin;
/** The release the running describe block tries, its venv, the seeded template, and the key pair its manager.toml names. */
let target: Target;
let venv: ProvisionedVenv;
let template: string;
let keypairFile: string | undefined;
const templates: string[] = [];

/** A manager.toml for `database` and `namespace`, as an operator's (with the key pair its manager.toml names, if any). */
const managerToml = (database: string, namespace: string, extra = '') =>
  operatorManagerToml(info, { database, namespace, prefix: 'bai-manager-starts-', managerLines: `${keypairFile ? `rpc-auth-manager-keypair = "${keypairFile}"\n` : ''}${extra}` });

/** What each test's copies leave: dropped after the test. */
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  admin = await connectAdmin(info);
});

/** bai-migrate's own venv of `t` (manager-venv, pip), and a template database with `t`'s own schema (schema oneshot), seeded. */
async function prepare(t: Target): Promise<void> {
  target = t;
  const python = t.python();
  expect(python, `the machine has no Python for ${t.release}`).toBeDefined();
  const options = parseOptions({ command: 'migrate', 'to-version': t.to, 'manager-venv': productVenvs(), python: python! });
  const started = Date.now();
  venv = (await new ManagerVenvs(options.managerVenv!, 'make', new MemoryLogger(), () => undefined).get(t.release, { use: 'the manager starts from it', unchecked: '' }))!;
  console.log(`${t.release} venv made in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  keypairFile = undefined;
  if (t.rpcKeypair) {
    const dir = mkdtempSync(join(tmpdir(), 'bai-ms-rpc-'));
    const args = ['mgr', 'generate-rpc-keypair', dir, 'manager'];
    requireSuccess({ command: [venv.managerCli] }, args, await runManagerCli({ command: [venv.managerCli] }, args));
    keypairFile = join(dir, 'manager.key_secret');
  }

  // The template: the release's own schema, then the seeding.
  template = `tmpl_ms_${randomBytes(3).toString('hex')}`;
  templates.push(template);
  await admin.pg.query(`CREATE DATABASE ${template}`);
  const toml = managerToml(template, 'unused');
  const alembicIni = join(mkdtempSync(join(tmpdir(), 'bai-ms-alembic-')), 'alembic.ini');
  const { host, port, user, password } = info.postgres;
  writeFileSync(alembicIni, managerAlembicIni(`postgresql+asyncpg://${user}:${encodeURIComponent(password)}@${host}:${port}/${template}`));
  const cli = { command: [venv.managerCli], configFile: toml };
  const args = ['mgr', 'schema', 'oneshot', '-f', alembicIni];
  requireSuccess(cli, args, await runManagerCli(cli, args));
  const pg = new (await import('pg')).default.Client({ host, port, user, password, database: template });
  await pg.connect();
  try {
    await seedInstallation(pg, { users: ['admin'], agent: { version: t.release } });
  } finally {
    await pg.end();
  }
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  for (const name of templates) await admin.pg.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin?.close();
});

interface Copy {
  readonly database: string;
  readonly namespace: string;
  readonly toml: string;
  readonly etcd: ReturnType<Admin['etcd']['namespace']>;
  readonly pg: import('pg').Client;
}

/** A copy of the seeded deployment: its own database and etcd namespace, with what 24.12.1 reads from etcd. */
async function copyOf(): Promise<Copy> {
  const suffix = randomBytes(4).toString('hex');
  const database = `bai_ms_${suffix}`;
  const namespace = `ms-${suffix}`;
  await admin.pg.query(`CREATE DATABASE ${database} TEMPLATE ${template}`);
  const etcd = admin.etcd.namespace(`/sorna/${namespace}/`);
  await etcd.put('config/redis/addr').value(`${info.redis.host}:${info.redis.port}`);
  await etcd.put('config/redis/password').value(info.redis.password);
  // A storage proxy outside the loopback (TEST-NET), which the proof points at loopback first.
  for (const [key, value] of Object.entries(storageProxyKeys('192.0.2.12'))) await etcd.put(key).value(value);
  const { host, port, user, password } = info.postgres;
  const pg = new (await import('pg')).default.Client({ host, port, user, password, database });
  await pg.connect();
  cleanups.push(async () => {
    await pg.end();
    await admin.pg.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.etcd.delete().prefix(`/sorna/${namespace}/`);
  });
  return { database, namespace, toml: managerToml(database, namespace), etcd, pg };
}

/** The step's context on `copy` as a rehearsal's inner run has it: a disposable copy, the hop into the release's line. */
async function contextOf(copy: Copy, toml = copy.toml, servers: ReadonlyArray<'postgres' | 'etcd' | 'redis'> = ['postgres', 'etcd', 'redis']): Promise<StepContext & { close(): Promise<void> }> {
  const parsed = parseOptions({ command: 'migrate', 'from-version': target.from, 'to-version': target.to, 'manager-config': toml });
  const options: Options = { ...parsed, disposableCopy: true };
  const deployment = new Deployment(resolveTargets(options, {}), 5_000, () => undefined);
  const connected = await deployment.connect(servers);
  expect(connected.filter((c) => !c.ok)).toEqual([]);
  const hop = makePlan(parseVersion(target.from, 'from-version'), parseVersion(target.to, 'to-version')).hops.at(-1)!;
  return {
    deployment,
    settings: stepSettings(options),
    hop,
    log: new MemoryLogger(),
    alembic: { command: [], config: '' },
    managerCli: { command: [venv.managerCli] },
    close: () => deployment.close(),
  };
}

async function prove(copy: Copy, options: { toml?: string; servers?: ReadonlyArray<'postgres' | 'etcd' | 'redis'> } & ProofHooks = {}): Promise<ManagerProof> {
  const ctx = await contextOf(copy, options.toml, options.servers);
  try {
    return await runManagerProof(ctx, options);
  } finally {
    await ctx.close();
  }
}

/** Remote addresses of the TCP connections the processes of `pgid`'s group hold, from ss. */
function groupConnections(pgid: number): string[] {
  const pids = execFileSync('ps', ['-o', 'pid=', '-g', String(pgid)], { encoding: 'utf8' })
    .split('\n')
    .map((p) => p.trim())
    .filter(Boolean);
  const lines = execFileSync('ss', ['-tnpH'], { encoding: 'utf8' }).split('\n');
  return lines.filter((line) => pids.some((pid) => line.includes(`pid=${pid},`))).map((line) => line.trim().split(/\s+/)[4]!);
}

describe(`manager-starts with the real 24.12.1 (bai-migrate's own venv, Python 3.12) on a fresh 24.12.1 schema (schema oneshot, not migrated)`, () => {
  beforeAll(() => prepare(T2412), 900_000);

  it('the plan ends its last hop with the step', () => {
    const plan = makePlan(parseVersion('23.09', 'from-version'), parseVersion('24.12', 'to-version'));
    expect(plan.hops.map((h) => h.steps.at(-1)!.id)).toEqual([...plan.hops.slice(0, -1).map((h) => h.steps.at(-1)!.id), 'manager-starts']);
    expect(plan.hops.slice(0, -1).some((h) => h.steps.some((s) => s.id === 'manager-starts'))).toBe(false);
  });

  it('the proof passes: GET / is 24.12.1, the signed GraphQL read succeeds, the log has no error; no connection leaves the loopback, and the copy’s outward addresses point at it', async () => {
    const copy = await copyOf();
    let connections: string[] = [];
    const started = Date.now();
    const proof = await prove(copy, {
      whileRunning: async (manager) => {
        // Let the scheduler and the background tasks run a little, then look at every connection of the group.
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        connections = groupConnections(manager.pid);
      },
    });
    console.log(`proof: ${proof.finding.detail}\n(start ${proof.timings.startMs} ms, stop ${proof.timings.stopMs} ms, whole ${Date.now() - started} ms)`);
    expect(proof.finding.status, `${proof.finding.detail}\n${proof.log.slice(-3000)}`).toBe('changed');
    expect(proof.finding.detail).toMatch(/answered GET \/ \(\{"version": "v8\.20240915", "manager": "24\.12\.1"\}\)/);
    expect(proof.finding.detail).toMatch(/served a signed GraphQL query of users, vfolders, sessions and agents \(user_list 2, vfolder_list 0, compute_session_list 0, agent_list 1\)/);
    expect(proof.finding.detail).toMatch(/stopped by SIGTERM in \d/);
    expect(connections.length).toBeGreaterThan(0);
    expect(connections.filter((peer) => !peer.startsWith('127.0.0.1:') && !peer.startsWith('[::1]:') && !peer.startsWith('[::ffff:127.0.0.1]:'))).toEqual([]);
    expect(proof.dialled.every((peer) => peer.startsWith('127.0.0.1:') || peer.startsWith('::ffff:127.0.0.1:'))).toBe(true);
    // The copy's outward addresses are the loopback stand-in's now.
    const { rows } = await copy.pg.query(`SELECT (SELECT wsproxy_addr FROM scaling_groups) AS wsproxy, (SELECT addr FROM agents) AS agent`);
    expect(rows[0].wsproxy).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(rows[0].agent).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(await copy.etcd.get('volumes/proxies/local/client_api').string()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await copy.etcd.get('volumes/proxies/local/manager_api').string()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // The throw-away keypair is gone, and so is the manager's registration.
    // Only the seeded admin's keypair (installation-rows.ts names it 'AKIA' and 16 hex digits of its email's md5).
    const seededKey = `AKIA${createHash('md5').update('admin@example.com').digest('hex').slice(0, 16).toUpperCase()}`;
    expect((await copy.pg.query(`SELECT access_key FROM keypairs`)).rows).toEqual([{ access_key: seededKey }]);
    expect((await copy.pg.query(`SELECT email FROM users`)).rows).toEqual([{ email: 'admin@example.com' }]);
    expect(await copy.etcd.getAll().prefix('nodes/manager/').keys()).toEqual([]);
    ranRealPackage(T2412.release, 'mgr start-server (manager-starts proof)');
  }, 300_000);

  it('the proof fails on a schema one migration short (what 6e44ea67d26e changes undone by hand: kernels.status and sessions.status enums again), although GET / answers: it names what the manager logged', async () => {
    const copy = await copyOf();
    // What 6e44ea67d26e changes, undone: kernels.status and sessions.status the enums they were
    // (24.12.1's own downgrade of a oneshot schema fails on "relation ix_kernels_status_role already exists").
    const statuses = ['PENDING', 'SCHEDULED', 'PREPARING', 'PULLING', 'PREPARED', 'CREATING', 'RUNNING', 'RESTARTING', 'RUNNING_DEGRADED', 'TERMINATING', 'TERMINATED', 'ERROR', 'CANCELLED'];
    for (const [table, type] of [
      ['kernels', 'kernelstatus'],
      ['sessions', 'sessionstatus'],
    ]) {
      await copy.pg.query(`CREATE TYPE ${type} AS ENUM (${statuses.map((s) => `'${s}'`).join(', ')})`);
      await copy.pg.query(`ALTER TABLE ${table} ALTER COLUMN status DROP DEFAULT, ALTER COLUMN status TYPE ${type} USING status::${type}, ALTER COLUMN status SET DEFAULT 'PENDING'`);
    }
    await copy.pg.query(`UPDATE alembic_version SET version_num = 'd4c174934fd0'`);
    const proof = await prove(copy);
    console.log(`unmigrated: ${proof.finding.detail}`);
    expect(proof.finding.status).toBe('failed');
    expect(proof.finding.detail).toMatch(/^the 24\.12\.1 manager on the copy answered GET \/ \(\{"version": "v8\.20240915", "manager": "24\.12\.1"\}\) but did not prove it serves: /);
    expect(proof.finding.detail).toMatch(/the manager logged: .*operator does not exist: kernelstatus = character varying/);
  }, 300_000);

  it('the proof fails when etcd has no config/redis/addr, although the manager exits 0: it names what the manager logged', async () => {
    const copy = await copyOf();
    await copy.etcd.delete().key('config/redis/addr');
    // bai-migrate itself reads Redis's address there too: it connects to the other two only.
    const proof = await prove(copy, { servers: ['postgres', 'etcd'] });
    console.log(`no redis: ${proof.finding.detail}`);
    expect(proof.finding.status).toBe('failed');
    expect(proof.finding.detail).toMatch(/the manager exited \(exit code 0\) before it answered GET \//);
    expect(proof.finding.detail).toMatch(/the manager logged: Error initializing cleanup_contexts: redis_ctx/);
  }, 300_000);

  it('the proof fails on a manager.toml value 24.12.1’s loader refuses: it names the loader’s message', async () => {
    const copy = await copyOf();
    writeFileSync(copy.toml, readFileSync(copy.toml, 'utf8').replace('heartbeat-timeout = 30.0', 'heartbeat-timeout = 0.5'));
    const proof = await prove(copy);
    console.log(`refused toml: ${proof.finding.detail}`);
    expect(proof.finding.status).toBe('failed');
    expect(proof.finding.detail).toMatch(
      /the manager exited \(exit code 1\) before it answered GET \/; its output ended: ConfigurationError: Could not read or validate the manager local config: \| \{'manager': \{'heartbeat-timeout': 'value is less than 1\.0'\}\}/,
    );
  }, 300_000);

  it('into 25.8 or later, the key pair is the one etcd merges over manager.toml: one this machine lacks is named before any start, and the throw-away superadmin is gone', async () => {
    const copy = await copyOf();
    await copy.etcd.put('ai/backend/config/manager/manager/rpc-auth-manager-keypair').value('/etc/backend.ai/absent/manager.key_secret');
    const ctx = await contextOf(copy);
    const into258 = makePlan(parseVersion('25.7', 'from-version'), parseVersion('25.8', 'to-version')).hops.at(-1)!;
    try {
      const proof = await runManagerProof({ ...ctx, hop: into258 });
      expect(proof.finding.status).toBe('failed');
      expect(proof.finding.detail).toBe(
        'etcd key ai/backend/config/manager/manager/rpc-auth-manager-keypair names /etc/backend.ai/absent/manager.key_secret, which is not on this machine (looked for /etc/backend.ai/absent/manager.key_secret); the manager reads it over manager.toml and would not start',
      );
      expect(proof.timings.startMs).toBeUndefined();
      expect((await copy.pg.query("SELECT count(*)::int AS n FROM users WHERE email LIKE 'bai-migrate-proof-%'")).rows[0].n).toBe(0);
    } finally {
      await ctx.close();
    }
  }, 120_000);

  it("preflight loads manager.toml with 24.12.1's own loader: a sound file loads, every refused key is named, and a path the runner lacks is only a warning", async () => {
    const copy = await copyOf();
    const base = await contextOf(copy);
    const ctx = { ...base, alembic: { command: venv.command, config: venv.config } };
    try {
      // Without rpc-auth-manager-keypair, 24.12.1's loader defaults to a relative path this runner lacks.
      expect(await targetConfigLoads(ctx, '24.12.1')).toEqual([
        {
          status: 'warning',
          detail: expect.stringMatching(
            /leaves default path\(s\), .*which 24\.12\.1's loader checks against the machine it runs on .*: manager\.rpc-auth-manager-keypair \(value is not a regular file\)/,
          ),
        },
      ]);
      // An operator's file names the key pair the manager has.
      const keyPair = join(mkdtempSync(join(tmpdir(), 'bai-ms-key-')), 'manager.key_secret');
      writeFileSync(keyPair, '');
      writeFileSync(copy.toml, readFileSync(copy.toml, 'utf8').replace('num-proc = 1', `num-proc = 1\nrpc-auth-manager-keypair = "${keyPair}"`));
      expect(await targetConfigLoads(ctx, '24.12.1')).toEqual([{ status: 'ok', detail: `manager.toml (${copy.toml}) loads with 24.12.1's own loader` }]);

      const sound = readFileSync(copy.toml, 'utf8');
      writeFileSync(copy.toml, sound.replace('heartbeat-timeout = 30.0', 'heartbeat-timeout = 0.5').replace('num-proc = 1', 'num-proc = "many"'));
      const refused = await targetConfigLoads(ctx, '24.12.1');
      expect(refused.map((f) => f.status)).toEqual(['failed']);
      expect(refused[0]!.detail).toMatch(/does not load with 24\.12\.1's own loader, so the 24\.12\.1 manager would not start after the migration; it refuses 2 key\(s\): /);
      expect(refused[0]!.detail).toContain('manager.heartbeat-timeout (value is less than 1.0)');
      expect(refused[0]!.detail).toMatch(/manager\.num-proc \([^)]*int[^)]*\)/);

      // A key pair on the manager's host, not on this runner (relative to manager.toml's folder, as the manager resolves it),
      // and more processes than this runner has CPUs, which the loader checks against the machine it runs on.
      const processes = cpus().length + 62;
      writeFileSync(copy.toml, sound.replace(keyPair, 'fixtures/manager/manager.key_secret').replace('num-proc = 1', `num-proc = ${processes}`));
      const onHost = await targetConfigLoads(ctx, '24.12.1');
      expect(onHost.map((f) => f.status)).toEqual(['warning']);
      expect(onHost[0]!.detail).toMatch(
        new RegExp(
          `or asks for more processes than this runner's ${cpus().length} CPU\\(s\\), which 24\\.12\\.1's loader checks against the machine it runs on .*: .*manager\\.rpc-auth-manager-keypair \\(value is not a regular file\\); the manager's host must have them`,
        ),
      );
      expect(onHost[0]!.detail).toContain(`manager.num-proc (value is greater than ${cpus().length})`);
      ranRealPackage(T2412.release, "the manager's config loader (preflight)");
    } finally {
      await base.close();
    }
  }, 300_000);

  it('a manager that does not stop in time is killed with its process group, and its etcd registration is removed', async () => {
    const copy = await copyOf();
    let registered: string[] = [];
    let pid = 0;
    const proof = await prove(copy, {
      stopGraceMs: 0,
      whileRunning: async (manager) => {
        pid = manager.pid;
        registered = await copy.etcd.getAll().prefix('nodes/manager/').keys();
      },
    });
    console.log(`killed: ${proof.finding.detail}`);
    expect(proof.finding.status).toBe('changed');
    // Under the host's instance id (i-<hostname> off a cloud), not the copy's [manager] id.
    expect(registered).toEqual([expect.stringMatching(/^nodes\/manager\/i-/)]);
    expect(proof.finding.detail).toMatch(/was killed \(SIGKILL to its process group\) after 0 s of SIGTERM; .*removed its etcd registration nodes\/manager\/i-/);
    expect(await copy.etcd.getAll().prefix('nodes/manager/').keys()).toEqual([]);
    // No process of its group is left (a zombie, dead but not yet reaped, is not one).
    const left = execFileSync('ps', ['-o', 'pid=,stat=,comm=', '-g', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.trim() !== '' && !/^\s*\d+\s+Z/.test(line));
    expect(left).toEqual([]);
  }, 300_000);
});

describe(`manager-starts with the real 23.09.10 (bai-migrate's own venv, Debian's Python 3.11) on a fresh 23.09.10 schema (schema oneshot, not migrated)`, () => {
  beforeAll(() => prepare(T2309), 900_000);

  it('the proof passes: GET / is 23.09.10, the signed GraphQL read succeeds, the log has no error', async () => {
    const copy = await copyOf();
    const proof = await prove(copy);
    console.log(`23.09.10 proof: ${proof.finding.detail}\n(start ${proof.timings.startMs} ms, stop ${proof.timings.stopMs} ms)`);
    expect(proof.finding.status, `${proof.finding.detail}\n${proof.log.slice(-3000)}`).toBe('changed');
    expect(proof.finding.detail).toMatch(/answered GET \/ \(\{"version": "v7\.20230615", "manager": "23\.09\.10"\}\)/);
    expect(proof.finding.detail).toMatch(/served a signed GraphQL query of users, vfolders, sessions and agents \(user_list 2, vfolder_list 0, compute_session_list 0, agent_list 1\)/);
    ranRealPackage(T2309.release, 'mgr start-server (manager-starts proof)');
  }, 300_000);
});
