/**
 * Packages that cannot run revisions of their own graph: `alembic upgrade` with them stops inside
 * those revisions. A database that still has to run one must be upgraded with another package, so
 * no plan may hand such a package revisions it cannot run (plan.ts asks before a hop is planned).
 *
 * Below them, the other hazards of a route between releases that only some packages or some
 * sources have (from the releases after 26.8.1): a source head later packages do not know, a
 * revision whose text stops on some rows in all but a few packages, two revisions that cannot run
 * in one upgrade with some packages, and a revision a later line re-parented under another. No hop
 * to a 26.x line is written yet; these are kept as data for when they are.
 */
import { publishedRelease } from './manager-python.js';
import { ancestorsIn, findRelease, type Release } from './releases.js';

export interface PackageBreakage {
  /** The revisions these packages cannot run. */
  readonly revisions: readonly string[];
  /** The releases (their packages from PyPI) that cannot run them. */
  readonly releases: readonly string[];
  /** What `alembic upgrade` prints when it stops. */
  readonly error: string;
  /** The releases that can run them again. */
  readonly fixedIn: string;
  readonly source: string;
}

export const PACKAGE_BREAKAGES: readonly PackageBreakage[] = [
  {
    // 09206ac04fd3 creates the global scope roles (25.16.0); 2c9000848b6e and e3fb172166dc back-fill
    // user system roles and project member roles (26.4.0). Each inserts through the role model of the
    // package it runs in, which from backend.ai#12537 maps a status column the revision's insert leaves out.
    revisions: ['09206ac04fd3', '2c9000848b6e', 'e3fb172166dc'],
    releases: ['26.4.8', '26.4.9', '26.8.0', '26.8.1'],
    error: 'sqlalchemy.exc.CompileError: Unconsumed column names: status',
    // 26.8.2 gives the three a snapshot of the roles table of their own (backend.ai-manager 26.8.0, 26.8.2 and
    // 26.8.3 wheels: ai/backend/manager/models/alembic/versions/; 26.8.2's and 26.8.3's text is 26.4.16's).
    fixedIn: '26.4.10 and 26.8.2',
    source: 'backend.ai#13695 (BA-7323), fixing the regression backend.ai#12537 brought into 26.4.8 and 26.8.0',
  },
];

export interface CannotRun {
  readonly release: string;
  readonly revisions: readonly string[];
  readonly breakage: PackageBreakage;
}

/**
 * The revisions among `revisions` that the package a venv for `release` installs cannot run, with
 * why; empty when it runs them all.
 */
export function cannotRun(release: string, revisions: Iterable<string>): CannotRun[] {
  const installed = publishedRelease(release);
  const wanted = new Set(revisions);
  return PACKAGE_BREAKAGES.filter((b) => b.releases.includes(installed))
    .map((breakage) => ({ release: installed, revisions: breakage.revisions.filter((r) => wanted.has(r)), breakage }))
    .filter((found) => found.revisions.length > 0);
}

/** For messages: what the package cannot run, why, and what to do instead. */
export function describeCannotRun(found: CannotRun): string {
  const { breakage } = found;
  return `backend.ai-manager ${found.release} cannot run revision(s) ${found.revisions.join(', ')} (alembic stops with ${breakage.error}; ${breakage.source}); upgrade the database past them with another release first (fixed in ${breakage.fixedIn})`;
}

/** Whether `version`'s package has `revision` in its graph (a release bai-migrate knows). */
function ships(version: string, revision: string): boolean {
  const release = findRelease(version);
  return release !== undefined && ancestorsIn(release.line, release.head).has(revision);
}

/**
 * A source head that the packages of some later releases do not have: `alembic upgrade` with them
 * stops before running anything, as alembic cannot place the database.
 */
export interface StrandedHead {
  readonly head: string;
  /** The releases at that head. */
  readonly releases: readonly string[];
  /** Later releases whose scripts lack it. */
  readonly unknownTo: readonly string[];
  /** The first later release whose scripts have it (and every one after it). */
  readonly knownFrom: string;
  /** What `alembic upgrade` with an unknowing package prints. */
  readonly error: string;
  /** The revision one step down (downgraded with the source's own package) that `unknownTo` do know. */
  readonly downgradeTo: string;
  /** What that downgrade leaves behind. */
  readonly downgradeLeaves: string;
  readonly source: string;
}

