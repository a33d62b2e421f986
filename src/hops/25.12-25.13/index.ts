/**
 * 25.12 → 25.13. 25.13.4 adds thirteen revisions on top of 643deb439458 (the RBAC redesign
 * 28fecac94e67, artifacts and object storages, fb01c44db0d6 endpoints and routings for the sokovan
 * scheduler, 4db74efaf82e designated agent ids)
 * (backend.ai@25.13.4:src/ai/backend/manager/models/alembic/versions/). Nothing is re-parented, so a
 * plain `alembic upgrade` skips nothing. `[manager] use-sokovan` is new with a default (true).
 * Redis gains the container-log (DB 6, possibly an instance of its own) and background-task (DB 7)
 * roles, and TLS options: redis-instances names where each role goes and checks that it answers.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { mergedConnections } from '../../steps/merged-connections.js';
import { schema } from '../../steps/schema/index.js';
import { mergedDistributedLock } from '../../steps/distributed-lock.js';
import { redisInstances } from './redis-instances.js';
import type { HopDefinition } from '../hop.js';

export const hop: HopDefinition = { from: '25.12', to: '25.13', steps: [servicesStopped, mergedConnections, redisInstances, schema, mergedDistributedLock] };
