/**
 * 25.2's ecc9f6322be4 drops the foreign key endpoints.image → images, makes endpoints.image
 * nullable and adds the check constraint ck_image_required_unless_destroyed
 * (`lifecycle_stage = 'destroyed' OR image IS NOT NULL`)
 * (backend.ai@25.2.0:src/ai/backend/manager/models/alembic/versions/ecc9f6322be4_remove_fk_constraint_from_endpoints_.py).
 * PostgreSQL validates the new constraint against every row, so an endpoint that is not destroyed
 * and has no image stops the upgrade. 24.12's and 25.1's schema keep endpoints.image NOT NULL, so
 * such rows exist only where that was loosened by hand; an image id that is gone is not checked by
 * the new constraint (the foreign key that refused it is the one dropped).
 */
import { columnExists, tableExists } from '../../stores/schema.js';
import { failed, firstFew, ok, REHEARSAL_FINDS_IT, type Step } from '../../steps/step.js';

export const IMAGE_CHECK_REVISION = 'ecc9f6322be4';
/** The condition the revision's check constraint puts on every row. */
export const IMAGE_REQUIRED = "lifecycle_stage = 'destroyed' OR image IS NOT NULL";
const SHOWN = 5;

export const endpointImages: Step = {
  id: 'endpoint-images',
  title: 'Endpoints that are not destroyed have an image',
  kind: 'check',
  action: `Checks that every endpoint is destroyed or names an image, which the check constraint 25.2's ${IMAGE_CHECK_REVISION} adds requires of every row; changes nothing.`,
  servers: ['postgres'],
  tables: ['endpoints'],

  async preflight({ deployment }) {
    const pg = deployment.postgres;
    if (!(await tableExists(pg, 'endpoints')) || !(await columnExists(pg, 'endpoints', 'lifecycle_stage'))) {
      return [ok('no endpoints table with a lifecycle_stage: nothing for the check constraint to stop on')];
    }
    // The rows for which the constraint's condition is false (NULL passes a check constraint).
    const { rows } = await pg.query<{ id: string; name: string; lifecycle_stage: string; total: string }>(
      `SELECT id::text, name, lifecycle_stage::text, count(*) OVER () AS total FROM endpoints WHERE NOT (${IMAGE_REQUIRED}) ORDER BY id LIMIT ${SHOWN}`,
    );
    if (rows.length === 0) return [ok(`every endpoint is destroyed or names an image: ${IMAGE_CHECK_REVISION}'s check constraint (${IMAGE_REQUIRED}) holds`)];
    return [
      failed(
        `${rows[0]!.total} endpoint(s) are not destroyed and have no image: ${firstFew(rows, (r) => `${r.name} (${r.id}, ${r.lifecycle_stage})`)}. 25.2's ${IMAGE_CHECK_REVISION} adds the check constraint ${IMAGE_REQUIRED} and stops the upgrade on them. Point them at an image or destroy them first. ${REHEARSAL_FINDS_IT}`,
      ),
    ];
  },
};
