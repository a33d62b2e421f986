/**
 * 25.11 → 25.12. 25.12.1 adds four revisions on top of bf39b34717d4, all new RBAC tables and
 * audit_logs.user_id: 60bcbf00a96e, a5ef73b01e97, ed84197be4fe, 643deb439458
 * (backend.ai@25.12.1:src/ai/backend/manager/models/alembic/versions/). Nothing is re-parented, so
 * a plain `alembic upgrade` skips nothing; no manager.toml key becomes required.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { mergedConnections } from '../../steps/merged-connections.js';
import { schema } from '../../steps/schema/index.js';
import { mergedDistributedLock } from '../../steps/distributed-lock.js';
import type { HopDefinition } from '../hop.js';

export const hop: HopDefinition = { from: '25.11', to: '25.12', steps: [servicesStopped, mergedConnections, schema, mergedDistributedLock] };
