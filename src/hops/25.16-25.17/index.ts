/**
 * 25.16 → 25.17. 25.17.1 adds six revisions on top of d811b103dbfc: artifact digests, extras and
 * verification results, notification tables and the degraded route status
 * (backend.ai@25.17.1:src/ai/backend/manager/models/alembic/versions/). Nothing is re-parented, so a
 * plain `alembic upgrade` skips nothing.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { mergedConnections } from '../../steps/merged-connections.js';
import { schema } from '../../steps/schema/index.js';
import { mergedDistributedLock } from '../../steps/distributed-lock.js';
import type { HopDefinition } from '../hop.js';

export const hop: HopDefinition = { from: '25.16', to: '25.17', steps: [servicesStopped, mergedConnections, schema, mergedDistributedLock] };
