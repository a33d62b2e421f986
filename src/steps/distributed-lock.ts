/**
 * A step kind: `[manager] distributed-lock`, set by the lock-backend input and judged against the
 * hop's target release (a config-setting): in manager.toml, and from 25.8 also in the etcd keys
 * the target merges over it (releases/merged-config.ts), each judged and, with lock-backend,
 * rewritten where it is set. Which values each release accepts, and which of those its manager
 * starts with, is release data (releases/lock-backends.ts); `why` says what the hop changes about it.
 */
import { lockBackendProblem, LOCK_BACKENDS, type LockBackend } from '../releases/lock-backends.js';
import { configSetting } from './config-setting.js';
import type { Step } from './step.js';

const WRITES = 'Writes the chosen lock backend to [manager] distributed-lock in manager.toml, keeping its comments and layout.';

/** The title and action of the step on hops whose target merges etcd over manager.toml (25.8+). */
export const MERGED_LOCK_TITLE = '[manager] distributed-lock in manager.toml and etcd';
export const MERGED_LOCK_ACTION =
  "Refuses the lock backend etcetra, with which the target's manager does not start, wherever the target reads it (manager.toml, etcd's config/manager/distributed-lock, ai/backend/config/common/manager/… and ai/backend/config/manager/manager/…, kebab or snake name), naming each place and any file value etcd shadows, unless lock-backend is set; with lock-backend, writes that value at every place that sets it (or in manager.toml where none does).";

/** `action`, for the plan, when the hop does more than write the input's value (the default); `title` where the target reads more than manager.toml. */
export function distributedLockSetting(why: string, action = WRITES, title = '[manager] distributed-lock in manager.toml'): Step {
  return configSetting({
    id: 'distributed-lock',
    title,
    action,
    table: 'manager',
    key: 'distributed-lock',
    input: 'lock-backend',
    value: (ctx) => ctx.settings.lockBackend,
    unsetStatus: 'ok',
    why,
    problem: (value, ctx) =>
      typeof value === 'string' && (LOCK_BACKENDS as readonly string[]).includes(value)
        ? lockBackendProblem(value as LockBackend, ctx.hop.to)
        : `lock-backend ${JSON.stringify(value)} is not a lock backend any Backend.AI release knows`,
  });
}

/**
 * The step on every hop whose target merges etcd over manager.toml and refuses etcetra at startup,
 * as each from 25.8 does (releases/merged-config.ts, releases/lock-backends.ts): a deployment on
 * such a line may still hold etcetra where its manager ignores it until the next start.
 */
export const mergedDistributedLock = distributedLockSetting(
  "the target's lock factory refuses etcetra at startup (Invalid lock backend: etcetra), and its configuration is manager.toml merged with etcd's config/, ai/backend/config/common/ and ai/backend/config/manager/ (later wins)",
  MERGED_LOCK_ACTION,
  MERGED_LOCK_TITLE,
);
