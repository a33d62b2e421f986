/**
 * 25.14 → 25.15. 25.15.12 adds three revisions on top of 08c1867e266e: 1f76b4c0f399 renames
 * object_storage_namespace to storage_namespace, 82f4d3dea750 changes the scope-entity association's
 * unique constraint, fa3dd7f77c19 adds artifact revisions' remote status
 * (backend.ai@25.15.12:src/ai/backend/manager/models/alembic/versions/). Nothing is re-parented, so a
 * plain `alembic upgrade` skips nothing.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { mergedConnections } from '../../steps/merged-connections.js';
import { schema } from '../../steps/schema/index.js';
import { mergedDistributedLock } from '../../steps/distributed-lock.js';
import type { HopDefinition } from '../hop.js';

export const hop: HopDefinition = { from: '25.14', to: '25.15', steps: [servicesStopped, mergedConnections, schema, mergedDistributedLock] };
