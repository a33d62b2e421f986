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
 * (`ValueError: Invalid lock backend: etcetra`). The lock backend is read from that merge
 * (backend.ai@25.8.1:src/ai/backend/manager/server.py, init_lock_factory), so the step judges
 * manager.toml and etcd's keys alike and rewrites the value where it is set.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { mergedConnections } from '../../steps/merged-connections.js';
import { schema } from '../../steps/schema/index.js';
import { distributedLockSetting, MERGED_LOCK_ACTION, MERGED_LOCK_TITLE } from '../../steps/distributed-lock.js';
import type { HopDefinition } from '../hop.js';

const distributedLock = distributedLockSetting(
  "25.8 validates etcetra but its lock factory refuses it at startup (Invalid lock backend: etcetra); from 25.8 etcd's config/manager/ and ai/backend/config/manager/manager/ override manager.toml",
  MERGED_LOCK_ACTION,
  MERGED_LOCK_TITLE,
);

export const hop: HopDefinition = { from: '25.7', to: '25.8', steps: [servicesStopped, mergedConnections, schema, distributedLock] };
