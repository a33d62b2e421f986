/**
 * The guide's first rule: migrate only while every manager and agent is stopped.
 * Signals (reference §7): managers deregister from etcd nodes/manager/ on a clean stop; agents
 * XADD a heartbeat to the Redis `events` stream every 3 s even with no manager running; live
 * kernels mean containers still run. agents.status is written by managers, so it goes stale
 * once they stop: it is shown, not trusted.
 */
import { REDIS_DB } from '../engine/deployment.js';
import { failed, ok, warning, type Finding, type Step, type StepContext } from './step.js';

const HEARTBEAT_WINDOW_MS = 60_000;

export const servicesStopped: Step = {
  id: 'services-stopped',
  title: 'Managers and agents are stopped',
  kind: 'check',
  action: 'Checks that no manager is registered in etcd, no agent sends heartbeats and no kernel is alive; changes nothing.',
  servers: ['postgres', 'etcd', 'redis'],
  tables: ['kernels', 'agents'],

  async preflight(ctx: StepContext): Promise<Finding[]> {
    const findings = [await registeredManagers(ctx), await liveKernels(ctx), await agentHeartbeat(ctx)];
    const unsafe = findings.filter((f) => f.status === 'failed');
    const result = ctx.options.allowRunningServices
      ? findings.map((f) => (f.status === 'failed' ? warning(`${f.detail} (allowed by allow-running-services)`) : f))
      : findings;
    if (unsafe.length === 0) result.push(await aliveAgentRows(ctx));
    return result;
  },
};

async function registeredManagers({ deployment }: StepContext): Promise<Finding> {
  const keys = Object.keys(await deployment.etcdPrefix('nodes/manager/'));
  if (keys.length === 0) return ok('no manager is registered under etcd nodes/manager/');
  const ids = keys.map((k) => k.replace(/^nodes\/manager\//, ''));
  return failed(
    `${ids.length} manager(s) registered in etcd nodes/manager/: ${ids.join(', ')}. Stop them; a key left by a crashed manager must be deleted by hand (etcdctl del /sorna/${deployment.namespace}/nodes/manager/<id>)`,
  );
}

async function liveKernels({ deployment }: StepContext): Promise<Finding> {
  const { rows } = await deployment.postgres.query<{ live: string | null }>(
    `SELECT CASE WHEN to_regclass('kernels') IS NULL THEN NULL
            ELSE (SELECT count(*) FROM kernels WHERE status::text NOT IN ('TERMINATED', 'CANCELLED')) END AS live`,
  );
  const live = rows[0]?.live;
  if (live === null || live === undefined) return warning('the database has no kernels table; cannot check for live kernels');
  if (Number(live) === 0) return ok('no live kernels (every kernel is TERMINATED or CANCELLED)');
  return failed(`${live} kernel(s) are not TERMINATED or CANCELLED: terminate the sessions (or wait for them) before migrating`);
}

async function agentHeartbeat({ deployment }: StepContext): Promise<Finding> {
  const redis = await deployment.redis(REDIS_DB.stream);
  const [latest] = (await redis.xrevrange('events', '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
  if (!latest) return ok('no events in the Redis events stream (DB 4): no agent heartbeat');
  // Compare with Redis's own clock: entry ids are its milliseconds, and this runner's clock may differ.
  const [seconds, micros] = await redis.time();
  const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const ageMs = nowMs - Number(latest[0].split('-')[0]);
  const age = `${Math.round(ageMs / 1000)} s ago`;
  if (ageMs < HEARTBEAT_WINDOW_MS) {
    return failed(`the newest event in the Redis events stream (DB 4) is ${age}: an agent is still running (agents send heartbeats every 3 s); stop every agent`);
  }
  return ok(`the newest event in the Redis events stream (DB 4) is ${age}: no agent heartbeat in the last minute`);
}

async function aliveAgentRows({ deployment }: StepContext): Promise<Finding> {
  const { rows } = await deployment.postgres.query<{ alive: string | null }>(
    `SELECT CASE WHEN to_regclass('agents') IS NULL THEN NULL
            ELSE (SELECT count(*) FROM agents WHERE status::text = 'ALIVE') END AS alive`,
  );
  const alive = Number(rows[0]?.alive ?? 0);
  if (alive === 0) return ok('no agent row is ALIVE in PostgreSQL');
  return warning(
    `${alive} agent row(s) say ALIVE in PostgreSQL; managers write this status and leave it stale when they stop first, so with no heartbeat above it is not trusted`,
  );
}
