/**
 * The test bed's interpreters and what installing each manager release on them showed
 * (`scripts/manager-matrix.sh`, raw results in docs/manager-packages.md): measurements of this
 * project's machine, not release facts, so they stay out of the bundle. The release facts (which
 * Python X.Y a release needs, its pins) are src/releases/manager-python.ts.
 *
 * The test bed's interpreters (`scripts/pythons.sh`) are Debian's where a suite has the Python:
 * bullseye's 3.9, bookworm's 3.11 and trixie's 3.13. No Debian suite ships 3.10 or 3.12; the
 * project machine's pyenv has both (CPython 3.10.13 and 3.12.1, built on bookworm), and the test
 * bed runs them in the bookworm image.
 */

/**
 * An interpreter of the test bed, an image of scripts/pythons.sh: `<python>-<Debian suite>`, or
 * `<python>-pyenv` for the machine's pyenv build of a Python no suite has.
 */
export type TestBedPython = '3.9-bullseye' | '3.10-pyenv' | '3.11-bookworm' | '3.12-pyenv' | '3.13-trixie' | '3.13-pyenv';

export const TEST_BED_PYTHONS: readonly TestBedPython[] = ['3.9-bullseye', '3.10-pyenv', '3.11-bookworm', '3.12-pyenv', '3.13-trixie', '3.13-pyenv'];

/** What one install attempt showed; timings in seconds, the venv in MB. */
export interface InstallResult {
  readonly python: TestBedPython;
  readonly installs: boolean;
  /** `python -c 'import ai.backend.manager.models.alembic'` and `alembic heads` prints the release's head. */
  readonly alembic: boolean;
  /** `backend.ai mgr --help` exits 0. */
  readonly cli: boolean;
  readonly coldSeconds?: number;
  readonly warmSeconds?: number;
  readonly venvMegabytes?: number;
  /** Why it does not install or run, in a line (the error's gist). */
  readonly failure?: string;
}

/** The test bed's interpreter of Python X.Y ("3.10" → "3.10-pyenv"). */
export function testBedPython(pythonXY: string): TestBedPython {
  const found = TEST_BED_PYTHONS.find((python) => python.startsWith(`${pythonXY}-`));
  if (!found) throw new Error(`the test bed has no Python ${pythonXY} (it has ${TEST_BED_PYTHONS.join(', ')})`);
  return found;
}

