/**
 * What the manager keeps in Redis, per release: its roles (backend.ai@25.13.4 wheel
 * ai/backend/common/defs.py, RedisRole and the REDIS_*_DB numbers), each on a logical database of
 * the instance the role is configured on. From 25.4.0 `redis.override_configs.<role>` may put a
 * role on an instance of its own (ai/backend/common/configs/redis.py, RedisConfig), e.g. the
 * container logs of 25.13; from 25.13.0 a Redis target may ask for TLS (`use_tls`,
 * `tls_skip_verify`, the same file).
 */
import { compareReleases, findRelease, type Release } from './releases.js';

export interface RedisRole {
  /** The manager's name for it, as override_configs keys it. */
  readonly role: string;
  readonly db: number;
  /** The first release that uses it. */
  readonly since: string;
  readonly holds: string;
}

export const REDIS_ROLES: readonly RedisRole[] = [
  { role: 'statistics', db: 0, since: '21.03.0', holds: 'kernel statistics and keypair concurrency' },
  { role: 'rate_limit', db: 1, since: '21.03.0', holds: 'API rate limits' },
  { role: 'live', db: 2, since: '21.03.0', holds: 'live status of agents and sessions' },
  { role: 'image', db: 3, since: '21.03.0', holds: 'which agent has which image' },
  { role: 'stream', db: 4, since: '21.03.0', holds: 'the events stream (agent heartbeats)' },
  { role: 'stream_lock', db: 5, since: '22.09.0', holds: 'stream and redlock locks' },
  { role: 'container_log', db: 6, since: '25.13.0', holds: 'container logs queued by agents' },
  { role: 'bgtask', db: 7, since: '25.13.0', holds: 'background tasks' },
];

/** The first release that reads `redis.override_configs` (CHANGELOG 25.4.0, "Split redis config for each connection pool"). */
export const REDIS_OVERRIDES_SINCE = '25.4.0';
/** The first release whose Redis targets take `use_tls` and `tls_skip_verify` (backend.ai@25.13.4 sample.toml). */
export const REDIS_TLS_SINCE = '25.13.0';

function atLeast(release: Release, version: string): boolean {
  return compareReleases(release, findRelease(version)!) >= 0;
}

/** What `release`'s manager keeps in Redis and whether it reads per-role instances and TLS. */
export function redisLayoutOf(release: Release): { roles: readonly RedisRole[]; overrides: boolean; tls: boolean } {
  return {
    roles: REDIS_ROLES.filter((r) => atLeast(release, r.since)),
    overrides: atLeast(release, REDIS_OVERRIDES_SINCE),
    tls: atLeast(release, REDIS_TLS_SINCE),
  };
}
