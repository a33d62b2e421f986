/**
 * Applies named revisions of the manager's own migration scripts, in the order given, whatever
 * alembic_version says: the revisions `alembic upgrade head` would silently skip because the
 * target line re-parented them before revisions the database already ran. It is what
 * `backend.ai mgr schema apply-missing-revisions` does (backend.ai@24.09.14:src/ai/backend/manager/cli/dbschema.py),
 * but with the revisions computed by bai-migrate from the release graphs, so it also serves hops
 * for which upstream ships no dump or no command (before 24.03.2). It runs in alembic's own Python
 * through the manager's env.py, in env.py's one transaction; afterwards alembic_version holds
 * several rows, which the schema step collapses to the target head.
 */
import { readFile } from 'node:fs/promises';
import { MigrationError } from '../core/errors.js';
import type { PostgresTarget } from '../stores/connections.js';
import { runWithPrivateIni, type AlembicSetup } from './alembic.js';

/** Our own program, run with `python -c`: argv is the ini, the revisions as JSON, "sql" for offline mode. */
const APPLY_REVISIONS = `
import json, sys
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationStep
from alembic.script import ScriptDirectory

ini, wanted, mode, start = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
config = Config(ini)
scripts = ScriptDirectory.from_config(config)
def known(revision):
    try:
        return scripts.get_revision(revision) is not None
    except Exception:
        return False
unknown = [r for r in wanted if not known(r)]
if unknown:
    sys.exit("FAILED: the manager package has no revision " + ", ".join(unknown))
steps = [MigrationStep.upgrade_from_script(scripts.revision_map, scripts.get_revision(r)) for r in wanted]
with EnvironmentContext(config, scripts, fn=lambda heads, context: steps, as_sql=(mode == "sql"), starting_rev=start or None, destination_rev=wanted[-1]):
    scripts.run_env()
`;

/** The Python that runs alembic: `python -m alembic`, or a console script's interpreter line. */
export async function pythonOf(setup: AlembicSetup): Promise<string> {
  const [first, second, third] = setup.command;
  if (second === '-m' && third === 'alembic') return first!;
  if (setup.command.length === 1 && first) {
    const line = (await readFile(first, 'utf8').catch(() => '')).split('\n')[0] ?? '';
    const interpreter = /^#!\s*(\S+)/.exec(line)?.[1];
    if (interpreter && !interpreter.endsWith('/env')) return interpreter;
  }
  throw new MigrationError(
    'invalid-input',
    `alembic-command "${setup.command.join(' ')}" does not say which Python runs it, which applying revisions one by one needs; accepted: "PYTHON -m alembic" or a venv's bin/alembic script`,
  );
}

/**
 * Runs `revisions` in that order (ancestors first). With `offline`, prints their SQL instead,
 * starting from `start` (the database's one revision).
 */
export async function applyRevisions(setup: AlembicSetup, target: PostgresTarget, revisions: readonly string[], options: { offline?: { start: string } } = {}): Promise<string> {
  if (revisions.length === 0) return '';
  const python = await pythonOf(setup);
  const mode = options.offline ? 'sql' : 'online';
  const what = `revisions ${revisions.length > 4 ? `${revisions.slice(0, 4).join(', ')} and ${revisions.length - 4} more` : revisions.join(', ')}${options.offline ? ' (offline SQL)' : ''}`;
  return runWithPrivateIni(setup, target, what, (ini) => [python, '-c', APPLY_REVISIONS, ini, JSON.stringify(revisions), mode, options.offline?.start ?? '']);
}
