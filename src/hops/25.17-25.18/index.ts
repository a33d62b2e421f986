/**
 * 25.17 → 25.18. 25.18.1 adds b0fb0eb6b6bc, which widens container_registries.registry_name
 * (backend.ai@25.18.1:src/ai/backend/manager/models/alembic/versions/): no existing value can break
 * it. Nothing is re-parented, so a plain `alembic upgrade` skips nothing.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { mergedConnections } from '../../steps/merged-connections.js';
import { schema } from '../../steps/schema/index.js';
import { mergedDistributedLock } from '../../steps/distributed-lock.js';
import type { HopDefinition } from '../hop.js';

export const hop: HopDefinition = { from: '25.17', to: '25.18', steps: [servicesStopped, mergedConnections, schema, mergedDistributedLock] };
