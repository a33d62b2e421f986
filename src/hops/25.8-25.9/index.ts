/**
 * 25.8 → 25.9. 25.9.1 keeps 25.8.1's head 17ea44123131: no revision to run, nothing to skip
 * (backend.ai@25.9.1:src/ai/backend/manager/models/alembic/versions/). 25.9.1 adds Redis-based
 * service discovery, which needs no setting; no manager.toml key becomes required.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { mergedConnections } from '../../steps/merged-connections.js';
import { schema } from '../../steps/schema/index.js';
import { mergedDistributedLock } from '../../steps/distributed-lock.js';
import type { HopDefinition } from '../hop.js';

export const hop: HopDefinition = { from: '25.8', to: '25.9', steps: [servicesStopped, mergedConnections, schema, mergedDistributedLock] };
