/**
 * 25.1 → 25.2. 25.2.0 puts two revisions on top of 25.1.1's head fb89f5d7817b: f6ca2f2d04c1 adds
 * the per-user container UID/GID columns (users.container_uid, container_main_gid,
 * container_gids; kernels.uid, main_gid, gids) and ecc9f6322be4 takes endpoints.image's foreign key
 * away behind a check constraint (backend.ai@25.2.0:src/ai/backend/manager/models/alembic/versions/).
 * Nothing is re-parented: a plain `alembic upgrade` skips nothing. ecc9f6322be4 is the head
 * 24.09.6–24.09.14 end at as well, with another history under it: where bai-migrate finds a
 * database there it tells the two apart by the schema (stores/schema.ts). No manager.toml key
 * becomes required (backend.ai@25.2.0:src/ai/backend/manager/config.py), and MIGRATION.md has no
 * section for it.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { schema } from '../../steps/schema/index.js';
import type { HopDefinition } from '../hop.js';
import { endpointImages, IMAGE_CHECK_REVISION, IMAGE_REQUIRED } from './endpoint-images.js';

export const hop: HopDefinition = {
  from: '25.1',
  to: '25.2',
  steps: [servicesStopped, endpointImages, schema],
  guards: [{ revision: IMAGE_CHECK_REVISION, step: endpointImages.id, hazard: `endpoints that are neither destroyed nor have an image, which its check constraint (${IMAGE_REQUIRED}) refuses` }],
};
