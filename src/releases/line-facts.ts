/**
 * What bai-migrate needs to know of each release line besides its schema: the manager CLI's rescan
 * command, the halfstack's server images, where keypair concurrency is counted, and (per release,
 * because it changes inside lines) what `backend.ai mgr clear-history` does. Code outside
 * src/releases/ asks these tables instead of comparing versions.
 */
import { invalidInput } from '../core/errors.js';
import { compareLines, compareReleases, findRelease, LINES, RELEASES, type Release } from './releases.js';

/** Official images of a halfstack compose file (docker-compose.halfstack-*.yml). */
export interface HalfstackImages {
  readonly postgres: string;
  readonly redis: string;
  readonly etcd: string;
}

export interface LineFacts {
  readonly line: string;
  /** `backend.ai` arguments that rescan one registry, before the registry's name. */
  readonly imageRescanCommand: readonly string[];
  /**
   * What the rescan logs when it fails and then exits 0 anyway: from 22.03 the CLI catches every
   * exception and only logs it (backend.ai@22.03.14:src/ai/backend/manager/cli/image_impl.py,
   * `log.exception("An error occurred.")`; from 25.5 "Failed to scan registries" and "Unknown error
   * occurred", backend.ai@25.5.2:src/ai/backend/manager/cli/image_impl.py).
   */
  readonly imageRescanFailures: readonly string[];
  /** The halfstack of the line's final patch (earlier patches may differ: see halfstackNote). */
  readonly halfstack: HalfstackImages;
  readonly halfstackNote?: string;
  /**
   * Where the manager keeps each keypair's number of running kernels: the `keypairs.concurrency_used`
   * column (to 21.09), Redis DB 0 `keypair.concurrency_used.{access_key}` (22.03–26.4), or nowhere:
   * 26.8 counts sessions in PostgreSQL (BA@26.8.1:src/ai/backend/manager/repositories/scheduler/repository.py),
   * and so does 26.9 (backend.ai-manager 26.9.6 wheel: ai/backend/manager/repositories/scheduler/repository.py,
   * get_keypair_concurrency).
   */
  readonly concurrencyCounter: 'keypairs-column' | 'redis' | 'none';
  /**
   * Kernel statuses that hold no resources, which the Redis counter leaves out (the complement of the
   * manager's USER_RESOURCE_OCCUPYING_KERNEL_STATUSES); set where it was read from that line's code.
   */
  readonly notOccupyingKernelStatuses?: readonly string[];
  /**
   * The database driver of the line's alembic env.py: psycopg2 (synchronous) to 22.03, asyncpg from
   * 22.09, whose sqlalchemy.url must be postgresql+asyncpg:// (backend.ai@22.09.23:CHANGES.md, #702;
   * backend.ai@22.09.23:src/ai/backend/manager/models/alembic/env.py uses async_engine_from_config).
   */
  readonly alembicDriver: AlembicDriver;
}

export type AlembicDriver = 'psycopg2' | 'asyncpg';

// Rescan: MGR@21.09.9:src/ai/backend/manager/cli/etcd.py; from 22.03 MGR@22.03.3:src/ai/backend/manager/cli/image.py
// (REGISTRY_OR_IMAGE from 23.09, optional from 24.09: the registry's name still works).
const ETCD_RESCAN = ['mgr', 'etcd', 'rescan-images'] as const;
const IMAGE_RESCAN = ['mgr', 'image', 'rescan'] as const;

