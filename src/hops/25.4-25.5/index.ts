/**
 * 25.4 → 25.5. 25.5.2 adds one revision on top of 25.4.0's head 70e0533aa49a: 683ca0a32f41
 * creates audit_logs
 * (backend.ai@25.5.2:src/ai/backend/manager/models/alembic/versions/683ca0a32f41_add_imageauditlogrow_table.py),
 * over no existing data. Nothing is re-parented: a plain `alembic upgrade` skips nothing. The hop
 * targets 25.5.2, the line's final patch. manager.toml gains `[manager] internal-addr`, optional
 * with a default (internal-addr); no key becomes required (backend.ai@25.5.2:src/ai/backend/manager/config.py),
 * and MIGRATION.md has no section for it.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { schema } from '../../steps/schema/index.js';
import type { HopDefinition } from '../hop.js';
import { internalAddr } from './internal-addr.js';

export const hop: HopDefinition = { from: '25.4', to: '25.5', steps: [servicesStopped, schema, internalAddr] };
