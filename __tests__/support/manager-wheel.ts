/**
 * A stand-in for the backend.ai-manager package on PyPI, which this machine cannot reach: a wheel
 * named backend.ai-manager at a given version that carries the fixture's migration scripts (the
 * real revision ids and graph) where the manager keeps them, ai/backend/manager/models/alembic.
 * With `graphOf`, it carries instead the stand-in revisions of that line's whole graph
 * (support/graph-alembic.ts), for releases whose own scripts the fixture lacks.
 * It is built with Debian's pip, setuptools and wheel, and installed by bai-migrate's own
 * `pip install` from a local folder (pip-args: --no-index --find-links).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_PYTHON } from './deployment.js';
import { writeGraphRevisions } from './graph-alembic.js';
import { alembicDriverOf } from '../../src/releases/line-facts.js';

const FIXTURE = join(process.cwd(), '__tests__/fixtures/alembic');

/**
 * Builds the wheel into a new folder and returns the folder (for --find-links). With
 * `sdistDumpingEnvTo`, the folder holds a source distribution instead, whose setup.py appends the
 * environment it runs in (pip's build of it: third-party code) to that file as a JSON line.
 */
export function buildManagerWheel(version: string, options: { sdistDumpingEnvTo?: string; graphOf?: string } = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'bai-manager-wheel-'));
  const source = join(root, 'src');
  const scripts = join(source, 'ai/backend/manager/models/alembic');
  mkdirSync(scripts, { recursive: true });
  for (const pkg of ['ai', 'ai/backend', 'ai/backend/manager', 'ai/backend/manager/models', 'ai/backend/manager/models/alembic']) {
    writeFileSync(join(source, pkg, '__init__.py'), '');
  }
  cpSync(join(FIXTURE, 'env.py'), join(scripts, 'env.py'));
  cpSync(join(FIXTURE, 'script.py.mako'), join(scripts, 'script.py.mako'));
  if (options.graphOf) {
    mkdirSync(join(scripts, 'versions'));
    writeGraphRevisions(options.graphOf, join(scripts, 'versions'));
  } else {
    cpSync(join(FIXTURE, 'versions'), join(scripts, 'versions'), { recursive: true, filter: (path) => !path.includes('__pycache__') });
  }
  writeFileSync(
    join(source, 'setup.py'),
    [
      ...(options.sdistDumpingEnvTo ? ['import json, os', `open(${JSON.stringify(options.sdistDumpingEnvTo)}, "a").write(json.dumps(dict(os.environ)) + "\\n")`] : []),
      'from setuptools import setup',
      `setup(name="backend.ai-manager", version="${version}",`,
      '      packages=["ai", "ai.backend", "ai.backend.manager", "ai.backend.manager.models", "ai.backend.manager.models.alembic"],',
      '      package_data={"ai.backend.manager.models.alembic": ["script.py.mako", "versions/*.py"]},',
      // The driver of the release's env.py, as the real package requires it.
      `      install_requires=["alembic", "${alembicDriverOf(version)}"])`,
      '',
    ].join('\n'),
  );
  const wheels = join(root, 'wheels');
  if (options.sdistDumpingEnvTo) {
    // Packed by hand: building it with setup.py would run the dump here, in the test's environment.
    mkdirSync(wheels);
    const named = join(root, `backend.ai-manager-${version}`);
    renameSync(source, named);
    execFileSync('tar', ['-czf', join(wheels, `backend.ai-manager-${version}.tar.gz`), '-C', root, `backend.ai-manager-${version}`]);
    return wheels;
  }
  execFileSync(TEST_PYTHON, ['-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index', '--disable-pip-version-check', '-q', '-w', wheels, source], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return wheels;
}
