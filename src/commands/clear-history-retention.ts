/**
 * bai-migrate's own retention sweep, for the releases whose `backend.ai mgr clear-history` runs
 * the manager's RetentionRepository.sweep() over `retention_policies` (26.8.x: the catalogue in
 * src/releases/retention-sweep.ts; what it does is docs/clear-history-retention-policies.md).
 *
 * As the manager: one "now" (PostgreSQL's) for every category; the enabled policies in the
 * manager's own order (least recently swept first); each category's threshold is now less its
 * retention_period as the manager's driver reads it (days + 30 × months + 365 × years); its tables
 * drained in the catalogue's order; then its policy stamped (last_swept_at and updated_at = now).
 *
 * Unlike the manager: each batch of `batchSize` rows is its own short transaction (the manager
 * holds every deleted row locked in one transaction until the whole sweep ends); a category whose
 * deletion a foreign key without cascade would refuse (which rolls back the manager's whole
 * category, logged and skipped) is found before anything of it is deleted, skipped the same way and
 * reported; a dry run counts what the run deletes, earlier drains of the run taken into account.
 *
 * From 26.9 a drain of an entity table (its `teardown`) also removes each deleted row's node of the
 * RBAC graph, in the transaction of the batch that deleted the row, as the manager does per batch.
 */
import type pg from 'pg';
import type { Logger } from '../core/logger.js';
import type { RetentionCategoryReported, RetentionCategoryState } from '../core/report/model.js';
import { retentionIntervalText, type RetentionPolicyChange } from '../releases/retention-policy-changes.js';
import {
  managerPeriodSeconds,
  RETENTION_CATEGORIES,
  SEEDED_RETENTION_POLICIES,
  type RetentionCategoryName,
  type SweepCategory,
  type SweepCondition,
  type SweepDrain,
  type SweepGraph,
} from '../releases/retention-sweep.js';
import type { Finding } from '../steps/step.js';
import { quoteIdent } from '../stores/sql.js';

export interface SweepOptions {
  readonly batchSize: number;
  readonly dryRun: boolean;
  /** The manager's retention.per-tick-budget: once this many rows are deleted, the categories left wait. null: none (its default). */
  readonly perTickBudget: number | null;
  /** Only these categories are swept; an enabled policy of another one is reported as not done (own mode does not know it yet). */
  readonly only?: readonly RetentionCategoryName[];
  /**
   * Policies read as if these changes were made (a dry run of retention-policies): the rows are not
   * written. Policies never swept tie in the manager's order; read through this overlay they may come
   * out in another order than the run's, which changes a count only with a per-tick budget.
   */
  readonly overrides?: readonly PolicyOverride[];
}

/** A policy as retention-policies leaves it: enabled or not, with this retention (an interval's text). */
export interface PolicyOverride {
  readonly category: RetentionCategoryName;
  readonly enabled: boolean;
  readonly period: string;
}

/** A policy's state before and after retention-policies changed it (before: null where it had no row). */
export interface PolicyChange {
  readonly category: RetentionCategoryName;
  readonly before: { readonly enabled: boolean; readonly period: string } | null;
  readonly after: { readonly enabled: boolean; readonly period: string };
}

/** As the report carries them (src/core/report/model.ts). */
export type CategoryState = RetentionCategoryState;
export type CategorySweep = RetentionCategoryReported;

export interface SweepResult {
  readonly now: string;
  readonly categories: readonly CategorySweep[];
  readonly longestStatementMs: number;
  readonly findings: Finding[];
}

/** A foreign key of the schema, single-column. */
interface ForeignKey {
  readonly constraint: string;
  readonly table: string;
  readonly column: string;
  readonly target: string;
  readonly key: string;
  /** a: no action, r: restrict, c: cascade, n: set null, d: set default. */
  readonly onDelete: string;
}