export const STRANDED_HEADS: readonly StrandedHead[] = [
  {
    // e1b7f3d20a94 grants each user's self role the permissions on their keypairs (26.4.11, on bd1bf0524350).
    // No published 26.8 has it: the 26.8 backport (its script says "26.8.4 (backport)") is unreleased.
    head: 'e1b7f3d20a94',
    releases: ['26.4.11', '26.4.12', '26.4.13', '26.4.14', '26.4.15', '26.4.16'],
    unknownTo: ['26.8.0', '26.8.1', '26.8.2', '26.8.3'],
    knownFrom: '26.9.0',
    error: "Can't locate revision identified by 'e1b7f3d20a94'",
    downgradeTo: 'bd1bf0524350',
    downgradeLeaves: "e1b7f3d20a94's downgrade does nothing, so the permissions it granted stay (26.9's f4a2b7c9e105 grants them again, idempotently)",
    source:
      'backend.ai-manager 26.4.11, 26.4.16, 26.8.3 and 26.9.6 wheels: ai/backend/manager/models/alembic/versions/e1b7f3d20a94_grant_self_roles_keypair_permissions.py and its 26.9 follow-up f4a2b7c9e105; backend.ai#14326, backported by #14423 (26.4) and #14422 (26.8)',
  },
];

/** Why `to`'s package cannot take a database at `from`'s head, or undefined when nothing here says so. */
export function strandedHead(from: Release, to: Release): StrandedHead | undefined {
  return STRANDED_HEADS.find((s) => s.head === from.head && s.unknownTo.includes(to.version));
}

/**
 * A revision whose text in most packages stops on rows that a later text of it passes over: a
 * database that still has to run it, holding such rows, must run it with a package whose text has
 * the guard (or have those rows fixed first).
 */
export interface UnguardedRevision {
  readonly revision: string;
  /** The releases whose text of it has the guard; every other release that ships it lacks it (empty: none has it). */
  readonly guardedIn: readonly string[];
  /** What an operator can do to the rows instead, before the upgrade, so that any text passes. */
  readonly remedy: string;
  /**
   * The rows the unguarded text stops on: per column, a condition on it (SQL, the column named by
   * `column`); `onlyIf`: SQL true while the text still stops on them (a remedy made it false).
   */
  readonly stopsOn: ReadonlyArray<{ readonly table: string; readonly column: string; readonly where: string; readonly onlyIf?: string }>;
  /** What the unguarded text raises on them. */
  readonly error: string;
  readonly source: string;
}

