/**
 * The guide's first rule: migrate only while every manager and agent is stopped.
 * Signals (backend.ai-manager@22.03.3:src/ai/backend/manager/config.py, register_myself; backend.ai@22.03.14:
 * src/ai/backend/agent/agent.py, heartbeat): managers deregister from etcd nodes/manager/ on a clean stop; agents
 * XADD a heartbeat to the Redis `events` stream every 3 s even with no manager running; live
 * kernels mean containers still run. agents.status is written by managers, so it goes stale
 * once they stop: it is shown, not trusted.
 */
import { messageOf } from '../core/errors.js';
import { redisLayoutOf } from '../releases/redis-roles.js';
import { REDIS_DB } from '../stores/deployment.js';
import { failed, ok, warning, type Finding, type Step, type StepContext } from './step.js';

const HEARTBEAT_WINDOW_MS = 60_000;
/** How many sessions, agents or managers a refusal names before "and N more". */
const NAMED = 5;

function andMore(total: number): string {
  return total > NAMED ? `, and ${total - NAMED} more` : '';
}

export const servicesStopped: Step = {
  id: 'services-stopped',
  title: 'Managers and agents are stopped',
  kind: 'check',
  action: 'Checks that no manager is registered in etcd, no agent sends heartbeats and no kernel is alive; changes nothing.',
  servers: ['postgres', 'etcd', 'redis'],
  tables: ['kernels', 'agents'],

  async preflight(ctx: StepContext): Promise<Finding[]> {
    const instances = await otherRedisInstances(ctx);
    const findings = [await registeredManagers(ctx), await liveKernels(ctx), await agentHeartbeat(ctx)];
    const unsafe = findings.filter((f) => f.status === 'failed');
    const result = ctx.settings.allowRunningServices ? findings.map((f) => (f.status === 'failed' ? warning(`${f.detail} (allowed by allow-running-services)`) : f)) : findings;
    if (unsafe.length === 0) result.push(await aliveAgentRows(ctx));
    return [...instances, ...result];
  },
};

