/**
 * How the live schema differs from what a release's own models describe, by alembic's autogenerate
 * comparison (`compare_metadata`) run in that release's venv against the live database. It only
 * reads the catalogue, in a read-only session. A fresh install makes the schema from the models
 * (`mgr schema oneshot`), so every difference is either drift (a hand-made change, a restore that
 * lost something) or upstream's own: an object a revision made that the models do not declare
 * (23.03.12 installed, upgraded by 23.09.10: ix_kernels_role, and nothing else). The second kind is
 * told apart by the release's revision scripts: one that names the object.
 */
import type { PostgresTarget } from '../stores/connections.js';
import { runWithPrivateIni, type AlembicSetup } from './alembic.js';
import { pythonOf } from './apply-revisions.js';

export interface ModelDifference {
  /** missing: the models have it, the database does not; extra: the other way round; changed: both, unlike. */
  readonly kind: 'missing' | 'extra' | 'changed';
  readonly object: 'table' | 'column' | 'index' | 'unique constraint' | 'foreign key';
  readonly table: string;
  /** The object's name ("table.column" for a column); constraints without a name are named by their columns. */
  readonly name: string;
  /** For "changed": what differs, e.g. "NOT NULL in the database, nullable in the models". */
  readonly how?: string;
  /** An extra object one of the release's revision scripts names: upstream's own difference, not drift. */
  readonly madeBy?: string;
}

const MARK = '@@bai-migrate-model-diff@@';

/** Our own program, run with `python -c`: argv is the private ini. */
const COMPARE = `
import json, re, sys, warnings
warnings.simplefilter("ignore")
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.migration import MigrationContext
from alembic.autogenerate import compare_metadata
import sqlalchemy
import ai.backend.manager.models
try:
    from ai.backend.manager.models.base import metadata
except ImportError:
    from ai.backend.manager.models import metadata

config = Config(sys.argv[1])
url = config.get_main_option("sqlalchemy.url")

def compare(conn):
    conn.execute(sqlalchemy.text("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"))
    return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)

if url.startswith("postgresql+asyncpg"):
    import asyncio
    from sqlalchemy.ext.asyncio import create_async_engine
    async def run():
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(compare)
        finally:
            await engine.dispose()
    found = asyncio.run(run())
else:
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        found = compare(conn)

def columns_of(constraint):
    return ",".join(c.name for c in constraint.columns)

def nullability(value):
    return "nullable" if value else "NOT NULL"

out = []
for item in found:
    for op in (item if isinstance(item, list) else [item]):
        kind = op[0]
        if kind in ("add_table", "remove_table"):
            out.append({"kind": "missing" if kind == "add_table" else "extra", "object": "table", "table": op[1].name, "name": op[1].name})
        elif kind in ("add_column", "remove_column"):
            out.append({"kind": "missing" if kind == "add_column" else "extra", "object": "column", "table": op[2], "name": op[2] + "." + op[3].name})
        elif kind in ("add_index", "remove_index"):
            out.append({"kind": "missing" if kind == "add_index" else "extra", "object": "index", "table": op[1].table.name, "name": op[1].name})
        elif kind in ("add_constraint", "remove_constraint"):
            c = op[1]
            out.append({"kind": "missing" if kind == "add_constraint" else "extra", "object": "unique constraint", "table": c.table.name, "name": c.name or c.table.name + "(" + columns_of(c) + ")"})
        elif kind in ("add_fk", "remove_fk"):
            c = op[1]
            out.append({"kind": "missing" if kind == "add_fk" else "extra", "object": "foreign key", "table": c.parent.name, "name": c.name or c.parent.name + "(" + columns_of(c) + ")"})
        elif kind == "modify_nullable":
            out.append({"kind": "changed", "object": "column", "table": op[2], "name": op[2] + "." + op[3], "how": nullability(op[5]) + " in the database, " + nullability(op[6]) + " in the models"})
        elif kind == "modify_type":
            out.append({"kind": "changed", "object": "column", "table": op[2], "name": op[2] + "." + op[3], "how": "of type " + str(op[5]) + " in the database, " + str(op[6]) + " in the models"})

# An extra object a revision script names was made by upstream's migrations, not by hand.
extra = [d for d in out if d["kind"] == "extra"]
if extra:
    scripts = ScriptDirectory.from_config(config)
    for script in scripts.walk_revisions():
        try:
            text = open(script.path, encoding="utf-8").read()
        except OSError:
            continue
        for d in extra:
            short = d["name"].split(".")[-1]
            if "madeBy" not in d and re.search(r"(^|[^\\w])" + re.escape(short) + r"($|[^\\w])", text):
                d["madeBy"] = script.revision
print("${MARK}" + json.dumps(out))
`;

/** Every difference between the live schema and the models of the release whose alembic `setup` runs. */
export async function compareWithModels(setup: AlembicSetup, target: PostgresTarget): Promise<ModelDifference[]> {
  const python = await pythonOf(setup);
  const out = await runWithPrivateIni(setup, target, "comparison of the live schema with the release's models", (ini) => [python, '-c', COMPARE, ini]);
  const line = out.split('\n').find((l) => l.startsWith(MARK));
  if (!line) throw new Error(`the release's Python printed no comparison (its output ended: ${out.trim().split('\n').slice(-2).join(' | ')})`);
  return JSON.parse(line.slice(MARK.length)) as ModelDifference[];
}

/** One difference in words, e.g. "index ix_foo on kernels is in the database, not in the models". */
export function describeDifference(d: ModelDifference): string {
  const what = d.object === 'column' ? `column ${d.name}` : `${d.object} ${d.name}${d.object === 'table' ? '' : ` on ${d.table}`}`;
  if (d.kind === 'changed') return `${what} is ${d.how}`;
  return d.kind === 'missing' ? `${what} is in the models, not in the database` : `${what} is in the database, not in the models`;
}
