/**
 * 25.18 → 25.19. 25.19.2 adds twelve revisions on top of b0fb0eb6b6bc: deployment revisions and
 * policies, scheduling history, a4289ef5f0cd drops ix_sessions_unique_name_nonterminal (only
 * loosens), and RBAC data migrations for notifications, artifacts, artifact registries, app configs
 * and model deployments (backend.ai@25.19.2:src/ai/backend/manager/models/alembic/versions/). One
 * id is not hex (6f8a4c0d2e3g). Nothing is re-parented, so a plain `alembic upgrade` skips nothing.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { mergedConnections } from '../../steps/merged-connections.js';
import { schema } from '../../steps/schema/index.js';
import { mergedDistributedLock } from '../../steps/distributed-lock.js';
import type { HopDefinition } from '../hop.js';

export const hop: HopDefinition = { from: '25.18', to: '25.19', steps: [servicesStopped, mergedConnections, schema, mergedDistributedLock] };
