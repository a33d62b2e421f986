/**
 * Which Python each Backend.AI manager release installs on, as found by installing the final
 * patch of each line from PyPI (`scripts/manager-matrix.sh`, raw results in docs/manager-packages.md;
 * the test bed's interpreters and what each attempt measured are in __tests__/support/test-bed-pythons.ts).
 * Where an entry names a patch version Requires-Python pins exactly (22.03.14: ==3.10.5), the
 * nearest patch of the same X.Y is used with `--ignore-requires-python`.
 */
import { invalidInput } from '../core/errors.js';
import { splitVersion } from './catalogue.js';

export interface ManagerPythonEntry {
  /** Release line, e.g. "22.03". */
  readonly line: string;
  /** Patches of the line the entry covers (inclusive); the Python requirement changes inside 22.03. */
  readonly patches: readonly [number, number];
  /** The patch that was installed to find this out (PyPI spells it without the month's zero). */
  readonly tried: string;
  /** The wheel's Requires-Python, what pip enforces. */
  readonly requiresPython: string;
  /** The Python (X.Y, e.g. "3.10") it installs and runs on; null: none that was tried runs it. */
  readonly python: string | null;
  /** Installed into the fresh venv before the manager (the build tools `--no-build-isolation` builds with). */
  readonly preinstall: readonly string[];
  /** More arguments for `pip install`. */
  readonly pipArgs: readonly string[];
  /**
   * pip constraints (requirement lines), given to pip as a file in PIP_CONSTRAINT so that they also
   * reach the isolated environments that build sdists (Cython<3 is a build dependency's pin).
   */
  readonly constraints: readonly string[];
  /** Where the constraints come from. */
  readonly constraintsSource?: string;
  /** Installed with the manager: packages its dependencies import without requiring them. */
  readonly alsoInstall?: readonly string[];
  /** Why each of alsoInstall is needed, as found. */
  readonly alsoInstallSource?: string;
  /** The alembic head `alembic heads` printed for the tried patch (releases.tsv's head for that tag). */
  readonly head: string | null;
  /** For python null: what it needs and why nothing here fits. */
  readonly reason?: string;
}

/** PyPI's version of a Backend.AI tag: the month without its leading zero (21.09.9 → 21.9.9). */
export function pypiVersion(version: string): string {
  const parts = splitVersion(version);
  if (!parts || parts.patch === null) throw invalidInput(`release "${version}" is not a full version; accepted: YY.MM.PATCH, e.g. 21.09.9 or 25.15.12`);
  const [year, minor] = parts.line.split('.').map(Number);
  return `${year}.${minor}.${parts.patch}`;
}

/**
 * Tags whose package was never published on PyPI, each with the published release of its line
 * whose schema head is the same: the venv of the tag installs that one instead (pip would find
 * nothing at all).
 */
const UNPUBLISHED: Readonly<Record<string, string>> = {
  // 23.09.11 is tagged (head 75ea2b136830) but PyPI's newest 23.09 is 23.9.10, with the same head.
  '23.09.11': '23.09.10',
};

/** The release whose package a manager venv for `version` installs. */
export function publishedRelease(version: string): string {
  return UNPUBLISHED[version] ?? version;
}

const MGR_CONSTRAINTS = ['Cython<3', 'protobuf<4'];
const MGR_SOURCE =
  "backend.ai-manager has no lock file before 22.03.4: Cython<3 lets PyYAML 5.4.1 (pinned ~=5.4.1) build from its sdist; protobuf<4 keeps etcd3 0.12's generated code importable (protobuf 4 came out after the release)";

interface AlsoInstall {
  readonly packages: readonly string[];
  readonly source: string;
}

/**
 * Found by making each line's final patch with uv on pyenv's 3.13.0 and running `alembic heads`:
 * without sniffio it stops with ModuleNotFoundError; with it, it prints the release's head.
 */
const SNIFFIO: AlsoInstall = {
  packages: ['sniffio'],
  source:
    "valkey-glide 2.0.1 (glide/glide_client.py) imports sniffio without requiring it, and these releases' wheels pin that valkey-glide: their alembic stops with ModuleNotFoundError: No module named 'sniffio'",
};

/**
 * Found when uv refused 24.12.1 (`backend-ai-cli==24.12.1 was yanked (reason: broken version)`) and
 * bai-migrate fell back to pip, about ten times slower: uv takes a yanked release only where it is
 * pinned, so the yanked dependencies are pinned as constraints (which also hold for pip, and ask
 * for nothing a package does not require).
 */
const YANKED_2412 = {
  constraints: ['backend.ai-cli==24.12.1', 'backend.ai-common==24.12.1', 'backend.ai-plugin==24.12.1'],
  source:
    "every backend.ai package of 24.12.1 is yanked on PyPI; pip installs yanked releases pinned with ==, uv only those pinned in the requirements or constraints, so the manager's own backend.ai dependencies are pinned to the versions it requires",
} as const;

