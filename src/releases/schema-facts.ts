/**
 * What a schema looks like from a revision on, as PostgreSQL's catalog shows it: the schema
 * step's verify checks every fact whose revision the target head has, so a head stamped without
 * its DDL is caught. Each fact cites the revision file that makes it true.
 */
import { reaches } from './releases.js';

export interface SchemaProbe {
  readonly table: string;
  /** A column of the table; without it, the table itself. */
  readonly column?: string;
  /** false: the revision drops it. */
  readonly exists: boolean;
}

export interface SchemaFact {
  /** The revision that makes it true. */
  readonly since: string;
  readonly describe: string;
  readonly probes: readonly SchemaProbe[];
  /** Where the revision is, e.g. backend.ai-manager@21.09.9:src/ai/backend/manager/models/alembic/versions/…. */
  readonly source: string;
}

const VERSIONS_2109 = 'backend.ai-manager@21.09.9:src/ai/backend/manager/models/alembic/versions';
const VERSIONS_2203 = 'backend.ai-manager@22.03.3:src/ai/backend/manager/models/alembic/versions';
const VERSIONS_2303 = 'backend.ai@23.03.12:src/ai/backend/manager/models/alembic/versions';
const VERSIONS_2309 = 'backend.ai@23.09.10:src/ai/backend/manager/models/alembic/versions';
const VERSIONS_2503 = 'backend.ai@25.3.3:src/ai/backend/manager/models/alembic/versions';
const VERSIONS_2504 = 'backend.ai@25.4.0:src/ai/backend/manager/models/alembic/versions';
const VERSIONS_2505 = 'backend.ai@25.5.2:src/ai/backend/manager/models/alembic/versions';
const VERSIONS_2506 = 'backend.ai@25.6.17:src/ai/backend/manager/models/alembic/versions';

export const SCHEMA_FACTS: readonly SchemaFact[] = [
  {
    since: '60a1effa77d2',
    describe: 'scaling_groups.wsproxy_addr exists',
    probes: [{ table: 'scaling_groups', column: 'wsproxy_addr', exists: true }],
    source: `${VERSIONS_2109}/60a1effa77d2_add_coordinator_address_column_on_.py`,
  },
  {
    since: '015d84d5a5ef',
    describe: 'tables images and image_aliases exist',
    probes: [
      { table: 'images', exists: true },
      { table: 'image_aliases', exists: true },
    ],
    source: `${VERSIONS_2203}/015d84d5a5ef_add_image_table.py`,
  },
  {
    since: 'd59ff89e7514',
    describe: 'keypairs.concurrency_used is dropped',
    probes: [{ table: 'keypairs', column: 'concurrency_used', exists: false }],
    source: `${VERSIONS_2203}/d59ff89e7514_remove_keypair_concurrency_used.py`,
  },
  {
    // The revision a plain upgrade from 22.09.23 would skip: its table proves the hop ran it.
    since: 'b6b884fbae1f',
    describe: 'table sessions exists',
    probes: [{ table: 'sessions', exists: true }],
    source: `${VERSIONS_2303}/b6b884fbae1f_add_session_table.py`,
  },
  {
    since: 'd3f8c74bf148',
    describe: 'users.main_access_key exists',
    probes: [{ table: 'users', column: 'main_access_key', exists: true }],
    source: `${VERSIONS_2309}/d3f8c74bf148_user_main_keypair.py`,
  },
  {
    since: 'fb89f5d7817b',
    describe: 'table endpoint_auto_scaling_rules exists',
    probes: [{ table: 'endpoint_auto_scaling_rules', exists: true }],
    source: `${VERSIONS_2503}/fb89f5d7817b_create_endpoint_auto_scaling_rules_table.py`,
  },
  {
    // Also what tells 25.2.0 from 24.09.6–24.09.14, whose head ecc9f6322be4 it shares (stores/schema.ts).
    since: 'f6ca2f2d04c1',
    describe: 'users.container_uid exists',
    probes: [{ table: 'users', column: 'container_uid', exists: true }],
    source: `${VERSIONS_2503}/f6ca2f2d04c1_add_uid_and_gid_columns.py`,
  },
  {
    since: '8f85e9d0bd4e',
    describe: 'table association_container_registries_groups exists',
    probes: [{ table: 'association_container_registries_groups', exists: true }],
    source: `${VERSIONS_2503}/8f85e9d0bd4e_add_association_containerregistries_.py`,
  },
  {
    since: 'c002140f14d3',
    describe: 'images.status exists',
    probes: [{ table: 'images', column: 'status', exists: true }],
    source: `${VERSIONS_2504}/c002140f14d3_add_status_column_to_the_image_table.py`,
  },
  {
    since: 'd537c050dd8d',
    describe: 'resource_presets.id and resource_presets.scaling_group_name exist',
    probes: [
      { table: 'resource_presets', column: 'id', exists: true },
      { table: 'resource_presets', column: 'scaling_group_name', exists: true },
    ],
    source: `${VERSIONS_2504}/d537c050dd8d_add_scaling_group_name_column_to_.py`,
  },
  {
    since: '683ca0a32f41',
    describe: 'table audit_logs exists',
    probes: [{ table: 'audit_logs', exists: true }],
    source: `${VERSIONS_2505}/683ca0a32f41_add_imageauditlogrow_table.py`,
  },
  {
    since: '305e3ddc20a7',
    describe: 'audit_logs.action_id exists',
    probes: [{ table: 'audit_logs', column: 'action_id', exists: true }],
    source: `${VERSIONS_2506}/305e3ddc20a7_update_auditlog_table.py`,
  },
];

/** The facts a schema at `head` in `line`'s graph has: those of every revision under it there. */
export function factsAt(line: string, head: string): SchemaFact[] {
  return SCHEMA_FACTS.filter((fact) => reaches(line, head, fact.since));
}