export const UNGUARDED_REVISIONS: readonly UnguardedRevision[] = [
  {
    // 8c1f7d3a9e2b (26.4.4) turns a string start_command of each stored model definition into a list. It reads
    // every non-NULL definition and looks up its models; a definition that is JSON null (or any other non-object)
    // has none to look up, and only 26.4.13's and 26.9.1's text skips such a definition.
    revision: '8c1f7d3a9e2b',
    guardedIn: ['26.4.13', '26.4.14', '26.4.15', '26.4.16', '26.9.1', '26.9.2', '26.9.3', '26.9.4', '26.9.5', '26.9.6'],
    stopsOn: [
      { table: 'deployment_revisions', column: 'model_definition', where: "jsonb_typeof(model_definition) <> 'object'" },
      { table: 'deployment_revision_presets', column: 'model_definition', where: "jsonb_typeof(model_definition) <> 'object'" },
      { table: 'runtime_variants', column: 'default_model_definition', where: "jsonb_typeof(default_model_definition) <> 'object'" },
    ],
    remedy:
      "set a JSON null to SQL NULL, which every text passes over (UPDATE deployment_revisions SET model_definition = NULL WHERE jsonb_typeof(model_definition) = 'null', and so for the others), and fix any other non-object value by hand",
    error: "AttributeError: 'NoneType' object has no attribute 'get' for a JSON null (real-2604-patch.test.ts shows 26.4.10's)",
    source:
      'backend.ai-manager 26.4.12, 26.4.13, 26.7.0, 26.8.0, 26.8.2, 26.8.3, 26.9.0, 26.9.1, 26.4.16 and 26.9.6 wheels: ai/backend/manager/models/alembic/versions/8c1f7d3a9e2b_normalize_legacy_string_start_command.py (two texts: 26.4.13, 26.4.16, 26.9.1 and 26.9.6 have the guard, the others not)',
  },
  {
    // c7d8e9f0a1b2 (26.4.4, and every later line) adds a foreign key from deployment_revisions.image to images, first
    // setting each image that no longer exists to NULL; but it relaxes the column's NOT NULL only after that UPDATE,
    // so a revision whose image was deleted stops it. No published text (to 26.9.6) has it the other way round.
    revision: 'c7d8e9f0a1b2',
    guardedIn: [],
    stopsOn: [
      {
        table: 'deployment_revisions',
        column: 'image',
        where: 'image IS NOT NULL AND image NOT IN (SELECT id FROM images)',
        onlyIf: "EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'deployment_revisions' AND column_name = 'image' AND is_nullable = 'NO')",
      },
    ],
    remedy:
      'ALTER TABLE deployment_revisions ALTER COLUMN image DROP NOT NULL first (what the revision itself does right after): its backfill then sets those images to NULL, as it means to (note the image ids if you want them: they are lost)',
    error: 'NotNullViolationError: null value in column "image" of relation "deployment_revisions" violates not-null constraint (real-2604-patch.test.ts shows 26.4.16\'s)',
    source:
      'backend.ai-manager 26.4.16, 26.8.3 and 26.9.6 wheels: ai/backend/manager/models/alembic/versions/c7d8e9f0a1b2_add_fk_to_deployment_revisions_image.py (its UPDATE … SET image = NULL comes before its alter_column(nullable=True))',
  },
  {
    // d8e9f0a1b2c3 (26.4.4, and every later line) replaces deployment_revisions.runtime_variant by a NOT NULL key onto
    // runtime_variants: a name no row has falls back to the `custom` row, which only the installer's fixture makes.
    revision: 'd8e9f0a1b2c3',
    guardedIn: [],
    stopsOn: [
      {
        table: 'deployment_revisions',
        column: 'runtime_variant',
        where: 'runtime_variant NOT IN (SELECT name FROM runtime_variants)',
        onlyIf: "NOT EXISTS (SELECT 1 FROM runtime_variants WHERE name = 'custom')",
      },
    ],
    remedy: "INSERT INTO runtime_variants (name) VALUES ('custom') first (the row the installer's fixture makes, which the revision falls back to), or name an existing variant in those rows",
    error: 'NotNullViolationError: column "runtime_variant_id" of relation "deployment_revisions" contains null values (real-2604-patch.test.ts shows 26.4.16\'s)',
    source:
      'backend.ai-manager 26.4.16 wheel: ai/backend/manager/models/alembic/versions/d8e9f0a1b2c3_migrate_deployment_revisions_runtime_variant_to_uuid_fk.py (its fallback reads the `custom` row, then sets the column NOT NULL)',
  },
];

/** The revisions among `revisions` that `release`'s package runs without their guard. */
export function unguardedRuns(release: string, revisions: Iterable<string>): UnguardedRevision[] {
  const installed = publishedRelease(release);
  const wanted = new Set(revisions);
  return UNGUARDED_REVISIONS.filter((u) => wanted.has(u.revision) && ships(installed, u.revision) && !u.guardedIn.includes(installed));
}

/**
 * Two revisions that cannot both run in one `alembic upgrade` with some packages: the upgrade runs
 * in one transaction, and the second stops on what the first left in it (the whole upgrade rolls back).
 */
export interface RevisionClash {
  /** Run in this order (the second descends from the first). */
  readonly revisions: readonly [string, string];
  readonly releases: readonly string[];
  readonly error: string;
  readonly fixedIn: string;
  readonly source: string;
}

export const REVISION_CLASHES: readonly RevisionClash[] = [
  {
    // bd1bf0524350 (26.4.9) and its 26.8 twin c4a91d7e05b2 recompute the fair-share buckets through a temporary
    // table of the same name dropped only at commit; from 26.9.3 c4a91d7e05b2 drops it first. A database that has
    // run neither (26.4.8 or older) meets both when upgraded straight to these releases.
    revisions: ['bd1bf0524350', 'c4a91d7e05b2'],
    releases: ['26.8.0', '26.8.1', '26.8.2', '26.8.3', '26.9.0', '26.9.1', '26.9.2'],
    error: 'relation "_daily_kernel_usage" already exists (read from the scripts and env.py, not reproduced)',
    fixedIn: '26.9.3',
    source:
      'backend.ai-manager 26.8.3, 26.9.1 and 26.9.6 wheels: ai/backend/manager/models/alembic/versions/bd1bf0524350_*.py and c4a91d7e05b2_*.py, models/alembic/env.py (one begin_transaction for the upgrade)',
  },
];

