/**
 * 25.15 → 25.16. 25.16.0 adds three revisions on top of fa3dd7f77c19: de1032a11cca (vfs storages),
 * 09206ac04fd3 creates the global scope roles, d811b103dbfc (app configs)
 * (backend.ai@25.16.0:src/ai/backend/manager/models/alembic/versions/). Nothing is re-parented, so a
 * plain `alembic upgrade` skips nothing. 09206ac04fd3 is run here by 25.16.0 itself, which can.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { mergedConnections } from '../../steps/merged-connections.js';
import { schema } from '../../steps/schema/index.js';
import { mergedDistributedLock } from '../../steps/distributed-lock.js';
import type { HopDefinition } from '../hop.js';

export const hop: HopDefinition = { from: '25.15', to: '25.16', steps: [servicesStopped, mergedConnections, schema, mergedDistributedLock] };
