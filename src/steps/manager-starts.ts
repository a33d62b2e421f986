/**
 * A step kind at the end of a run's last hop: the target release's real manager starts on the
 * migrated data and serves. Exit codes and the root endpoint prove little (issue 29: 24.12.1
 * answers GET / on an unmigrated schema, and exits 0 without Redis), so the proof is three things:
 * GET / answers with the target release's version; an authenticated read-only GraphQL request over
 * users, vfolders, sessions and agents succeeds, signed with a throw-away keypair made in the
 * copy; and the manager's log up to then has no error but the release's known harmless ones
 * (src/releases/manager-start.ts). Then SIGTERM; SIGKILL for the process group if it lingers, and
 * its etcd registration removed.
 *
 * A running manager changes data within seconds (Redis DB 1 flushed, agent keys, error_logs
 * cleanup, the scheduler's endpoints and routings), so it runs on a disposable copy: always in a
 * rehearsal (settings.disposableCopy), whose outward addresses are pointed at loopback first
 * (manager/outward-addresses.ts); on production only with start-manager: true. The dry run never
 * starts it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { messageOf } from '../core/errors.js';
import { REDIS_DB } from '../stores/deployment.js';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { managerStartFacts, type ManagerStartFacts } from '../releases/manager-start.js';
import { publishedRelease } from '../releases/manager-python.js';
import { freePort } from '../rehearsal/servers.js';
import { currentConfig } from './manager-toml.js';
import { describePlace, parsedNow, settingView } from './merged-config.js';
import { lastLines, requireSuccess, runManagerCli } from '../manager/cli.js';
import { managerTomlCopy, signedRequest, startManagerServer, waitForRoot, type Keypair, type RunningManager } from '../manager/start-server.js';
import { loopbackListener, pointOutwardAtLoopback } from '../manager/outward-addresses.js';
import { serverVersion } from '../stores/schema.js';
import { unreadableServerVersion } from './manager-connects.js';
import { targetConfigLoads } from './config-loads.js';
import { changed, failed, ok, skipped, warning, type Finding, type Step, type StepContext } from './step.js';

/** How long GET / may take to answer: 24.12.1 serves in about 2 s on the test bed. */
const START_TIMEOUT_MS = 90_000;
/** How long SIGTERM may take before the process group is killed: 24.12.1 stops in under 1 s. */
const STOP_GRACE_MS = 10_000;

/** The release whose manager runs: the package the venv installs (23.09.11 was never published; its venv holds 23.09.10). */
function managerRelease(ctx: StepContext): string {
  return publishedRelease(ctx.hop.to.version);
}

/** Why the step does not start the manager in this run; undefined when it does. */
function notAsked(ctx: StepContext): string | undefined {
  if (ctx.settings.disposableCopy || ctx.settings.startManager) return undefined;
  return 'start-manager is false: only a rehearsal starts the manager (on its disposable copy); set start-manager: true to start it on this deployment';
}

export const managerStarts: Step = {
  id: 'manager-starts',
  title: "The target release's manager starts",
  kind: 'change',
  action:
    "In preflight, loads manager.toml with the target release's own loader. In a rehearsal (or with start-manager), starts the target release's manager on the migrated data on a loopback port for a few seconds, and proves it serves: GET / with the release's version, an authenticated read-only GraphQL request with a throw-away keypair, and a log without errors; a rehearsal first points the copy's outward addresses at loopback.",
  servers: ['postgres', 'etcd', 'redis'],
  tables: ['scaling_groups', 'agents', 'keypairs', 'users'],

  async preflight(ctx) {
    // Whether or not it is started here, the manager the operator starts next must accept manager.toml.
    const loads = await targetConfigLoads(ctx, managerRelease(ctx));
    const why = notAsked(ctx);
    if (why) return [...loads, skipped(why)];
    const blocked = await cannotStart(ctx);
    if (blocked) return [...loads, blocked];
    return [
      ...loads,
      ok(
        `the ${managerRelease(ctx)} manager will be started at the end of the run${ctx.settings.disposableCopy ? ', on the disposable copy' : ' (start-manager: true): on this deployment, for real'}`,
      ),
    ];
  },

  async dryRun(ctx) {
    const why = notAsked(ctx);
    return [skipped(why ?? `a dry run never starts the manager; migrate starts the ${managerRelease(ctx)} manager at the end`)];
  },

  // It changes nothing a backup bundle could give back: on a copy, nothing matters; on production the operator asked for it.
  async pending() {
    return false;
  },

  async apply(ctx) {
    const why = notAsked(ctx);
    if (why) return skipped(why);
    return (await cannotStart(ctx)) ?? proveManagerStarts(ctx);
  },
};

