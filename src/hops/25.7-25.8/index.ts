/**
 * 25.7 → 25.8. 25.8.1 adds two revisions on top of c7fedaca4883: 42998e8c8bb4 adds kernels'
 * last_seen and 17ea44123131 creates event_logs
 * (backend.ai@25.8.1:src/ai/backend/manager/models/alembic/versions/), over no data a revision
 * could stop on; nothing is re-parented, so a plain `alembic upgrade` skips nothing.
 *
 * The manager's configuration becomes a pydantic model read from the merge of manager.toml and etcd
 * (`config/`, `ai/backend/config/common`, `ai/backend/config/manager`; later wins)
 * (backend.ai@25.8.1:src/ai/backend/manager/config/unified.py, config/loader/). `etcetra` passes its
 * validation again, but the lock factory refuses it when the manager starts
 * (`ValueError: Invalid lock backend: etcetra`).
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { schema } from '../../steps/schema/index.js';
import { distributedLockSetting } from '../../steps/distributed-lock.js';
import type { HopDefinition } from '../hop.js';

const distributedLock = distributedLockSetting(
  '25.8 validates etcetra but its lock factory refuses it at startup (Invalid lock backend: etcetra)',
  'Refuses [manager] distributed-lock = "etcetra" in manager.toml, with which 25.8\'s manager does not start, unless lock-backend is set; with lock-backend, writes that value there, keeping its comments and layout.',
);

export const hop: HopDefinition = { from: '25.7', to: '25.8', steps: [servicesStopped, schema, distributedLock] };
