/**
 * What is true of every Backend.AI release 21.03.0 … 26.9.6: its line, its alembic head, and each
 * line's revision graph at its final patch (generated.ts, made by scripts/generate-releases.mjs;
 * 26.4's is 26.4.16's, which every earlier 26.4 patch's head lies under). Versions are
 * YY.MM until 24.12 and YY.N from 25.1 on (25.15, 26.4.10); a schema's place among releases is
 * found by ancestry in a line's graph, never by a list index, so forks, merges and revisions
 * re-parented between lines are placed as alembic would place them.
 */
import { DUPLICATE_REVISIONS, LINE_PARENTS, RELEASE_ROWS, REVISIONS } from './generated.js';

export interface Release {
  /** Full version, e.g. "21.09.9" or "26.4.10". */
  readonly version: string;
  /** Its release line, e.g. "21.09" or "25.15". */
  readonly line: string;
  readonly patch: number;
  /** The alembic head revision of this release's migration scripts. */
  readonly head: string;
  readonly date: string;
  /** What the wheel's Requires-Python says, e.g. "==3.10.5". */
  readonly pythonRequires: string;
}

/** Parses a line key or a version's line part: "21.9" and "21.09" are the same line; so are "25.01" and "25.1". */
export function lineKey(year: number, minor: number): string {
  return year <= 24 ? `${year}.${String(minor).padStart(2, '0')}` : `${year}.${minor}`;
}

function lineParts(line: string): [number, number] {
  const [year, minor] = line.split('.').map(Number);
  return [year!, minor!];
}

export function compareLines(a: string, b: string): number {
  const [ay, am] = lineParts(a);
  const [by, bm] = lineParts(b);
  return ay - by || am - bm;
}

/** Whether two versions, releases or line keys are of the same release line (a comparison of positions, not a release fact). */
export function sameLine(a: string | { readonly line: string }, b: string | { readonly line: string }): boolean {
  return (typeof a === 'string' ? a : a.line) === (typeof b === 'string' ? b : b.line);
}

export function compareReleases(a: Release, b: Release): number {
  return compareLines(a.line, b.line) || a.patch - b.patch;
}

export const RELEASES: readonly Release[] = RELEASE_ROWS.map(([version, date, head, pythonRequires]) => {
  const [year, minor, patch] = version.split('.').map(Number);
  return { version, line: lineKey(year!, minor!), patch: patch!, head, date, pythonRequires };
}).sort(compareReleases);

/** Every release line, oldest first. */
export const LINES: readonly string[] = [...new Set(RELEASES.map((r) => r.line))];

export function releasesOf(line: string): readonly Release[] {
  return RELEASES.filter((r) => r.line === line);
}

export function latestRelease(line: string): Release {
  const releases = releasesOf(line);
  return releases[releases.length - 1]!;
}

export function earliestRelease(line: string): Release {
  return releasesOf(line)[0]!;
}

export function findRelease(version: string): Release | undefined {
  return RELEASES.find((r) => r.version === version);
}

/** A revision's parents in a line's graph. */
export function parentsIn(line: string, revision: string): readonly string[] {
  const parents = LINE_PARENTS[line]?.[revision] ?? REVISIONS[revision]?.[0];
  return parents ? parents.split(',').filter((p) => p !== '') : [];
}

export function revisionMessage(revision: string): string | undefined {
  return REVISIONS[revision]?.[1];
}

const ancestry = new Map<string, ReadonlySet<string>>();

/** The revision and every revision it descends from, in `line`'s graph. */
export function ancestorsIn(line: string, revision: string): ReadonlySet<string> {
  const key = `${line} ${revision}`;
  const known = ancestry.get(key);
  if (known) return known;
  const found = new Set<string>();
  const queue = [revision];
  while (queue.length > 0) {
    const next = queue.pop()!;
    if (found.has(next) || !(next in REVISIONS)) continue;
    found.add(next);
    queue.push(...parentsIn(line, next));
  }
  ancestry.set(key, found);
  return found;
}

