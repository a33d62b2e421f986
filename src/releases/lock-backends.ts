/**
 * `[manager] distributed-lock` per release: which values the manager's config accepts, and which
 * of those the manager can then start with (a value may pass validation and still fail at startup).
 * Sources: MGR@22.03.3 and BA@<since>:src/ai/backend/manager/config.py and server.py; from 25.8.0
 * BA@25.8.0:src/ai/backend/manager/config/unified.py (DistributedLockType) and the lock factory.
 */
import { compareReleases, findRelease, type Release } from './releases.js';

/** Every value any release accepts: the lock-backend input takes these, each hop judges its target. */
export const LOCK_BACKENDS = ['filelock', 'pg_advisory', 'etcd', 'redlock', 'etcetra'] as const;
export type LockBackend = (typeof LOCK_BACKENDS)[number];

interface LockBackendFacts {
  readonly since: string;
  /** Values that start a manager of this release. */
  readonly works: readonly LockBackend[];
  /** Values that do not, with what happens (in the manager's own terms) where that helps. */
  readonly fails: Readonly<Partial<Record<LockBackend, string>>>;
}

const FOUR: readonly LockBackend[] = ['filelock', 'pg_advisory', 'etcd', 'redlock'];

/** Each entry holds until the next one's release; oldest first. */
const FACTS: readonly LockBackendFacts[] = [
  // 22.03 validates redlock but its factory raises NotImplementedError ("Redlock on aioredis v2 is not supported yet").
  { since: '22.03.0', works: ['filelock', 'pg_advisory', 'etcd'], fails: { redlock: '', etcetra: 'not a value its config accepts' } },
  // BA#468 brought redlock (redis-py); BA#2079 brought etcetra back in 24.03.3.
  { since: '22.09.0', works: FOUR, fails: { etcetra: 'not a value its config accepts' } },
  { since: '24.03.3', works: [...FOUR, 'etcetra'], fails: {} },
  // BA#4152 retired etcetra: 25.6–25.7 reject it in validation; from 25.8 the enum accepts it, the factory raises ValueError.
  { since: '25.6.0', works: FOUR, fails: { etcetra: 'retired: its config validation rejects it' } },
  { since: '25.8.0', works: FOUR, fails: { etcetra: 'its config accepts it, but the manager refuses to start: "Invalid lock backend: etcetra"' } },
];

/** undefined before 22.03, which has no distributed-lock setting. */
function factsOf(release: Release): LockBackendFacts | undefined {
  return FACTS.filter((f) => compareReleases(findRelease(f.since)!, release) <= 0).at(-1);
}

/** Why `value` cannot be the lock backend of `release`, or undefined when it can. */
export function lockBackendProblem(value: LockBackend, release: Release): string | undefined {
  const facts = factsOf(release);
  if (!facts) return `Backend.AI ${release.line} has no [manager] distributed-lock setting (it came with 22.03)`;
  if (facts.works.includes(value)) return undefined;
  const detail = facts.fails[value];
  return `lock-backend "${value}" is not supported by Backend.AI ${release.line}${detail ? ` (${detail})` : ''}; accepted: ${facts.works.join(', ')}`;
}