/** The clashes `release`'s package meets when it runs `revisions` in one upgrade. */
export function clashingRuns(release: string, revisions: Iterable<string>): RevisionClash[] {
  const installed = publishedRelease(release);
  const wanted = new Set(revisions);
  return REVISION_CLASHES.filter((c) => c.releases.includes(installed) && c.revisions.every((r) => wanted.has(r)));
}

/**
 * A released revision a later line re-parented: a database that ran it under its old parent is
 * taken by that line's alembic to have run the new parent too, which it never did. Harmless where
 * the skipped revision has a twin that runs (releases.ts upgradeSkips finds it from the graphs).
 */
export interface Splice {
  readonly revision: string;
  /** The line whose graph puts it under `newParent`. */
  readonly line: string;
  /** Its parent in the released line before `line`. */
  readonly oldParent: string;
  readonly newParent: string;
  /** The lines whose databases, at their head, therefore skip `skipped` on the way into `line`. */
  readonly sources: readonly string[];
  readonly skipped: string;
  /** The revision that makes the skipped one's change after the source's head, and runs. */
  readonly twin: string;
  readonly source: string;
}

export const SPLICES: readonly Splice[] = [
  {
    // 26.9 put e1b7f3d20a94 under the released 2d6443ac0d4a (app config allow list) and appended its twin
    // f4a2b7c9e105 after 26.8's head; both grant idempotently.
    revision: '2d6443ac0d4a',
    line: '26.9',
    oldParent: 'bd1bf0524350',
    newParent: 'e1b7f3d20a94',
    sources: ['26.7', '26.8'],
    skipped: 'e1b7f3d20a94',
    twin: 'f4a2b7c9e105',
    source: 'backend.ai-manager 26.8.3 and 26.9.6 wheels: ai/backend/manager/models/alembic/versions/2d6443ac0d4a_create_app_config_allow_list_table.py (down_revision) and f4a2b7c9e105_*.py',
  },
];

/**
 * A revision that deletes rows an operator may want back: it runs without error, so nothing stops,
 * but what it deletes has no downgrade. Preflight lists the rows, and the backup bundle keeps them.
 */
export interface DeletingRevision {
  readonly revision: string;
  readonly table: string;
  /** The rows it deletes (SQL on `table`). */
  readonly where: string;
  /** SQL naming a row for messages. */
  readonly name: string;
  /** What they are, counted ("image(s) whose …"). */
  readonly rows: string;
  /** What follows from their going. */
  readonly consequence: string;
  readonly source: string;
}

export const DELETING_REVISIONS: readonly DeletingRevision[] = [
  {
    // 045b0e0e4384 (26.4.x, and every later line) adds a foreign key from images.registry_id to container_registries,
    // first deleting each image whose registry is gone. Deployment revisions and kernels refer to images through
    // ON DELETE SET NULL keys by then (c7d8e9f0a1b2, cd067180a8b1): they keep their rows, without an image.
    revision: '045b0e0e4384',
    table: 'images',
    where: 'registry_id NOT IN (SELECT id FROM container_registries)',
    name: 'name',
    rows: 'image(s) whose container registry is gone',
    consequence: 'the deployment revisions and kernels that name them keep their rows with the image set to NULL (such a revision cannot be deployed again)',
    source: 'backend.ai-manager 26.4.16 wheel: ai/backend/manager/models/alembic/versions/045b0e0e4384_add_fk_from_images_registry_id_to_.py',
  },
];

/** The revisions among `revisions` that `release`'s package runs and that delete rows. */
export function deletingRuns(release: string, revisions: Iterable<string>): DeletingRevision[] {
  const installed = publishedRelease(release);
  const wanted = new Set(revisions);
  return DELETING_REVISIONS.filter((d) => wanted.has(d.revision) && ships(installed, d.revision));
}
