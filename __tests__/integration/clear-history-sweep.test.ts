/**
 * clear-history from 26.8: the real `backend.ai mgr clear-history -r 30d` runs the manager's
 * retention sweep over `retention_policies`; bai-migrate's own sweep
 * (src/commands/clear-history-retention.ts) must leave every table as it does. For 26.8.3 and
 * 26.9.6 (whose catalogue drains entity_shares and tears down the RBAC graph's nodes of the entities
 * it deletes): the release's own schema (its package's `mgr schema oneshot`), the eight policies as a
 * migrated database holds them (b3e8f1a24c76: disabled), history seeded on both sides of each
 * threshold (26.9.6: with graph nodes, labels, roles and shares hanging off the entities deleted);
 * some categories enabled with retentions where asyncpg's reading of the interval (30-day months,
 * 365-day years) and PostgreSQL's calendar differ, the others left disabled. The manager on one
 * copy, bai-migrate on another: the same rows everywhere (the graph's tables too), the policies
 * stamped alike, the dry run's counts the run's and the manager's own total.
 * docs/clear-history-retention-policies.md says what is compared.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectAdmin, type Admin } from '../support/deployment.js';
import { copyOfTemplate, oneshotDatabase, seedStatKeys } from '../support/oneshot.js';
import { productVenvs } from '../support/real-manager.js';
import { insertColumns, insertFilled, seedInstallation } from '../support/installation-rows.js';
import { ranRealPackage } from '../support/real-lines.js';
import { MemoryLogger } from '../../src/core/logger.js';
import { parseOptions } from '../../src/options/index.js';
import { ManagerVenvs } from '../../src/manager/venvs.js';
import { pyenvInterpreters, type ProvisionedVenv } from '../../src/manager/venv.js';
import { requireSuccess, runManagerCli } from '../../src/manager/cli.js';
import { sweepRetentionPolicies, type SweepResult } from '../../src/commands/clear-history-retention.js';
import { clearRetentionEra, cutoffAndCount } from '../../src/commands/clear-history.js';
import { clearHistoryPolicy } from '../../src/releases/line-facts.js';
import { findRelease } from '../../src/releases/releases.js';
import { Deployment } from '../../src/stores/deployment.js';
import { resolveTargets } from '../../src/stores/connections.js';
import { RETENTION_CATEGORIES, RETENTION_SWEEPS, SEEDED_RETENTION_POLICIES, type RetentionCategoryName } from '../../src/releases/retention-sweep.js';
import { workerTestbed } from '../support/worker-testbed.js';
import { databaseClient, operatorManagerToml } from '../support/operator-toml.js';
import { runAction, runEngine } from '../support/run.js';
import { actionSteps, runnerInputs } from '../support/workflow-steps.js';
import { outputValues } from '../../src/action/main.js';
import { renderMarkdown } from '../../src/core/report/index.js';

/** 26.8.3: the 26.8.0 catalogue; 26.9.6: the 26.9.0 one (the same sweep from 26.9.0 to 26.9.6, read in their wheels). */
const RELEASES = ['26.8.3', '26.9.6'] as const;
/** The clear-history era each release's report names. */
const SEMANTICS: Record<(typeof RELEASES)[number], string> = { '26.8.3': '26.8.0 to before 26.9.0', '26.9.6': '26.9.0 and later' };
type SweepRelease = (typeof RELEASES)[number];
const info = workerTestbed();
const client = (database: string) => databaseClient(info, database);
const managerToml = (database: string, namespace: string, rpcKeyFile: string) =>
  operatorManagerToml(info, { database, namespace, prefix: 'bai-ch-sweep-', managerLines: `rpc-auth-manager-keypair = "${rpcKeyFile}"\n` });
let admin: Admin;
const cleanups: Array<() => Promise<void>> = [];

/** One release's package and seeded schema. */
interface Suite {
  readonly release: SweepRelease;
  venv: ProvisionedVenv;
  template: string;
  rpcKeyFile: string;
  /** 26.9: the keys without cascade (or set null) onto what a node's teardown removes (virtual_entities and what cascades from it). */
  teardownBlockers?: string[];
}
/** The release has the RBAC graph whose nodes the sweep tears down (26.9). */
const hasGraph = (suite: Suite) => suite.release !== '26.8.3';

/**
 * The categories enabled, with retentions whose days asyncpg reads otherwise than PostgreSQL's
 * calendar would count them back from today (2 mons: 60 days, not 61 or 62; 1 year 2 mons: 425).
 */
const ENABLED: Partial<Record<RetentionCategoryName, string>> = {
  logs: '30 days',
  reconcile_history: '2 mons',
  login: '1 year 2 mons',
  usage_records: '45 days',
  usage_buckets: '1 mon 10 days',
  sessions: '40 days',
};
/** The days the manager subtracts for each (asyncpg: 30-day months, 365-day years). */
const DAYS: Partial<Record<RetentionCategoryName, number>> = { logs: 30, reconcile_history: 60, login: 425, usage_records: 45, usage_buckets: 40, sessions: 40 };

const ago = (days: number) => `now() - interval '${days * 86400} seconds'`;
/** Ages on both sides of a threshold of `d` days, half a day off, and far ones. */
const around = (d: number) => [d * 3, d + 0.5, d - 0.5, 1];

const OWNER = {
  domain_name: `'default'`,
  group_id: `(SELECT id FROM groups LIMIT 1)`,
  user_uuid: `(SELECT uuid FROM users ORDER BY username LIMIT 1)`,
  access_key: `(SELECT access_key FROM keypairs ORDER BY access_key LIMIT 1)`,
  resource_group_id: `(SELECT id FROM scaling_groups WHERE name = 'default')`,
};

