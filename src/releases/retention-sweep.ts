/**
 * What the manager's retention sweep deletes, per category, as data: the catalogue that
 * `backend.ai mgr clear-history` runs over the enabled rows of `retention_policies` from 26.8.0
 * (backend.ai-manager 26.8.3 wheel: ai/backend/manager/repositories/retention/db_source/db_source.py,
 * `_catalog`; the same file in the 26.8.0 and 26.8.1 wheels). docs/clear-history-retention-policies.md
 * says what each entry means and how it was read and measured. 26.9 drains other tables and tears
 * down graph nodes (the 26.9.6 wheel): a catalogue of its own, not written here yet.
 */

/** The eight categories, as `retention_policies.category` holds them (backend.ai-common 26.8.3 wheel: ai/backend/common/data/retention/types.py). */
export const RETENTION_CATEGORIES = ['logs', 'login', 'reconcile_history', 'roles_invitations', 'deployments', 'sessions', 'usage_records', 'usage_buckets'] as const;
export type RetentionCategoryName = (typeof RETENTION_CATEGORIES)[number];

/** A condition on the rows of a drain's table (or of its parent, in `via`). */
export type SweepCondition =
  /** The column's value is one of these (statuses are stored by value). */
  | { readonly kind: 'in'; readonly column: string; readonly values: readonly string[] }
  /** No row of `table` has `column` equal to this row's `id`. */
  | { readonly kind: 'unreferenced'; readonly table: string; readonly column: string };

/**
 * One table's drain: its rows whose boundary is before the policy's threshold (a NULL boundary
 * never is) and that meet the conditions. With `via`, the boundary is the parent's: the rows whose
 * `via.column` is the `via.key` of a parent row before the threshold that meets `via.conditions`.
 */
export interface SweepDrain {
  readonly table: string;
  /**
   * A `date` boundary is compared with the threshold instant all the same (the manager's statement
   * binds it as a timestamptz): PostgreSQL takes the date's midnight in the connection's TimeZone.
   */
  readonly boundary: { readonly column: string; readonly type: 'timestamptz' | 'date' };
  readonly conditions: readonly SweepCondition[];
  readonly via?: { readonly column: string; readonly parent: string; readonly key: string; readonly conditions: readonly SweepCondition[] };
}

export interface SweepCategory {
  readonly name: RetentionCategoryName;
  /** In the order the manager drains them: children before parents. */
  readonly drains: readonly SweepDrain[];
}

const TERMINAL_KERNEL_OR_SESSION = ['ERROR', 'TERMINATED', 'CANCELLED'];
const DECLINED = ['rejected', 'canceled'];

const at = (column: string): SweepDrain['boundary'] => ({ column, type: 'timestamptz' });
const on = (column: string): SweepDrain['boundary'] => ({ column, type: 'date' });
const isIn = (column: string, values: readonly string[]): SweepCondition => ({ kind: 'in', column, values });
const unreferenced = (table: string, column: string): SweepCondition => ({ kind: 'unreferenced', table, column });

/** The usage_bucket_entries of one bucket kind (FK-less, told apart by bucket_type), then the buckets. */
function bucketKind(kind: 'domain' | 'project' | 'user'): SweepDrain[] {
  const parent = `${kind}_usage_buckets`;
  return [
    { table: 'usage_bucket_entries', boundary: on('period_end'), conditions: [isIn('bucket_type', [kind])], via: { column: 'bucket_id', parent, key: 'id', conditions: [] } },
    { table: parent, boundary: on('period_end'), conditions: [] },
  ];
}

