/**
 * Wheels from PyPI for the tests that make manager venvs with uv: uv itself (the version
 * bai-migrate pins), and what the stand-in manager wheel requires when the venv cannot lean on the
 * system's packages (uv does not count those as installed): alembic with its dependencies, asyncpg
 * (the driver of 22.09 and later), and setuptools for building a source package in isolation.
 * Downloaded once per machine into the test bed's cache with the test Python's pip, then served to
 * bai-migrate's pip and uv from a folder (pip-args: --no-index --find-links).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_PYTHON } from './deployment.js';
import { UV_VERSION } from '../../src/manager/uv.js';

const CACHE = join(process.env.BAI_CACHE_DIR ?? '/var/cache/bai-migrate', 'test-wheels');

function download(name: string, requirements: readonly string[], deps: boolean): string {
  const python = execFileSync(TEST_PYTHON, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])']).toString().trim();
  const dir = join(CACHE, `${name}-py${python}`);
  if (existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.whl'))) return dir;
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  execFileSync(TEST_PYTHON, ['-m', 'pip', 'download', '-q', '--disable-pip-version-check', '--only-binary=:all:', ...(deps ? [] : ['--no-deps']), '-d', partial, ...requirements], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
  return dir;
}

/** A folder holding the wheel of the uv bai-migrate fetches. */
export function uvWheel(): string {
  return download(`uv-${UV_VERSION}`, [`uv==${UV_VERSION}`], false);
}

/** A folder holding alembic, asyncpg and setuptools with their dependencies, for the test Python. */
export function standInDependencies(): string {
  return download('alembic-asyncpg-setuptools', ['alembic', 'asyncpg', 'setuptools'], true);
}
