/**
 * The Backend.AI releases bai-migrate knows, and the alembic head revision of each.
 * Heads come from the `down_revision` graph of each release tag's migration scripts
 * (lablup/backend.ai-manager up to 22.03.3, lablup/backend.ai after).
 */
import { invalidInput } from './errors.js';

export interface Release {
  /** Full version, e.g. "21.09.9". */
  readonly version: string;
  /** Release series, e.g. "21.09". */
  readonly series: string;
  readonly patch: number;
  /** The alembic head revision of this release's migration scripts. */
  readonly head: string;
}

/** [series, first patch, last patch, head]: every patch in the range shares the head. */
const PATCH_HEADS: ReadonlyArray<readonly [string, number, number, string]> = [
  ['21.03', 0, 2, '518ecf41f567'],
  ['21.03', 3, 32, '8679d0a7e22b'],
  ['21.09', 0, 2, '8679d0a7e22b'],
  ['21.09', 3, 9, '60a1effa77d2'],
  // 22.03.12 was tagged 22.03.11.post1 upstream; its head is the same.
  ['22.03', 0, 14, '81c264528f20'],
];

/** Series in upgrade order; a major upgrade goes through each in turn. */
export const SERIES: readonly string[] = ['21.03', '21.09', '22.03'];

export const RELEASES: readonly Release[] = PATCH_HEADS.flatMap(([series, first, last, head]) =>
  Array.from({ length: last - first + 1 }, (_, i) => ({
    version: `${series}.${first + i}`,
    series,
    patch: first + i,
    head,
  })),
);

/**
 * The schema revisions of the supported range in an order alembic may apply them (oldest first).
 * Between 21.09's and 22.03's heads sit the intermediate revisions of the 22.03 migration; a
 * database at one of them was stopped part-way through `alembic upgrade`. The 22.03 graph forks
 * twice (015d84d5a5ef | 7dd1d81c3204, then d59ff89e7514 | 11146ba02235) and merges again, so a
 * stopped upgrade can leave two rows in alembic_version.
 */
export const REVISION_ORDER: readonly string[] = [
  '518ecf41f567', // 21.03.0-2: add_index_for_cluster_role
  '8679d0a7e22b', // 21.03.3+ / 21.09.0-2: add SCHEDULED to kernelstatus
  '60a1effa77d2', // 21.09.3+: scaling_groups.wsproxy_addr
  '015d84d5a5ef', // 22.03: images, image_aliases
  '911023380bc9', // 22.03: agents/kernels.architecture
  '7dd1d81c3204', // 22.03: kernels.vfolder_mounts
  '0f7a4b643940', // 22.03: merge
  'd59ff89e7514', // 22.03: drop keypairs.concurrency_used
  '11146ba02235', // 22.03: agents.architecture VARCHAR(32)
  'a7ca9f175d5f', // 22.03: merge
  'd727b5da20e6', // 22.03: kernels.callback_url
  '81c264528f20', // 22.03.0+: keypair_resource_policies.max_session_lifetime
];

/** Heads of releases outside the supported range, so that such a database is named, not "unknown". */
const OTHER_HEADS: Readonly<Record<string, string>> = {
  '0d553d59f369': '20.03.19',
  dc9b66466e43: '20.09.0',
  f83d630c0bc9: '22.09.0',
  d58a526bf837: '22.09.23',
  '10c58e701d87': '23.03.0',
  ae7d4cd92aa7: '23.03.12',
  '85615e005fa3': '23.09.0',
  '75ea2b136830': '23.09.11',
  '857b763b8618': '24.03.0',
  '3596bc12ec09': '24.03.11',
  '7c8501cec07b': '24.09.0',
  ecc9f6322be4: '24.09.14',
  '0bb88d5a46bf': '24.12.0',
  fb89f5d7817b: '25.1.1',
  c7fedaca4883: '25.6.17',
  fa3dd7f77c19: '25.15.12',
  bd1bf0524350: '26.4.10',
  b93d1c47af52: '26.8.1',
};

const VERSION_PATTERN = /^(\d{2}\.\d{2})(?:\.(\d{1,3}))?$/;

export function describeAcceptedVersions(): string {
  const ranges = SERIES.map((series) => {
    const patches = RELEASES.filter((r) => r.series === series).map((r) => r.patch);
    return `${series} (patches ${describePatchRanges(patches)})`;
  });
  return ranges.join(', ');
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

/** A version as the operator wrote it: a series ("21.09") or an exact release ("21.09.9"). */
export interface VersionRef {
  readonly input: string;
  readonly series: string;
  /** Set when the operator named an exact patch release. */
  readonly release?: Release;
}

export function parseVersion(input: string, inputName: string): VersionRef {
  const text = input.trim();
  const match = VERSION_PATTERN.exec(text);
  const accepted = `accepted: ${describeAcceptedVersions()}`;
  if (!match) {
    throw invalidInput(`${inputName} "${text}" is not a Backend.AI version (YY.MM or YY.MM.PATCH); ${accepted}`);
  }
  const series = match[1]!;
  if (!SERIES.includes(series)) {
    throw invalidInput(`${inputName} "${text}" is not a release bai-migrate can migrate; ${accepted}`);
  }
  if (match[2] === undefined) return { input: text, series };
  const release = RELEASES.find((r) => r.version === `${series}.${Number(match[2])}`);
  if (!release) {
    throw invalidInput(`${inputName} "${text}" is not a known ${series} release; ${accepted}`);
  }
  return { input: text, series, release };
}

export function seriesIndex(series: string): number {
  return SERIES.indexOf(series);
}

export function latestRelease(series: string): Release {
  const releases = RELEASES.filter((r) => r.series === series);
  return releases[releases.length - 1]!;
}

export function earliestRelease(series: string): Release {
  return RELEASES.find((r) => r.series === series)!;
}

/** The release a version reference stands for when used as a target: the exact one, or the series' latest. */
export function targetRelease(ref: VersionRef): Release {
  return ref.release ?? latestRelease(ref.series);
}

export function revisionPosition(revision: string): number {
  return REVISION_ORDER.indexOf(revision);
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
  const position = revisionPosition(revision);
  if (position >= 0) {
    const before = [...RELEASES].reverse().find((r) => revisionPosition(r.head) < position)!;
    const after = RELEASES.find((r) => revisionPosition(r.head) > position)!;
    return { revision, releases: [], between: [before, after] };
  }
  return { revision, otherRelease: OTHER_HEADS[revision] };
}

export function isSchemaPosition(value: ReturnType<typeof locateRevision>): value is SchemaPosition {
  return 'releases' in value;
}

/** "21.03.5–21.03.32, 21.09.0–21.09.2" for a list of releases. */
export function describeReleases(releases: readonly Release[]): string {
  const bySeries = new Map<string, number[]>();
  for (const r of releases) bySeries.set(r.series, [...(bySeries.get(r.series) ?? []), r.patch]);
  return [...bySeries]
    .map(([series, patches]) =>
      patches.length === 1
        ? `${series}.${patches[0]}`
        : `${series}.${patches[0]}–${series}.${patches[patches.length - 1]}`,
    )
    .join(' or ');
}

export function describePosition(position: SchemaPosition): string {
  if (position.between) {
    const [before, after] = position.between;
    return `revision ${position.revision}, part-way from ${before.version} to ${after.version} (an interrupted alembic upgrade)`;
  }
  return `revision ${position.revision} (Backend.AI ${describeReleases(position.releases)})`;
}
