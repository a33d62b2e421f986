/**
 * 22.03 adds [manager] distributed-lock. The guide says the new default is etcd, but the code
 * defaults to pg_advisory from 22.03.2 on (MGR#592), so the value is written explicitly when the
 * operator chooses one. Which values work is release data (releases/lock-backends.ts).
 */
import { distributedLockSetting } from '../../steps/distributed-lock.js';

export const distributedLock = distributedLockSetting('the upgrade guide says the default is etcd, but the manager defaults to pg_advisory from 22.03.2 (etcd only in 22.03.0 and 22.03.1)');
