/**
 * 25.13 → 25.14. 25.14.5 adds ten revisions on top of 4db74efaf82e, among them the RBAC data
 * migrations a4d56e86d9ee (users), 430b1631804d (projects), 5b171528a6f5 (vfolders) and
 * e43125b98bba (domains), Python loops whose time grows with those rows
 * (backend.ai@25.14.5:src/ai/backend/manager/models/alembic/versions/; releases/heavy-revisions.ts).
 * The hop targets 25.14.5, whose constraints are fixed (08c1867e266e). Nothing is re-parented, so a
 * plain `alembic upgrade` skips nothing.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { mergedConnections } from '../../steps/merged-connections.js';
import { schema } from '../../steps/schema/index.js';
import { mergedDistributedLock } from '../../steps/distributed-lock.js';
import type { HopDefinition } from '../hop.js';

export const hop: HopDefinition = { from: '25.13', to: '25.14', steps: [servicesStopped, mergedConnections, schema, mergedDistributedLock] };
