/**
 * 24.09 → 25.5 at once: the route for a 24.09.6+ cluster whose own data stops the usual 24.09 →
 * 24.12 hop. 24.09.6 and later end at ecc9f6322be4, which 24.12's and 25.1's scripts lack, so the
 * usual hop first downgrades with 24.09.14's alembic to e9e574a6e22d, and that downgrade puts back
 * endpoints.image's NOT NULL and foreign key and vfolders.name's 64 characters: an endpoint whose
 * image is gone, or a longer vfolder name, stops it. 25.5's scripts know ecc9f6322be4 (25.2 put it
 * on top of 24.12's and 25.1's revisions), so from there every revision of the target the database
 * lacks can be applied by id, which upstream offers as `apply-missing-revisions 24.09.8` from
 * 25.5.1 on (backend.ai@25.5.1:src/ai/backend/manager/models/alembic/revision_history/24.09.8.json).
 *
 * bai-migrate applies them itself (steps/schema/apply-missing.ts) rather than with the manager's
 * command: the revisions come from the database's own alembic_version placed in the release graphs
 * (not from a dump of what 24.09.8 had), the dry run shows their SQL, a run stopped half-way picks
 * up from alembic_version, and alembic_version is then collapsed to the head, where the
 * manager's command leaves 0bb88d5a46bf and f6ca2f2d04c1 beside it; and it is the procedure the
 * 24.03 → 24.09 hop already runs. 25.5.2's own alembic and scripts run every revision.
 *
 * The steps of 24.12, 25.1, …, 25.5 other than their schema (the overlay network move, the checks
 * of the data 25.4's revisions constrain, the notes) are added by src/hops/index.ts.
 */
import { schemaStep } from '../../steps/schema/index.js';
import type { DetourDefinition } from '../hop.js';

export const detour: DetourDefinition = {
  from: '24.09',
  to: '25.5',
  input: 'unknown-head-route',
  value: 'apply-missing',
  usual: 'downgrade',
  usualWay: "the usual way: 24.09.14's downgrade to e9e574a6e22d, then one hop per line",
  way: "25.5's revisions the database lacks applied by id with 25.5's own alembic, then alembic_version set to its head alone, and the steps of 24.12 to 25.5 other than their schema",
  blockedBy: 'downgrade-guards',
  schema: schemaStep({ kind: 'apply-missing' }),
  leaves: {
    'downgrade-guards': 'no downgrade runs on this route',
    'endpoint-images': 'ecc9f6322be4, whose check constraint it checks, ran already in 24.09.6+ and is not run again',
  },
};
