/**
 * 22.03 adds [manager] distributed-lock. The guide says the new default is etcd, but the code
 * defaults to pg_advisory from 22.03.2 on (MGR#592), so the value is written explicitly when the
 * operator chooses one. Which values work is release data (releases/lock-backends.ts).
 */
import { lockBackendProblem, LOCK_BACKENDS, type LockBackend } from '../../releases/lock-backends.js';
import { configSetting } from '../../steps/config-setting.js';

export const distributedLock = configSetting({
  id: 'distributed-lock',
  title: '[manager] distributed-lock in manager.toml',
  action: 'Writes the chosen lock backend to [manager] distributed-lock in manager.toml, keeping its comments and layout.',
  table: 'manager',
  key: 'distributed-lock',
  input: 'lock-backend',
  value: (ctx) => ctx.settings.lockBackend,
  unsetStatus: 'ok',
  why: 'the upgrade guide says the default is etcd, but the manager defaults to pg_advisory from 22.03.2 (etcd only in 22.03.0 and 22.03.1)',
  problem: (value, ctx) =>
    typeof value === 'string' && (LOCK_BACKENDS as readonly string[]).includes(value)
      ? lockBackendProblem(value as LockBackend, ctx.hop.to)
      : `lock-backend ${JSON.stringify(value)} is not a lock backend any Backend.AI release knows`,
});
