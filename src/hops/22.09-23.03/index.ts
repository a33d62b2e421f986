/**
 * 22.09 → 23.03. 22.09.23's head d58a526bf837 is re-parented in 23.03.3+ below six revisions of
 * 23.03 (the sessions table among them), so a plain `alembic upgrade` would take those as done and
 * never create the sessions table; no revision dump exists for 22.09. The schema step therefore
 * downgrades with 22.09.23's own alembic to 3efd66393bd0, the deepest revision both lines agree on,
 * then upgrades with 23.03's. The four revisions the downgrade reverts drop columns that 23.03's
 * upgrade adds again without their values: those are kept and put back.
 * (backend.ai@22.09.23 and backend.ai@23.03.12:src/ai/backend/manager/models/alembic/versions/)
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { managerConnects } from '../../steps/manager-connects.js';
import { schemaStep } from '../../steps/schema/index.js';
import { columnsAcrossDowngrade } from '../../steps/columns-across-downgrade.js';
import { guideNote } from '../../steps/guide-note.js';
import type { HopDefinition } from '../hop.js';

/** 22.09.14's head: the last revision 22.09.23 and 23.03.12 have in the same place. */
export const DOWNGRADE_TO = '3efd66393bd0';

/** What `alembic downgrade 3efd66393bd0` drops, by the revision whose downgrade() drops it (backend.ai@22.09.23). */
export const COLUMNS_DROPPED = [
  // d58a526bf837_add_password_changed_at_col.py: re-added with server_default now() for every user.
  { table: 'users', key: 'uuid', column: 'password_changed_at', addedBy: 'd58a526bf837' },
  // fdc9d6ac49b4_add_public_host_to_agent.py
  { table: 'agents', key: 'id', column: 'public_host', addedBy: 'fdc9d6ac49b4' },
  // fe59ec332c07_add_is_public_flag_to_scaling_group.py: re-added as true for every group.
  { table: 'scaling_groups', key: 'name', column: 'is_public', addedBy: 'fe59ec332c07' },
  // bedd92de93af_add_role_column_on_kernels_table.py: re-added from the images' labels.
  { table: 'kernels', key: 'id', column: 'role', addedBy: 'bedd92de93af' },
] as const;

const vfolderLayout = guideNote({
  id: 'vfolder-v3-layout',
  title: 'vFolder v3 layout (storage proxy)',
  action: "The guide asks to move every vFolder to the v3 layout (<quota-scope-id>/<2>/<2>/<rest>) with the storage proxy's own script generator, python -m ai.backend.storage.migration.",
  why: "runs on each storage host with the storage proxy's package, outside the manager's stores: generate and run the script there (python -m ai.backend.storage.migration -h)",
});

const wsproxyToken = guideNote({
  id: 'wsproxy-api-token',
  title: 'scaling_groups.wsproxy_api_token',
  action: 'The schema gains scaling_groups.wsproxy_api_token; it may stay empty unless Model Service is used.',
  why: 'set it per scaling group when Model Service is used (the app proxy token); the upgrade leaves it empty',
});

export const hop: HopDefinition = {
  from: '22.09',
  to: '23.03',
  steps: [servicesStopped, managerConnects, schemaStep({ kind: 'downgrade-first', downgradeTo: DOWNGRADE_TO }), columnsAcrossDowngrade(COLUMNS_DROPPED), vfolderLayout, wsproxyToken],
};
