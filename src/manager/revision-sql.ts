/**
 * Each revision's offline SQL on its own, rendered in one run of alembic's Python (the manager's
 * env.py in offline mode, which does not connect): what the drift check plays over the live
 * schema. A revision that cannot render offline (a back-fill reads the data it migrates) is named
 * with its error instead; the others still render.
 */
import type { PostgresTarget } from '../stores/connections.js';
import { runWithPrivateIni, type AlembicSetup } from './alembic.js';
import { pythonOf } from './apply-revisions.js';

export interface RevisionRun {
  readonly revision: string;
  readonly direction: 'up' | 'down';
  /** The revision alembic_version holds before it (for alembic's own version statements). */
  readonly from: string;
  readonly to: string;
}

export type RenderedRevision = { readonly revision: string; readonly sql: string } | { readonly revision: string; readonly error: string };

const MARK = '@@bai-migrate-revision-sql@@';

/** Our own program, run with `python -c`: argv is the ini and the runs as JSON. */
const RENDER_EACH = `
import contextlib, io, json, sys
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationStep
from alembic.script import ScriptDirectory

ini, runs = sys.argv[1], json.loads(sys.argv[2])
config = Config(ini)
scripts = ScriptDirectory.from_config(config)
rendered = []
for run in runs:
    buffer = io.StringIO()
    try:
        script = scripts.get_revision(run["revision"])
        make = MigrationStep.upgrade_from_script if run["direction"] == "up" else MigrationStep.downgrade_from_script
        step = make(scripts.revision_map, script)
        with contextlib.redirect_stdout(buffer):
            with EnvironmentContext(config, scripts, fn=lambda heads, context, step=step: [step], as_sql=True,
                                    starting_rev=None if run["from"] == "base" else run["from"], destination_rev=run["to"]):
                scripts.run_env()
        rendered.append({"revision": run["revision"], "sql": buffer.getvalue()})
    except BaseException as error:
        said = (str(error).strip().splitlines() or [""])[-1][:400]
        rendered.append({"revision": run["revision"], "error": type(error).__name__ + (": " + said if said else "")})
print("${MARK}" + json.dumps(rendered))
`;

export async function renderEachRevision(setup: AlembicSetup, target: PostgresTarget, runs: readonly RevisionRun[]): Promise<RenderedRevision[]> {
  if (runs.length === 0) return [];
  const python = await pythonOf(setup);
  const out = await runWithPrivateIni(setup, target, `offline SQL of ${runs.length} revision(s) for the drift check`, (ini) => [python, '-c', RENDER_EACH, ini, JSON.stringify(runs)]);
  const line = out.split('\n').find((l) => l.startsWith(MARK));
  if (!line) throw new Error(`alembic's Python printed no offline SQL for the drift check (its output ended: ${out.trim().split('\n').slice(-2).join(' | ')})`);
  return JSON.parse(line.slice(MARK.length)) as RenderedRevision[];
}
