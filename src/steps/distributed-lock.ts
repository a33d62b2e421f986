/**
 * A step kind: `[manager] distributed-lock` in manager.toml, set by the lock-backend input and
 * judged against the hop's target release (a config-setting). Which values each release accepts,
 * and which of those its manager starts with, is release data (releases/lock-backends.ts); `why`
 * says what the hop changes about it.
 */
import { lockBackendProblem, LOCK_BACKENDS, type LockBackend } from '../releases/lock-backends.js';
import { configSetting } from './config-setting.js';
import type { Step } from './step.js';

const WRITES = 'Writes the chosen lock backend to [manager] distributed-lock in manager.toml, keeping its comments and layout.';

/** `action`, for the plan, when the hop does more than write the input's value (the default). */
export function distributedLockSetting(why: string, action = WRITES): Step {
  return configSetting({
    id: 'distributed-lock',
    title: '[manager] distributed-lock in manager.toml',
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