async function addSession(c: pg.Client, i: number, status: string, terminated: number | null, kernels: ReadonlyArray<{ status: string; terminated: number | null }>): Promise<string> {
  const { rows } = await c.query<{ id: string }>('SELECT gen_random_uuid()::text AS id');
  const id = rows[0]!.id;
  // insertColumns: 26.9's sessions and kernels have no slot columns.
  await insertColumns(c, 'sessions', {
    id: `'${id}'`,
    creation_id: `'c${i}'`,
    name: `'s-${id.slice(0, 8)}'`,
    session_type: `'INTERACTIVE'`,
    cluster_mode: `'single-node'`,
    cluster_size: `${kernels.length}`,
    ...OWNER,
    domain_id: `(SELECT id FROM domains WHERE name = 'default')`,
    scaling_group_name: `'default'`,
    status: `'${status}'`,
    created_at: ago(500),
    terminated_at: terminated === null ? 'NULL' : ago(terminated),
    occupying_slots: `'{}'`,
    requested_slots: `'{}'`,
  });
  for (const [k, kernel] of kernels.entries()) {
    await insertColumns(c, 'kernels', {
      id: k === 0 ? `'${id}'` : 'gen_random_uuid()',
      session_id: `'${id}'`,
      session_creation_id: `'c${i}'`,
      session_name: `'s-${id.slice(0, 8)}'`,
      session_type: `'INTERACTIVE'`,
      cluster_mode: `'single-node'`,
      cluster_size: `${kernels.length}`,
      cluster_role: k === 0 ? `'main'` : `'sub'`,
      cluster_idx: `${k + 1}`,
      local_rank: `${k}`,
      cluster_hostname: `'${k === 0 ? 'main1' : `sub${k}`}'`,
      ...OWNER,
      scaling_group: `'default'`,
      image: `'cr.backend.ai/stable/python:3.9-ubuntu20.04'`,
      architecture: `'x86_64'`,
      registry: `'cr.backend.ai'`,
      status: `'${kernel.status}'`,
      occupied_slots: `'{}'`,
      requested_slots: `'{}'`,
      created_at: ago(500),
      terminated_at: kernel.terminated === null ? 'NULL' : ago(kernel.terminated),
    });
  }
  return id;
}

/** History in every table of the enabled categories (and of the disabled ones that are cheap to seed), on both sides of each threshold. */
async function seedHistory(c: pg.Client): Promise<{ routedSession: string }> {
  for (const [i, days] of [400, ...around(30)].entries()) {
    await insertFilled(c, 'event_logs', { created_at: ago(days) });
    await insertFilled(c, 'audit_logs', { created_at: ago(days) });
    await insertFilled(c, 'error_logs', { created_at: ago(days), severity: `'error'`, source: `'manager'`, user: OWNER.user_uuid, message: `'failed ${i}'`, is_read: 'false', is_cleared: 'false' });
  }
  // created long ago, updated on both sides of 60 days (and of PostgreSQL's 61 or 62).
  for (const table of ['session_scheduling_history', 'kernel_scheduling_history', 'deployment_history', 'route_history', 'replica_group_history']) {
    for (const days of [400, 62.5, 61.5, 60.5, 59.5, 5]) await insertFilled(c, table, { created_at: ago(500), updated_at: ago(days) });
  }
  for (const days of [800, 426.5, 425.5, 424.5, 10]) await insertFilled(c, 'login_history', { user_id: OWNER.user_uuid, created_at: ago(days) });
  for (const status of ['active', 'invalidated', 'revoked']) {
    for (const days of [800, 425.5, 424.5])
      await insertFilled(c, 'login_sessions', { session_token: 'md5(random()::text)', user_id: OWNER.user_uuid, status: `'${status}'`, invalidated_at: status === 'active' ? 'NULL' : ago(days) });
  }
  for (const days of around(45)) await insertFilled(c, 'kernel_usage_records', { period_start: ago(days + 1), period_end: ago(days) });
  // Usage buckets: period_end is a date, which the manager compares with the instant now - 40 days (its
  // midnight in the connection's TimeZone): dates around that one's UTC date; entries matched by bucket_type.
  const thresholdDate = `((now() - interval '40 days') AT TIME ZONE 'UTC')::date`;
  for (const kind of ['domain', 'project', 'user'] as const) {
    for (const offset of [-100, -1, 0, 1]) {
      const { rows } = await c.query<{ id: string }>('SELECT gen_random_uuid()::text AS id');
      const id = rows[0]!.id;
      const owner: Record<string, string> =
        kind === 'domain'
          ? { domain_name: OWNER.domain_name }
          : kind === 'project'
            ? { project_id: OWNER.group_id, domain_name: OWNER.domain_name }
            : { user_uuid: OWNER.user_uuid, project_id: OWNER.group_id, domain_name: OWNER.domain_name };
      await insertColumns(c, `${kind}_usage_buckets`, {
        id: `'${id}'`,
        ...owner,
        resource_group: `'default'`,
        period_start: `${thresholdDate} + ${offset - 1}`,
        period_end: `${thresholdDate} + ${offset}`,
      });
      await insertColumns(c, 'usage_bucket_entries', { bucket_id: `'${id}'`, bucket_type: `'${kind}'`, slot_name: `'cpu'` });
      // An entry of another kind under the same id: the manager matches entries by bucket_type too.
      await insertColumns(c, 'usage_bucket_entries', { bucket_id: `'${id}'`, bucket_type: `'${kind === 'domain' ? 'user' : 'domain'}'`, slot_name: `'mem'` });
    }
  }
  // Sessions (40 days): terminated ones on both sides; a running one whose sub-kernel ended long ago
  // (the kernel goes, the session stays); a terminated one with a kernel still running (held); one whose
  // kernel is TERMINATING (not terminal: held); one a model service's routing still points at (held).
  let i = 0;
  for (const days of [400, 40.5, 39.5, 5]) await addSession(c, i++, 'TERMINATED', days, [{ status: 'TERMINATED', terminated: days }]);
  await addSession(c, i++, 'CANCELLED', 100, [
    { status: 'CANCELLED', terminated: 100 },
    { status: 'ERROR', terminated: 2 },
  ]);
  await addSession(c, i++, 'RUNNING', null, [
    { status: 'RUNNING', terminated: null },
    { status: 'TERMINATED', terminated: 200 },
  ]);
  await addSession(c, i++, 'TERMINATED', 300, [{ status: 'RUNNING', terminated: null }]);
  await addSession(c, i++, 'TERMINATED', 300, [{ status: 'TERMINATING', terminated: 300 }]);
  const routedSession = await addSession(c, i, 'TERMINATED', 300, [{ status: 'TERMINATED', terminated: 300 }]);
  const { rows } = await c.query<{ id: string }>('SELECT gen_random_uuid()::text AS id');
  const endpoint = rows[0]!.id;
  await insertColumns(c, 'endpoints', {
    id: `'${endpoint}'`,
    name: `'llm-service'`,
    created_user: OWNER.user_uuid,
    session_owner: OWNER.user_uuid,
    domain: `'default'`,
    project: OWNER.group_id,
    resource_group: `'default'`,
    lifecycle_stage: `'ready'`,
  });
  await insertColumns(c, 'routings', {
    id: 'gen_random_uuid()',
    endpoint: `'${endpoint}'`,
    session: `'${routedSession}'`,
    session_owner: OWNER.user_uuid,
    domain: `'default'`,
    project: OWNER.group_id,
    traffic_ratio: '1.0',
    status: `'running'`,
  });
  return { routedSession };
}