/** A release that cannot start here is reported, not attempted. */
async function cannotStart(ctx: StepContext): Promise<Finding | undefined> {
  const release = managerRelease(ctx);
  if (!managerStartFacts(release)) return skipped(`bai-migrate does not start the ${release} manager yet: src/releases/manager-start.ts has no facts for its line`);
  // Without its own venv the run's manager is whatever the runner has, of a release it cannot vouch for.
  if (!ctx.settings.managerFromOwnVenv)
    return skipped(`starting the ${release} manager needs its package in bai-migrate's own venv: set manager-venv (and no manager-command), so that the manager started is ${release}'s`);
  const problem = unreadableServerVersion(release, await serverVersion(ctx.deployment.postgres));
  if (problem) return warning(`not attempted: ${problem}`);
  if (!ctx.deployment.targets.managerConfig) return failed('the manager needs manager.toml: set manager-config');
  return undefined;
}

export interface ManagerProof {
  readonly finding: Finding;
  /** What the manager logged, whole, for a test or a report attachment. */
  readonly log: string;
  /** The loopback listener's peers: who dialled the rewritten addresses. */
  readonly dialled: readonly string[];
  readonly timings: { readonly startMs?: number; readonly stopMs?: number };
  readonly pid?: number;
}

/** The whole proof; apply's finding. */
export interface ProofHooks {
  /** Called once GET / answered, before the signed request (tests look at the manager's connections then). */
  readonly whileRunning?: (manager: RunningManager) => Promise<void>;
  /** How long SIGTERM may take before SIGKILL (tests make it 0 to show the kill and the clean-up). */
  readonly stopGraceMs?: number;
}

export async function proveManagerStarts(ctx: StepContext, hooks: ProofHooks = {}): Promise<Finding> {
  return (await runManagerProof(ctx, hooks)).finding;
}

