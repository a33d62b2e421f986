/**
 * 24.12 → 25.1. 25.1.1 adds two revisions on top of 24.12.1's head 0bb88d5a46bf: ef9a7960d234
 * widens vfolders.name from 64 to 128 characters (24.09.6's change, here in the 25.x graph) and
 * fb89f5d7817b creates endpoint_auto_scaling_rules
 * (backend.ai@25.1.1:src/ai/backend/manager/models/alembic/versions/). Neither graph re-parents
 * anything, so a plain `alembic upgrade` skips nothing. 25.1 adds only the optional [pyroscope]
 * table to manager.toml (backend.ai@25.1.1:src/ai/backend/manager/config.py) and MIGRATION.md has
 * no section for it. No 25.x manager misreads a server_version with a suffix
 * (releases/line-facts.ts), so the hop has no manager-connects check.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { schema } from '../../steps/schema/index.js';
import type { HopDefinition } from '../hop.js';

export const hop: HopDefinition = { from: '24.12', to: '25.1', steps: [servicesStopped, schema] };