const newId = async (c: pg.Client) => (await c.query<{ id: string }>('SELECT gen_random_uuid()::text AS id')).rows[0]!.id;

/**
 * Roles and invitations (90 days), and model services (50 days): rows on both sides of each
 * threshold, in the statuses taken and those kept; replica groups that hold their placement group
 * and ones that go (directly, or with their destroyed endpoint), so that groups are freed.
 */
async function seedDeploymentsAndRoles(c: pg.Client, graph: boolean): Promise<void> {
  const roles: Record<string, string> = {};
  // 26.9: a role's scope is a graph node (a foreign key onto virtual_entities): the project's.
  if (graph) await c.query(`INSERT INTO virtual_entities (entity_type, entity_id) SELECT 'project', id FROM groups`);
  const scope: Record<string, string> = graph ? { scope_type: `'project'`, scope_id: OWNER.group_id } : {};
  for (const [name, status, deleted] of [
    ['r-old', 'deleted', 100],
    ['r-recent', 'deleted', 80],
    ['r-active', 'active', null],
  ] as const) {
    roles[name] = await newId(c);
    await insertFilled(c, 'roles', { id: `'${roles[name]}'`, name: `'${name}'`, status: `'${status}'`, deleted_at: deleted === null ? 'NULL' : ago(deleted), ...scope });
  }
  if (!graph) await seedInvitations(c, roles);
  await seedDeployments(c);
}

/** 26.8: role and vfolder invitations (26.9 has entity_shares instead: seedGraph). */
async function seedInvitations(c: pg.Client, roles: Record<string, string>): Promise<void> {
  // Non-accepted invitations are unique per invitee and role (uq_role_invitations_active): each its own active role.
  for (const [i, [role, state, days]] of (
    [
      ['r-active', 'rejected', 100],
      ['r-active', 'canceled', 100],
      ['r-active', 'accepted', 100],
      ['r-active', 'pending', 100],
      ['r-active', 'rejected', 80],
      ['r-old', 'pending', 10],
    ] as const
  ).entries()) {
    let roleId = roles[role]!;
    if (role === 'r-active') {
      roleId = await newId(c);
      await insertFilled(c, 'roles', { id: `'${roleId}'`, name: `'r-active-${i}'`, status: `'active'` });
    }
    await insertFilled(c, 'role_invitations', { role_id: `'${roleId}'`, invitee_user_id: OWNER.user_uuid, state: `'${state}'`, updated_at: ago(days) });
  }
  const vfolder = await newId(c);
  await insertFilled(c, 'vfolders', {
    id: `'${vfolder}'`,
    name: `'shared'`,
    host: `'local:volume1'`,
    domain_name: OWNER.domain_name,
    user: OWNER.user_uuid,
    quota_scope_id: `'user:' || ${OWNER.user_uuid}`,
  });
  for (const [state, days] of [
    ['rejected', 100],
    ['canceled', 80],
    ['accepted', 100],
    ['pending', 100],
  ] as const) {
    await insertFilled(c, 'vfolder_invitations', { vfolder: `'${vfolder}'`, invitee: `'user1@example.com'`, state: `'${state}'`, modified_at: ago(days) });
  }
}

async function seedDeployments(c: pg.Client): Promise<void> {
  const variant = await newId(c);
  await insertFilled(c, 'runtime_variants', { id: `'${variant}'`, name: `'custom'` });
  const endpoints: Record<string, string> = {};
  for (const [name, stage, destroyed] of [
    ['e-gone', 'destroyed', 100],
    ['e-recent', 'destroyed', 10],
    ['e-live', 'ready', null],
  ] as const) {
    endpoints[name] = await newId(c);
    await insertColumns(c, 'endpoints', {
      id: `'${endpoints[name]}'`,
      name: `'${name}'`,
      created_user: OWNER.user_uuid,
      session_owner: OWNER.user_uuid,
      domain: `'default'`,
      project: OWNER.group_id,
      resource_group: `'default'`,
      lifecycle_stage: `'${stage}'`,
      destroyed_at: destroyed === null ? 'NULL' : ago(destroyed),
    });
    for (const n of [1, 2])
      await insertFilled(c, 'deployment_revisions', {
        endpoint: `'${endpoints[name]}'`,
        revision_number: `${n}`,
        runtime_variant_id: `'${variant}'`,
        resource_group: `'default'`,
        created_at: ago(200),
      });
  }
  for (const [endpoint, status, days] of [
    ['e-live', 'terminated', 100],
    ['e-live', 'failed_to_start', 100],
    ['e-live', 'terminated', 10],
    ['e-live', 'running', 100],
    ['e-gone', 'running', 100],
  ] as const) {
    await insertColumns(c, 'routings', {
      id: 'gen_random_uuid()',
      endpoint: `'${endpoints[endpoint]}'`,
      session_owner: OWNER.user_uuid,
      domain: `'default'`,
      project: OWNER.group_id,
      traffic_ratio: '1.0',
      status: `'${status}'`,
      updated_at: ago(days),
    });
  }
  // Placement groups: held by a replica group that stays, freed by one that goes (drained, or with its endpoint), never held.
  for (const [, created, replica] of [
    ['g-drained', 100, { endpoint: 'e-live', lifecycle: 'drained', updated: 100 }],
    ['g-held', 100, { endpoint: 'e-live', lifecycle: 'stable', updated: 100 }],
    ['g-recent-drain', 100, { endpoint: 'e-live', lifecycle: 'failed', updated: 10 }],
    ['g-endpoint-gone', 100, { endpoint: 'e-gone', lifecycle: 'stable', updated: 100 }],
    ['g-free-old', 100, null],
    ['g-free-new', 10, null],
  ] as const) {
    const id = await newId(c);
    await insertFilled(c, 'session_groups', {
      id: `'${id}'`,
      domain_id: `(SELECT id FROM domains WHERE name = 'default')`,
      project_id: OWNER.group_id,
      owner_user_id: OWNER.user_uuid,
      created_at: ago(created),
    });
    if (replica) {
      await insertFilled(c, 'replica_groups', {
        deployment_id: `'${endpoints[replica.endpoint]}'`,
        session_group_id: `'${id}'`,
        lifecycle: `'${replica.lifecycle}'`,
        updated_at: ago(replica.updated),
      });
    }
  }
  for (const expires of [ago(100), ago(10), 'NULL', `now() + interval '10 days'`]) {
    await insertFilled(c, 'endpoint_tokens', {
      token: 'md5(random()::text)',
      endpoint: `'${endpoints['e-live']}'`,
      session_owner: OWNER.user_uuid,
      domain: `'default'`,
      project: OWNER.group_id,
      expires_at: expires,
    });
  }
}

