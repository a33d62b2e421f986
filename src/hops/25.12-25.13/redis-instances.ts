/**
 * 25.13 keeps two more roles in Redis: container logs queued by agents (`container_log`, DB 6) and
 * background tasks (`bgtask`, DB 7) (backend.ai@25.13.4 wheel ai/backend/common/defs.py), each on
 * the instance `redis.override_configs.<role>` names, else on the main one
 * (ai/backend/manager/server.py, redis_ctx; ai/backend/common/types.py, ValkeyProfileTarget). The
 * container logs are meant to go to an instance of their own where there is much of them. An
 * override whose key is no role of the release is ignored by the manager, so its role silently
 * stays on the main instance: named here. 25.13 also reads `use_tls` and `tls_skip_verify` for
 * each target, which bai-migrate's connections follow (stores/redis.ts).
 */
import { messageOf } from '../../core/errors.js';
import { redisLayoutOf } from '../../releases/redis-roles.js';
import { failed, ok, warning, type Finding, type Step, type StepContext } from '../../steps/step.js';

export const redisInstances: Step = {
  id: 'redis-instances',
  title: 'Redis instances of 25.13 (container logs, background tasks)',
  kind: 'check',
  action:
    'Names the Redis instance and database of every role the target release uses (container logs on DB 6 and background tasks on DB 7 are new), checks that each instance answers and says whether it persists (AOF); changes nothing.',
  servers: ['etcd', 'redis'],

  async preflight(ctx) {
    return check(ctx);
  },

  async verify(ctx) {
    return check(ctx);
  },
};

async function check(ctx: StepContext): Promise<Finding[]> {
  const layout = redisLayoutOf(ctx.hop.to);
  const known = new Set(layout.roles.map((r) => r.role));
  const findings: Finding[] = [];
  const instances = await ctx.deployment.redisInstances(layout.roles, layout.overrides);
  for (const instance of instances) {
    const roles = instance.roles.map((r) => `${r.role} (DB ${r.db})`).join(', ');
    try {
      const redis = await instance.client(instance.roles[0]!.db);
      await redis.ping();
      const appendonly = await redis
        .config('GET', 'appendonly')
        .then((reply) => (reply as string[])[1] ?? 'unknown')
        .catch(() => 'unknown (CONFIG is not available)');
      const where = instance.main ? `${instance.description}, the main instance` : `${instance.description}, its own instance (etcd config/redis/override_configs)`;
      findings.push(ok(`${where}: ${ctx.hop.to.version} keeps ${roles} there; it answers; appendonly is ${appendonly}`));
    } catch (error) {
      findings.push(
        failed(
          `${instance.description}, where ${ctx.hop.to.version} keeps ${roles}, cannot be reached: ${messageOf(error)}. The manager cannot start without it: start it, or fix its address in etcd config/redis`,
        ),
      );
    }
  }
  if (layout.overrides) {
    const unknown = Object.keys(await ctx.deployment.etcdPrefix('config/redis/'))
      .map((key) => /^config\/redis\/(?:override_configs|override-configs)\/([^/]+)\//.exec(key)?.[1])
      .filter((role): role is string => role !== undefined && !known.has(role));
    for (const role of [...new Set(unknown)]) {
      findings.push(
        warning(
          `etcd config/redis/override_configs/${role}/ names no role of ${ctx.hop.to.version}, so its manager ignores it; its roles are ${[...known].join(', ')} (a misspelt container_log leaves the container logs on the main instance)`,
        ),
      );
    }
  }
  return findings;
}
