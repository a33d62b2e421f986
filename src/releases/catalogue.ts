/**
 * The Backend.AI releases bai-migrate knows, and the alembic head revision of each.
 * Heads come from the `down_revision` graph of each release tag's migration scripts
 * (lablup/backend.ai-manager up to 22.03.3, lablup/backend.ai after).
 */
import { invalidInput } from '../core/errors.js';
import { compareLines, findRelease, lineKey, LINES, linesHolding, reaches, RELEASES, releasesOf, type Release } from './releases.js';

export { earliestRelease, latestRelease, RELEASES, type Release } from './releases.js';

/** Heads of releases older than the catalogue, so that such a database is named, not "unknown". */
const OLDER_HEADS: Readonly<Record<string, string>> = {
  '0d553d59f369': '20.03.19',
  dc9b66466e43: '20.09.0',
};

/** YY.MM (to 24.12) or YY.N (from 25.1), each optionally with .PATCH; "21.9.9" (as PyPI spells it) is 21.09.9. */
const VERSION_PATTERN = /^(\d{2})\.(\d{1,2})(?:\.(\d{1,3}))?$/;

export function describeAcceptedVersions(): string {
  return `a Backend.AI release line from ${LINES[0]} to ${LINES[LINES.length - 1]} (e.g. 22.03, 25.15) or one of its releases (e.g. 21.09.9, 26.4.10)`;
}

function describePatchRanges(patches: number[]): string {
  const parts: string[] = [];
  let start = patches[0]!;
  let previous = start;
  for (const patch of [...patches.slice(1), Number.NaN]) {
    if (patch === previous + 1) {
      previous = patch;
      continue;
    }
    parts.push(start === previous ? `.${start}` : `.${start}–.${previous}`);
    start = previous = patch;
  }
  return parts.join(', ');
}

/** A version as the operator wrote it: a line ("21.09") or an exact release ("21.09.9"). */
export interface VersionRef {
  readonly input: string;
  readonly line: string;
  /** Set when the operator named an exact patch release. */
  readonly release?: Release;
}

/**
 * A version's line key and patch, whether or not the catalogue holds them ("21.9.9" → 21.09, 9;
 * "26.4.12" → 26.4, 12); undefined when the text is no Backend.AI version at all.
 */
export function splitVersion(input: string): { readonly line: string; readonly patch: number | null } | undefined {
  const match = VERSION_PATTERN.exec(input.trim());
  if (!match) return undefined;
  return { line: lineKey(Number(match[1]), Number(match[2])), patch: match[3] === undefined ? null : Number(match[3]) };
}

export function parseVersion(input: string, inputName: string): VersionRef {
  const text = input.trim();
  const parts = splitVersion(text);
  const accepted = `accepted: ${describeAcceptedVersions()}`;
  if (!parts) {
    throw invalidInput(`${inputName} "${text}" is not a Backend.AI version (YY.MM or YY.N, optionally .PATCH); ${accepted}`);
  }
  const { line, patch } = parts;
  if (!LINES.includes(line)) {
    throw invalidInput(`${inputName} "${text}" is no Backend.AI release line bai-migrate knows; ${accepted}`);
  }
  if (patch === null) return { input: text, line };
  const release = findRelease(`${line}.${patch}`);
  if (!release) {
    throw invalidInput(`${inputName} "${text}" is not a known ${line} release; known: ${line}${describePatchRanges(releasesOf(line).map((r) => r.patch))}`);
  }
  return { input: text, line, release };
}

/** How a version input given in another spelling was understood. */
export interface VersionReading {
  readonly input: 'from-version' | 'to-version';
  /** e.g. "22.3 is read as 22.03 (22.03.14)": PyPI spells the 22.03 line 22.3.x. */
  readonly reading: string;
}

/** Undefined when the text given is already bai-migrate's spelling; `target` adds the release a line stands for. */
export function versionReading(input: VersionReading['input'], ref: VersionRef, target?: Release): VersionReading | undefined {
  const understood = ref.release?.version ?? ref.line;
  if (ref.input === understood) return undefined;
  return { input, reading: `${ref.input} is read as ${understood}${target && !ref.release ? ` (${target.version})` : ''}` };
}

export function lineIndex(line: string): number {
  return LINES.indexOf(line);
}

/** The release a version reference stands for when used as a target: the exact one, or the line's latest. */
export function targetRelease(ref: VersionRef): Release {
  return ref.release ?? releasesOf(ref.line)[releasesOf(ref.line).length - 1]!;
}

/** Where a schema revision stands against a release, in `line`'s graph. */
export type Relation = 'same' | 'before' | 'after' | 'apart' | 'unknown';

export function relationTo(line: string, revision: string, release: Release): Relation {
  if (revision === release.head) return 'same';
  if (!linesHolding(revision).length) return 'unknown';
  if (reaches(line, release.head, revision)) return 'before';
  if (reaches(line, revision, release.head)) return 'after';
  return 'apart';
}

/** What a revision stored in `alembic_version` says about the deployment. */
export interface SchemaPosition {
  readonly revision: string;
  /** Releases whose head is this revision (several: 8679d0a7e22b is both 21.03.3+ and 21.09.0-2). */
  readonly releases: readonly Release[];
  /** Set when the revision lies between two releases' heads: a stopped `alembic upgrade`. */
  readonly between?: readonly [Release, Release];
}

export function locateRevision(revision: string): SchemaPosition | { revision: string; otherRelease?: string } {
  const releases = RELEASES.filter((r) => r.head === revision);
  if (releases.length > 0) return { revision, releases };
  const between = betweenReleases([revision]);
  if (between) return { revision, releases: [], between };
  return { revision, otherRelease: OLDER_HEADS[revision] };
}

/**
 * The releases a schema lies between when alembic_version holds revisions that are no release's
 * head (an interrupted upgrade, possibly stopped inside a fork): the newest release every one of
 * them has applied, and the oldest release that has applied all of them, by ancestry.
 */
export function betweenReleases(revisions: readonly string[]): readonly [Release, Release] | undefined {
  const line = LINES.find((l) => revisions.every((r) => linesHolding(r).includes(l)));
  if (!line) return undefined;
  const before = RELEASES.filter((r) => compareLines(r.line, line) <= 0 && !revisions.includes(r.head) && revisions.every((rev) => reaches(line, rev, r.head))).at(-1);
  const after = RELEASES.find((r) => compareLines(r.line, line) >= 0 && revisions.every((rev) => reaches(r.line, r.head, rev)));
  return before && after ? [before, after] : undefined;
}

export function isSchemaPosition(value: ReturnType<typeof locateRevision>): value is SchemaPosition {
  return 'releases' in value;
}

/** "21.03.5–21.03.32, 21.09.0–21.09.2" for a list of releases. */
export function describeReleases(releases: readonly Release[]): string {
  const byLine = new Map<string, number[]>();
  for (const r of releases) byLine.set(r.line, [...(byLine.get(r.line) ?? []), r.patch]);
  return [...byLine].map(([line, patches]) => (patches.length === 1 ? `${line}.${patches[0]}` : `${line}.${patches[0]}–${line}.${patches[patches.length - 1]}`)).join(' or ');
}

export function describePosition(position: SchemaPosition): string {
  if (position.between) {
    const [before, after] = position.between;
    return `revision ${position.revision}, part-way from ${before.version} to ${after.version} (an interrupted alembic upgrade)`;
  }
  return `revision ${position.revision} (Backend.AI ${describeReleases(position.releases)})`;
}
