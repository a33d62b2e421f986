/**
 * 25.5 → 25.6. 25.6.17 adds three revisions on top of 25.5.2's head 683ca0a32f41, all on
 * audit_logs (backend.ai@25.6.17:src/ai/backend/manager/models/alembic/versions/):
 * c4ea15b77136 creates the table where it is missing (a guard, a no-op after 683ca0a32f41),
 * 305e3ddc20a7 adds action_id (the all-zero UUID for existing rows) and lets duration be NULL,
 * c7fedaca4883 turns request_id into a string and makes entity_id nullable, setting the all-zero
 * placeholders to NULL. No 25.5 code writes audit_logs (only its revisions name the table,
 * backend.ai@25.5.2:src/ai/backend/manager/), so they run over an empty table and lose nothing;
 * nothing is re-parented, so a plain `alembic upgrade` skips nothing. The hop targets 25.6.17,
 * the line's final patch, on CPython 3.13.
 *
 * 25.6 retired the etcetra lock backend: its loader accepts only filelock, pg_advisory, redlock and
 * etcd for `[manager] distributed-lock` (backend.ai@25.6.17:src/ai/backend/manager/config.py), so a
 * manager.toml that still says etcetra stops the 25.6 manager before it starts. The lock backend is
 * read from manager.toml alone: the lock factory reads `local_config["manager"]["distributed-lock"]`
 * (backend.ai@25.6.17:src/ai/backend/manager/server.py, init_lock_factory) and no etcd key of 25.6
 * sets it (etcd's `config/manager/…` and `ai/backend/config/manager/…` are merged into the manager's
 * configuration only from 25.8, backend.ai@25.8.1:src/ai/backend/manager/config/loader/).
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { schema } from '../../steps/schema/index.js';
import { distributedLockSetting } from '../../steps/distributed-lock.js';
import type { HopDefinition } from '../hop.js';

const distributedLock = distributedLockSetting(
  "25.6 retired etcetra (its loader refuses it: value doesn't match any variant); 25.6 reads the lock backend from manager.toml only, not from etcd",
  'Refuses [manager] distributed-lock = "etcetra" in manager.toml, which 25.6 no longer accepts, unless lock-backend is set; with lock-backend, writes that value there, keeping its comments and layout.',
);

export const hop: HopDefinition = { from: '25.5', to: '25.6', steps: [servicesStopped, schema, distributedLock] };