/**
 * 26.9's graph around what the sweep deletes: nodes (virtual_entities) of the users, projects,
 * sessions (but one, whose labels then name no node), endpoints, placement groups, roles and shares;
 * roles scoped to an old session, a destroyed endpoint and a free placement group (they go with
 * their scope's node, and their own nodes with them); shares in every status on both sides of the
 * 90 days (pending ones on expires_at, ended ones on updated_at), and shares naming an entity that
 * goes (an old session, a dropped role, a destroyed endpoint) or a role that goes with one (so,
 * transitively); the project's node owning every other node (edges that go by cascade), and a label
 * on every node's entity.
 */
async function seedGraph(c: pg.Client): Promise<void> {
  const nodes = (type: string, table: string, key = 'id', where = '') =>
    c.query(`INSERT INTO virtual_entities (entity_type, entity_id) SELECT $1, ${key} FROM ${table} ${where} ON CONFLICT DO NOTHING`, [type]);
  await nodes('user', 'users', 'uuid');
  await nodes('session', 'sessions', 'id', `WHERE terminated_at IS NULL OR terminated_at NOT BETWEEN now() - interval '41 days' AND now() - interval '40 days'`);
  await nodes('deployment', 'endpoints');
  await nodes('session_group', 'session_groups');
  const one = async (sql: string) => (await c.query<{ id: string }>(sql)).rows[0]!.id;
  const oldSession = await one(`SELECT id::text FROM sessions WHERE status = 'TERMINATED' ORDER BY terminated_at LIMIT 1`);
  const recentSession = await one(`SELECT id::text FROM sessions WHERE status = 'TERMINATED' ORDER BY terminated_at DESC LIMIT 1`);
  const goneEndpoint = await one(`SELECT id::text FROM endpoints WHERE name = 'e-gone'`);
  const freeGroup = await one(`SELECT id::text FROM session_groups g WHERE NOT EXISTS (SELECT 1 FROM replica_groups r WHERE r.session_group_id = g.id) ORDER BY created_at LIMIT 1`);
  const roles: Record<string, string> = {};
  for (const [name, status, deleted, type, id] of [
    ['r-session-old', 'active', null, 'session', oldSession],
    ['r-session-old-deleted', 'deleted', 100, 'session', oldSession],
    ['r-session-recent', 'active', null, 'session', recentSession],
    ['r-endpoint-gone', 'active', null, 'deployment', goneEndpoint],
    ['r-group-free', 'active', null, 'session_group', freeGroup],
  ] as const) {
    roles[name] = await newId(c);
    await insertFilled(c, 'roles', {
      id: `'${roles[name]}'`,
      name: `'${name}'`,
      status: `'${status}'`,
      deleted_at: deleted === null ? 'NULL' : ago(deleted),
      scope_type: `'${type}'`,
      scope_id: `'${id}'`,
    });
  }
  await nodes('role', 'roles');
  const project = ['project', OWNER.group_id] as const;
  const user = (name: string) => ['user', `(SELECT uuid FROM users WHERE username = '${name}')`] as const;
  const node = (type: string, id: string) => [type, `'${id}'`] as const;
  const rOld = `(SELECT id FROM roles WHERE name = 'r-old')`;
  type End = readonly [string, string] | string;
  const shares: ReadonlyArray<readonly [status: string, expires: number | null, updated: number, target: readonly [string, string], recipient: End]> = [
    ['pending', 100, 1, project, user('user1')],
    ['pending', 10, 100, project, 'a@example.com'],
    ['pending', null, 100, project, 'b@example.com'],
    ['pending', -10, 100, project, 'c@example.com'],
    ['accepted', null, 100, project, user('user0')],
    ['rejected', null, 100, project, 'd@example.com'],
    ['canceled', null, 100, project, 'e@example.com'],
    ['revoked', null, 100, project, user('user1')],
    ['rejected', null, 80, project, user('user1')],
    ['revoked', 100, 5, project, user('user0')],
    ['accepted', null, 1, node('session', oldSession), user('user1')],
    ['pending', 100, 1, node('session', oldSession), user('user0')],
    ['pending', -10, 1, node('session', recentSession), user('user1')],
    ['accepted', null, 1, project, node('role', roles['r-session-old']!)],
    ['pending', -10, 1, ['role', rOld], user('user1')],
    ['accepted', null, 1, node('deployment', goneEndpoint), user('user1')],
  ];
  for (const [status, expires, updated, [targetType, targetId], recipient] of shares) {
    await insertFilled(c, 'entity_shares', {
      status: `'${status}'`,
      expires_at: expires === null ? 'NULL' : ago(expires),
      created_at: ago(200),
      updated_at: ago(updated),
      target_entity_type: `'${targetType}'`,
      target_entity_id: targetId,
      ...(typeof recipient === 'string' ? { recipient_email: `'${recipient}'` } : { recipient_entity_type: `'${recipient[0]}'`, recipient_entity_id: recipient[1] }),
    });
  }
  await nodes('entity_share', 'entity_shares');
  await insertFilled(
    c,
    'entity_memberships',
    { virtual_entity_id: 'p.id', member_entity_id: 'v.id', capped: 'false' },
    `FROM virtual_entities p, virtual_entities v WHERE p.entity_type = 'project' AND v.entity_type <> 'project'`,
  );
  await insertFilled(c, 'entity_labels', { entity_type: 'entity_type', entity_id: 'entity_id', key: `'owner'`, value: `'test'` }, 'FROM virtual_entities');
  await insertFilled(
    c,
    'entity_labels',
    { entity_type: `'session'`, entity_id: 'id', key: `'owner'`, value: `'test'` },
    `FROM sessions WHERE terminated_at BETWEEN now() - interval '41 days' AND now() - interval '40 days'`,
  );
}