// Halfstack images, BA@<tag>:docker-compose.halfstack-*.yml.
const HALFSTACK_2103: HalfstackImages = { postgres: 'postgres:13.7', redis: 'redis:6.2.7', etcd: 'quay.io/coreos/etcd:v3.4.18' };
const HALFSTACK_2109: HalfstackImages = { postgres: 'postgres:13.7', redis: 'redis:6.2.7', etcd: 'quay.io/coreos/etcd:v3.5.4' };
const HALFSTACK_2303: HalfstackImages = { postgres: 'postgres:15.1', redis: 'redis:7.0.5', etcd: 'quay.io/coreos/etcd:v3.5.6' };
const HALFSTACK_2409: HalfstackImages = { postgres: 'postgres:16.3', redis: 'redis:7.2.4', etcd: 'quay.io/coreos/etcd:v3.5.14' };
const HALFSTACK_2516: HalfstackImages = { ...HALFSTACK_2409, redis: 'redis:7.2.11' };
const HALFSTACK_VALKEY: HalfstackImages = { ...HALFSTACK_2409, redis: 'valkey/valkey:9.1.0-alpine' };
// 26.9: the installer's halfstack (backend.ai-install 26.9.0 and 26.9.6 wheels: ai/backend/install/configs/docker-compose.yml),
// Valkey 9.1.1 where 26.8.3's has 9.1.0; PostgreSQL 16.3 and etcd 3.5.14 as before.
const HALFSTACK_VALKEY_911: HalfstackImages = { ...HALFSTACK_VALKEY, redis: 'valkey/valkey:9.1.1-alpine' };

/** 22.03's USER_RESOURCE_OCCUPYING_KERNEL_STATUSES is every status but these (MGR@22.03.3:src/ai/backend/manager/models/kernel.py). */
const NOT_OCCUPYING_2203 = ['TERMINATING', 'TERMINATED', 'PENDING', 'CANCELLED'] as const;

const ASYNCPG_SINCE = '22.09';

const RESCAN_FAILURES = ['An error occurred.'] as const;
const RESCAN_FAILURES_2505 = ['Failed to scan registries', 'Unknown error occurred.'] as const;
const RESCAN_REPORTS_SINCE = '25.5';

function facts(line: string, halfstack: HalfstackImages, more: Partial<LineFacts> = {}): LineFacts {
  const [year] = line.split('.').map(Number);
  return {
    line,
    imageRescanCommand: year === 21 ? ETCD_RESCAN : IMAGE_RESCAN,
    imageRescanFailures: compareLines(line, RESCAN_REPORTS_SINCE) >= 0 ? RESCAN_FAILURES_2505 : RESCAN_FAILURES,
    halfstack,
    concurrencyCounter: year === 21 ? 'keypairs-column' : 'redis',
    alembicDriver: compareLines(line, ASYNCPG_SINCE) >= 0 ? 'asyncpg' : 'psycopg2',
    ...more,
  };
}

/** One record per release line, oldest first. */
export const LINE_FACTS: readonly LineFacts[] = [
  facts('21.03', HALFSTACK_2103, { halfstackNote: 'docker-compose.halfstack-2103.yml as retro-fitted in BA@22.03.7' }),
  facts('21.09', HALFSTACK_2109),
  facts('22.03', HALFSTACK_2109, { halfstackNote: '22.03.0–22.03.6: postgres 13.6 (BA@22.03.4:docker-compose.halfstack-2203.yml)', notOccupyingKernelStatuses: NOT_OCCUPYING_2203 }),
  facts('22.09', HALFSTACK_2109),
  ...['23.03', '23.09', '24.03'].map((line) => facts(line, HALFSTACK_2303)),
  ...['24.09', '24.12', '25.1', '25.2', '25.3', '25.4', '25.5', '25.6', '25.7', '25.8', '25.9', '25.10', '25.11', '25.12', '25.13', '25.14', '25.15'].map((line) => facts(line, HALFSTACK_2409)),
  ...['25.16', '25.17', '25.18', '25.19', '26.1', '26.2', '26.3'].map((line) => facts(line, HALFSTACK_2516)),
  facts('26.4', HALFSTACK_VALKEY, { halfstackNote: '26.4.0–26.4.3: redis 7.2.11 (Valkey from BA@26.4.4)' }),
  facts('26.7', HALFSTACK_VALKEY),
  facts('26.8', HALFSTACK_VALKEY, { concurrencyCounter: 'none' }),
  // The rescan command and its failure lines, and alembic's async engine, as in 26.8 (backend.ai-manager 26.9.6 wheel:
  // ai/backend/manager/cli/image.py and image_impl.py, models/alembic/env.py).
  facts('26.9', HALFSTACK_VALKEY_911, { concurrencyCounter: 'none' }),
];

