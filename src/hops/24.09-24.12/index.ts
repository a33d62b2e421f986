/**
 * 24.09 → 24.12. From 24.09.6 the database ends at ecc9f6322be4, a revision 24.12's scripts do
 * not have, so 24.12's alembic cannot start from it at all; releases 24.09.0–24.09.5 end at
 * e9e574a6e22d and upgrade plainly. bai-migrate downgrades with 24.09.14's own alembic to
 * e9e574a6e22d first (which puts back endpoints.image's foreign key and NOT NULL, and vfolders.name's
 * 64 characters: downgrade-guards checks the rows first), then upgrades with 24.12.1's. The other
 * remedy, jumping to 25.5.1+ with apply-missing-revisions 24.09.8, would leave the 24.12 steps to
 * the operator. 24.12 also reads the overlay network settings under a new etcd prefix
 * (backend.ai@24.12.1:MIGRATION.md).
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { schemaStep } from '../../steps/schema/index.js';
import { etcdKeyMove } from '../../steps/etcd-key-move.js';
import { guideNote } from '../../steps/guide-note.js';
import type { HopDefinition } from '../hop.js';
import { downgradeGuards } from './downgrade-guards.js';
import { DOWNGRADE_TO } from './facts.js';

const overlayMove = etcdKeyMove({
  id: 'overlay-network-config',
  title: 'Overlay network settings under config/plugins/',
  from: 'config/network/overlay/',
  to: 'config/plugins/network/overlay/',
  why: '24.12 reads the overlay network plugin settings (e.g. mtu) under config/plugins/network/overlay/ (backend.ai@24.12.1:MIGRATION.md)',
});

const replicasRename = guideNote({
  id: 'endpoints-replicas',
  title: 'endpoints.desired_session_count is now replicas',
  action: "24.12's 428215fddea3 renames endpoints.desired_session_count to replicas (backend.ai@24.12.1:MIGRATION.md).",
  why: 'anything outside the manager that reads the column (reports, dashboards, SQL of your own) must read replicas',
});

const sessionStatuses = guideNote({
  id: 'session-statuses',
  title: 'Session and kernel statuses become text, with new ones',
  action:
    "24.12's 6e44ea67d26e turns the session and kernel status enums into VARCHAR(64), rewriting both tables, and 24.12 adds the PREPARED and CREATING statuses (backend.ai@24.12.1:CHANGELOG.md).",
  why: "SQL of your own that casts to the kernelstatus or sessionstatus types must compare text instead; the rewrite's time grows with the history (plan names it)",
});

export const hop: HopDefinition = {
  from: '24.09',
  to: '24.12',
  steps: [servicesStopped, downgradeGuards, schemaStep({ kind: 'downgrade-first', downgradeTo: DOWNGRADE_TO }), overlayMove, replicasRename, sessionStatuses],
  // 24.09.14's downgrade() of these two, which the downgrade to e9e574a6e22d runs.
  guards: [
    { revision: 'ecc9f6322be4', step: downgradeGuards.id, hazard: 'endpoints whose image is gone, which the NOT NULL and foreign key its downgrade puts back refuse' },
    { revision: 'ef9a7960d234', step: downgradeGuards.id, hazard: 'vfolder names longer than the 64 characters its downgrade puts back' },
  ],
};