/** Every table's rows as JSON text, sorted; the policies' stamps as whether they were stamped (at one instant). */
async function tables(c: pg.Client): Promise<Record<string, string[]>> {
  const { rows } = await c.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`);
  const out: Record<string, string[]> = {};
  for (const { table_name } of rows) {
    const select =
      table_name === 'retention_policies'
        ? `SELECT json_build_object('category', category, 'period', retention_period, 'enabled', enabled, 'stamped', last_swept_at IS NOT NULL, 'stamp_is_update', last_swept_at = updated_at)::text AS j FROM retention_policies`
        : `SELECT row_to_json(t)::text AS j FROM "${table_name}" t`;
    out[table_name] = (await c.query<{ j: string }>(select)).rows.map((r) => r.j).sort();
  }
  return out;
}

/** A copy of the seeded template; `timeZone`: the database's default TimeZone, which both the manager's connections and bai-migrate's take. */
async function copyOf(suite: Suite, timeZone?: string): Promise<{ database: string; toml: string; pg: pg.Client }> {
  const copy = await copyOfTemplate(info, admin, suite.template, 'bai_chs', timeZone);
  cleanups.push(copy.drop);
  return { database: copy.database, toml: managerToml(copy.database, copy.namespace, suite.rpcKeyFile), pg: copy.pg };
}

async function seedRedis(c: pg.Client): Promise<void> {
  await seedStatKeys(admin, c, { 'i-agent-1': '{}' });
}

beforeAll(async () => {
  admin = await connectAdmin(info);
});

/** The release's venv (made by the product), its oneshot schema, seeded: the template each test copies. */
async function prepare(release: SweepRelease): Promise<Suite> {
  const started = Date.now();
  const python = pyenvInterpreters('3.13')[0]!;
  expect(python, 'pyenv has no Python 3.13').toBeDefined();
  const options = parseOptions({ command: 'clear-history', mode: 'manager', retention: '30d', 'manager-venv': productVenvs(), python });
  const venv = (await new ManagerVenvs(options.managerVenv!, 'make', new MemoryLogger(), () => undefined).get(release, { use: 'the test runs it', unchecked: '' }))!;
  const template = `tmpl_chs_${randomBytes(3).toString('hex')}`;
  const rpcKeyFile = await oneshotDatabase(info, admin.pg, venv.managerCli, template);
  ranRealPackage(release, 'mgr schema oneshot (clear-history sweep)');
  const suite: Suite = { release, venv, template, rpcKeyFile };
  const c = client(template);
  await c.connect();
  try {
    await seedInstallation(c, { users: ['user0', 'user1'] });
    await seedHistory(c);
    await seedDeploymentsAndRoles(c, hasGraph(suite));
    if (hasGraph(suite)) {
      await seedGraph(c);
      const { rows } = await c.query<{ key: string }>(
        `WITH RECURSIVE reach(t) AS (
           SELECT 'virtual_entities'::regclass::oid
           UNION SELECT k.conrelid FROM pg_constraint k JOIN reach ON k.confrelid = reach.t WHERE k.contype = 'f' AND k.confdeltype = 'c')
         SELECT k.conrelid::regclass || '.' || k.conname AS key FROM pg_constraint k JOIN reach ON k.confrelid = reach.t
          WHERE k.contype = 'f' AND k.confdeltype NOT IN ('c', 'n', 'd') ORDER BY 1`,
      );
      suite.teardownBlockers = rows.map((r) => r.key);
    }
    // The policies as a migrated 26.8 or 26.9 database holds them (oneshot seeds none), then the test's choice.
    for (const { category, period } of SEEDED_RETENTION_POLICIES)
      await c.query('INSERT INTO retention_policies (category, retention_period, enabled) VALUES ($1, $2::interval, false)', [category, period]);
    for (const [category, period] of Object.entries(ENABLED)) await c.query('UPDATE retention_policies SET enabled = true, retention_period = $2::interval WHERE category = $1', [category, period]);
  } finally {
    await c.end();
  }
  console.log(`${release}: venv and seeded schema in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return suite;
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await admin?.close();
});

interface Variant {
  /** The database's default TimeZone. */
  readonly timeZone?: string;
  /** Done on both copies before either runs (after `extra` is enabled). */
  readonly prepare?: (c: pg.Client) => Promise<void>;
  /** The manager's retention.per-tick-budget (manager.toml [retention]); bai-migrate is given the same. */
  readonly budget?: number;
}

/**
 * Both copies enable `extra` besides ENABLED (an UPDATE each, as an operator's, before either
 * runs); the manager on one, bai-migrate on the other; every table compared. Returns bai-migrate's run.
 */
