/**
 * What the manager's retention sweep deletes, per category, as data: the catalogue that
 * `backend.ai mgr clear-history` runs over the enabled rows of `retention_policies`, one per
 * distinct catalogue. 26.8.0–26.8.3: backend.ai-manager 26.8.3 wheel:
 * ai/backend/manager/repositories/retention/db_source/db_source.py, `_catalog` (the same file in the
 * 26.8.0 and 26.8.1 wheels). 26.9.0–26.9.6: the same file of the 26.9.6 wheel (byte-identical from
 * 26.9.0), whose roles_invitations drains entity_shares (role and vfolder invitations are gone from
 * the schema), and whose drains of entity tables tear down each deleted row's node of the RBAC graph
 * (`teardown`: ai/backend/manager/repositories/ops/v2/retention/write.py and graph_write.py).
 * docs/clear-history-retention-policies.md says what each entry means and how it was read and measured.
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
  /**
   * 26.9: the table's rows are entities of the RBAC graph: each batch is deleted returning the rows'
   * `id`, and in the same transaction the graph node of each (`entity`, id) is torn down (`graph`).
   */
  readonly teardown?: { readonly entity: string; readonly graph: SweepGraph };
}

/** A pair of columns naming a graph node by (entity type, entity id). */
export interface NodeRef {
  readonly type: string;
  readonly id: string;
}

/**
 * The RBAC graph as the 26.9 sweep tears a node down (backend.ai-manager 26.9.6 wheel:
 * ai/backend/manager/repositories/ops/v2/graph_write.py, `_teardown` and `_cascaded_node_keys`):
 * the nodes to remove are the deleted entities' and, transitively, those of the `dependents` rows
 * that name one of them (the rows go with the node by ON DELETE CASCADE, found before it goes);
 * then the `nodes` rows of every such (type, id) are deleted (what refers to them by foreign key
 * goes by cascade: edges, bindings, the dependents), and the `attributes` rows (no foreign key).
 * Nothing of it counts as deleted: the manager counts the drained rows only.
 */
export interface SweepGraph {
  readonly nodes: { readonly table: string } & NodeRef;
  readonly attributes: ReadonlyArray<{ readonly table: string } & NodeRef>;
  readonly dependents: ReadonlyArray<{ readonly table: string; readonly entity: string; readonly key: string; readonly refs: readonly NodeRef[] }>;
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

/**
 * 26.9's graph (backend.ai-manager 26.9.6 wheel: ai/backend/manager/models/virtual_entity/virtual_entity.py,
 * entity_label/row.py; roles.scope_type/scope_id and entity_shares' target and recipient pairs are
 * foreign keys onto virtual_entities (entity_type, entity_id) with ON DELETE CASCADE:
 * models/rbac_models/role/row.py, models/entity_share/row.py).
 */
const GRAPH_2609: SweepGraph = {
  nodes: { table: 'virtual_entities', type: 'entity_type', id: 'entity_id' },
  attributes: [{ table: 'entity_labels', type: 'entity_type', id: 'entity_id' }],
  dependents: [
    { table: 'roles', entity: 'role', key: 'id', refs: [{ type: 'scope_type', id: 'scope_id' }] },
    {
      table: 'entity_shares',
      entity: 'entity_share',
      key: 'id',
      refs: [
        { type: 'target_entity_type', id: 'target_entity_id' },
        { type: 'recipient_entity_type', id: 'recipient_entity_id' },
      ],
    },
  ],
};

/** The entity type names (backend.ai-common 26.9.6 wheel: ai/backend/common/data/entity/<kind>.py, `name()`). */
const node = (entity: string): SweepDrain['teardown'] => ({ entity, graph: GRAPH_2609 });

/**
 * The 26.9 catalogue (backend.ai-manager 26.9.6 wheel: …/repositories/retention/db_source/db_source.py:96-301):
 * 26.8's but for roles_invitations, and the graph teardown of roles, entity_shares, sessions,
 * endpoints (entity `deployment`) and session_groups.
 */
const SWEEP_2609: readonly SweepCategory[] = SWEEP_2608.map((category) => {
  if (category.name === 'roles_invitations')
    return {
      name: category.name,
      drains: [
        { table: 'roles', boundary: at('deleted_at'), conditions: [isIn('status', ['deleted'])], teardown: node('role') },
        // A pending share goes once its offer ran out (expires_at), an ended one on the age of its answer.
        { table: 'entity_shares', boundary: at('expires_at'), conditions: [isIn('status', ['pending'])], teardown: node('entity_share') },
        { table: 'entity_shares', boundary: at('updated_at'), conditions: [isIn('status', ['rejected', 'canceled', 'revoked'])], teardown: node('entity_share') },
      ],
    };
  const entities: Readonly<Record<string, string>> = { sessions: 'session', endpoints: 'deployment', session_groups: 'session_group' };
  return { name: category.name, drains: category.drains.map((drain) => (entities[drain.table] ? { ...drain, teardown: node(entities[drain.table]!) } : drain)) };
});

/** Each distinct catalogue, from the release it starts at. */
export const RETENTION_SWEEPS: Readonly<Record<string, readonly SweepCategory[]>> = { '26.8.0': SWEEP_2608, '26.9.0': SWEEP_2609 };

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
 * The categories whose sweep by bai-migrate is compared row for row with the real 26.8.3 and 26.9.6
 * commands on their own schemas (clear-history-sweep.test.ts): all eight, in both catalogues. Own mode of 26.8 is still refused
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