/** Every revision of a line: its final patch's head and all that head descends from. */
export function revisionsOf(line: string): ReadonlySet<string> {
  return ancestorsIn(line, latestRelease(line).head);
}

/** True when a schema at `revision` has every revision of `ancestor` applied, in `line`'s graph. */
export function reaches(line: string, revision: string, ancestor: string): boolean {
  return ancestorsIn(line, revision).has(ancestor);
}

/** The lines whose graph holds `revision`, oldest first. */
export function linesHolding(revision: string): string[] {
  return LINES.filter((line) => revisionsOf(line).has(revision));
}

/**
 * True when a database at `position` went through the hop `fromLine` → `line` and on into a later
 * line's graph, past `head`: a later hop of the same run took it there (a repeated run meets this
 * hop again). A position still in either line's graph is not past: a later line may have
 * re-parented the source's head after `head` (24.09.14's ecc9f6322be4 in 25.2), which says nothing
 * about what ran.
 */
export function pastIn(fromLine: string, line: string, position: readonly string[], head: string): boolean {
  if (position.length === 0 || position.some((revision) => revisionsOf(line).has(revision) || revisionsOf(fromLine).has(revision))) return false;
  return position.every((revision) => LINES.some((later) => compareLines(later, line) > 0 && revisionsOf(later).has(revision) && reaches(later, revision, head)));
}

/** Every revision a database at `position` has run, placed in `line`'s graph. */
export function appliedIn(line: string, position: readonly string[]): ReadonlySet<string> {
  return new Set(position.flatMap((revision) => [...ancestorsIn(line, revision)]));
}

export interface UpgradeSkips {
  /** Revisions the database never ran and the upgrade will not run either. */
  readonly skipped: readonly string[];
  /** Skipped ids whose twin (the same change under another id) ran already or will run. */
  readonly covered: ReadonlyArray<{ readonly revision: string; readonly twin: string }>;
}

/**
 * What `alembic upgrade head` with `toLine`'s scripts takes as already run although a database
 * that followed `fromLine` (now at `position`) never ran it: revisions `toLine` re-parented before
 * ones the database has. Nothing is skipped when the upgrade is safe.
 */
export function upgradeSkips(fromLine: string, toLine: string, position: readonly string[], head: string): UpgradeSkips {
  const applied = appliedIn(fromLine, position);
  const assumed = appliedIn(toLine, position);
  const willRun = new Set([...ancestorsIn(toLine, head)].filter((revision) => !assumed.has(revision)));
  const missed = [...assumed].filter((revision) => !applied.has(revision)).sort();
  const twinOf = (revision: string) => DUPLICATE_REVISIONS[revision];
  const isCovered = (revision: string) => {
    const twin = twinOf(revision);
    return twin !== undefined && (applied.has(twin) || willRun.has(twin));
  };
  return {
    skipped: missed.filter((revision) => !isCovered(revision)),
    covered: missed.filter(isCovered).map((revision) => ({ revision, twin: twinOf(revision)! })),
  };
}

/**
 * The revisions of `toLine` up to `head` that a database at `position` (in `fromLine`'s graph) has
 * not run, parents before children (ties by id, so the order is the same on every run).
 */
export function revisionsToApply(fromLine: string, toLine: string, position: readonly string[], head: string): string[] {
  const applied = appliedIn(fromLine, position);
  const wanted = new Set([...ancestorsIn(toLine, head)].filter((revision) => !applied.has(revision)));
  const order: string[] = [];
  const placed = new Set<string>();
  const ready = () => [...wanted].filter((r) => !placed.has(r) && parentsIn(toLine, r).every((p) => placed.has(p) || !wanted.has(p))).sort();
  for (let next = ready(); next.length > 0; next = ready()) {
    for (const revision of next) {
      placed.add(revision);
      order.push(revision);
    }
  }
  return order;
}