async function foreignKeys(client: pg.Client): Promise<ForeignKey[]> {
  const { rows } = await client.query<{ constraint: string; table: string; target: string; deltype: string; columns: string[]; keys: string[] }>(
    `SELECT c.conname AS constraint, src.relname AS table, dst.relname AS target, c.confdeltype AS deltype,
            ARRAY(SELECT a.attname::text FROM unnest(c.conkey) AS k(n) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) AS columns,
            ARRAY(SELECT a.attname::text FROM unnest(c.confkey) AS k(n) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) AS keys
       FROM pg_constraint c JOIN pg_class src ON src.oid = c.conrelid JOIN pg_class dst ON dst.oid = c.confrelid
      WHERE c.contype = 'f' AND dst.relnamespace = current_schema()::regnamespace
      ORDER BY src.relname, c.conname`,
  );
  // Multi-column keys (none onto the swept tables in 26.8) are kept as their first column only where both sides have one.
  return rows
    .filter((r) => r.columns.length === 1 && r.keys.length === 1)
    .map((r) => ({ constraint: r.constraint, table: r.table, column: r.columns[0]!, target: r.target, key: r.keys[0]!, onDelete: r.deltype }));
}

/** A drain bound to its category's thresholds: what the SQL below is built from. */
interface BoundDrain {
  readonly drain: SweepDrain;
  readonly category: string;
  /** now - period as an instant (text, exact). */
  readonly threshold: string;
}

/** Parameters of one statement, numbered as they are added. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast: string): string {
    this.values.push(value);
    return `$${this.values.length}::${cast}`;
  }
}

let aliasCounter = 0;
const nextAlias = (prefix: string) => `${prefix}${++aliasCounter}`;

function conditionSql(condition: SweepCondition, alias: string, params: Params, deletedEarlier?: (table: string, alias: string) => string): string {
  if (condition.kind === 'in') return `${alias}.${quoteIdent(condition.column)}::text = ANY(${params.add(condition.values, 'text[]')})`;
  const r = nextAlias('r');
  const surviving = deletedEarlier ? ` AND NOT (${deletedEarlier(condition.table, r)})` : '';
  return `NOT EXISTS (SELECT 1 FROM ${quoteIdent(condition.table)} ${r} WHERE ${r}.${quoteIdent(condition.column)} = ${alias}.id${surviving})`;
}

/**
 * SQL true for a row `alias` of the drain's table that the drain selects. `deletedEarlier` (dry
 * runs and checks): a referring row that an earlier drain of the run deletes no longer holds.
 */
function drainSql(bound: BoundDrain, alias: string, params: Params, deletedEarlier?: (table: string, alias: string) => string): string {
  const { drain } = bound;
  // A date boundary too is compared with the instant, as the manager's statement binds it (a timestamptz):
  // PostgreSQL takes the date's midnight in the connection's TimeZone, the database's default for both.
  const threshold = params.add(bound.threshold, 'timestamptz');
  const parts: string[] = [];
  if (drain.via) {
    const p = nextAlias('p');
    const parentConditions = drain.via.conditions.map((c) => ` AND ${conditionSql(c, p, params, deletedEarlier)}`).join('');
    parts.push(
      `${alias}.${quoteIdent(drain.via.column)} IN (SELECT ${p}.${quoteIdent(drain.via.key)} FROM ${quoteIdent(drain.via.parent)} ${p} WHERE ${p}.${quoteIdent(drain.boundary.column)} < ${threshold}${parentConditions})`,
    );
  } else {
    parts.push(`${alias}.${quoteIdent(drain.boundary.column)} < ${threshold}`);
  }
  for (const c of drain.conditions) parts.push(conditionSql(c, alias, params, deletedEarlier));
  return parts.join(' AND ');
}

/**
 * SQL true for a row `alias` of `table` that the drains in `earlier` delete, directly or by
 * ON DELETE CASCADE from a row they delete (followed through the catalogue's keys).
 */
function deletedBy(earlier: readonly BoundDrain[], keys: readonly ForeignKey[], params: Params, depth = 0): (table: string, alias: string) => string {
  const self = (table: string, alias: string): string => {
    const clauses: string[] = [];
    earlier.forEach((bound, i) => {
      if (bound.drain.table === table) clauses.push(`(${drainSql(bound, alias, params, deletedBy(earlier.slice(0, i), keys, params, depth + 1))})`);
    });
    if (depth < 4) {
      for (const fk of keys.filter((k) => k.table === table && k.onDelete === 'c' && earlier.some((b) => b.drain.table === k.target))) {
        const p = nextAlias('c');
        clauses.push(
          `EXISTS (SELECT 1 FROM ${quoteIdent(fk.target)} ${p} WHERE ${p}.${quoteIdent(fk.key)} = ${alias}.${quoteIdent(fk.column)} AND (${deletedBy(earlier, keys, params, depth + 1)(fk.target, p)}))`,
        );
      }
    }
    const graphClause = tornByEarlier(earlier, keys, params, table, alias, depth);
    if (graphClause) clauses.push(graphClause);
    return clauses.length > 0 ? clauses.join(' OR ') : 'FALSE';
  };
  return self;
}