export function lineFacts(line: string): LineFacts {
  const found = LINE_FACTS.find((f) => f.line === line);
  if (!found) throw invalidInput(`no facts are recorded for Backend.AI ${line}; known lines: ${LINES.join(', ')}`);
  return found;
}

/** The halfstack images per line, e.g. HALFSTACK_IMAGES['21.09'].etcd. */
export const HALFSTACK_IMAGES: Readonly<Record<string, HalfstackImages>> = Object.fromEntries(LINE_FACTS.map((f) => [f.line, f.halfstack]));

/**
 * What `backend.ai mgr clear-history -r RETENTION` does, from the release `since` until the next
 * entry's (BA@<tag>:src/ai/backend/manager/cli/__main__.py at each `since`). One entry per era:
 * bai-migrate's own mode reads what to delete from here, never from a version check of its own.
 */
export interface ClearHistoryPolicy {
  readonly since: string;
  /** The manager has the command (added in MGR@21.09.2, MGR#498). */
  readonly managerCommand: boolean;
  /**
   * The PostgreSQL part: `kernels` deletes kernels with terminated_at before the cutoff;
   * `sessions` selects sessions with terminated_at before the cutoff and deletes their kernels
   * (by session_id, whatever the kernel's own terminated_at), then them; `retention-policies` is
   * the sweep over the `retention_policies` table, which -r does not govern.
   */
  readonly purge: 'kernels' | 'sessions' | 'retention-policies';
  /** Tables whose rows are deleted (26.8: the retention_policies sweep, -r does not apply). */
  readonly deletes: readonly ('kernels' | 'sessions' | 'error_logs')[];
  /** -r governs the PostgreSQL part; from 26.8 the `retention_policies` table does, -r only the Redis part. */
  readonly retentionGovernsDatabase: boolean;
  /**
   * The stat keys (kernel UUIDs) in Redis DB 0 of every kernel with terminated_at before the
   * cutoff are removed (DEL per 32 keys, selected before the PostgreSQL part runs), then
   * BGREWRITEAOF / BGSAVE SCHEDULE. Before 24.03.4 these are exactly the deleted kernels.
   */
  readonly deletesRedisStatKeys: boolean;
  /**
   * What the manager's log ("Cleaned up N redis statistics records") says it removed from Redis:
   * the last chunk's count only (the sum is taken after the loop), or the sum over every chunk of
   * 32 (25.19.0, valkey-glide), which is the number of stat keys removed, as bai-migrate counts them.
   */
  readonly managerRedisCount: 'last-chunk' | 'summed';
  /** -r accepts the `s` unit (BA 2f71734edf, #570). */
  readonly secondsUnit: boolean;
  /** `-v` runs VACUUM (FULL) of the whole database, or is accepted and ignored. */
  readonly vacuum: 'database' | 'ignored';
  /** The manager's "now" for the cutoff: its host's naive local time, or UTC. */
  readonly cutoffClock: 'local' | 'utc';
  /**
   * The most sessions older than the cutoff the manager's command can delete, where there is a
   * limit: it deletes their kernels, then them, each with one statement whose bind parameters are
   * every such session's id (`.in_(session_ids)`), and asyncpg sends at most 32,767 parameters, so
   * with more it exits 1 ("the number of query arguments cannot exceed 32767") after its Redis part
   * and before any row goes.
   */
  readonly managerSessionLimit?: number;
  /**
   * bai-migrate's own mode deletes what this policy deletes (for a release: and the release is
   * OWN_MODE_THROUGH or one before it); other releases need mode: manager.
   */
  readonly ownMode: boolean;
  /**
   * For `retention-policies`: which catalogue of the manager's sweep the release runs, by the
   * release it starts at (src/releases/retention-sweep.ts, RETENTION_SWEEPS).
   */
  readonly sweep?: string;
}