async function compare(
  suite: Suite,
  extra: Partial<Record<RetentionCategoryName, string>>,
  extraDays: Partial<Record<RetentionCategoryName, number>>,
  variant: Variant = {},
): Promise<{ run: SweepResult; changed: string[] }> {
  const { release: RELEASE, venv } = suite;
  const { timeZone, prepare, budget } = variant;
  const policy = clearHistoryPolicy(findRelease(RELEASE)!);
  const enabled = { ...ENABLED, ...extra };
  const days = { ...DAYS, ...extraDays };
  const enable = async (c: pg.Client) => {
    for (const [category, period] of Object.entries(extra)) await c.query('UPDATE retention_policies SET enabled = true, retention_period = $2::interval WHERE category = $1', [category, period]);
    if (prepare) await prepare(c);
  };
  const one = await copyOf(suite, timeZone);
  await enable(one.pg);
  if (budget !== undefined) appendFileSync(one.toml, `\n[retention]\nper-tick-budget = ${budget}\n`);
  await seedRedis(one.pg);
  const before = await tables(one.pg);
  const cutoff = `now() - interval '30 days'`;
  const oldKernels = (await one.pg.query<{ id: string }>(`SELECT id::text FROM kernels WHERE terminated_at < ${cutoff}`)).rows.map((r) => r.id);
  const args = ['mgr', 'clear-history', '-r', '30d'];
  const cli = { command: [venv.managerCli], configFile: one.toml };
  const started = Date.now();
  const manager = await runManagerCli(cli, args);
  requireSuccess(cli, args, manager);
  console.log(`${RELEASE}: the manager's clear-history in ${Date.now() - started} ms`);
  ranRealPackage(RELEASE, 'mgr clear-history (retention sweep)');
  const skipped = [...manager.output.matchAll(/retention sweep failed for category (\w+)/g)].map((m) => m[1]);
  const byManager = await tables(one.pg);
  const keysByManager = (await admin.redis(0).keys('*')).sort();
  // -r governs the Redis part only: the stat keys of the kernels terminated before 30 days went, whatever the policies.
  expect(keysByManager.some((k) => oldKernels.includes(k))).toBe(false);
  expect(keysByManager).toHaveLength(before.kernels!.length + 1 - oldKernels.length);
  const total = [...manager.output.matchAll(/Retention sweep deleted ([\d,]+) record\(s\) across (\d+) categor/g)].map((m) => [Number(m[1]!.replaceAll(',', '')), Number(m[2])]);
  expect(total).toHaveLength(1);
  const changed = Object.keys(before).filter((t) => JSON.stringify(before[t]) !== JSON.stringify(byManager[t]));
  if (hasGraph(suite)) {
    // 26.9: the manager left no node or label of an entity it deleted (also of one that had labels but no node).
    const { rows: orphans } = await one.pg.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT entity_type, entity_id FROM virtual_entities UNION ALL SELECT entity_type, entity_id FROM entity_labels) g
        WHERE (g.entity_type = 'session' AND NOT EXISTS (SELECT 1 FROM sessions x WHERE x.id = g.entity_id))
           OR (g.entity_type = 'deployment' AND NOT EXISTS (SELECT 1 FROM endpoints x WHERE x.id = g.entity_id))
           OR (g.entity_type = 'session_group' AND NOT EXISTS (SELECT 1 FROM session_groups x WHERE x.id = g.entity_id))
           OR (g.entity_type = 'role' AND NOT EXISTS (SELECT 1 FROM roles x WHERE x.id = g.entity_id))
           OR (g.entity_type = 'entity_share' AND NOT EXISTS (SELECT 1 FROM entity_shares x WHERE x.id = g.entity_id))`,
    );
    expect(orphans[0]!.n).toBe(0);
  }
  console.log(`${RELEASE}: the manager changed ${changed.join(', ')}; ${total[0]![0]} record(s) across ${total[0]![1]} categories; failed: ${skipped.join(', ') || 'none'}`);

  const other = await copyOf(suite, timeZone);
  await enable(other.pg);
  await seedRedis(other.pg);
  const keysBefore = (await admin.redis(0).keys('*')).sort();
  let dry: SweepResult;
  let run: SweepResult;
  if (budget === undefined) {
    // clear-history's era of 26.8 (its Redis part, then the sweep), on its own connections as a run makes them.
    const inputs = { command: 'clear-history', 'manager-config': other.toml, retention: '30d', 'batch-size': '2' };
    const era = async (dryRun: boolean) => {
      const options = parseOptions({ ...inputs, 'dry-run': String(dryRun) });
      const deployment = new Deployment(resolveTargets(options, {}), 10_000, () => undefined);
      try {
        expect((await deployment.connect(['postgres', 'etcd', 'redis'])).every((r) => r.ok)).toBe(true);
        const { cutoff } = await cutoffAndCount(deployment, options.retention, policy.cutoffClock);
        return await clearRetentionEra(deployment, policy, cutoff, `${policy.since} and later`, options, new MemoryLogger(), true, []);
      } finally {
        await deployment.close();
      }
    };
    const dryEra = await era(true);
    expect(await tables(other.pg)).toEqual(before);
    expect((await admin.redis(0).keys('*')).sort()).toEqual(keysBefore);
    const runEra = await era(false);
    // The Redis part: the manager's keys, and the dry run's count.
    expect((await admin.redis(0).keys('*')).sort()).toEqual(keysByManager);
    expect(runEra.redisKeys).toBe(oldKernels.length);
    expect(dryEra.redisKeys).toBe(oldKernels.length);
    expect({ kernels: dryEra.kernels, sessions: dryEra.sessions, errorLogs: dryEra.errorLogs }).toEqual({ kernels: runEra.kernels, sessions: runEra.sessions, errorLogs: runEra.errorLogs });
    dry = { ...dryEra.retention, findings: dryEra.findings, longestStatementMs: dryEra.longestStatementMs };
    run = { ...runEra.retention, findings: runEra.findings, longestStatementMs: runEra.longestStatementMs };
  } else {
    // The sweep alone, given the budget the manager read from its manager.toml.
    const catalogue = RETENTION_SWEEPS[policy.sweep!]!;
    dry = await sweepRetentionPolicies(other.pg, catalogue, { batchSize: 2, dryRun: true, perTickBudget: budget }, new MemoryLogger());
    expect(await tables(other.pg)).toEqual(before);
    run = await sweepRetentionPolicies(other.pg, catalogue, { batchSize: 2, dryRun: false, perTickBudget: budget }, new MemoryLogger());
  }
  console.log(run.findings.map((f) => `${f.status}: ${f.detail}`).join('\n'));
  const counts = (r: typeof run) => r.categories.map((c) => ({ category: c.category, state: c.state, deleted: c.deleted, days: c.days }));
  expect(counts(dry)).toEqual(counts(run));
  for (const c of run.categories) {
    const on = c.category in enabled;
    expect(c.state, c.category).toBe(!on ? 'disabled' : skipped.includes(c.category) ? 'failed' : c.state === 'deferred' ? 'deferred' : 'swept');
    if (on) expect(c.days, c.category).toBe(days[c.category as RetentionCategoryName]);
  }
  const byBaiMigrate = await tables(other.pg);
  expect(Object.keys(byBaiMigrate)).toEqual(Object.keys(byManager));
  for (const [table, rows] of Object.entries(byBaiMigrate)) expect(rows, table).toEqual(byManager[table]);
  expect(total[0]).toEqual([run.categories.reduce((sum, c) => sum + c.total, 0), run.categories.filter((c) => c.state === 'swept').length]);
  return { run, changed };
}

describe.each(RELEASES)("clear-history of %s: the real manager's retention sweep and bai-migrate's", (RELEASE) => {
  let suite: Suite;
  beforeAll(async () => {
    suite = await prepare(RELEASE);
  }, 900_000);
  afterAll(async () => {
    if (suite) await admin.pg.query(`DROP DATABASE IF EXISTS ${suite.template} WITH (FORCE)`);
  });

  it('six categories enabled, roles_invitations and deployments disabled: the same rows in every table, the same policies stamped; the dry run counts what the run deletes, the manager logs the same total; -r governs the Redis keys only', async () => {
    // 26.9: bai-migrate's pre-check reads the keys onto the drained tables only; on this schema nothing can refuse
    // a node's teardown either (every key onto virtual_entities, and onto what goes with it, cascades).
    if (hasGraph(suite)) expect(suite.teardownBlockers).toEqual([]);
    const { changed } = await compare(suite, {}, {});
    // 26.9: the old sessions' nodes went, and with them their labels, edges, and the roles and shares naming them.
    if (hasGraph(suite)) expect(changed).toEqual(expect.arrayContaining(['virtual_entities', 'entity_labels', 'entity_memberships', 'roles', 'entity_shares']));
  }, 900_000);

  it("all eight enabled, the database's TimeZone Asia/Seoul (the usage buckets' dates are its midnights): the same rows in every table, the same policies stamped, the same counts", async () => {
    const { changed } = await compare(suite, { roles_invitations: '3 mons', deployments: '50 days' }, { roles_invitations: 90, deployments: 50 }, { timeZone: 'Asia/Seoul' });
    if (hasGraph(suite)) expect(changed).toEqual(expect.arrayContaining(['virtual_entities', 'entity_labels', 'entity_memberships', 'roles', 'entity_shares']));
  }, 900_000);

  /** The policies as a migrated 26.8 database holds them: the eight, all disabled (b3e8f1a24c76). */
  const asMigrated = async (c: pg.Client) => {
    for (const { category, period } of SEEDED_RETENTION_POLICIES)
      await c.query('UPDATE retention_policies SET enabled = false, retention_period = $2::interval WHERE category = $1', [category, period]);
  };
  // Enables three (3mo: stored as 3 mons, which the manager reads as 90 days), disables one already disabled; retention (30d) changes none.
  const POLICIES = 'logs=30d, sessions=40d\nreconcile_history=3mo, usage_records=off';
  const BUDGET = `\n[retention]\nper-tick-budget = 100000\n`;
  /** Every table as the real manager left it in the first case. */
  let expected: Record<string, string[]> | undefined;

  describe('through the engine: retention-policies, own mode and mode: manager', () => {
    it('the policies changed only by retention-policies, reported before → after; the real manager (mode: manager) and own mode leave every table and Redis key alike; the dry run writes nothing and counts what the run deletes', async () => {
      const one = await copyOf(suite);
      await asMigrated(one.pg);
      appendFileSync(one.toml, BUDGET);
      await seedRedis(one.pg);
      const before = await tables(one.pg);
      const manager = await runEngine({
        command: 'clear-history',
        mode: 'manager',
        'manager-config': one.toml,
        retention: '30d',
        'retention-policies': POLICIES,
        'manager-venv': productVenvs(),
        'to-version': RELEASE,
      });
      expect(manager.report.error).toBeUndefined();
      ranRealPackage(RELEASE, 'mgr clear-history through mode: manager (retention-policies)');
      const byManager = await tables(one.pg);
      expected = byManager;
      const keysByManager = (await admin.redis(0).keys('*')).sort();
      // The manager stamped the three it swept; the report says so per category.
      expect(
        manager.report
          .history!.retention!.categories.filter((c) => c.state === 'swept')
          .map((c) => c.category)
          .sort(),
      ).toEqual(['logs', 'reconcile_history', 'sessions']);
      expect(manager.report.history!.retention!.categories.filter((c) => c.state === 'disabled')).toHaveLength(5);
      expect(manager.report.history!.retention!.perTickBudget).toBe(100000);
      for (const table of ['event_logs', 'session_scheduling_history', 'sessions']) expect(byManager[table]!.length, table).toBeLessThan(before[table]!.length);
      for (const table of ['kernel_usage_records', 'login_history', 'domain_usage_buckets']) expect(byManager[table], table).toEqual(before[table]);

      const two = await copyOf(suite);
      await asMigrated(two.pg);
      appendFileSync(two.toml, BUDGET);
      await seedRedis(two.pg);
      const keysBefore = (await admin.redis(0).keys('*')).sort();
      const inputs = { command: 'clear-history', 'manager-config': two.toml, retention: '30d', 'retention-policies': POLICIES, 'batch-size': '2', vacuum: 'analyze' };
      const dry = await runEngine({ ...inputs, 'dry-run': 'true' });
      expect(dry.report.error).toBeUndefined();
      expect(await tables(two.pg)).toEqual(before);
      expect((await admin.redis(0).keys('*')).sort()).toEqual(keysBefore);
      const { report } = await runEngine(inputs);
      expect(report.error).toBeUndefined();
      expect(await tables(two.pg)).toEqual(byManager);
      expect((await admin.redis(0).keys('*')).sort()).toEqual(keysByManager);

      // vacuum: analyze of every table the run deleted from; from 26.9 the graph's too (a deleted session takes its node).
      const vacuumed = report.entries.filter((e) => e.detail.startsWith('VACUUM ANALYZE ')).map((e) => e.detail.split(' ')[2]);
      expect(vacuumed).toEqual(expect.arrayContaining(['event_logs', 'sessions', 'kernels', ...(RELEASE === '26.9.6' ? ['virtual_entities', 'entity_labels'] : [])]));
      const sweep = report.history!.retention!;
      expect(report.history!.semantics).toBe(SEMANTICS[RELEASE]);
      expect(sweep.perTickBudget).toBe(100000);
      expect(sweep.changes).toEqual([
        { category: 'logs', before: { enabled: false, period: '1 year' }, after: { enabled: true, period: '30 days' } },
        { category: 'sessions', before: { enabled: false, period: '1 year' }, after: { enabled: true, period: '40 days' } },
        { category: 'reconcile_history', before: { enabled: false, period: '1 year' }, after: { enabled: true, period: '3 mons' } },
        { category: 'usage_records', before: { enabled: false, period: '90 days' }, after: { enabled: false, period: '90 days' } },
      ]);
      expect(dry.report.history!.retention!.changes).toEqual(sweep.changes);
      // By category: policies never swept tie in the manager's ORDER BY, and the dry run reads them through a join, not the table the run reads.
      const perCategory = (r: typeof report) =>
        r.history!.retention!.categories.map((c) => ({ category: c.category, state: c.state, days: c.days, deleted: c.deleted })).sort((a, b) => a.category.localeCompare(b.category));
      expect(perCategory(dry.report)).toEqual(perCategory(report));
      expect(sweep.categories.find((c) => c.category === 'reconcile_history')!.days).toBe(90);
      const { kernels, sessions, errorLogs, redisKeys } = report.history!;
      expect({ kernels, sessions, errorLogs, redisKeys }).toEqual({
        kernels: dry.report.history!.kernels,
        sessions: dry.report.history!.sessions,
        errorLogs: dry.report.history!.errorLogs,
        redisKeys: dry.report.history!.redisKeys,
      });
      expect(sessions).toBe(before.sessions!.length - byManager.sessions!.length);
      expect(errorLogs).toBe(before.error_logs!.length - byManager.error_logs!.length);
      expect(redisKeys).toBe(keysBefore.length - keysByManager.length);
      // The Action's output: every category, its state and what it deleted per table.
      const output = JSON.parse(outputValues(report, parseOptions(inputs))['retention-sweep']) as Record<string, { state: string; deleted: Record<string, number> }>;
      expect(Object.keys(output).sort()).toEqual([...RETENTION_CATEGORIES].sort());
      expect(output.sessions!.deleted.sessions).toBe(sessions);
      expect(output.login!.state).toBe('disabled');
      expect(renderMarkdown(report)).toContain('| sessions | swept | 40 days (40 days) |');
    }, 900_000);

    it(`the README's nightly workflow, unchanged, on a ${RELEASE} deployment: the policies from its variable, the release's semantics in its outputs and summary, every table as the manager leaves it`, async () => {
      expect(expected, 'the comparison above ran first').toBeDefined();
      const copy = await copyOf(suite);
      await asMigrated(copy.pg);
      await seedRedis(copy.pg);
      const [step] = actionSteps('nightly-clear-history.yml', 'clear-history');
      const { user, password, host, port } = info.postgres;
      const context = {
        vars: { BAI_MIGRATE_RETENTION: '30d', BAI_MIGRATE_RETENTION_POLICIES: POLICIES },
        secrets: {
          BACKENDAI_POSTGRES_URL: `postgresql://${user}:${encodeURIComponent(password)}@${host}:${port}/${copy.database}`,
          BACKENDAI_REDIS_URL: `redis://:${encodeURIComponent(info.redis.password)}@${info.redis.host}:${info.redis.port}`,
        },
      };
      const { result, outputs, summary } = await runAction(runnerInputs(step!, context));
      expect(result.code, result.stdout).toBe(0);
      expect(outputs['clear-history-semantics']).toBe(SEMANTICS[RELEASE]);
      const sweep = JSON.parse(outputs['retention-sweep']!) as Record<string, { state: string }>;
      expect(
        Object.entries(sweep)
          .filter(([, c]) => c.state === 'swept')
          .map(([category]) => category)
          .sort(),
      ).toEqual(['logs', 'reconcile_history', 'sessions']);
      expect(summary).toContain('| sessions | swept | 40 days (40 days) |');
      expect(summary).toMatch(/retention-policies changed logs: disabled, 1 year → enabled, 30 days/);
      expect(await tables(copy.pg)).toEqual(expected);
    }, 900_000);
  });

  // The failure and budget cases are the engine's own (the same for every catalogue): run on 26.8.3 only.
  if (RELEASE !== '26.8.3') return;

  it('a per-tick budget the manager would refuse, and retention-policies naming no category: refused before anything is written', async () => {
    const copy = await copyOf(suite);
    await asMigrated(copy.pg);
    await seedRedis(copy.pg);
    const before = await tables(copy.pg);
    const keysBefore = (await admin.redis(0).keys('*')).sort();
    await expect(runEngine({ command: 'clear-history', 'manager-config': copy.toml, retention: '30d', 'retention-policies': 'logs=1y' })).rejects.toThrow(
      /^retention-policies: "logs=1y": retention "1y" is in an unknown unit; .*; categories: logs, login, reconcile_history, roles_invitations, deployments, sessions, usage_records, usage_buckets$/,
    );
    appendFileSync(copy.toml, `\n[retention]\nper-tick-budget = 0\n`);
    const budget = await runEngine({ command: 'clear-history', 'manager-config': copy.toml, retention: '30d', 'retention-policies': POLICIES });
    expect(budget.report.error).toMatch(
      /^clear-history: .* \[retention\] per-tick-budget is 0, which Backend\.AI 26\.8\.\d+'s manager refuses \(accepted: a whole number of at least 1, or unset\); nothing was done$/,
    );
    expect(await tables(copy.pg)).toEqual(before);
    expect((await admin.redis(0).keys('*')).sort()).toEqual(keysBefore);
  }, 900_000);

  it("a category a foreign key stops (an operator's table referring to an old event log): the manager's logs category fails and is rolled back whole, unstamped, the others swept; bai-migrate skips it whole too and says why", async () => {
    const { run } = await compare(
      suite,
      {},
      {},
      {
        prepare: async (c) => {
          await c.query('CREATE TABLE operator_notes (id serial PRIMARY KEY, event_log uuid REFERENCES event_logs (id))');
          await c.query('INSERT INTO operator_notes (event_log) SELECT id FROM event_logs ORDER BY created_at LIMIT 1');
        },
      },
    );
    const logs = run.categories.find((c) => c.category === 'logs')!;
    expect(logs.state).toBe('failed');
    expect(logs.reason).toMatch(/^1 row\(s\) of operator_notes\.event_log \(operator_notes_event_log_fkey, no cascade\) refer to rows of event_logs/);
  }, 900_000);

  it('a foreign key that only a row written during the run breaks (after the pre-check): bai-migrate stops that category where it is, unstamped, says what stays deleted, and sweeps the others', async () => {
    const copy = await copyOf(suite);
    // An operator's table onto error_logs, and a trigger that, once event_logs rows go, writes a row referring to the oldest error log.
    await copy.pg.query('CREATE TABLE operator_notes (id serial PRIMARY KEY, error_log uuid REFERENCES error_logs (id))');
    await copy.pg.query(`CREATE FUNCTION note_oldest() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO operator_notes (error_log) SELECT id FROM error_logs ORDER BY created_at LIMIT 1; RETURN NULL; END $$`);
    await copy.pg.query('CREATE TRIGGER note_oldest AFTER DELETE ON event_logs FOR EACH STATEMENT EXECUTE FUNCTION note_oldest()');
    const before = await tables(copy.pg);
    const run = await sweepRetentionPolicies(copy.pg, RETENTION_SWEEPS['26.8.0']!, { batchSize: 100, dryRun: false, perTickBudget: null }, new MemoryLogger());
    const logs = run.categories.find((c) => c.category === 'logs')!;
    expect(logs.state).toBe('failed');
    expect(logs.reason).toMatch(/^a foreign key stopped it part-way \(error_logs: .*operator_notes_error_log_fkey.*\): the 6 row\(s\) of its batches before stay deleted, it is not stamped/);
    expect(logs.deleted).toEqual({ event_logs: 3, audit_logs: 3, error_logs: 0 });
    const after = await tables(copy.pg);
    expect(after.error_logs).toEqual(before.error_logs);
    expect(after.retention_policies!.find((r) => r.includes('"logs"'))).toContain('"stamped" : false');
    // The other categories went on and were stamped.
    expect(
      run.categories
        .filter((c) => c.state === 'swept')
        .map((c) => c.category)
        .sort(),
    ).toEqual(
      Object.keys(ENABLED)
        .filter((c) => c !== 'logs')
        .sort(),
    );
  }, 900_000);

  it('a per-tick budget (manager.toml [retention] per-tick-budget = 10): the categories after the budget is reached wait, unstamped, in the manager and in bai-migrate alike', async () => {
    const { run } = await compare(suite, { roles_invitations: '3 mons', deployments: '50 days' }, { roles_invitations: 90, deployments: 50 }, { budget: 10 });
    expect(run.categories.filter((c) => c.state === 'deferred').length).toBeGreaterThan(0);
    expect(run.categories.filter((c) => c.state === 'swept').length).toBeGreaterThan(0);
  }, 900_000);
});
