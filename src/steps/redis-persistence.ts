/**
 * 22.03 keeps keypair concurrency and kernel stats only in Redis, so Redis must persist (AOF).
 * Persisting the setting needs CONFIG SET and CONFIG REWRITE, which need a config file and an
 * unrestricted CONFIG command; managed Redis services often have neither.
 */
import { messageOf } from '../engine/errors.js';
import { REDIS_DB } from '../engine/deployment.js';
import { failed, ok, type Finding, type Step, type StepContext } from './step.js';

export const redisPersistence: Step = {
  id: 'redis-persistence',
  title: 'Redis persistence (AOF)',
  kind: 'change',
  action: 'Turns on appendonly (CONFIG SET, then CONFIG REWRITE so it survives a restart) and waits for the AOF rewrite.',
  servers: ['redis'],

  async preflight(ctx) {
    const redis = await ctx.deployment.redis(REDIS_DB.stat);
    let appendonly: string;
    let dir: string;
    try {
      appendonly = await configGet(ctx, 'appendonly');
      dir = await configGet(ctx, 'dir');
    } catch (error) {
      return [
        failed(
          `Redis refused CONFIG GET (${messageOf(error)}): CONFIG is disabled or renamed, as on managed Redis. Enable AOF persistence (appendonly yes) in the service's own settings`,
        ),
      ];
    }
    const configFile = /config_file:(.*)/.exec(await redis.info('server'))?.[1]?.trim() ?? '';
    const findings: Finding[] = [];
    findings.push(
      configFile
        ? ok(`Redis runs from ${configFile}, so CONFIG REWRITE can persist the setting`)
        : failed('Redis runs without a config file, so CONFIG REWRITE cannot make appendonly survive a restart: start redis-server with a config file, or add --appendonly yes to its command line'),
    );
    findings.push(ok(appendonly === 'yes' ? `appendonly is already yes; data directory ${dir}` : `appendonly is ${appendonly}; data directory ${dir}`));
    return findings;
  },

  async verify(ctx) {
    const appendonly = await configGet(ctx, 'appendonly');
    const info = await (await ctx.deployment.redis(REDIS_DB.stat)).info('persistence');
    const aofEnabled = /aof_enabled:1/.test(info);
    return [
      appendonly === 'yes' && aofEnabled
        ? ok(`appendonly is yes and AOF is enabled; data directory ${await configGet(ctx, 'dir')}`)
        : failed(`appendonly is ${appendonly} (aof_enabled:${aofEnabled ? 1 : 0}); expected yes`),
    ];
  },
};

async function configGet(ctx: StepContext, name: string): Promise<string> {
  const redis = await ctx.deployment.redis(REDIS_DB.stat);
  const [, value] = (await redis.config('GET', name)) as string[];
  return value ?? '';
}
