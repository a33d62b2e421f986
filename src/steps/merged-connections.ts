/**
 * A step kind: the database and the Redis the target's manager will use, where the target reads
 * its configuration merged with etcd (25.8+, releases/merged-config.ts). bai-migrate reaches
 * PostgreSQL through manager.toml's [db] (or postgres-url) and Redis through etcd's config/redis/
 * (or redis-url), as every release before 25.8 finds them. From 25.8 an etcd key under config/db/,
 * ai/backend/config/common/ or ai/backend/config/manager/ (later wins) can send the manager to
 * other servers: bai-migrate would then migrate a database the manager does not use, and look for
 * running services on a Redis it does not use. Preflight compares each address, name and
 * credential the manager reads with the one bai-migrate uses, and refuses on a difference, naming
 * both places. It only reads.
 */
import { isTable, type TomlValue } from '../manager/toml.js';
import type { PostgresTarget, RedisTarget } from '../stores/connections.js';
import { describePlace, settingView, shadowed, showValue, type SettingPlace } from './merged-config.js';
import { failed, ok, type Step, type StepContext } from './step.js';

/** One key the manager reads, and what bai-migrate uses for it (undefined: bai-migrate has none to compare). */
interface Compared {
  readonly table: 'db' | 'redis';
  readonly key: string;
  readonly used: string | undefined;
  /** Where bai-migrate took it from, for messages. */
  readonly usedFrom: string;
  readonly secret: boolean;
}

/** `host:port` of an address as manager.toml or etcd gives it: a string, or a table of host and port. */
function addressText(value: TomlValue | string): string | undefined {
  if (typeof value === 'string') return value;
  if (isTable(value) && value.host !== undefined) return `${String(value.host)}:${String(value.port ?? '')}`;
  return undefined;
}

const valueText = (place: SettingPlace, key: string): string | undefined => (key === 'addr' ? addressText(place.value) : String(place.value));

function databaseKeys(pg: PostgresTarget): Compared[] {
  const from = pg.source;
  return [
    { table: 'db', key: 'addr', used: `${pg.host}:${pg.port}`, usedFrom: from, secret: false },
    { table: 'db', key: 'name', used: pg.database, usedFrom: from, secret: false },
    { table: 'db', key: 'user', used: pg.user, usedFrom: from, secret: false },
    { table: 'db', key: 'password', used: pg.password ?? '', usedFrom: from, secret: true },
  ];
}

function redisKeys(redis: RedisTarget | undefined): Compared[] {
  // Sentinels are compared by the instance they lead to elsewhere (redis-instances); a plain server by its address here.
  if (!redis || redis.kind !== 'server') return [];
  return [
    { table: 'redis', key: 'addr', used: `${redis.host}:${redis.port}`, usedFrom: redis.source, secret: false },
    { table: 'redis', key: 'password', used: redis.password ?? '', usedFrom: redis.source, secret: true },
  ];
}

async function compare(ctx: StepContext, item: Compared): Promise<{ problem?: string; note?: string }> {
  const view = await settingView(ctx, item.table, item.key);
  const effective = view.effective;
  const name = `[${item.table}] ${item.key}`;
  if (!effective) return {};
  const read = valueText(effective, item.key);
  const show = (value: string | undefined) => (item.secret ? 'a password' : showValue(value));
  if (read !== undefined && item.used !== undefined && read !== item.used) {
    return {
      problem: `${name}: the ${ctx.hop.to.version} manager reads ${show(read)} from ${describePlace(effective, item.table)}, but bai-migrate uses ${item.secret ? 'another' : show(item.used)} from ${item.usedFrom}`,
    };
  }
  const hidden = shadowed(view);
  return hidden.length > 0 ? { note: `${name} in ${hidden.map((p) => describePlace(p, item.table)).join(', ')} is shadowed by ${describePlace(effective, item.table)}` } : {};
}

export const mergedConnections: Step = {
  id: 'merged-connections',
  title: 'The database and Redis the manager reads from manager.toml merged with etcd',
  kind: 'check',
  action:
    "Compares the database (address, name, user, password) and the Redis (address, password) the target's manager reads from manager.toml merged with etcd's config/, ai/backend/config/common/ and ai/backend/config/manager/ with the ones bai-migrate uses, and refuses on a difference, naming both places.",
  servers: ['postgres', 'etcd', 'redis'],
  async preflight(ctx) {
    const pg = ctx.deployment.targets.postgres;
    const items = [...(pg ? databaseKeys(pg) : []), ...redisKeys(ctx.deployment.redisInUse)];
    const problems: string[] = [];
    const notes: string[] = [];
    for (const item of items) {
      const { problem, note } = await compare(ctx, item);
      if (problem) problems.push(problem);
      if (note) notes.push(note);
    }
    if (problems.length > 0) {
      return [
        failed(
          `${problems.join('; ')}. The manager would use other servers than the ones bai-migrate migrates and checks: make manager.toml, etcd and bai-migrate's inputs name the same ones (etcd's later keys win for the manager)`,
        ),
      ];
    }
    return [ok(`the ${ctx.hop.to.version} manager reads the same database and Redis bai-migrate uses${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`)];
  },
};
