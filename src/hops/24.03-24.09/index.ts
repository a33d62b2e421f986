/**
 * 24.03 → 24.09. 24.09 re-parented four of its revisions (31463788c713, c4b7ec740b36,
 * d7df3baf3779, fdb2dcdb8811) below 24.03.11's head, so a plain `alembic upgrade` would take them
 * as done. The upgrade guide's remedy is `backend.ai mgr schema apply-missing-revisions 24.03.11`
 * from the head 3596bc12ec09 (backend.ai@24.09.14:MIGRATION.md); bai-migrate applies every
 * revision the database lacks by id, as for 23.09 → 24.03. Among them is 1d42c726d8a3, which moves
 * the container registries from etcd into PostgreSQL: the steps around the schema step guard it.
 */
import { servicesStopped } from '../../steps/services-stopped.js';
import { schemaStep } from '../../steps/schema/index.js';
import { guideNote } from '../../steps/guide-note.js';
import type { HopDefinition } from '../hop.js';
import { containerRegistries, registriesMoved } from './container-registries.js';
import { VFOLDER_DOMAIN_REVISION, vfolderDomains } from './vfolder-domains.js';
import { REGISTRIES_MOVED_BY } from './registry-config.js';

const postgres16 = guideNote({
  id: 'postgresql-16',
  title: 'PostgreSQL 16',
  action: "24.09's halfstack moves from PostgreSQL 15 to 16.3, and the upgrade guide asks for a dump before and a restore after (backend.ai@24.09.14:MIGRATION.md).",
  why: 'bai-migrate migrates the PostgreSQL you run; upgrade the server itself (pg_dump and restore, or pg_upgrade) in its own maintenance window, before or after this hop',
});

export const hop: HopDefinition = {
  from: '24.03',
  to: '24.09',
  steps: [servicesStopped, vfolderDomains, containerRegistries, schemaStep({ kind: 'apply-missing' }), registriesMoved, postgres16],
  guards: [
    {
      revision: REGISTRIES_MOVED_BY,
      step: containerRegistries.id,
      hazard:
        "etcd's config/docker/registry entries it moves (a project every registry but Docker Hub and local ones needs, known types, project lists without empty names), manager.toml as 24.09 loads it, images it links to a registry",
    },
    { revision: VFOLDER_DOMAIN_REVISION, step: vfolderDomains.id, hazard: 'vfolders whose owning user and group are both gone, which leave domain_name NULL before it is made NOT NULL' },
  ],
};