/** Every attempt per release tried (a ManagerPythonEntry's `tried`), the chosen one first. */
export const INSTALL_RESULTS: Readonly<Record<string, readonly InstallResult[]>> = {
  '21.03.32': [{ python: '3.9-bullseye', installs: true, alembic: true, cli: true, coldSeconds: 34, warmSeconds: 28, venvMegabytes: 154 }],
  '21.09.9': [
    { python: '3.9-bullseye', installs: true, alembic: true, cli: true, coldSeconds: 72, warmSeconds: 48, venvMegabytes: 152 },
    {
      python: '3.11-bookworm',
      installs: false,
      alembic: false,
      cli: false,
      failure: 'pyzmq 22.1.0 (pinned ~=22.1.0) has no cp311 wheel and its shipped C does not compile on 3.11 (longintrepr.h); also with --no-build-isolation and Cython<3',
    },
  ],
  '22.03.3': [
    { python: '3.10-pyenv', installs: true, alembic: true, cli: true, coldSeconds: 135, venvMegabytes: 164 },
    { python: '3.11-bookworm', installs: false, alembic: false, cli: false, failure: 'pyzmq 22.1.0 and grpcio 1.48.2 fail to build from sdist on 3.11, also with Cython<3 and --no-build-isolation' },
  ],
  '22.03.14': [
    { python: '3.10-pyenv', installs: true, alembic: true, cli: true, coldSeconds: 37, venvMegabytes: 190 },
    {
      python: '3.11-bookworm',
      installs: true,
      alembic: false,
      cli: false,
      coldSeconds: 35,
      warmSeconds: 31,
      venvMegabytes: 182,
      failure: 'aioredis 2.0.1: TypeError: duplicate base class TimeoutError',
    },
  ],
  '22.09.23': [{ python: '3.11-bookworm', installs: true, alembic: true, cli: true, coldSeconds: 43, warmSeconds: 37, venvMegabytes: 183 }],
  '23.03.12': [{ python: '3.11-bookworm', installs: true, alembic: true, cli: true, coldSeconds: 104, warmSeconds: 114, venvMegabytes: 183 }],
  '23.09.10': [{ python: '3.11-bookworm', installs: true, alembic: true, cli: true, coldSeconds: 56, warmSeconds: 39, venvMegabytes: 185 }],
  ...Object.fromEntries(
    (
      [
        ['24.03.11', 50, 208, 'etcd-client-py 0.3.0'],
        ['24.09.14', 71, 242, 'etcd-client-py 0.3.0'],
        ['24.12.1', 47, 243, 'etcd-client-py 0.3.0'],
        ['25.1.1', 44, 250, 'etcd-client-py 0.3.0'],
        ['25.5.2', 49, 253, "grpcio 1.62.2 (etcetra 0.1.19's pin)"],
      ] as const
    ).map(([tried, coldSeconds, venvMegabytes, extension]): [string, readonly InstallResult[]] => [
      tried,
      [
        { python: '3.12-pyenv', installs: true, alembic: true, cli: true, coldSeconds, venvMegabytes },
        { python: '3.13-trixie', installs: false, alembic: false, cli: false, failure: `${extension}: no cp313 wheel, and its sdist does not build here (with --ignore-requires-python)` },
      ],
    ]),
  ),
  // bai-migrate's own manager-venv with uv 0.13.9 on pyenv's 3.12.1 (2026-12-07): cold is a fresh uv cache for 25.2.0,
  // then 25.3.3 with what 25.2.0 left in it; warm is the test bed's shared uv cache on a busy machine. 3.13 was not tried.
  '25.2.0': [{ python: '3.12-pyenv', installs: true, alembic: true, cli: true, coldSeconds: 42, warmSeconds: 38, venvMegabytes: 226 }],
  '25.3.3': [{ python: '3.12-pyenv', installs: true, alembic: true, cli: true, coldSeconds: 38, warmSeconds: 67, venvMegabytes: 223 }],
  // The same, 2026-12-07: cold is fresh uv and pip caches (every wheel and uv itself from PyPI), warm the test bed's shared uv cache.
  '25.4.0': [{ python: '3.12-pyenv', installs: true, alembic: true, cli: true, coldSeconds: 63, warmSeconds: 50, venvMegabytes: 224 }],
  ...Object.fromEntries(
    (
      [
        ['25.6.17', 34, 29, 224],
        ['25.15.12', 38, 37, 291],
        ['26.4.10', 37, 42, 349],
        ['26.8.1', 38, 38, 352],
      ] as const
    ).map(([tried, coldSeconds, warmSeconds, venvMegabytes]): [string, readonly InstallResult[]] => [
      tried,
      [{ python: '3.13-trixie', installs: true, alembic: true, cli: true, coldSeconds, warmSeconds, venvMegabytes }],
    ]),
  ),
  // bai-migrate's own manager-venv way (uv 0.13.9, pyenv's 3.13.0, 2026-12-07): warm is the test bed's shared uv cache on a
  // busy machine (load 7–11); a cold install was not timed. Releases that need sniffio were tried without it first
  // (`alembic heads`: ModuleNotFoundError: No module named 'sniffio'), then with it.
  ...Object.fromEntries(
    (
      [
        ['25.7.0', 33, 167],
        ['25.8.1', 29, 191],
        ['25.9.1', 10, 191],
        ['25.10.1', 8, 192],
        ['25.11.4', 8, 205],
        ['25.12.1', 18, 205],
        ['25.13.4', 22, 210],
        ['25.14.5', 9, 212],
        ['25.16.0', 24, 213],
        ['25.17.1', 24, 214],
        ['25.18.1', 27, 219],
        ['25.19.2', 114, 221],
      ] as const
    ).map(([tried, warmSeconds, venvMegabytes]): [string, readonly InstallResult[]] => [tried, [{ python: '3.13-pyenv', installs: true, alembic: true, cli: true, warmSeconds, venvMegabytes }]]),
  ),
  // The releases published after 26.8.1, the same way (provisionManagerVenv: uv 0.13.9, pyenv's 3.13.0, 2026-12-07,
  // load 2–3): cold is a fresh uv cache beside the venvs (uv itself fetched too), warm the venv made again with that
  // cache. `alembic heads` printed each release's head; `backend.ai mgr --help` exits 0. None needs sniffio.
  ...Object.fromEntries(
    (
      [
        ['26.4.16', 8, 5, 262],
        ['26.8.3', 9, 5, 261],
        ['26.9.6', 9, 7, 286],
      ] as const
    ).map(([tried, coldSeconds, warmSeconds, venvMegabytes]): [string, readonly InstallResult[]] => [
      tried,
      [{ python: '3.13-pyenv', installs: true, alembic: true, cli: true, coldSeconds, warmSeconds, venvMegabytes }],
    ]),
  ),
};
