/**
 * 25.10 → 25.11. 25.11.4 adds two revisions on top of 17ea44123131: 01f0ed604819 sets empty
 * unmanaged_path values to NULL and bf39b34717d4 drops the foreign keys from kernels and sessions
 * to users and keypairs (backend.ai@25.11.4:src/ai/backend/manager/models/alembic/versions/);
 * neither can stop on existing rows, nothing is re-parented, a plain `alembic upgrade` skips
 * nothing. 25.11's valkey-glide imports sniffio without requiring it: the venv installs it too
 * (releases/manager-python.ts).
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { mergedConnections } from '../../steps/merged-connections.js';
import { schema } from '../../steps/schema/index.js';
import { mergedDistributedLock } from '../../steps/distributed-lock.js';
import type { HopDefinition } from '../hop.js';

export const hop: HopDefinition = { from: '25.10', to: '25.11', steps: [servicesStopped, mergedConnections, schema, mergedDistributedLock] };
