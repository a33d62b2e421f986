/**
 * 23.09 → 24.03. 24.03 re-parented six of its revisions (308bcecec5c2, 3f47af213b05,
 * 41f332243bf9, 5ba7fde56ddb, 7ff52ff68bfc, b86b341fd9c9) below 23.09.11's head, so a plain
 * `alembic upgrade` would take them as done. The upgrade guide's remedy is a downgrade to
 * 85615e005fa3 first, which drops users.main_access_key and association ids, and fails on duplicate
 * endpoint URLs or routings without a session (backend.ai@24.03.11:MIGRATION.md; the downgrade()
 * bodies at backend.ai@23.09.10). bai-migrate takes the other remedy the manager offers from 24.03.2
 * (`mgr schema apply-missing-revisions 23.09.10`): every revision the database lacks, applied by id
 * in graph order, then alembic_version collapsed to the head; nothing is downgraded.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { schemaStep } from '../../steps/schema/index.js';
import { guideNote } from '../../steps/guide-note.js';
import type { HopDefinition } from '../hop.js';
import { vfolderStatusType } from './vfolder-status-type.js';
import { MODEL_STORE_REVISION, modelStoreProject } from './model-store-project.js';

const python312 = guideNote({
  id: 'python-3.12',
  title: 'Python 3.12',
  action: "24.03's packages require CPython 3.12 (pants.toml, ==3.12.2–3.12.6): the manager, agents and storage proxies move to a 3.12 venv.",
  why: 'install each component into a Python 3.12 venv; manager-venv finds python3.12 on PATH (actions/setup-python on a runner) or among the versions pyenv installed, or set python',
});

export const hop: HopDefinition = {
  from: '23.09',
  to: '24.03',
  steps: [servicesStopped, modelStoreProject, vfolderStatusType, schemaStep({ kind: 'apply-missing' }), python312],
  guards: [
    {
      revision: MODEL_STORE_REVISION,
      step: modelStoreProject.id,
      hazard: 'the domain and the project resource policy named default it looks up, a model-store project already in that domain, a default domain without users',
    },
    { revision: '5ba7fde56ddb', step: vfolderStatusType.id, hazard: 'the enum type of vfolders.status under the name 24.03 alters (vfolderoperationstatus)' },
    { revision: '7ff52ff68bfc', step: vfolderStatusType.id, hazard: 'the enum type of vfolders.status under the name 24.03 drops (vfolderoperationstatus)' },
  ],
};
