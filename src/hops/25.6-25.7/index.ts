/**
 * 25.6 → 25.7. 25.7.0, the line's only release, has 25.6.17's head c7fedaca4883: no revision to
 * run, and nothing for a plain `alembic upgrade` to skip (backend.ai@25.7.0:src/ai/backend/manager/
 * models/alembic/versions/). 25.7.0 was tagged on 2025-04-28, before 25.6.1–25.6.17: fixes made in
 * late 25.6 patches may be missing from it, which is code, not schema. Its config loader is 25.6's:
 * `[manager] distributed-lock = "etcetra"` is still refused (backend.ai@25.7.0:src/ai/backend/manager/config.py).
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { schema } from '../../steps/schema/index.js';
import { distributedLockSetting } from '../../steps/distributed-lock.js';
import type { HopDefinition } from '../hop.js';

const distributedLock = distributedLockSetting(
  "25.7's loader refuses etcetra as 25.6's does (value doesn't match any variant); 25.7 reads the lock backend from manager.toml only",
  'Refuses [manager] distributed-lock = "etcetra" in manager.toml, which 25.7 does not accept, unless lock-backend is set; with lock-backend, writes that value there, keeping its comments and layout.',
);

export const hop: HopDefinition = { from: '25.6', to: '25.7', steps: [servicesStopped, schema, distributedLock] };