/** The 26.8 catalogue (backend.ai-manager 26.8.3 wheel: …/repositories/retention/db_source/db_source.py:131-302). */
const SWEEP_2608: readonly SweepCategory[] = [
  {
    name: 'logs',
    drains: [
      { table: 'event_logs', boundary: at('created_at'), conditions: [] },
      { table: 'audit_logs', boundary: at('created_at'), conditions: [] },
      { table: 'error_logs', boundary: at('created_at'), conditions: [] },
    ],
  },
  {
    name: 'reconcile_history',
    drains: ['session_scheduling_history', 'kernel_scheduling_history', 'deployment_history', 'route_history', 'replica_group_history'].map((table) => ({
      table,
      boundary: at('updated_at'),
      conditions: [],
    })),
  },
  {
    name: 'login',
    drains: [
      { table: 'login_history', boundary: at('created_at'), conditions: [] },
      { table: 'login_sessions', boundary: at('invalidated_at'), conditions: [isIn('status', ['invalidated', 'revoked'])] },
    ],
  },
  {
    name: 'roles_invitations',
    drains: [
      { table: 'roles', boundary: at('deleted_at'), conditions: [isIn('status', ['deleted'])] },
      { table: 'role_invitations', boundary: at('updated_at'), conditions: [isIn('state', DECLINED)] },
      { table: 'vfolder_invitations', boundary: at('modified_at'), conditions: [isIn('state', DECLINED)] },
    ],
  },
  { name: 'usage_records', drains: [{ table: 'kernel_usage_records', boundary: at('period_end'), conditions: [] }] },
  {
    name: 'sessions',
    drains: [
      { table: 'kernels', boundary: at('terminated_at'), conditions: [isIn('status', TERMINAL_KERNEL_OR_SESSION)] },
      { table: 'sessions', boundary: at('terminated_at'), conditions: [isIn('status', TERMINAL_KERNEL_OR_SESSION), unreferenced('kernels', 'session_id'), unreferenced('routings', 'session')] },
    ],
  },
  {
    name: 'deployments',
    drains: [
      {
        table: 'deployment_revisions',
        boundary: at('destroyed_at'),
        conditions: [],
        via: { column: 'endpoint', parent: 'endpoints', key: 'id', conditions: [isIn('lifecycle_stage', ['destroyed'])] },
      },
      { table: 'routings', boundary: at('updated_at'), conditions: [isIn('status', ['terminated', 'failed_to_start'])] },
      { table: 'replica_groups', boundary: at('updated_at'), conditions: [isIn('lifecycle', ['drained', 'failed'])] },
      { table: 'endpoints', boundary: at('destroyed_at'), conditions: [isIn('lifecycle_stage', ['destroyed'])] },
      { table: 'endpoint_tokens', boundary: at('expires_at'), conditions: [] },
      { table: 'session_groups', boundary: at('created_at'), conditions: [unreferenced('replica_groups', 'session_group_id')] },
    ],
  },
  { name: 'usage_buckets', drains: [...bucketKind('domain'), ...bucketKind('project'), ...bucketKind('user')] },
];

/** Each distinct catalogue, from the release it starts at. */
export const RETENTION_SWEEPS: Readonly<Record<string, readonly SweepCategory[]>> = { '26.8.0': SWEEP_2608 };

/**
 * The policies a migrated 26.8 database holds: seeded by 4a39641d0fc2, disabled by b3e8f1a24c76
 * (backend.ai-manager 26.8.3 wheel: ai/backend/manager/models/alembic/versions/). A schema made by
 * `mgr schema oneshot` has the table and none of these rows.
 */
export const SEEDED_RETENTION_POLICIES: ReadonlyArray<{ readonly category: RetentionCategoryName; readonly period: string }> = [
  { category: 'logs', period: '1 year' },
  { category: 'login', period: '1 year' },
  { category: 'reconcile_history', period: '1 year' },
  { category: 'roles_invitations', period: '1 year' },
  { category: 'deployments', period: '1 year' },
  { category: 'sessions', period: '1 year' },
  { category: 'usage_records', period: '90 days' },
  { category: 'usage_buckets', period: '2 years' },
];

/**
 * The categories whose sweep by bai-migrate is compared row for row with the real 26.8.3 command on
 * its own schema (clear-history-sweep.test.ts): all eight. Own mode of 26.8 is still refused
 * (line-facts.ts, ownMode) until clear-history runs this sweep with its Redis part and report.
 */
export const COMPARED_SWEEP_CATEGORIES: readonly RetentionCategoryName[] = RETENTION_CATEGORIES;

/**
 * SQL for the interval the manager subtracts: asyncpg decodes `retention_period` into a timedelta
 * of days + 30 × months + 365 × years (asyncpg pgproto codecs/datetime.pyx, interval_decode) plus
 * the time of day, which the manager then subtracts in UTC; as seconds, so that no TimeZone moves it.
 */
export function managerPeriodSeconds(interval: string): string {
  return `(86400 * (365 * extract(year FROM ${interval}) + 30 * extract(month FROM ${interval}) + extract(day FROM ${interval})) + extract(epoch FROM ${interval} - date_trunc('day', ${interval})))`;
}
