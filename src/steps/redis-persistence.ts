/**
 * 22.03 keeps keypair concurrency and kernel stats only in Redis, so Redis must persist (AOF).
 * Persisting the setting needs CONFIG SET and CONFIG REWRITE, which need a config file and an
 * unrestricted CONFIG command; managed Redis services often have neither.
 */
import { messageOf } from '../core/errors.js';
import { sleep } from '../core/time.js';
import { whileWaiting } from '../core/progress.js';
import type { Redis } from 'ioredis';
import { redisLayoutOf } from '../releases/redis-roles.js';
import { REDIS_DB, redisConfigFile } from '../stores/redis.js';
import { changed, failed, ok, skipped, type Finding, type Step, type StepContext } from './step.js';

const REWRITE_WAIT_MS = 120_000;

export const redisPersistence: Step = {
  id: 'redis-persistence',
  title: 'Redis persistence (AOF)',
  kind: 'change',
  action: 'Turns on appendonly (CONFIG SET, then CONFIG REWRITE so it survives a restart) and waits for the AOF rewrite.',
  servers: ['redis'],

  async preflight(ctx) {
    if (ctx.settings.redisPersistence === 'managed') {
      return each(ctx, async ({ redis }) => {
        const appendonly = await configGet(redis, 'appendonly').catch(() => 'unknown (CONFIG is not available)');
        return [skipped(`redis-persistence is managed: bai-migrate leaves persistence to the Redis service (appendonly is ${appendonly})`)];
      });
    }
    return each(ctx, async ({ redis }) => {
      let appendonly: string;
      let dir: string;
      try {
        appendonly = await configGet(redis, 'appendonly');
        dir = await configGet(redis, 'dir');
      } catch (error) {
        return [failed(`Redis refused CONFIG GET (${messageOf(error)}): CONFIG is disabled or renamed, as on managed Redis. Enable AOF persistence (appendonly yes) in the service's own settings`)];
      }
      const configFile = redisConfigFile(await redis.info('server'));
      return [
        configFile
          ? ok(`Redis runs from ${configFile}, so CONFIG REWRITE can persist the setting`)
          : failed('Redis runs without a config file, so CONFIG REWRITE cannot make appendonly survive a restart: start redis-server with a config file, or add --appendonly yes to its command line'),
        ok(appendonly === 'yes' ? `appendonly is already yes; data directory ${dir}` : `appendonly is ${appendonly}; data directory ${dir}`),
      ];
    });
  },

  async dryRun(ctx) {
    if (ctx.settings.redisPersistence === 'managed') return [skipped('managed elsewhere: nothing to change')];
    return each(ctx, async ({ redis }) => {
      const state = await persistenceState(redis);
      if (state.appendonly !== 'yes') return [ok('would set appendonly yes, wait for the AOF rewrite and persist it with CONFIG REWRITE')];
      if (!isDone(state)) return [ok(`appendonly is already yes; would write it to ${state.configFile || 'the config file'} once (CONFIG REWRITE): no earlier run did so for this Redis process`)];
      return [ok(`appendonly is already yes and was written to ${state.configFile} by an earlier run: nothing to do`)];
    });
  },

  async pending(ctx) {
    if (ctx.settings.redisPersistence === 'managed') return false;
    for (const { redis } of await instancesOf(ctx)) if (!isDone(await persistenceState(redis))) return true;
    return false;
  },

  async backup(ctx) {
    if (ctx.settings.redisPersistence === 'managed') return undefined;
    const saved = [];
    for (const { redis, prefix } of await instancesOf(ctx)) {
      const config: Record<string, string> = {};
      for (const name of ['appendonly', 'appendfsync', 'dir', 'dbfilename', 'appendfilename', 'save']) config[name] = await configGet(redis, name);
      const configFile = redisConfigFile(await redis.info('server'));
      saved.push({ ...(prefix && { instance: prefix.replace(/: $/, '') }), configFile, config });
    }
    return { name: 'redis-config.json', content: JSON.stringify(saved.length === 1 ? saved[0] : saved, null, 2) };
  },

  async apply(ctx) {
    if (ctx.settings.redisPersistence === 'managed') return skipped('managed elsewhere: nothing changed');
    const results: Finding[] = [];
    for (const { redis, prefix } of await instancesOf(ctx)) {
      const result = await applyOn(ctx, redis);
      results.push(prefix ? { ...result, detail: `${prefix}${result.detail}` } : result);
    }
    if (results.length === 1) return results[0]!;
    const status = results.some((r) => r.status === 'failed') ? 'failed' : results.some((r) => r.status === 'changed') ? 'changed' : 'ok';
    return { status, detail: results.map((r) => r.detail).join('; ') };
  },

  async verify(ctx) {
    if (ctx.settings.redisPersistence === 'managed') return [skipped('managed elsewhere')];
    return each(ctx, async ({ redis }) => {
      const appendonly = await configGet(redis, 'appendonly');
      const aofEnabled = /aof_enabled:1/.test(await redis.info('persistence'));
      return [
        appendonly === 'yes' && aofEnabled
          ? ok(`appendonly is yes and AOF is enabled; data directory ${await configGet(redis, 'dir')}`)
          : failed(`appendonly is ${appendonly} (aof_enabled:${aofEnabled ? 1 : 0}); expected yes`),
      ];
    });
  },
};

