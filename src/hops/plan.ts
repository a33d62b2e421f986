/**
 * From two versions (and the database's revision) to the hops of an upgrade. Major upgrades go
 * line by line, each to its latest patch first, as Backend.AI's upgrade policy requires.
 */
import {
  describeAcceptedVersions,
  describePosition,
  relationTo,
  lineIndex,
  targetRelease,
  versionReading,
  type Release,
  type VersionReading,
  type SchemaPosition,
  type VersionRef,
} from '../releases/catalogue.js';
import { ancestorsIn, compareLines, earliestRelease, latestRelease, LINES, revisionsOf, sameLine } from '../releases/releases.js';
import { cannotRun, describeCannotRun } from '../releases/cannot-run.js';
import { invalidInput, MigrationError } from '../core/errors.js';
import { HOP_STEPS, PATCH_STEPS } from './index.js';
import type { Hop } from '../steps/step.js';
import { managerStarts } from '../steps/manager-starts.js';

export interface Plan {
  /** The version the plan starts from, as given or as detected. */
  readonly from: string;
  readonly detected: boolean;
  readonly to: Release;
  readonly hops: readonly Hop[];
  /** Why the starting point was chosen, when it was detected. */
  readonly note?: string;
  /** The versions given in another spelling, and how they were read (to-version 22.3 as 22.03). */
  readonly readings: readonly VersionReading[];
}

/** Hops detection plans again when the database is at the head of their target line, and why. */
export interface PlanAgain {
  readonly hops: readonly string[];
  /** "bai-migrate's journal has … as started and not finished" */
  readonly because: string;
}

/**
 * `again`: hops to plan again from a database at their target line's head: the ones
 * bai-migrate's journal has as started and not finished (stores/journal.ts), or for verify the
 * hop into the database's line, whose end state it checks.
 */
export function makePlan(fromVersion: VersionRef | undefined, toVersion: VersionRef, position?: SchemaPosition, again?: PlanAgain): Plan {
  const to = targetRelease(toVersion);
  const detected = fromVersion ? undefined : detectedStart(position, again);
  const start = fromVersion ?? detected!.start;
  const fromLowest = start.release ?? earliestRelease(start.line);
  if (!fromVersion && position && compareLines(start.line, to.line) > 0) {
    throw new MigrationError('inconsistent-state', `the database is at ${describePosition(position)}, already newer than to-version ${to.version}; bai-migrate does not downgrade`);
  }
  if (compareLines(start.line, to.line) > 0 || (sameLine(start, to) && start.release && start.release.patch > to.patch)) {
    throw invalidInput(`from-version ${start.input} is newer than to-version ${toVersion.input}: bai-migrate only upgrades; accepted: a to-version after ${start.input}`);
  }
  if (position) checkConsistent(position, start, fromLowest, to);

  const hops: Hop[] = [];
  if (sameLine(start, to)) {
    if (fromLowest.version !== to.version) {
      const refused = packageRefuses(start.line, fromLowest.head, to);
      hops.push({ label: `${start.input} → ${to.version}`, fromLine: start.line, to, steps: PATCH_STEPS, ...(refused && { unsupported: refused }) });
    }
  } else {
    for (let i = lineIndex(start.line); i < lineIndex(to.line); i++) {
      const fromLine = LINES[i]!;
      const toLine = LINES[i + 1]!;
      const steps = HOP_STEPS[`${fromLine}→${toLine}`];
      const hopTo = sameLine(toLine, to) ? to : latestRelease(toLine);
      // The first hop may start below its line's final patch; the others start at it.
      const refused = packageRefuses(fromLine, (i === lineIndex(start.line) ? fromLowest : latestRelease(fromLine)).head, hopTo);
      hops.push(
        refused
          ? { label: `${fromLine} → ${toLine}`, fromLine, to: hopTo, steps: steps ?? [], unsupported: refused }
          : steps
            ? { label: `${fromLine} → ${toLine}`, fromLine, to: hopTo, steps }
            : {
                label: `${fromLine} → ${toLine}`,
                fromLine,
                to: hopTo,
                steps: [],
                unsupported: notWrittenYet(fromLine, toLine),
              },
      );
    }
  }
  // The run ends with the target release's manager starting on the migrated data (in a rehearsal, or with start-manager).
  const last = hops.at(-1);
  if (last && !last.unsupported) hops[hops.length - 1] = { ...last, steps: [...last.steps, managerStarts] };
  return {
    from: start.input,
    detected: fromVersion === undefined,
    to,
    hops,
    note: fromVersion === undefined && position ? `detected from alembic_version: ${describePosition(position)}${detected?.why ?? ''}` : undefined,
    readings: [fromVersion && versionReading('from-version', fromVersion), versionReading('to-version', toVersion, to)].filter((r) => r !== undefined),
  };
}