export async function runManagerProof(ctx: StepContext, hooks: ProofHooks = {}): Promise<ManagerProof> {
  const grace = hooks.stopGraceMs ?? STOP_GRACE_MS;
  const release = managerRelease(ctx);
  const facts = managerStartFacts(release)!;
  const dir = await mkdtemp(join(tmpdir(), 'bai-migrate-manager-'));
  const listener = ctx.settings.disposableCopy ? await loopbackListener() : undefined;
  const keypair: Keypair = { accessKey: `AKBAIMIGRATE${randomBytes(4).toString('hex').toUpperCase()}`, secretKey: randomBytes(20).toString('hex') };
  const managerId = `i-bai-migrate-${randomBytes(3).toString('hex')}`;
  const user: ThrowAwayUser = { uuid: randomUUID(), email: `bai-migrate-proof-${randomBytes(3).toString('hex')}@example.invalid` };
  let manager: RunningManager | undefined;
  let log = '';
  const timings: { startMs?: number; stopMs?: number } = {};
  const notes: string[] = [];
  try {
    if (listener) {
      const rewritten = await pointOutwardAtLoopback(ctx.deployment, listener.port);
      notes.push(rewritten.length > 0 ? `pointed ${rewritten.join(', ')} at 127.0.0.1:${listener.port}` : 'the copy names no outward address');
    }
    const made = await throwAwayKeypair(ctx, keypair, user);
    if (typeof made === 'string') return { finding: failed(made), log, dialled: [], timings };

    const config = join(dir, 'manager.toml');
    const servicePort = await freePort();
    const aiomonitor: Record<string, number> = {};
    for (const key of facts.aiomonitorKeys) aiomonitor[key] = await freePort();
    const listeners: Record<string, number> = {};
    for (const key of facts.listenerKeys) listeners[key] = await freePort();
    const rpc = await rpcKeypair(ctx, facts, dir);
    if (typeof rpc === 'object') return { finding: failed(rpc.failure), log, dialled: [], timings };
    await writeFile(config, managerTomlCopy({ ...(await copyTargets(ctx)), dir, servicePort, aiomonitor, listeners, managerId, rpcKeypair: rpc }), {
      mode: 0o600,
    });

    const before = Object.keys(await ctx.deployment.etcdPrefix('nodes/manager/'));
    const eventsSince = await streamClock(ctx);
    const started = Date.now();
    manager = await startManagerServer(ctx.managerCli.command, config, dir, servicePort);
    const root = await waitForRoot(manager, START_TIMEOUT_MS);
    timings.startMs = Date.now() - started;
    const problems: string[] = [];
    let apiVersion: string | undefined;
    if ('failure' in root) problems.push(root.failure);
    else {
      const answer = parseJson(root.body);
      apiVersion = typeof answer?.version === 'string' ? answer.version : undefined;
      if (root.status !== 200 || answer?.manager !== release) problems.push(`GET / answered ${root.status} ${root.body.slice(0, 200)}, not the ${release} manager`);
    }
    if (hooks.whileRunning && !manager.exit()) await hooks.whileRunning(manager);
    let served = '';
    if (apiVersion && problems.length === 0) {
      const response = await signedRequest(manager.url, 'POST', '/admin/gql', JSON.stringify({ query: facts.proofQuery }), keypair, apiVersion).catch((error: unknown) => ({
        status: 0,
        body: String(error),
      }));
      const answer = parseJson(response.body);
      if (response.status !== 200 || !answer || answer.errors)
        problems.push(`the signed GraphQL request (${facts.proofQuery.slice(0, 60)}…) answered ${response.status}: ${response.body.slice(0, 400)}`);
      else served = `served a signed GraphQL query of users, vfolders, sessions and agents (${counts(answer.data)})`;
    }
    log = await manager.log();
    const errors = loggedErrors(log, facts);
    if (errors.length > 0) problems.push(`the manager logged: ${errors.slice(0, 3).join(' | ')}${errors.length > 3 ? ` (and ${errors.length - 3} more)` : ''}`);
    // A loader that refuses manager.toml prints its verdict and exits before logging anything.
    else if (manager.exit()) problems.push(`its output ended: ${lastLines(log, 3)}`);
    const stop = await manager.stop(grace);
    timings.stopMs = stop.ms;
    log = await manager.log();
    // The manager registers under its host's instance id, not [manager] id (backend.ai@24.12.1:src/ai/backend/manager/config.py,
    // register_myself, and common/identity.py: the cloud's instance id, else i-<hostname>): what is new since the start is its.
    const left = Object.keys(await ctx.deployment.etcdPrefix('nodes/manager/')).filter((key) => !before.includes(key));
    if (left.length > 0) {
      for (const key of left) await ctx.deployment.etcd.delete().key(key);
      notes.push(`removed its etcd registration ${left.join(', ')}`);
    }
    const events = await removeOwnEvents(ctx, eventsSince);
    if (events > 0) notes.push(`removed the ${events} event(s) it put in Redis's events stream`);
    const stopped =
      stop.how === 'sigkill'
        ? `was killed (SIGKILL to its process group) after ${grace / 1000} s of SIGTERM`
        : stop.how === 'sigterm'
          ? `stopped by SIGTERM in ${(stop.ms / 1000).toFixed(1)} s`
          : `had exited by itself (exit code ${stop.code})`;
    if (listener && listener.peers.some((peer) => !/^(127\.|::ffff:127\.|::1)/.test(peer))) problems.push(`a connection came from outside the loopback: ${listener.peers.join(', ')}`);
    if (listener && listener.peers.length > 0) notes.push(`it dialled the loopback stand-in ${listener.peers.length} time(s)`);
    const where = ctx.settings.disposableCopy ? 'on the copy' : 'on this deployment';
    if (problems.length > 0) {
      const cause = problems.join('; ');
      const answered = 'body' in root && root.status === 200 ? ` answered GET / (${root.body.trim()}) but` : '';
      return {
        finding: failed(`the ${release} manager ${where}${answered} did not prove it serves: ${cause}; it ${stopped}${notes.length ? ` (${notes.join('; ')})` : ''}`),
        log,
        dialled: listener?.peers ?? [],
        timings,
        pid: manager.pid,
      };
    }
    return {
      finding: changed(
        `the ${release} manager started ${where} in ${((timings.startMs ?? 0) / 1000).toFixed(1)} s, answered GET / (${root && 'body' in root ? root.body.trim() : ''}), ${served}, logged no error, and ${stopped}${notes.length ? `; ${notes.join('; ')}` : ''}`,
      ),
      log,
      dialled: listener?.peers ?? [],
      timings,
      pid: manager.pid,
    };
  } finally {
    if (manager && !manager.exit()) await manager.stop(STOP_GRACE_MS).catch(() => undefined);
    await removeThrowAway(ctx, keypair, user).catch((error: unknown) => ctx.log.warning(`manager-starts: the throw-away superadmin ${user.email} could not be removed: ${messageOf(error)}`));
    await listener?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A throw-away superadmin for the proof's request: a copy of a user's row (an active superadmin's
 * where there is one) with a new uuid, email and username, made an active superadmin, and a copy of a keypair row with a new access and secret key as its
 * main keypair (the manager finds the user of a request by users.main_access_key,
 * backend.ai@23.09.10 and @24.12.1:src/ai/backend/manager/api/auth.py, _query_cred). Copies, so
 * that every column the release requires has a value it accepts; its own rate limit, since the
 * manager's rate limiter fails every request of a keypair without one (a snapshot may not carry it).
 * Returns why it cannot be made.
 */
async function throwAwayKeypair(ctx: StepContext, keypair: Keypair, user: ThrowAwayUser): Promise<true | string> {
  const pg = ctx.deployment.postgres;
  // An active superadmin's row where there is one, else any user's (a snapshot may carry no superadmin), made an active superadmin.
  const source = `SELECT uuid FROM users ORDER BY (role::text = 'superadmin' AND status::text = 'active') DESC, created_at LIMIT 1`;
  const users = await pg.query(
    `INSERT INTO users
     SELECT (jsonb_populate_record(u, jsonb_build_object('uuid', $1::text, 'email', $2::text, 'username', $2::text, 'main_access_key', NULL,
                                                         'role', 'superadmin', 'status', 'active', 'is_active', true))).*
       FROM users u WHERE u.uuid = (${source})
     RETURNING (${source})::text AS source`,
    [user.uuid, user.email],
  );
  if (users.rowCount !== 1) return 'the deployment has no user, so no throw-away superadmin can be made for the authenticated request';
  const keypairs = await pg.query(
    `INSERT INTO keypairs
     SELECT (jsonb_populate_record(k, jsonb_build_object('access_key', $1::text, 'secret_key', $2::text, 'user', $3::text, 'user_id', $4::text,
                                                         'is_active', true, 'is_admin', true, 'ssh_public_key', NULL, 'ssh_private_key', NULL,
                                                         'rate_limit', 10000, 'num_queries', 0))).*
       FROM keypairs k ORDER BY (k."user"::text = $5) DESC, k.created_at LIMIT 1`,
    [keypair.accessKey, keypair.secretKey, user.uuid, user.email, users.rows[0]!.source],
  );
  if (keypairs.rowCount !== 1) return 'the deployment has no keypair to copy for a throw-away superadmin';
  await pg.query('UPDATE users SET main_access_key = $1 WHERE uuid = $2', [keypair.accessKey, user.uuid]);
  return true;
}

interface ThrowAwayUser {
  readonly uuid: string;
  readonly email: string;
}

/** The events stream's clock (Redis's own milliseconds) as a stream id; undefined without Redis. */
async function streamClock(ctx: StepContext): Promise<string | undefined> {
  const redis = await ctx.deployment.redis(REDIS_DB.stream).catch(() => undefined);
  const time = await redis?.time().catch(() => undefined);
  return time ? `${Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000)}-0` : undefined;
}

/**
 * The events the started manager put in Redis's stream (source "manager", since its start): the next
 * run's services-stopped would take them for a running manager for a minute. Returns how many.
 */
async function removeOwnEvents(ctx: StepContext, since: string | undefined): Promise<number> {
  if (!since) return 0;
  const redis = await ctx.deployment.redis(REDIS_DB.stream).catch(() => undefined);
  if (!redis) return 0;
  const entries = (await redis.xrange('events', since, '+')) as Array<[string, string[]]>;
  const own = entries.filter(([, fields]) => fields.some((field, i) => i % 2 === 0 && field === 'source' && fields[i + 1] === 'manager')).map(([id]) => id);
  if (own.length > 0) await redis.xdel('events', ...own);
  return own.length;
}

/** Removes the throw-away superadmin, its keypair, and the request counters the manager kept for it in Redis. */
async function removeThrowAway(ctx: StepContext, keypair: Keypair, user: ThrowAwayUser): Promise<void> {
  const pg = ctx.deployment.postgres;
  await pg.query('UPDATE users SET main_access_key = NULL WHERE uuid = $1', [user.uuid]);
  await pg.query('DELETE FROM keypairs WHERE access_key = $1', [keypair.accessKey]);
  await pg.query('DELETE FROM users WHERE uuid = $1', [user.uuid]);
  // Without Redis (a proof that failed on it) there are none.
  const redis = await ctx.deployment.redis(REDIS_DB.stat).catch(() => undefined);
  await redis?.del(`kp:${keypair.accessKey}:num_queries`, `kp:${keypair.accessKey}:last_call_time`);
}

/** The servers the copy of manager.toml points at: the ones this run migrated. */
async function copyTargets(ctx: StepContext) {
  const { text } = await currentConfig(ctx);
  const pg = ctx.deployment.targets.postgres!;
  const etcd = ctx.deployment.targets.etcd!;
  const endpoint = new URL(/^\w+:\/\//.test(etcd.endpoints[0]!) ? etcd.endpoints[0]! : `http://${etcd.endpoints[0]!}`);
  return {
    text,
    postgres: { host: pg.host, port: pg.port, database: pg.database, user: pg.user, password: pg.password },
    etcd: { host: endpoint.hostname, port: Number(endpoint.port || 2379), namespace: etcd.namespace, user: etcd.user, password: etcd.password },
  };
}

/**
 * An absolute key pair for the releases that require one: the one the target reads (manager.toml's,
 * or from 25.8 an etcd key merged over it, steps/merged-config.ts), else one made for this start in
 * `dir`. A relative path is read from manager.toml's directory, where the manager is started.
 */
async function rpcKeypair(ctx: StepContext, facts: ManagerStartFacts, dir: string): Promise<string | { failure: string } | undefined> {
  if (!facts.rpcKeypairRequired) return undefined;
  const { path, text } = await currentConfig(ctx);
  const view = await settingView(ctx, 'manager', 'rpc-auth-manager-keypair', parsedNow(path, text));
  const set = view.effective;
  if (set && typeof set.value === 'string') {
    const file = resolve(dirname(resolve(path)), set.value);
    if (existsSync(file)) return file;
    // The manager merges etcd over the copy's manager.toml, so a key pair made here would not be the one it reads.
    if (set.where === 'etcd')
      return { failure: `${describePlace(set, 'manager')} names ${set.value}, which is not on this machine (looked for ${file}); the manager reads it over manager.toml and would not start` };
  }
  const args = ['mgr', 'generate-rpc-keypair', dir, 'manager'];
  requireSuccess(ctx.managerCli, args, await runManagerCli(ctx.managerCli, args));
  return join(dir, 'manager.key_secret');
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** "user_list 3, vfolder_list 0, …": the total_count of each list the query read. */
function counts(data: unknown): string {
  if (typeof data !== 'object' || data === null) return 'no data';
  return Object.entries(data as Record<string, { total_count?: number } | null>)
    .map(([name, value]) => `${name} ${value?.total_count ?? '?'}`)
    .join(', ');
}

/**
 * The log's errors: lines at ERROR or CRITICAL, and the exception that ends each traceback,
 * without the release's known harmless ones.
 */
export function loggedErrors(log: string, facts: ManagerStartFacts): string[] {
  const lines = log.split('\n');
  const errors: string[] = [];
  for (const [i, line] of lines.entries()) {
    // The copy's [logging] has the simple format: the level starts the line (a status named ERROR in a query's parameters does not).
    if (!/^(ERROR|CRITICAL) /.test(line)) continue;
    // The first exception of the traceback below the line, if any: Python prints a chain cause first.
    const next = lines.slice(i + 1, i + 200);
    const end = next.findIndex((l) => /^(ERROR|CRITICAL|WARNING|INFO|DEBUG) /.test(l));
    const raised = (end < 0 ? next : next.slice(0, end)).find((l) => /^[A-Za-z_][\w.]*(Error|Exception|Violation)\b.*?: /.test(l.trim()));
    const message = line.replace(/^(ERROR|CRITICAL) /, '').trim();
    const error = raised ? `${message} (${raised.trim()})` : message;
    if (!facts.harmlessLogErrors.some((h) => error.includes(h.text))) errors.push(error);
  }
  return errors.map((e) => (e.length > 400 ? `${e.slice(0, 400)}…` : e)).filter((e, i, all) => all.indexOf(e) === i);
}
