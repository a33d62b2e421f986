/**
 * 25.9 → 25.10. 25.10.1 keeps head 17ea44123131: no revision to run, nothing to skip
 * (backend.ai@25.10.1:src/ai/backend/manager/models/alembic/versions/); its env.py also imports
 * models.event_log. No manager.toml key becomes required.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { mergedConnections } from '../../steps/merged-connections.js';
import { schema } from '../../steps/schema/index.js';
import { mergedDistributedLock } from '../../steps/distributed-lock.js';
import type { HopDefinition } from '../hop.js';

export const hop: HopDefinition = { from: '25.9', to: '25.10', steps: [servicesStopped, mergedConnections, schema, mergedDistributedLock] };
