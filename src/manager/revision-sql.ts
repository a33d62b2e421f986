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
  /** 'source': not rendered, only its script's text read (a revision that must not run even offline). */
  readonly direction: 'up' | 'down' | 'source';
  /** The revision alembic_version holds before it (for alembic's own version statements). */
  readonly from: string;
  readonly to: string;
}

/**
 * A revision's offline SQL; or, where it cannot render (or must not run), why, and its script's
 * text, so a later stop can be judged by whether this revision could have made the difference.
 */
export type RenderedRevision = { readonly revision: string; readonly sql: string } | { readonly revision: string; readonly error?: string; readonly source: string };

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
    script = None
    try:
        script = scripts.get_revision(run["revision"])
        if run["direction"] == "source":
            rendered.append({"revision": run["revision"], "source": open(script.path, encoding="utf-8").read()})
            continue
        make = MigrationStep.upgrade_from_script if run["direction"] == "up" else MigrationStep.downgrade_from_script
        step = make(scripts.revision_map, script)
        with contextlib.redirect_stdout(buffer):
            with EnvironmentContext(config, scripts, fn=lambda heads, context, step=step: [step], as_sql=True,
                                    starting_rev=None if run["from"] == "base" else run["from"], destination_rev=run["to"]):
                scripts.run_env()
        rendered.append({"revision": run["revision"], "sql": buffer.getvalue()})
    except BaseException as error:
        said = (str(error).strip().splitlines() or [""])[-1][:400]
        try:
            source = open(script.path, encoding="utf-8").read() if script is not None else ""
        except Exception:
            source = ""
        rendered.append({"revision": run["revision"], "error": type(error).__name__ + (": " + said if said else ""), "source": source})
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
