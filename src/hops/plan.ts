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
import { cannotRun, deletingRuns, describeCannotRun, unguardedRuns } from '../releases/cannot-run.js';
import { revisionDeletes } from '../steps/revision-deletes.js';
import { unguardedRevisions } from '../steps/unguarded-revisions.js';
import { invalidInput, MigrationError } from '../core/errors.js';
import { DETOURS, HOP_STEPS, PATCH_STEPS, type Detour } from './index.js';
import type { Hop, Step } from '../steps/step.js';
import { managerStarts } from '../steps/manager-starts.js';
import { schemaRevisionRuns } from '../steps/schema/index.js';

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
  /** Each detour the plan could take, whether it does and why (decideDetour). */
  readonly routes: readonly DetourChoice[];
  /** A detour a killed run started and did not finish, which the plan starts again (detectedStart). */
  readonly resumes?: Detour;
}

/** Whether a plan takes a detour instead of the hops it spans, and why: the plan says it. */
export interface DetourChoice {
  readonly detour: Detour;
  readonly take: boolean;
  readonly why: string;
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
export function makePlan(fromVersion: VersionRef | undefined, toVersion: VersionRef, position?: SchemaPosition, again?: PlanAgain, routes: readonly DetourChoice[] = []): Plan {
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
      const steps = withRowChecks(PATCH_STEPS, start.line, fromLowest.head, to);
      hops.push({ label: `${start.input} → ${to.version}`, fromLine: start.line, to, steps, ...(refused && { unsupported: refused }) });
    }
  } else {
    for (let i = lineIndex(start.line); i < lineIndex(to.line); i++) {
      const fromLine = LINES[i]!;
      const toLine = LINES[i + 1]!;
      const steps = HOP_STEPS[`${fromLine}→${toLine}`];
      const hopTo = sameLine(toLine, to) ? to : latestRelease(toLine);
      // The first hop may start below its line's final patch; the others start at it.
      const fromHead = (i === lineIndex(start.line) ? fromLowest : latestRelease(fromLine)).head;
      const refused = packageRefuses(fromLine, fromHead, hopTo);
      hops.push(
        refused
          ? { label: `${fromLine} → ${toLine}`, fromLine, to: hopTo, steps: steps ?? [], unsupported: refused }
          : steps
            ? { label: `${fromLine} → ${toLine}`, fromLine, to: hopTo, steps: withRowChecks(steps, fromLine, fromHead, hopTo) }
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
  for (const { detour, take } of routes) if (take) takeDetour(hops, detour, to);
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
    routes,
    ...(detected?.detour ? { resumes: detected.detour } : {}),
  };
}

/** The hops `detour` spans, replaced in place by one hop that runs the detour's steps. */
function takeDetour(hops: Hop[], detour: Detour, to: Release): void {
  const first = hops.findIndex((h) => h.label === firstHopLabel(detour));
  const last = hops.findIndex((h) => sameLine(h.to, detour.to));
  if (first < 0 || last < first) return;
  const hopTo = sameLine(to, detour.to) ? to : latestRelease(detour.to);
  hops.splice(first, last - first + 1, { label: detourLabel(detour), fromLine: detour.from, to: hopTo, steps: detour.steps });
}

/** The detours whose first spanned hop `plan` (made without any) takes: the ones decideDetour chooses about. */
export function detoursOn(plan: Plan): Detour[] {
  return DETOURS.filter((d) => plan.hops.some((h) => h.label === firstHopLabel(d)));
}

const firstHopLabel = (detour: Detour): string => detour.spans[0]!.replace('→', ' → ');
const detourLabel = (detour: Detour): string => `${detour.from} → ${detour.to}`;

/**
 * Whether `plan` (made without detours) takes `detour`, from its input's value `chosen`: the
 * detour's value takes it (refused when to-version ends before it), the usual value keeps the
 * usual hops, and auto takes it only where the usual first hop would downgrade from where it
 * starts and its `blockedBy` step finds rows that would stop it (`blockers`: that step's failed
 * findings on the database; undefined without a database to read).
 */
export async function decideDetour(
  detour: Detour,
  chosen: string,
  plan: Plan,
  position: SchemaPosition | undefined,
  blockers: (hop: Hop, step: Step) => Promise<string[] | undefined>,
): Promise<DetourChoice> {
  const index = plan.hops.findIndex((h) => h.label === firstHopLabel(detour));
  const usual = plan.hops[index]!;
  const reaches = compareLines(plan.to.line, detour.to) >= 0;
  const takes = `goes ${detour.from} → ${detour.to} at once: ${detour.way}`;
  if (chosen === detour.value) {
    if (!reaches) {
      throw invalidInput(
        `${detour.input} is ${detour.value}, which goes from ${detour.from} straight to ${detour.to}, and to-version ${plan.to.version} ends before ${detour.to}; accepted: ${detour.usual} or auto, or ${detour.value} with a to-version of ${detour.to} or later`,
      );
    }
    return { detour, take: true, why: `${chosen}: the plan ${takes}` };
  }
  const keeps = `the plan keeps ${detour.usualWay}`;
  if (chosen === detour.usual) return { detour, take: false, why: `${chosen}: ${keeps}` };
  if (plan.resumes === detour) return { detour, take: true, why: `${chosen}: a run took the hop ${detourLabel(detour)} and did not finish it, so the plan ${takes}` };
  const start = index > 0 ? [plan.hops[index - 1]!.to.head] : position ? [position.revision] : undefined;
  const other = reaches ? `, and ${detour.input} ${detour.value} takes the other route` : '';
  if (!start) return { detour, take: false, why: `${chosen}: no database to read, so ${keeps}; preflight names any row the downgrade would stop on${other}` };
  if (!schemaRevisionRuns(usual, start).some((run) => run.direction === 'down')) {
    return { detour, take: false, why: `${chosen}: from ${start.join(', ')} the hop ${usual.label} needs no downgrade, so ${keeps}` };
  }
  const step = usual.steps.find((s) => s.id === detour.blockedBy)!;
  const found = await blockers(usual, step);
  if (found === undefined) return { detour, take: false, why: `${chosen}: no database to read, so ${keeps}; preflight's ${step.id} names any row the downgrade would stop on${other}` };
  if (found.length === 0) return { detour, take: false, why: `${chosen}: ${step.id} finds no row the downgrade would stop on, so ${keeps}` };
  if (!reaches) {
    return {
      detour,
      take: false,
      why: `${chosen}: ${step.id} finds rows the downgrade would stop on (${found.join('; ')}), but the other route goes to ${detour.to} and to-version ${plan.to.version} ends before it, so ${keeps} and preflight refuses until those rows are fixed (or set to-version to ${detour.to} or later)`,
    };
  }
  return { detour, take: true, why: `${chosen}: ${step.id} finds rows the downgrade would stop on (${found.join('; ')}), so the plan ${takes}` };
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

/** The revisions of `to`'s graph a database at `fromHead` (in `fromLine`'s graph) lacks: what its package runs. */
function revisionsToRun(fromLine: string, fromHead: string, to: Release): string[] {
  const have = ancestorsIn(fromLine, fromHead);
  return [...ancestorsIn(to.line, to.head)].filter((revision) => !have.has(revision));
}

/**
 * `steps` with unguarded-revisions and revision-deletes before the schema step where `to`'s package
 * runs, from `fromHead`, a revision that stops on some rows without a guard, or that deletes rows
 * for good (releases/cannot-run.ts).
 */
function withRowChecks(steps: readonly Step[], fromLine: string, fromHead: string, to: Release): readonly Step[] {
  const runs = revisionsToRun(fromLine, fromHead, to);
  const checks = [...(unguardedRuns(to.version, runs).length > 0 ? [unguardedRevisions] : []), ...(deletingRuns(to.version, runs).length > 0 ? [revisionDeletes] : [])];
  if (checks.length === 0) return steps;
  const at = steps.findIndex((step) => step.id === 'schema');
  return [...steps.slice(0, at), ...checks, ...steps.slice(at)];
}

/**
 * Why the package of `to` must not run the hop from `fromHead` (in `fromLine`'s graph): it cannot
 * run a revision the hop runs (releases/cannot-run.ts); undefined when it can run them all.
 */
function packageRefuses(fromLine: string, fromHead: string, to: Release): string | undefined {
  const found = cannotRun(to.version, revisionsToRun(fromLine, fromHead, to));
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
function detectedStart(position: SchemaPosition | undefined, again: PlanAgain | undefined): { start: VersionRef; why?: string; detour?: Detour } {
  if (!position) throw invalidInput(`from-version is not set and cannot be detected without PostgreSQL; set from-version (${describeAcceptedVersions()})`);
  const release = position.between ? position.between[0] : position.releases[0]!;
  const into = hopInto(position);
  if (into && again?.hops.includes(into.label)) {
    return { start: { input: into.from, line: into.from }, why: `; ${again.because.replace('{hop}', into.label)}, so it is planned again` };
  }
  // A detour into this line that a killed run left unfinished: from its start again (decideDetour takes it again).
  const detour = DETOURS.find((d) => again?.hops.includes(detourLabel(d)) && sameLine(release, d.to));
  if (detour) return { start: { input: detour.from, line: detour.from }, why: `; ${again!.because.replace('{hop}', detourLabel(detour))}, so it is planned again`, detour };
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
