/**
 * What 24.09.14's downgrade to e9e574a6e22d puts back, and the rows it would stop on
 * (backend.ai@24.09.14:src/ai/backend/manager/models/alembic/versions/ecc9f6322be4_remove_fk_constraint_from_endpoints_.py,
 * ef9a7960d234_extend_length_of_vfolders_name_column.py, their downgrade()): endpoints.image becomes
 * NOT NULL with a foreign key to images again (a destroyed endpoint may have lost its image since),
 * and vfolders.name goes back from 128 to 64 characters. Either failure rolls the downgrade back.
 */
import { columnExists, tableExists } from '../../stores/schema.js';
import { failed, ok, type Finding, type Step } from '../../steps/step.js';
import { DOWNGRADE_TO } from './facts.js';

const SHOWN = 5;
const NAME_LIMIT = 64;

export const downgradeGuards: Step = {
  id: 'downgrade-guards',
  title: `What the downgrade to ${DOWNGRADE_TO} requires`,
  kind: 'check',
  action: `Checks that every endpoint has an image that exists and every vfolder name fits ${NAME_LIMIT} characters, which 24.09.14's downgrade to ${DOWNGRADE_TO} requires again; changes nothing.`,
  servers: ['postgres'],
  tables: ['endpoints', 'vfolders', 'images'],

  async preflight({ deployment }) {
    const pg = deployment.postgres;
    const findings: Finding[] = [];
    if (await tableExists(pg, 'endpoints')) {
      const { rows } = await pg.query<{ id: string; name: string; image: string | null; total: string }>(
        `SELECT e.id::text, e.name, e.image::text, count(*) OVER () AS total FROM endpoints e
          WHERE e.image IS NULL OR NOT EXISTS (SELECT 1 FROM images i WHERE i.id = e.image) ORDER BY e.id LIMIT ${SHOWN}`,
      );
      findings.push(
        rows.length === 0
          ? ok(`every endpoint names an image that exists: the downgrade's foreign key and NOT NULL on endpoints.image hold`)
          : failed(
              `${rows[0]!.total} endpoint(s) have no image or one that is gone, e.g. ${rows.map((r) => `${r.name} (${r.id}, image ${r.image ?? 'NULL'})`).join(', ')}: 24.09.14's downgrade to ${DOWNGRADE_TO} makes endpoints.image NOT NULL with a foreign key to images and stops on them. Delete those endpoints (destroyed ones lose nothing) or point them at an existing image`,
            ),
      );
    }
    if (await columnExists(pg, 'vfolders', 'name')) {
      const { rows } = await pg.query<{ id: string; length: number; total: string }>(
        `SELECT id::text, length(name) AS length, count(*) OVER () AS total FROM vfolders WHERE length(name) > ${NAME_LIMIT} ORDER BY id LIMIT ${SHOWN}`,
      );
      findings.push(
        rows.length === 0
          ? ok(`every vfolder name fits ${NAME_LIMIT} characters, to which the downgrade shrinks the column`)
          : failed(
              `${rows[0]!.total} vfolder(s) have a name longer than ${NAME_LIMIT} characters, e.g. ${rows.map((r) => `${r.id} (${r.length})`).join(', ')}: 24.09.14's downgrade to ${DOWNGRADE_TO} shrinks vfolders.name to ${NAME_LIMIT} and stops on them (25.1 widens it again). Rename them first`,
            ),
      );
    }
    return findings.length > 0 ? findings : [ok('no endpoints or vfolders tables: nothing for the downgrade to stop on')];
  },
};