async function applyOn(ctx: StepContext, redis: Redis): Promise<Finding> {
  const state = await persistenceState(redis);
  if (isDone(state)) return ok(`appendonly is already yes and was written to ${state.configFile} by an earlier run: nothing to do`);
  const wasOn = state.appendonly === 'yes';
  if (!wasOn) await redis.config('SET', 'appendonly', 'yes');
  // Turning AOF on starts a rewrite that writes the first AOF; it must finish before Redis is durable.
  const deadline = Date.now() + REWRITE_WAIT_MS;
  const finished = await whileWaiting({ log: ctx.log, what: 'Redis to finish the AOF rewrite' }, async () => {
    while (/aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(await redis.info('persistence'))) {
      if (Date.now() > deadline) return false;
      await sleep(20); // The first AOF of a large DB takes seconds, of a small one milliseconds: poll often, the wait is downtime.
    }
    return true;
  });
  if (!finished) return failed(`the AOF rewrite did not finish within ${REWRITE_WAIT_MS / 1000} s; check the Redis log and disk space in ${await configGet(redis, 'dir')}`);
  await redis.config('REWRITE');
  await redis.set(REWRITTEN_KEY, JSON.stringify({ runId: state.runId, configFile: state.configFile, at: new Date().toISOString() }));
  return wasOn
    ? changed(`appendonly was already yes; written to the config file ${state.configFile} (CONFIG REWRITE) so that it survives a restart`)
    : changed(`appendonly yes, AOF written to ${await configGet(redis, 'dir')} and kept in the config file (CONFIG REWRITE)`);
}

async function configGet(redis: Redis, name: string): Promise<string> {
  const [, value] = (await redis.config('GET', name)) as string[];
  return value ?? '';
}

/** One instance the target release keeps roles on, with a client on its DB 0 and how findings name it. */
interface Instance {
  readonly redis: Redis;
  /** "" for the only instance (findings read as before), else "Redis at host:port (…): ". */
  readonly prefix: string;
}

/**
 * Every instance the target release keeps a role on: the main one, and each role's own
 * (redis.override_configs, e.g. 25.13's container logs), so that each is made to persist.
 */
async function instancesOf(ctx: StepContext): Promise<Instance[]> {
  const layout = redisLayoutOf(ctx.hop.to);
  const found = await ctx.deployment.redisInstances(layout.roles, layout.overrides);
  return Promise.all(
    found.map(async (i) => ({
      redis: await i.client(REDIS_DB.stat),
      prefix: found.length > 1 ? `${i.description} (${i.roles.map((r) => r.role).join(', ')}): ` : '',
    })),
  );
}

/** Runs `phase` on every instance, each finding named by its instance when there are several. */
async function each(ctx: StepContext, phase: (i: Instance) => Promise<Finding[]>): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const instance of await instancesOf(ctx)) {
    for (const f of await phase(instance)) findings.push(instance.prefix ? { ...f, detail: `${instance.prefix}${f.detail}` } : f);
  }
  return findings;
}

/**
 * Redis cannot say what its config file holds, and bai-migrate may not run on the Redis host to
 * read it; CONFIG REWRITE on every run is no answer either (Redis adds a blank line to the file each
 * time). So after its CONFIG REWRITE bai-migrate keeps this key in DB 0, naming the Redis process
 * (INFO server run_id) and its config file, and rewrites only when appendonly is not on yet or no
 * such key names the running process: a run killed between CONFIG SET and CONFIG REWRITE left no
 * key, and a restart, a failover or another config file change the process or the file, so that
 * file is rewritten once. appendonly turned on by hand (CONFIG SET alone) is thus also persisted.
 */
export const REWRITTEN_KEY = 'bai-migrate.redis-persistence.config-rewritten';

interface PersistenceState {
  appendonly: string;
  aofEnabled: boolean;
  runId: string;
  configFile: string;
  /** A rewrite by bai-migrate is recorded for this process and config file. */
  rewritten: boolean;
}

async function persistenceState(redis: Redis): Promise<PersistenceState> {
  const appendonly = await configGet(redis, 'appendonly');
  const aofEnabled = /aof_enabled:1/.test(await redis.info('persistence'));
  const server = await redis.info('server');
  const runId = /run_id:(\w+)/.exec(server)?.[1] ?? '';
  const configFile = redisConfigFile(server);
  let recorded: { runId?: unknown; configFile?: unknown } = {};
  try {
    recorded = JSON.parse((await redis.get(REWRITTEN_KEY)) ?? '{}');
  } catch {
    // Not ours to read: treated as no record, so the file is rewritten once more.
  }
  return { appendonly, aofEnabled, runId, configFile, rewritten: runId !== '' && recorded.runId === runId && recorded.configFile === configFile };
}

function isDone(state: PersistenceState): boolean {
  return state.appendonly === 'yes' && state.aofEnabled && state.rewritten;
}