/** An SQL string literal of catalogue data (entity type names). */
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/**
 * `WITH RECURSIVE torn(entity_type, entity_id)`: the graph nodes `seed` (a SELECT of type and id)
 * names, and those of the dependents' rows that name one of them, transitively (the manager's
 * `_cascaded_node_keys`); UNION, so a cycle ends.
 */
function tornNodes(graph: SweepGraph, seed: string): string {
  const dependents = graph.dependents
    .flatMap((d) =>
      d.refs.map(
        (ref) =>
          `SELECT ${literal(d.entity)}::text AS entity_type, ${quoteIdent(d.key)} AS entity_id, ${quoteIdent(ref.type)}::text AS ref_type, ${quoteIdent(ref.id)} AS ref_id FROM ${quoteIdent(d.table)}`,
      ),
    )
    .join(' UNION ALL ');
  return `WITH RECURSIVE torn(entity_type, entity_id) AS (SELECT seed.* FROM (${seed}) AS seed UNION SELECT d.entity_type, d.entity_id FROM torn JOIN (${dependents}) AS d ON d.ref_type = torn.entity_type AND d.ref_id = torn.entity_id)`;
}

/**
 * Dry runs and checks: SQL true for a row `alias` of `table` that goes by cascade with a graph node
 * the entity drains in `earlier` tear down (a role whose scope, a share whose target or recipient
 * is such a node); undefined when `table` is no dependent of their graph. The nodes are those of
 * the rows each drain selects, evaluated as the run meets them (its unreferenced conditions after
 * the drains before it), and their dependents as the database holds them now: a row the run
 * removes before (by a drain or by the graph) had its node torn down then, the same node.
 */
function tornByEarlier(earlier: readonly BoundDrain[], keys: readonly ForeignKey[], params: Params, table: string, alias: string, depth: number): string | undefined {
  const entityDrains = earlier.map((bound, i) => ({ bound, i })).filter(({ bound }) => bound.drain.teardown?.graph.dependents.some((d) => d.table === table));
  if (entityDrains.length === 0) return undefined;
  const graph = entityDrains[0]!.bound.drain.teardown!.graph;
  const seed = entityDrains
    .map(({ bound, i }) => {
      const t = nextAlias('e');
      return `SELECT ${literal(bound.drain.teardown!.entity)}::text, ${t}.id FROM ${quoteIdent(bound.drain.table)} ${t} WHERE ${drainSql(bound, t, params, deletedBy(earlier.slice(0, i), keys, params, depth + 1))}`;
    })
    .join(' UNION ');
  const refs = graph.dependents
    .find((d) => d.table === table)!
    .refs.map((ref) => `(torn.entity_type = ${alias}.${quoteIdent(ref.type)}::text AND torn.entity_id = ${alias}.${quoteIdent(ref.id)})`)
    .join(' OR ');
  return `EXISTS (${tornNodes(graph, seed)} SELECT 1 FROM torn WHERE ${refs})`;
}

/**
 * The run: tears down the graph nodes of the rows a batch deleted (`ids`, of `entity`) on the
 * batch's transaction, as the manager's `_teardown`: the nodes, with their dependents' nodes, then
 * their attributes (labels). Returns how many nodes and attribute rows went.
 */
