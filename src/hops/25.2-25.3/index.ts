/**
 * 25.2 → 25.3. 25.3.3 adds one revision on top of 25.2.0's head ecc9f6322be4: 8f85e9d0bd4e
 * creates association_container_registries_groups
 * (backend.ai@25.3.3:src/ai/backend/manager/models/alembic/versions/8f85e9d0bd4e_add_association_containerregistries_.py).
 * Nothing is re-parented: a plain `alembic upgrade` skips nothing. The hop targets 25.3.3, whose
 * scripts carry the later fixes. manager.toml gains optional lock lifetimes
 * (`session_schedule_lock_lifetime` and two more, 25.3.3) and aiomonitor's default ports move
 * (aiomonitor-ports); no key becomes required (backend.ai@25.3.3:src/ai/backend/manager/config.py),
 * and MIGRATION.md has no section for it.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { schema } from '../../steps/schema/index.js';
import type { HopDefinition } from '../hop.js';
import { aiomonitorPorts } from './aiomonitor-ports.js';

export const hop: HopDefinition = { from: '25.2', to: '25.3', steps: [servicesStopped, schema, aiomonitorPorts] };