const BASE_POLICY: ClearHistoryPolicy = {
  since: '21.03.0',
  managerCommand: false,
  purge: 'kernels',
  deletes: ['kernels'],
  retentionGovernsDatabase: true,
  deletesRedisStatKeys: false,
  managerRedisCount: 'last-chunk',
  secondsUnit: false,
  vacuum: 'database',
  cutoffClock: 'local',
  ownMode: true,
};

/** Each entry changes the one before it; oldest first. */
const POLICY_CHANGES: ReadonlyArray<Partial<ClearHistoryPolicy> & { readonly since: string }> = [
  { since: '21.03.0' },
  { since: '21.09.2', managerCommand: true },
  { since: '22.03.0', deletesRedisStatKeys: true },
  // The s unit (BA@22.09.23:src/ai/backend/manager/cli/__main__.py); kernels and their stat keys as before.
  // From 23.03 the sessions table exists and is never purged (BA@23.09.10, the same code).
  { since: '22.09.0', secondsUnit: true },
  // _clear_terminated_sessions (BA@24.03.4, lablup/backend.ai#2077): the sessions terminated before
  // the cutoff, their kernels first (kernels.session_id has no ON DELETE), each DELETE one
  // autocommitted statement; the Redis part is unchanged; vacuum_db is no longer called.
  // Its kernels' and sessions' DELETEs bind every old session's id (BA@24.03.4, the same in the
  // backend.ai-manager 24.3.11, 25.19.2 and 26.4.10 wheels: ai/backend/manager/cli/__main__.py):
  // past 32,767 old sessions it fails (clear-history-eras.test.ts shows 25.19.2's).
  { since: '24.03.4', purge: 'sessions', deletes: ['kernels', 'sessions'], vacuum: 'ignored', managerSessionLimit: 32_767 },
  // _clear_old_error_logs (error_logs.created_at before the cutoff) and vacuum_db back (BA@24.09.0, #1989).
  { since: '24.09.0', deletes: ['kernels', 'sessions', 'error_logs'], vacuum: 'database' },
  // 25.1.0 to 25.18.1 delete the same (backend.ai-manager 25.3.3, 25.8.1 (its database and Redis
  // configuration read from the merged bootstrap config), 25.13.4 and 25.18.1 wheels:
  // ai/backend/manager/cli/__main__.py); their schemas add tables that carry session ids without a
  // foreign key (session_scheduling_history, kernel_scheduling_history), which it leaves alone.
  // The Redis part through valkey-glide, its count summed over the chunks (backend.ai-manager
  // 25.19.0 and 25.19.2 wheels: `delete_count += deleted` per chunk); the same keys, rows and tables.
  { since: '25.19.0', managerRedisCount: 'summed' },
  // datetime.now(UTC) (BA@26.1.0); what is deleted is otherwise the same as 25.19.0's, on schemas that
  // add rows referring to sessions and kernels (26.1.0 to 26.7.0 wheels, ai/backend/manager/models):
  // resource_allocations (ON DELETE CASCADE from kernels), sessions.replica_id onto routings (SET NULL),
  // kernel_usage_records and the scheduling history (no foreign key: left), routings.session (RESTRICT).
  // The command itself fails on these releases before the database part: MANAGER_CLEAR_HISTORY_FAILS.
  { since: '26.1.0', cutoffClock: 'utc' },
  // RetentionRepository.sweep() over retention_policies (BA@26.8.0, #12963).
  // Its catalogue, compared with the real 26.8.3 command (clear-history-sweep.test.ts), is RETENTION_SWEEPS['26.8.0']
  // (docs/clear-history-retention-policies.md); the policies change only through retention-policies.
  { since: '26.8.0', purge: 'retention-policies', retentionGovernsDatabase: false, sweep: '26.8.0', managerSessionLimit: undefined },
  // 26.9.0–26.9.6: the command around the sweep is 26.8.3's (backend.ai-manager 26.8.3 and 26.9.6 wheels:
  // ai/backend/manager/cli/__main__.py), but the sweep is not: roles_invitations drains entity_shares instead of
  // the invitations, and drains of entity tables tear down their rows' graph nodes (the 26.9.0 to 26.9.6 wheels:
  // the same retention and graph files). Its catalogue, compared with the real 26.9.6 command
  // (clear-history-sweep.test.ts), is RETENTION_SWEEPS['26.9.0'] (docs/clear-history-retention-policies.md).
  { since: '26.9.0', sweep: '26.9.0' },
];