async function registeredManagers({ deployment }: StepContext): Promise<Finding> {
  const keys = Object.keys(await deployment.etcdPrefix('nodes/manager/'));
  if (keys.length === 0) return ok('no manager is registered under etcd nodes/manager/');
  const ids = keys.map((k) => k.replace(/^nodes\/manager\//, ''));
  return failed(
    `${ids.length} manager(s) registered in etcd nodes/manager/: ${ids.slice(0, NAMED).join(', ')}${andMore(ids.length)}. Stop them; a key left by a crashed manager must be deleted by hand (etcdctl del /sorna/${deployment.namespace}/nodes/manager/<id>)`,
  );
}

async function liveKernels({ deployment }: StepContext): Promise<Finding> {
  const { rows: exists } = await deployment.postgres.query<{ present: boolean }>(`SELECT to_regclass('kernels') IS NOT NULL AS present`);
  if (!exists[0]?.present) return warning('the database has no kernels table; cannot check for live kernels');
  // to_jsonb(k) reads session_name where the schema has it, without failing where it does not.
  const { rows } = await deployment.postgres.query<{ session: string; name: string | null; access_key: string | null; statuses: string; kernels: string; sessions: string; total: string }>(
    `WITH live AS (SELECT k.session_id::text AS session, to_jsonb(k) ->> 'session_name' AS name, k.access_key, k.status::text AS status, k.created_at
                     FROM kernels k WHERE k.status::text NOT IN ('TERMINATED', 'CANCELLED')),
          sessions AS (SELECT session, max(name) AS name, max(access_key) AS access_key, string_agg(DISTINCT status, '/') AS statuses,
                              count(*) AS kernels, min(created_at) AS since
                         FROM live GROUP BY session)
     SELECT s.*, (SELECT count(*) FROM sessions) AS sessions, (SELECT count(*) FROM live) AS total
       FROM sessions s ORDER BY s.since NULLS LAST, s.session LIMIT ${NAMED}`,
  );
  if (rows.length === 0) return ok('no live kernels (every kernel is TERMINATED or CANCELLED)');
  const sessions = Number(rows[0]!.sessions);
  const named = rows.map((r) => `${r.name ? `"${r.name}" (${r.session})` : r.session} of ${r.access_key ?? 'no access key'}: ${r.statuses}${Number(r.kernels) > 1 ? `, ${r.kernels} kernels` : ''}`);
  return failed(`${sessions} session(s) with ${rows[0]!.total} kernel(s) are not TERMINATED or CANCELLED: ${named.join('; ')}${andMore(sessions)}. Terminate them (or wait for them) before migrating`);
}

/**
 * The instances besides the main one that the target release keeps roles on (redis.override_configs,
 * e.g. 25.13's container logs on an instance of their own): each must answer, or the manager cannot
 * start, and it is checked like the main one (agents write there too).
 */
async function otherRedisInstances({ deployment, hop }: StepContext): Promise<Finding[]> {
  const layout = redisLayoutOf(hop.to);
  const instances = (await deployment.redisInstances(layout.roles, layout.overrides)).filter((i) => !i.main);
  return Promise.all(
    instances.map(async (instance) => {
      const roles = instance.roles.map((r) => `${r.role} (DB ${r.db})`).join(', ');
      try {
        await (await instance.client(instance.roles[0]!.db)).ping();
        return ok(`${instance.description} answers; ${hop.to.version} keeps ${roles} there (etcd config/redis/override_configs)`);
      } catch (error) {
        return failed(
          `${instance.description}, where ${hop.to.version} keeps ${roles} (etcd config/redis/override_configs), cannot be reached: ${messageOf(error)}. The manager cannot start without it: start it, or fix or remove its override in etcd`,
        );
      }
    }),
  );
}

async function agentHeartbeat({ deployment, hop }: StepContext): Promise<Finding> {
  // The events stream is on the instance the target release keeps the stream role on.
  const redis = await deployment.redisOf('stream', REDIS_DB.stream, redisLayoutOf(hop.to).overrides);
  const [latest] = (await redis.xrevrange('events', '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
  if (!latest) return ok('no events in the Redis events stream (DB 4): no agent heartbeat');
  // Compare with Redis's own clock: entry ids are its milliseconds, and this runner's clock may differ.
  const [seconds, micros] = await redis.time();
  const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const ageMs = nowMs - Number(latest[0].split('-')[0]);
  const age = `${Math.round(ageMs / 1000)} s ago`;
  if (ageMs >= HEARTBEAT_WINDOW_MS) return ok(`the newest event in the Redis events stream (DB 4) is ${age}: no agent heartbeat in the last minute`);
  // Who sent the last minute's events: each names its source, the agent id for heartbeats.
  const recent = (await redis.xrevrange('events', '+', String(nowMs - HEARTBEAT_WINDOW_MS), 'COUNT', 10_000)) as Array<[string, string[]]>;
  const heartbeats = new Map<string, number>();
  const others = new Map<string, number>();
  for (const [id, fields] of recent) {
    const value = (name: string) => fields.find((_, i) => i % 2 === 1 && fields[i - 1] === name);
    const source = value('source') ?? '(no source)';
    const senders = value('name') === 'agent_heartbeat' ? heartbeats : others;
    if (!senders.has(source)) senders.set(source, Number(id.split('-')[0]));
  }
  const named = (senders: Map<string, number>) =>
    [...senders]
      .slice(0, NAMED)
      .map(([source, at]) => `${source} (${Math.round((nowMs - at) / 1000)} s ago)`)
      .join(', ') + andMore(senders.size);
  if (heartbeats.size > 0) {
    return failed(`${heartbeats.size} agent(s) sent heartbeats to the Redis events stream (DB 4) in the last minute: ${named(heartbeats)}; agents send one every 3 s: stop every agent`);
  }
  return failed(`the Redis events stream (DB 4) had events in the last minute (newest ${age}) from ${named(others)}: an agent or manager is still running; stop it`);
}

async function aliveAgentRows({ deployment }: StepContext): Promise<Finding> {
  const { rows: exists } = await deployment.postgres.query<{ present: boolean }>(`SELECT to_regclass('agents') IS NOT NULL AS present`);
  if (!exists[0]?.present) return ok('the database has no agents table');
  const { rows } = await deployment.postgres.query<{ id: string; alive: string }>(`SELECT id, count(*) OVER () AS alive FROM agents WHERE status::text = 'ALIVE' ORDER BY id LIMIT ${NAMED}`);
  if (rows.length === 0) return ok('no agent row is ALIVE in PostgreSQL');
  const alive = Number(rows[0]!.alive);
  return warning(
    `${alive} agent row(s) say ALIVE in PostgreSQL (${rows.map((r) => r.id).join(', ')}${andMore(alive)}); managers write this status and leave it stale when they stop first, so with no heartbeat above it is not trusted`,
  );
}