export const MANAGER_PYTHON: readonly ManagerPythonEntry[] = [
  {
    // Only the final patch was tried; 21.03.0 asked for 3.8, every later one for 3.9.
    line: '21.03',
    patches: [1, 32],
    tried: '21.03.32',
    requiresPython: '>=3.9',
    python: '3.9',
    preinstall: [],
    pipArgs: [],
    constraints: MGR_CONSTRAINTS,
    constraintsSource: MGR_SOURCE,
    head: '8679d0a7e22b',
  },
  {
    line: '21.09',
    patches: [0, 9],
    tried: '21.09.9',
    requiresPython: '>=3.9',
    python: '3.9',
    preinstall: [],
    pipArgs: [],
    constraints: MGR_CONSTRAINTS,
    constraintsSource: MGR_SOURCE,
    head: '60a1effa77d2',
  },
  {
    line: '22.03',
    patches: [0, 3],
    tried: '22.03.3',
    requiresPython: '>=3.10',
    python: '3.10',
    preinstall: [],
    pipArgs: [],
    constraints: MGR_CONSTRAINTS,
    constraintsSource: MGR_SOURCE,
    head: '81c264528f20',
  },
  {
    line: '22.03',
    patches: [4, 14],
    tried: '22.03.14',
    requiresPython: '==3.10.5',
    python: '3.10',
    preinstall: [],
    // The wheel pins CPython 3.10.5 exactly; any 3.10 runs it.
    pipArgs: ['--ignore-requires-python'],
    constraints: ['aiohttp-sse==2.1'],
    constraintsSource: 'backend.ai@22.03.14:python.lock pins aiohttp-sse 2.1; the wheel asks only aiohttp_sse>=2.0, and later releases import typing.Self, which Python 3.10 lacks',
    head: '81c264528f20',
  },
  {
    line: '22.09',
    patches: [0, 23],
    tried: '22.09.23',
    requiresPython: '>=3.10,<3.11',
    python: '3.11',
    preinstall: [],
    pipArgs: ['--ignore-requires-python'],
    constraints: [],
    head: 'd58a526bf837',
  },
  {
    line: '23.03',
    patches: [0, 12],
    tried: '23.03.12',
    requiresPython: '>=3.11,<3.12',
    python: '3.11',
    preinstall: [],
    pipArgs: [],
    constraints: [],
    head: 'ae7d4cd92aa7',
  },
  {
    // 23.09.11 is tagged but was never published to PyPI: 23.9.10 is the newest there (same head).
    line: '23.09',
    patches: [0, 10],
    tried: '23.09.10',
    requiresPython: '>=3.11,<3.12',
    python: '3.11',
    preinstall: [],
    pipArgs: [],
    constraints: ['yarl==1.9.4'],
    constraintsSource:
      "backend.ai@23.09.10:python.lock pins yarl 1.9.4; the wheel asks only yarl>=1.8.2,<2.0, and the newest (1.25.1 when tried) makes aiohttp 3.8.6 answer every request whose Host carries a port with 500 (ValueError: Host '127.0.0.1:…' cannot contain ':'), found by manager-starts",
    head: '75ea2b136830',
  },
  ...(
    [
      ['24.03', 11, '24.03.11', '3596bc12ec09'],
      ['24.09', 14, '24.09.14', 'ecc9f6322be4'],
      // 24.12.0 was never published and 24.12.1 is yanked; pip still installs a yanked release pinned with ==.
      ['24.12', 1, '24.12.1', '0bb88d5a46bf', YANKED_2412],
      ['25.1', 1, '25.1.1', 'fb89f5d7817b'],
      ['25.2', 0, '25.2.0', 'ecc9f6322be4'],
      ['25.3', 3, '25.3.3', '8f85e9d0bd4e'],
      ['25.4', 0, '25.4.0', '70e0533aa49a'],
      ['25.5', 2, '25.5.2', '683ca0a32f41'],
    ] as const satisfies ReadonlyArray<readonly [string, number, string, string, typeof YANKED_2412?]>
  ).map(([line, last, tried, head, pins]: readonly [string, number, string, string, typeof YANKED_2412?]): ManagerPythonEntry => ({
    line,
    patches: [0, last],
    tried,
    requiresPython: '>=3.12,<3.13',
    python: '3.12',
    preinstall: [],
    pipArgs: [],
    constraints: pins ? [...pins.constraints] : [],
    ...(pins && { constraintsSource: pins.source }),
    head,
  })),
  ...(
    [
      ['25.6', 17, '25.6.17', 'c7fedaca4883'],
      ['25.7', 0, '25.7.0', 'c7fedaca4883'],
      ['25.8', 1, '25.8.1', '17ea44123131'],
      ['25.9', 1, '25.9.1', '17ea44123131'],
      ['25.10', 1, '25.10.1', '17ea44123131'],
      ['25.11', 4, '25.11.4', 'bf39b34717d4', SNIFFIO],
      ['25.12', 1, '25.12.1', '643deb439458', SNIFFIO],
      ['25.13', 4, '25.13.4', '4db74efaf82e', SNIFFIO],
      ['25.14', 5, '25.14.5', '08c1867e266e', SNIFFIO],
      ['25.15', 12, '25.15.12', 'fa3dd7f77c19'],
      ['25.16', 0, '25.16.0', 'd811b103dbfc', SNIFFIO],
      ['25.17', 1, '25.17.1', 'dd15fd17f232', SNIFFIO],
      ['25.18', 1, '25.18.1', 'b0fb0eb6b6bc'],
      ['25.19', 2, '25.19.2', 'd0a3c0716970'],
      ['26.4', 10, '26.4.10', 'bd1bf0524350'],
      // Patches published after the line's first install was tried are an entry of their own.
      ['26.4', [11, 16], '26.4.16', 'e1b7f3d20a94'],
      ['26.8', 1, '26.8.1', 'b93d1c47af52'],
      ['26.8', [2, 3], '26.8.3', 'b93d1c47af52'],
      ['26.9', 6, '26.9.6', 'd1117da8d8bd'],
    ] as const satisfies ReadonlyArray<readonly [string, number | readonly [number, number], string, string, AlsoInstall?]>
  ).map(([line, patches, tried, head, also]: readonly [string, number | readonly [number, number], string, string, AlsoInstall?]): ManagerPythonEntry => ({
    line,
    // A number is the last patch, from 0.
    patches: typeof patches === 'number' ? [0, patches] : [patches[0], patches[1]],
    tried,
    requiresPython: '>=3.13,<3.14',
    python: '3.13',
    preinstall: [],
    pipArgs: [],
    constraints: [],
    ...(also && { alsoInstall: also.packages, alsoInstallSource: also.source }),
    head,
  })),
];

