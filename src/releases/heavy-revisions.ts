/**
 * Revisions whose run time grows with the data, and how: the alembic step is most of an upgrade's
 * downtime, and these are most of the alembic step. Each runs inside the one transaction of the
 * upgrade. Derived from the revision scripts at the tag that first ships them
 * (backend.ai@<firstRelease>:src/ai/backend/manager/models/alembic/versions/<revision>_*.py), e.g.
 * backend.ai@23.03.0:src/ai/backend/manager/models/alembic/versions/b6b884fbae1f_add_session_table.py.
 */
import { ancestorsIn, RELEASES, type Release } from './releases.js';

/** quadratic: OFFSET paging or rescans, so twice the rows take about four times as long; rewrite: the whole table is rewritten (and its indexes rebuilt). */
export type Growth = 'quadratic' | 'linear' | 'rewrite';

export interface HeavyRevision {
  readonly revision: string;
  /** The tables whose size decides its run time (counted by plan where they exist). */
  readonly tables: readonly string[];
  readonly growth: Growth;
  /** What it does to those tables, in a few words. */
  readonly work: string;
}

export const HEAVY_REVISIONS: readonly HeavyRevision[] = [
  { revision: 'bedd92de93af', tables: ['kernels', 'images'], growth: 'linear', work: 'fills kernels.role from image labels, batch by batch' },
  { revision: 'b6b884fbae1f', tables: ['kernels'], growth: 'quadratic', work: 'creates sessions from kernels with OFFSET paging of 100 rows' },
  { revision: '9e599b62f6f1', tables: ['sessions'], growth: 'linear', work: 'rewrites the vfolder ids in sessions.vfolder_mounts (keyset paging)' },
  { revision: '69c059996cbd', tables: ['kernels', 'sessions'], growth: 'quadratic', work: 'fills sessions.agent_ids with OFFSET paging over the kernels' },
  { revision: 'eb9441fcf90a', tables: ['kernels', 'sessions'], growth: 'quadratic', work: 'fills sessions.images with OFFSET paging over the kernels' },
  { revision: '85615e005fa3', tables: ['kernels'], growth: 'quadratic', work: 'makes kernels.requested_slots NOT NULL, 100 rows per pass, each pass a rescan' },
  { revision: 'd3f8c74bf148', tables: ['users', 'keypairs'], growth: 'linear', work: 'sets users.main_access_key, making keypairs for users without one' },
  { revision: 'dddf9be580f5', tables: ['kernels', 'sessions'], growth: 'linear', work: 'copies session names into kernels.session_name in one UPDATE' },
  { revision: '679e5721e94d', tables: ['kernels', 'sessions'], growth: 'linear', work: 'copies session occupying slots to their kernels, 100 rows per page' },
  { revision: '3596bc12ec09', tables: ['kernels', 'sessions'], growth: 'linear', work: 'turns kernels.role into session types and drops the old enum' },
  { revision: '41f332243bf9', tables: ['vfolders'], growth: 'linear', work: 'builds missing vfolders indexes (not concurrently: the table is locked meanwhile)' },
  { revision: '31463788c713', tables: ['sessions'], growth: 'linear', work: 'builds an index on sessions.vfolder_mounts (not concurrently)' },
  { revision: '1d42c726d8a3', tables: ['images'], growth: 'linear', work: 'moves registries from etcd to PostgreSQL and sets images.registry_id per registry' },
  { revision: '6e44ea67d26e', tables: ['kernels', 'sessions'], growth: 'rewrite', work: 'turns the kernel and session status enums into VARCHAR: both tables are rewritten' },
  // The four RBAC back-fills of 25.14.0 page with OFFSET and LIMIT 1,000 in Python loops, one role,
  // permission group and association per row (backend.ai@25.14.5 wheel
  // ai/backend/manager/models/alembic/versions/{a4d56e86d9ee,430b1631804d,e43125b98bba,5b171528a6f5}_*.py).
  { revision: 'a4d56e86d9ee', tables: ['users'], growth: 'quadratic', work: 'back-fills a role per user, OFFSET paging of 1,000 users' },
  {
    revision: '430b1631804d',
    tables: ['groups', 'users', 'association_groups_users'],
    growth: 'quadratic',
    work: 'back-fills roles per project, maps domain admins to every project of their domain and members to theirs, OFFSET paging of 1,000 rows',
  },
  { revision: 'e43125b98bba', tables: ['domains', 'users', 'groups'], growth: 'quadratic', work: 'back-fills roles per domain and maps its users and projects to them, OFFSET paging of 1,000 rows' },
  {
    revision: '5b171528a6f5',
    tables: ['vfolders', 'vfolder_permissions'],
    growth: 'quadratic',
    work: 'back-fills vfolder permissions and maps every vfolder and share to its scope, OFFSET paging of 1,000 rows',
  },
  { revision: '013a6676866c', tables: ['notification_channels', 'notification_rules'], growth: 'linear', work: 'back-fills RBAC scopes for notifications' },
  { revision: 'd0a3c0716970', tables: ['endpoints'], growth: 'linear', work: 'back-fills RBAC scopes for model deployments' },
  { revision: '2185ae0dd371', tables: ['vfolders'], growth: 'linear', work: 'back-fills RBAC scopes for vfolders' },
  { revision: '091d0274c2e3', tables: ['agents'], growth: 'linear', work: 'back-fills RBAC scopes for agents' },
  { revision: '7h4m7ygnaao1', tables: ['vfolder_invitations'], growth: 'linear', work: 'back-fills RBAC scopes for vfolder invitations again' },
  { revision: '6e5a7a62a687', tables: ['vfolders'], growth: 'linear', work: 'back-fills RBAC scopes for vfolders again' },
  { revision: '30c8308738ee', tables: ['sessions'], growth: 'linear', work: 'back-fills RBAC scopes for every session, 1,000 per batch' },
  { revision: '3632aad9d5d9', tables: ['sessions'], growth: 'linear', work: 'back-fills RBAC scopes for session apps' },
  { revision: 'bd1bf0524350', tables: ['kernel_usage_records'], growth: 'linear', work: 'rebuilds fair-share usage buckets from one scan of kernel_usage_records' },
  { revision: 'c4a91d7e05b2', tables: ['kernel_usage_records'], growth: 'linear', work: 'rebuilds the fair-share usage buckets again (the same work under another id)' },
];

/** What a table holds, in the operator's words, where its name does not say (groups are projects). */
export const TABLE_MEANING: Readonly<Record<string, string>> = {
  groups: 'projects',
  association_groups_users: 'project memberships',
  vfolder_permissions: 'vfolder shares',
};

/** Tables the heavy revisions' run time follows, that history (clear-history) shrinks. */
export const HISTORY_TABLES: ReadonlySet<string> = new Set(['kernels', 'sessions']);

/**
 * The heavy revisions an upgrade from `fromRevision` (in `fromLine`'s graph) to `to` runs: those
 * `to`'s head descends from and the schema does not have yet.
 */
export function heavyRevisionsBetween(fromLine: string, fromRevision: string, to: Release): HeavyRevision[] {
  const have = ancestorsIn(fromLine, fromRevision);
  const want = ancestorsIn(to.line, to.head);
  return HEAVY_REVISIONS.filter((h) => want.has(h.revision) && !have.has(h.revision));
}

/** The first release whose head descends from `revision`: where an upgrade first runs it. */
export function firstRelease(revision: string): Release | undefined {
  return RELEASES.find((r) => ancestorsIn(r.line, r.head).has(revision));
}
