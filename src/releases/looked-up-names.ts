/**
 * Names Backend.AI's own code looks up by value, as literals: a snapshot keeps them as they are
 * wherever they stand, since a pseudonym would make the revision (or the manager) miss them and
 * a rehearsal fail where the real migration does not (24.03's 308bcecec5c2 looks up the project
 * resource policy and the domain named "default", and creates the project "model-store"). They
 * name no person and hold nothing secret.
 */
export interface LookedUpName {
  readonly value: string;
  /** Where the code looks it up. */
  readonly where: string;
  readonly source: string;
}

export const LOOKED_UP_NAMES: readonly LookedUpName[] = [
  {
    value: 'default',
    where: 'domains.name, project_resource_policies.name (308bcecec5c2); users and groups.resource_policy (a9eb2b002330); scaling_groups.name, keypair_resource_policies.name (the install fixtures)',
    source: 'backend.ai@24.03.11:src/ai/backend/manager/models/alembic/versions/308bcecec5c2_add_groups_type.py',
  },
  {
    value: 'model-store',
    where: 'groups.name (308bcecec5c2 creates it; uq_groups_name_domain_name)',
    source: 'backend.ai@24.03.11:src/ai/backend/manager/models/alembic/versions/308bcecec5c2_add_groups_type.py',
  },
];

const VALUES = new Set(LOOKED_UP_NAMES.map((n) => n.value));

export function isLookedUpName(value: string): boolean {
  return VALUES.has(value);
}