async function tearDown(client: pg.Client, graph: SweepGraph, entity: string, ids: readonly string[]): Promise<{ nodes: number; attributes: number }> {
  const matches = (target: { table: string; type: string; id: string }, a: string) =>
    `DELETE FROM ${quoteIdent(target.table)} ${a} USING torn WHERE ${a}.${quoteIdent(target.type)}::text = torn.entity_type AND ${a}.${quoteIdent(target.id)} = torn.entity_id RETURNING 1`;
  const attributes = graph.attributes.map((attribute, i) => `, a${i} AS (${matches(attribute, `l${i}`)})`).join('');
  const counts = graph.attributes.map((_, i) => `(SELECT count(*) FROM a${i})`).join(' + ') || '0';
  const { rows } = await client.query<{ nodes: number; attributes: number }>(
    `${tornNodes(graph, 'SELECT $1::text, unnest($2::uuid[])')}, nodes AS (${matches(graph.nodes, 'v')})${attributes}
     SELECT (SELECT count(*) FROM nodes)::int AS nodes, (${counts})::int AS attributes`,
    [entity, ids],
  );
  return rows[0]!;
}

/**
 * SQL selecting `column` of the rows of the last table of `path` (a chain of ON DELETE CASCADE keys
 * from the drain's table) that the drain removes: its own rows, or those its deletion cascades to.
 */
function removedRows(bound: BoundDrain, path: readonly ForeignKey[], column: string, params: Params, before: (table: string, alias: string) => string): string {
  const last = path.at(-1);
  if (!last) {
    const t = nextAlias('t');
    return `SELECT ${t}.${quoteIdent(column)} FROM ${quoteIdent(bound.drain.table)} ${t} WHERE ${drainSql(bound, t, params, before)} AND NOT (${before(bound.drain.table, t)})`;
  }
  const c = nextAlias('k');
  return `SELECT ${c}.${quoteIdent(column)} FROM ${quoteIdent(last.table)} ${c} WHERE ${c}.${quoteIdent(last.column)} IN (${removedRows(bound, path.slice(0, -1), last.key, params, before)})`;
}

/**
 * What would stop the drain `run[index]`: a row it deletes (or its delete cascades to) that a row
 * no drain of the run deletes refers to through a key without cascade or set null. The manager's
 * whole category then fails and is rolled back. Says which key and how many rows; undefined: none.
 */
async function blocker(client: pg.Client, run: readonly BoundDrain[], index: number, keys: readonly ForeignKey[]): Promise<string | undefined> {
  const bound = run[index]!;
  const table = bound.drain.table;
  // The tables whose rows this drain removes: its own, and those its deletion cascades to.
  const reached: Array<{ table: string; path: ForeignKey[] }> = [{ table, path: [] }];
  for (let i = 0; i < reached.length && i < 32; i++) {
    for (const fk of keys.filter((k) => k.target === reached[i]!.table && k.onDelete === 'c')) reached.push({ table: fk.table, path: [...reached[i]!.path, fk] });
  }
  for (const { table: removed, path } of reached) {
    for (const fk of keys.filter((k) => k.target === removed && (k.onDelete === 'a' || k.onDelete === 'r'))) {
      const params = new Params();
      const before = deletedBy(run.slice(0, index), keys, params);
      const upToThis = deletedBy(run.slice(0, index + 1), keys, params);
      const h = nextAlias('h');
      const sql = `SELECT count(*)::int AS n FROM ${quoteIdent(fk.table)} ${h} WHERE ${h}.${quoteIdent(fk.column)} IN (${removedRows(bound, path, fk.key, params, before)}) AND NOT (${upToThis(fk.table, h)})`;
      const { rows } = await client.query<{ n: number }>(sql, params.values);
      if (rows[0]!.n > 0)
        return `${rows[0]!.n} row(s) of ${fk.table}.${fk.column} (${fk.constraint}, no cascade) refer to rows of ${removed} that ${table}'s drain would delete${path.length > 0 ? ' by cascade' : ''}`;
    }
  }
  return undefined;
}

/**
 * Deletes the drain's rows, `batchSize` per statement and transaction, until none is left; how
 * many, the graph nodes torn down with them (26.9's entity tables), and the longest batch.
 */
