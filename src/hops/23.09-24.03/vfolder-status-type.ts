/**
 * The enum type of `vfolders.status` has two names in the wild. Revision 1f55a65cfc4f, which
 * added the column, names it `vfolderstatus`, so a database that came through alembic has that;
 * the manager's models name it after their class, `vfolderoperationstatus`, so one made by
 * `create_all` (a fresh install) has this. 24.03's 5ba7fde56ddb and 7ff52ff68bfc alter and drop
 * `vfolderoperationstatus` (backend.ai@24.03.11:src/ai/backend/manager/models/alembic/versions/
 * 5ba7fde56ddb_add_vfolder_purge_status.py), so on the first kind they fail with "type
 * vfolderoperationstatus does not exist". Upstream fixed the scripts in 25.3.2 (backend.ai#3829,
 * BA-848); 24.03.11 is the last 24.03. bai-migrate renames the type to the name 24.03's scripts
 * use before the schema step. Nothing else reads the name: 23.09's manager casts by its own, and
 * 7ff52ff68bfc turns the column into varchar(64) and drops the type.
 */
import type { Deployment } from '../../stores/deployment.js';
import { changed, failed, ok, skipped, type Step } from '../../steps/step.js';

const ALEMBIC_NAME = 'vfolderstatus';
const SCRIPTS_NAME = 'vfolderoperationstatus';

/** The type of vfolders.status and whether the other name exists as a type too. */
async function statusType(deployment: Deployment): Promise<{ column: string | null; scriptsNameTaken: boolean }> {
  const { rows } = await deployment.postgres.query<{ column: string | null; taken: boolean }>(
    `SELECT (SELECT t.typname::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
              WHERE c.relname = 'vfolders' AND c.relnamespace = 'public'::regnamespace AND a.attname = 'status' AND NOT a.attisdropped) AS column,
            EXISTS (SELECT 1 FROM pg_type WHERE typname = $1 AND typnamespace = 'public'::regnamespace) AS taken`,
    [SCRIPTS_NAME],
  );
  return { column: rows[0]!.column, scriptsNameTaken: rows[0]!.taken };
}

export const vfolderStatusType: Step = {
  id: 'vfolder-status-type',
  title: 'vfolders.status enum type name',
  kind: 'change',
  action: `Renames the enum type of vfolders.status from ${ALEMBIC_NAME} (what alembic created) to ${SCRIPTS_NAME}, the name 24.03's revisions 5ba7fde56ddb and 7ff52ff68bfc alter and drop.`,
  servers: ['postgres'],
  renamesTypes: [{ from: ALEMBIC_NAME, to: SCRIPTS_NAME }],

  async preflight({ deployment }) {
    const { column, scriptsNameTaken } = await statusType(deployment);
    if (column === null) return [skipped('vfolders has no status column: nothing to rename')];
    if (column !== ALEMBIC_NAME) return [ok(`vfolders.status is of type ${column}: nothing to rename`)];
    if (scriptsNameTaken) {
      return [
        failed(
          `vfolders.status is of type ${ALEMBIC_NAME}, and a type ${SCRIPTS_NAME} exists too: 24.03's revisions 5ba7fde56ddb and 7ff52ff68bfc would alter the wrong one. Drop the unused ${SCRIPTS_NAME} (no column uses it) and run again`,
        ),
      ];
    }
    return [
      ok(
        `vfolders.status is of type ${ALEMBIC_NAME}, as alembic made it; 24.03.11's revisions 5ba7fde56ddb and 7ff52ff68bfc expect ${SCRIPTS_NAME} and would fail, so migrate renames it first (upstream fixed the scripts in 25.3.2, backend.ai#3829)`,
      ),
    ];
  },

  async dryRun({ deployment }) {
    const { column } = await statusType(deployment);
    return [ok(column === ALEMBIC_NAME ? `would run ALTER TYPE ${ALEMBIC_NAME} RENAME TO ${SCRIPTS_NAME}` : 'nothing to rename')];
  },

  async pending({ deployment }) {
    return (await statusType(deployment)).column === ALEMBIC_NAME;
  },

  async apply({ deployment }) {
    const { column } = await statusType(deployment);
    if (column !== ALEMBIC_NAME) return ok(`vfolders.status is of type ${column ?? 'none'}: nothing to rename`);
    await deployment.postgres.query(`ALTER TYPE ${ALEMBIC_NAME} RENAME TO ${SCRIPTS_NAME}`);
    return changed(`renamed type ${ALEMBIC_NAME} to ${SCRIPTS_NAME} (ALTER TYPE ${SCRIPTS_NAME} RENAME TO ${ALEMBIC_NAME} undoes it)`);
  },

  async verify({ deployment }) {
    const { column } = await statusType(deployment);
    return column === ALEMBIC_NAME
      ? [failed(`vfolders.status is still of type ${ALEMBIC_NAME}, which 24.03's revisions cannot alter`)]
      : [ok(`vfolders.status is of type ${column ?? 'none'} (varchar once 7ff52ff68bfc has run)`)];
  },
};