export const CLEAR_HISTORY_POLICIES: readonly ClearHistoryPolicy[] = POLICY_CHANGES.reduce<ClearHistoryPolicy[]>(
  (policies, change) => [...policies, { ...(policies.at(-1) ?? BASE_POLICY), ...change }],
  [],
);

/**
 * The last release bai-migrate's own mode is compared with the real manager up to: each era on its
 * real schema (clear-history-eras.test.ts: 23.09.10, 24.03.11, 24.09.14, 24.12.1, 25.19.2 and 26.4.16;
 * real-manager.test.ts; clear-history-sweep.test.ts: 26.8.3 and 26.9.6). A release the catalogue
 * learns after it is refused (mode: manager does it) until its schema is compared too: a later
 * release may sweep other tables. Kept apart from the eras so that an era's span still says what
 * the manager does.
 */
export const OWN_MODE_THROUGH = '26.9.6';

/**
 * Releases whose `backend.ai mgr clear-history` fails, and how: there mode: manager is refused
 * before anything is done, naming bai-migrate's own mode. From 26.1.0 the command imports single
 * model modules (ai.backend.manager.models.error_logs, .kernel, .session, .utils: the
 * ai/backend/manager/cli/__main__.py of the 26.1.0, 26.2.5, 26.3.3, 26.4.10 and 26.7.0 wheels, whose
 * models/__init__.py registers nothing); none of them imports AgentRow, which KernelRow's
 * relationship names, so its first ORM statement (`sa.select(SessionRow.id)`) fails with "When
 * initializing mapper Mapper[KernelRow(kernels)], expression 'AgentRow' failed to locate a name",
 * and it exits 1 after its Redis part (the stat keys are gone) and before any row is deleted.
 * Seen with the real 26.1.0, 26.2.5, 26.3.3, 26.4.10, 26.4.16 and 26.7.0 packages (clear-history-eras.test.ts
 * shows 26.4.16's); 26.4.11–26.4.15 import the same single modules (their wheels'
 * ai/backend/manager/cli/__main__.py). 26.8.0 registers every table first
 * (ensure_all_tables_registered), and so does 26.9.
 */
const MANAGER_CLEAR_HISTORY_FAILS: ReadonlyArray<{ readonly first: string; readonly last: string; readonly failure: string }> = [
  {
    first: '26.1.0',
    last: '26.7.0',
    failure:
      'its `backend.ai mgr clear-history` exits 1 ("expression \'AgentRow\' failed to locate a name": the command does not import every model) after removing the Redis stat keys and before deleting any row',
  },
];

/** How `backend.ai mgr clear-history` of `release` fails, or undefined where it works. */
export function managerClearHistoryFailure(release: Release): string | undefined {
  return MANAGER_CLEAR_HISTORY_FAILS.find(({ first, last }) => compareReleases(findRelease(first)!, release) <= 0 && compareReleases(release, findRelease(last)!) <= 0)?.failure;
}