/** Refuses, before anything is written, a plan with a hop bai-migrate cannot take yet. */
export function requireSupported(plan: Plan): void {
  const unsupported = plan.hops.filter((h) => h.unsupported);
  if (unsupported.length > 0) {
    const refused = unsupported.filter((h) => h.unsupported !== notWrittenYet(h.fromLine, h.to.line));
    throw new MigrationError(
      'unsupported',
      `the plan ${plan.from} → ${plan.to.version} has ${unsupported.length} hop(s) bai-migrate cannot take yet: ${unsupported.map((h) => h.label).join(', ')}; it takes ${Object.keys(HOP_STEPS).join(', ')}${refused.map((h) => `; ${h.label}: ${h.unsupported}`).join('')}. Nothing was changed`,
    );
  }
}

function notWrittenYet(fromLine: string, toLine: string): string {
  return `bai-migrate cannot take the hop ${fromLine} → ${toLine} yet (it takes ${Object.keys(HOP_STEPS).join(', ')})`;
}

/**
 * Why the package of `to` must not run the hop from `fromHead` (in `fromLine`'s graph): it cannot
 * run a revision the hop runs (releases/cannot-run.ts); undefined when it can run them all.
 */
function packageRefuses(fromLine: string, fromHead: string, to: Release): string | undefined {
  const have = ancestorsIn(fromLine, fromHead);
  const runs = [...ancestorsIn(to.line, to.head)].filter((revision) => !have.has(revision));
  const found = cannotRun(to.version, runs);
  if (found.length === 0) return undefined;
  return `${found.map(describeCannotRun).join('; ')}; choose a to-version whose package runs them (e.g. its line's final patch)`;
}

/**
 * Where the database is: the line of its revision (the earliest that has it: an extra hop is
 * harmless, a missed one is not). A schema at a line's head does not prove the rest of the hop
 * into it was done, but bai-migrate's journal does: a hop into that line it started and did not
 * finish (a run killed after its schema step) is planned again (`again`); its steps are
 * idempotent and report what was already done.
 */
function detectedStart(position: SchemaPosition | undefined, again: PlanAgain | undefined): { start: VersionRef; why?: string } {
  if (!position) throw invalidInput(`from-version is not set and cannot be detected without PostgreSQL; set from-version (${describeAcceptedVersions()})`);
  const release = position.between ? position.between[0] : position.releases[0]!;
  const into = hopInto(position);
  if (into && again?.hops.includes(into.label)) {
    return { start: { input: into.from, line: into.from }, why: `; ${again.because.replace('{hop}', into.label)}, so it is planned again` };
  }
  // At a head several patch releases share, the newest of them: no patch hop to make up.
  const newest = position.between ? undefined : position.releases.filter((r) => sameLine(r, release)).at(-1);
  return { start: { input: release.line, line: release.line, ...(newest ? { release: newest } : {}) } };
}

/**
 * The database may stand anywhere from from-version to to-version: at the start, part-way
 * (a resumed run), or at the target (a second run). Outside that range the inputs are wrong.
 * Positions are compared by ancestry in the target line's graph.
 */
function checkConsistent(position: SchemaPosition, from: VersionRef, fromLowest: Release, to: Release): void {
  // A head the target line's scripts do not have (24.09.6+'s ecc9f6322be4 for 24.12) is judged in
  // the graph of a line on the way that has it; that hop's schema step takes the database from there.
  if (!revisionsOf(to.line).has(position.revision)) {
    const lines = LINES.slice(lineIndex(from.line), lineIndex(to.line));
    const holder = [...lines].reverse().find((line) => revisionsOf(line).has(position.revision));
    if (holder) {
      if (sameLine(holder, from) && relationTo(holder, position.revision, fromLowest) === 'before') {
        throw new MigrationError('inconsistent-state', `the database is at ${describePosition(position)}, older than from-version ${from.input}; set from-version to the installed release`);
      }
      return;
    }
  }
  const toFrom = relationTo(to.line, position.revision, fromLowest);
  if (toFrom === 'before') {
    throw new MigrationError('inconsistent-state', `the database is at ${describePosition(position)}, older than from-version ${from.input}; set from-version to the installed release`);
  }
  const toTarget = relationTo(to.line, position.revision, to);
  if (toTarget === 'after') {
    throw new MigrationError('inconsistent-state', `the database is at ${describePosition(position)}, already newer than to-version ${to.version}; bai-migrate does not downgrade`);
  }
  if (toTarget === 'apart' || toTarget === 'unknown' || toFrom === 'apart') {
    throw new MigrationError(
      'inconsistent-state',
      `the database is at ${describePosition(position)}, which is not on the way from ${fromLowest.version} to ${to.version} in ${to.line}'s revision graph (a patch release whose schema the target line does not know?); set from-version to the installed release`,
    );
  }
}

/** The hop into the line the database stands in, when there is one before it. */
export function hopInto(position: SchemaPosition): { from: string; label: string } | undefined {
  const release = position.between ? position.between[0] : position.releases[0];
  const previous = release ? LINES[lineIndex(release.line) - 1] : undefined;
  return previous ? { from: previous, label: `${previous} → ${release!.line}` } : undefined;
}