/** What to install where, or why nothing fits. */
export type ManagerPythonChoice =
  | {
      readonly fits: true;
      readonly version: string;
      /** The pip requirement, e.g. backend.ai-manager==21.9.9. */
      readonly requirement: string;
      /** The Python X.Y, e.g. "3.10". */
      readonly python: string;
      readonly preinstall: readonly string[];
      readonly pipArgs: readonly string[];
      readonly constraints: readonly string[];
      readonly alsoInstall: readonly string[];
      readonly entry: ManagerPythonEntry;
    }
  | { readonly fits: false; readonly version: string; readonly reason: string; readonly entry?: ManagerPythonEntry };

function parse(version: string): { line: string; patch: number | null } {
  const parts = splitVersion(version);
  if (!parts) throw invalidInput(`release "${version}" is not a Backend.AI version; accepted: YY.MM or YY.MM.PATCH, e.g. 22.03 or 21.09.9`);
  return { line: parts.line, patch: parts.patch };
}

/**
 * The interpreter, pip arguments and constraints for one release ("21.09.9", PyPI's "21.9.9", or a
 * line "22.03", which means its final patch as tried here).
 */
export function managerPythonFor(version: string): ManagerPythonChoice {
  const { line, patch } = parse(version);
  const entries = MANAGER_PYTHON.filter((entry) => entry.line === line);
  if (entries.length === 0) {
    const known = [...new Set(MANAGER_PYTHON.map((entry) => entry.line))].join(', ');
    return { fits: false, version, reason: `release line ${line} was not tried on the test bed's interpreters; tried: ${known}` };
  }
  const entry =
    patch === null
      ? entries.reduce((latest, candidate) => (candidate.patches[1] > latest.patches[1] ? candidate : latest))
      : entries.find((candidate) => patch >= candidate.patches[0] && patch <= candidate.patches[1]);
  if (!entry) {
    return { fits: false, version, reason: `${line}.${patch} is outside the patches tried for line ${line} (${entries.map((e) => `${e.patches[0]}–${e.patches[1]}`).join(', ')})` };
  }
  const full = patch === null ? entry.tried : `${line}.${patch}`;
  if (entry.python === null) return { fits: false, version: full, reason: entry.reason ?? `no interpreter of the test bed runs ${line}`, entry };
  return {
    fits: true,
    version: full,
    requirement: `backend.ai-manager==${pypiVersion(full)}`,
    python: entry.python,
    preinstall: entry.preinstall,
    pipArgs: entry.pipArgs,
    constraints: entry.constraints,
    alsoInstall: entry.alsoInstall ?? [],
    entry,
  };
}