export function clearHistoryPolicy(release: Release): ClearHistoryPolicy {
  const policy = CLEAR_HISTORY_POLICIES.filter((p) => compareReleases(findRelease(p.since)!, release) <= 0).at(-1)!;
  // By schema: a release whose alembic head an earlier, compared release shares (25.2.0 ends at
  // 24.09.6+'s ecc9f6322be4) has that release's tables, so the comparison holds for it too.
  const compared = RELEASES.some((r) => r.head === release.head && compareReleases(r, findRelease(OWN_MODE_THROUGH)!) <= 0);
  return policy.ownMode && !compared ? { ...policy, ownMode: false } : policy;
}

/** Why bai-migrate's own mode refuses a release whose policy says ownMode: false, for messages. */
export function ownModeRefusal(policy: ClearHistoryPolicy): string {
  const how = policy.purge === 'retention-policies' ? `sweeps its retention policies as ${policy.since}'s does` : `deletes as ${policy.since}'s does`;
  return `whose manager ${how}, on a schema bai-migrate's own mode is not yet compared with the real manager on (a later release may delete from other tables)`;
}

/** The release the era of `policy` ends before (the next entry's `since`), or undefined for the last era. */
export function clearHistoryEraEnd(policy: ClearHistoryPolicy): string | undefined {
  return CLEAR_HISTORY_POLICIES[CLEAR_HISTORY_POLICIES.findIndex((p) => p.since === policy.since) + 1]?.since;
}

/** The first release whose clear-history accepts the `s` unit, for messages. */
export const SECONDS_UNIT_SINCE: string = CLEAR_HISTORY_POLICIES.find((p) => p.secondsUnit)!.since;

/** The driver alembic's env.py of a release uses (a version bai-migrate does not know: psycopg2, as up to 22.03). */
export function alembicDriverOf(version: string): AlembicDriver {
  const release = findRelease(version);
  return release ? lineFacts(release.line).alembicDriver : 'psycopg2';
}

/**
 * Releases whose manager cannot connect to a PostgreSQL whose `server_version` carries a
 * distribution's suffix, as Debian's and Ubuntu's packages and the official non-Alpine images
 * report it ("15.18 (Debian 15.18-0+deb12u1)"): `connect_database` splits it on "." and int()
 * fails on "18 (Debian 15" (backend.ai-manager@21.09.9:src/ai/backend/manager/models/utils.py,
 * added by backend.ai-manager#407 in 21.03.21). The manager's server connects through it, and so
 * do the CLI's image rescan and clear-history from 22.03. Fixed by backend.ai#1415
 * (backend.ai@22.09.23:src/ai/backend/manager/models/utils.py parses only the first word).
 * The halfstacks of these releases ran PostgreSQL's Alpine image, which reports a bare version.
 */
const SERVER_VERSION_UNPARSED: ReadonlyArray<readonly [string, string]> = [
  ['21.03.21', '21.03.32'],
  ['21.09.0', '21.09.9'],
  ['22.03.0', '22.03.14'],
  ['22.09.0', '22.09.22'],
  ['23.03.0', '23.03.9'],
];

/** The releases with that fix, for messages: the first fixed patch of each affected line that has one. */
export const SERVER_VERSION_FIXED_IN = ['22.09.23', '23.03.10', '23.09.0'] as const;

/** Whether those releases' parse fails on `serverVersion`: Python's `major, minor, *_ = map(int, v.split("."))`, where int() takes digits with surrounding blanks only. */
export function unparsableServerVersion(serverVersion: string): boolean {
  const parts = serverVersion.split('.');
  return parts.length < 2 || !parts.every((part) => /^\s*[+-]?\d+\s*$/.test(part));
}

/** Whether the manager of `version` fails to connect to a server reporting `serverVersion`. */
export function managerFailsOnServerVersion(version: string, serverVersion: string): boolean {
  const release = findRelease(version);
  if (!release) return false;
  const affected = SERVER_VERSION_UNPARSED.some(([first, last]) => compareReleases(findRelease(first)!, release) <= 0 && compareReleases(release, findRelease(last)!) <= 0);
  return affected && unparsableServerVersion(serverVersion);
}