async function drainInBatches(client: pg.Client, bound: BoundDrain, batchSize: number): Promise<{ deleted: number; longestMs: number; nodes: number }> {
  const t = quoteIdent(bound.drain.table);
  let deleted = 0;
  let longestMs = 0;
  const torn = { nodes: 0 };
  for (;;) {
    const params = new Params();
    const where = drainSql(bound, 's', params);
    const limit = params.add(batchSize, 'int');
    const started = Date.now();
    const statement = `DELETE FROM ${t} WHERE ctid = ANY (ARRAY (SELECT s.ctid FROM ${t} s WHERE ${where} LIMIT ${limit}))`;
    const teardown = bound.drain.teardown;
    let n: number;
    if (!teardown) {
      // One statement, autocommitted: the batch's rows are found and deleted together, and locked only while it runs.
      n = (await client.query(statement, params.values)).rowCount ?? 0;
    } else {
      // An entity table: the batch and the teardown of its rows' graph nodes in one transaction.
      await client.query('BEGIN');
      try {
        const { rows } = await client.query<{ id: string }>(`${statement} RETURNING id::text`, params.values);
        n = rows.length;
        if (n > 0)
          torn.nodes += (
            await tearDown(
              client,
              teardown.graph,
              teardown.entity,
              rows.map((r) => r.id),
            )
          ).nodes;
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
    longestMs = Math.max(longestMs, Date.now() - started);
    deleted += n;
    if (n === 0) return { deleted, longestMs, nodes: torn.nodes };
  }
}

interface PolicyRow {
  id: string;
  category: string;
  period: string;
  enabled: boolean;
  last_swept_at: string | null;
  days: string;
  threshold: string;
  threshold_iso: string;
}

/**
 * The sweep of `catalogue` over the database's `retention_policies`: every category reported,
 * enabled ones swept (or counted, in a dry run) in the manager's order.
 */
export async function sweepRetentionPolicies(client: pg.Client, catalogue: readonly SweepCategory[], options: SweepOptions, log: Logger): Promise<SweepResult> {
  const findings: Finding[] = [];
  const keys = await foreignKeys(client);
  // The manager's "now": PostgreSQL's, once, for every threshold and stamp (kept as text: microseconds and all).
  const { rows: clock } = await client.query<{ now: string; iso: string }>(`SELECT n::text AS now, to_char(n AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS iso FROM (SELECT now() AS n) x`);
  const now = clock[0]!.now;
  const seconds = managerPeriodSeconds('retention_period');
  const columns = `id::text, category, retention_period::text AS period, enabled, to_char(last_swept_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS last_swept_at,
       (${seconds} / 86400)::text AS days,
       ($1::timestamptz - make_interval(secs => ${seconds}))::text AS threshold,
       to_char(($1::timestamptz - make_interval(secs => ${seconds})) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS threshold_iso`;
  // The manager's own query and order: equal last_swept_at (never swept: NULL) come out as PostgreSQL sorts them for it.
  // A dry run of retention-policies reads the rows as they would be (a category it adds has no id: it is never stamped in a dry run).
  const overrides = options.overrides ?? [];
  const source =
    overrides.length === 0
      ? 'retention_policies'
      : `(SELECT p.id, COALESCE(p.category, o.category) AS category, COALESCE(o.period::interval, p.retention_period) AS retention_period, COALESCE(o.enabled, p.enabled) AS enabled, p.last_swept_at
            FROM retention_policies p FULL JOIN unnest($2::text[], $3::bool[], $4::text[]) AS o(category, enabled, period) ON o.category = p.category) AS retention_policies`;
  const values = overrides.length === 0 ? [now] : [now, overrides.map((o) => o.category), overrides.map((o) => o.enabled), overrides.map((o) => o.period)];
  const { rows: enabled } = await client.query<PolicyRow>(`SELECT ${columns} FROM ${source} WHERE enabled = true ORDER BY last_swept_at ASC NULLS FIRST`, values);
  const { rows: all } = await client.query<PolicyRow>(`SELECT ${columns} FROM ${source} ORDER BY category`, values);

  const categories: CategorySweep[] = [];
  const run: BoundDrain[] = [];
  let budget = options.perTickBudget;
  let longest = 0;
  const describe = (p: PolicyRow) => ({ enabled: p.enabled, period: p.period, days: Number(p.days), threshold: p.threshold_iso, lastSweptAt: p.last_swept_at });

  for (const policy of enabled) {
    const category = catalogue.find((c) => c.name === policy.category);
    const base = { category: policy.category, ...describe(policy), deleted: {}, total: 0 };
    if (budget !== null && budget <= 0) {
      categories.push({ ...base, state: 'deferred', reason: `the per-tick budget (${options.perTickBudget}) was reached` });
      continue;
    }
    if (!category) {
      // The manager skips a category it has no cleanup for, unstamped; an unknown category stops its whole sweep when it loads the policies.
      categories.push({ ...base, state: 'failed', reason: `no cleanup is known for category ${policy.category}` });
      continue;
    }
    if (options.only && !options.only.includes(category.name)) {
      categories.push({ ...base, state: 'not-implemented', reason: `bai-migrate's own mode does not sweep ${category.name} yet` });
      continue;
    }
    const bound = category.drains.map((drain) => ({ drain, category: category.name, threshold: policy.threshold }));
    const start = run.length;
    run.push(...bound);
    let blocked: string | undefined;
    for (let i = start; i < run.length && !blocked; i++) blocked = await blocker(client, run, i, keys);
    if (blocked) {
      run.splice(start);
      categories.push({ ...base, state: 'failed', reason: `${blocked}: the manager's whole category would fail and be rolled back; nothing of it was ${options.dryRun ? 'counted' : 'deleted'}` });
      continue;
    }
    const deleted: Record<string, number> = {};
    let stopped: string | undefined;
    for (let i = start; i < run.length && !stopped; i++) {
      const b = run[i]!;
      let n: number;
      if (options.dryRun) {
        const params = new Params();
        const before = deletedBy(run.slice(0, i), keys, params);
        const { rows } = await client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${quoteIdent(b.drain.table)} t WHERE ${drainSql(b, 't', params, before)} AND NOT (${before(b.drain.table, 't')})`,
          params.values,
        );
        n = rows[0]!.n;
      } else {
        try {
          const done = await drainInBatches(client, b, options.batchSize);
          longest = Math.max(longest, done.longestMs);
          n = done.deleted;
          if (done.nodes > 0) log.info(`clear-history: ${category.name}: ${b.drain.table}: ${done.nodes} graph node(s) torn down with the deleted rows`);
        } catch (error) {
          // A row written since the pre-check (a kernel of a session being deleted) refers to a batch's rows:
          // the manager rolls its whole category back and goes on; here the batches before stay deleted.
          if ((error as { code?: string }).code !== '23503') throw error;
          stopped = `${b.drain.table}: ${(error as Error).message}`;
          n = 0;
        }
      }
      deleted[b.drain.table] = (deleted[b.drain.table] ?? 0) + n;
    }
    if (stopped) {
      run.splice(start);
      const done = Object.values(deleted).reduce((a, b) => a + b, 0);
      categories.push({
        ...base,
        state: 'failed',
        deleted,
        total: done,
        reason: `a foreign key stopped it part-way (${stopped}): the ${done} row(s) of its batches before stay deleted, it is not stamped, and the next run goes on with it (the manager would have rolled the whole category back)`,
      });
      if (budget !== null) budget -= done;
      continue;
    }
    const total = Object.values(deleted).reduce((a, b) => a + b, 0);
    if (!options.dryRun) await client.query('UPDATE retention_policies SET last_swept_at = $1::timestamptz, updated_at = $1::timestamptz WHERE id = $2::uuid', [now, policy.id]);
    if (budget !== null) budget -= total;
    categories.push({ ...base, state: 'swept', deleted, total });
    log.info(`clear-history: ${category.name}: ${options.dryRun ? 'would delete' : 'deleted'} ${total} row(s)`);
  }
  for (const name of RETENTION_CATEGORIES) {
    if (categories.some((c) => c.category === name)) continue;
    const row = all.find((p) => p.category === name);
    categories.push(
      row
        ? { category: name, state: 'disabled', ...describe(row), deleted: {}, total: 0 }
        : { category: name, state: 'missing', enabled: false, period: null, days: null, threshold: null, lastSweptAt: null, deleted: {}, total: 0, reason: 'retention_policies has no row for it' },
    );
  }
  for (const c of categories) findings.push(categoryFinding(c, options.dryRun));
  return { now: clock[0]!.iso, categories, longestStatementMs: longest, findings };
}

function categoryFinding(c: CategorySweep, dryRun: boolean): Finding {
  const retention = c.period === null ? 'no policy row' : `${c.enabled ? 'enabled' : 'disabled'}, retention ${c.period} (${c.days} days as the manager reads it)`;
  const tables = Object.entries(c.deleted)
    .map(([table, n]) => `${n} ${table}`)
    .join(', ');
  switch (c.state) {
    case 'swept':
      return {
        status: c.total > 0 && !dryRun ? 'changed' : dryRun ? 'skipped' : 'ok',
        detail: `retention policy ${c.category}: ${retention}, rows before ${c.threshold}: ${dryRun ? 'would delete' : 'deleted'} ${c.total} row(s) (${tables})`,
      };
    case 'disabled':
    case 'missing':
      return { status: 'ok', detail: `retention policy ${c.category}: ${retention}; nothing deleted` };
    case 'deferred':
      return { status: 'warning', detail: `retention policy ${c.category}: ${retention}; deferred: ${c.reason}` };
    case 'not-implemented':
    case 'failed':
      return { status: 'failed', detail: `retention policy ${c.category}: ${retention}; not swept: ${c.reason}` };
  }
}

/**
 * retention-policies: each named policy enabled, disabled or given a new retention, its row made
 * (as the seed makes it) where the schema has none, in one transaction; or, in a dry run, nothing
 * written and the overrides the sweep reads instead. Each change as it was before and after.
 */
export async function changeRetentionPolicies(
  client: pg.Client,
  changes: readonly RetentionPolicyChange[],
  dryRun: boolean,
): Promise<{ readonly changes: PolicyChange[]; readonly overrides: PolicyOverride[]; readonly findings: Finding[] }> {
  const { rows } = await client.query<{ category: string; enabled: boolean; period: string }>('SELECT category, enabled, retention_period::text AS period FROM retention_policies');
  const planned: Array<{ change: RetentionPolicyChange; before: PolicyChange['before']; interval: string }> = [];
  for (const change of changes) {
    const row = rows.find((r) => r.category === change.category);
    const seeded = SEEDED_RETENTION_POLICIES.find((p) => p.category === change.category)!.period;
    const interval = change.retention ? retentionIntervalText(change.retention) : (row?.period ?? seeded);
    planned.push({ change, before: row ? { enabled: row.enabled, period: row.period } : null, interval });
  }
  // PostgreSQL's own text for each new interval, as the row will show it.
  const { rows: texts } = await client.query<{ period: string }>('SELECT p::interval::text AS period FROM unnest($1::text[]) WITH ORDINALITY AS x(p, n) ORDER BY n', [planned.map((p) => p.interval)]);
  const result = planned.map((p, i) => ({ category: p.change.category, before: p.before, after: { enabled: p.change.enabled, period: texts[i]!.period } }));
  if (!dryRun && result.length > 0) {
    await client.query('BEGIN');
    try {
      for (const c of result) {
        // id and timestamps given here: a schema made by oneshot may lack their server defaults.
        await client.query(
          `INSERT INTO retention_policies (id, category, retention_period, enabled, last_swept_at, created_at, updated_at)
           VALUES (gen_random_uuid(), $1, $2::interval, $3, NULL, now(), now())
           ON CONFLICT (category) DO UPDATE SET retention_period = EXCLUDED.retention_period, enabled = EXCLUDED.enabled, updated_at = now()`,
          [c.category, c.after.period, c.after.enabled],
        );
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
  }
  const describe = (s: { enabled: boolean; period: string } | null) => (s ? `${s.enabled ? 'enabled' : 'disabled'}, retention ${s.period}` : 'no row');
  const findings: Finding[] = result.map((c) => {
    const same = c.before !== null && c.before.enabled === c.after.enabled && c.before.period === c.after.period;
    return {
      status: same ? 'ok' : dryRun ? 'skipped' : 'changed',
      detail: `retention-policies: ${c.category}: ${describe(c.before)} → ${describe(c.after)}${same ? ' (already so)' : dryRun ? ' (dry run: not written; the sweep below counts as if it were)' : ''}`,
    };
  });
  return { changes: result, overrides: dryRun ? result.map((c) => ({ category: c.category, ...c.after })) : [], findings };
}
