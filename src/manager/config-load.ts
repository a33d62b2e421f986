/**
 * manager.toml as a release's own loader reads it: `ai.backend.manager.config.load()` in that
 * release's venv (backend.ai@22.03.14 … @25.7.0:src/ai/backend/manager/config.py), which validates
 * the whole file with the release's trafaret schema and raises ConfigurationError with what it
 * refuses (backend.ai@24.12.1:src/ai/backend/common/config.py, `check`). The refusal is caught where
 * it is raised and printed as JSON, so every refused key is named, not the loader's pretty-print.
 *
 * From 25.8 the manager validates manager.toml merged with etcd
 * (backend.ai@25.8.1:src/ai/backend/manager/config/): loadMergedManagerConfig runs that release's
 * own pieces on both, the file as its TomlConfigLoader reads it (config/loader/toml_loader.py),
 * each etcd prefix made into tables by its `make_dict_from_pairs` (common/etcd.py), merged in the
 * release's order by its `merge_configs` (config/loader/loader_chain.py), and validated by its
 * `ManagerUnifiedConfig` (config/unified.py), as its config_provider_ctx does (server.py). The etcd
 * values reach the child in a private file (they may hold passwords), never in its arguments or
 * environment.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { runChild } from './child-env.js';

const LOAD = `
import json, sys
from pathlib import Path
try:
    import ai.backend.manager.config as manager_config
    load = manager_config.load
    from ai.backend.common import config as common_config
except ModuleNotFoundError as e:
    print("BAI_MIGRATE_NO_PACKAGE " + str(e), flush=True)
    sys.exit(3)
except (ImportError, AttributeError) as e:
    print("BAI_MIGRATE_NO_LOADER " + str(e), flush=True)
    sys.exit(4)
check = common_config.check
def checked(table, iv, *args, **kwargs):
    try:
        return check(table, iv, *args, **kwargs)
    except common_config.ConfigurationError as e:
        print("BAI_MIGRATE_REFUSED " + json.dumps(e.invalid_data, default=str), flush=True)
        raise
common_config.check = checked
load(Path(sys.argv[1]))
print("BAI_MIGRATE_LOADED", flush=True)
`;

/** One key the loader refused: its dotted path in manager.toml and the loader's reason. */
export interface RefusedKey {
  readonly key: string;
  readonly reason: string;
}

export type ConfigLoad =
  | { readonly state: 'loads' }
  | { readonly state: 'refused'; readonly keys: readonly RefusedKey[] }
  /** The Python has no backend.ai-manager (alembic-command pointing elsewhere). */
  | { readonly state: 'no-package'; readonly detail: string }
  /** The release has no such loader (25.8+), or it failed otherwise: `detail` says how. */
  | { readonly state: 'no-loader' | 'failed'; readonly detail: string };

/** The loader's nested refusal, `{"manager": {"num-proc": "…"}}`, as dotted keys. */
export function refusedKeys(invalid: unknown, prefix = ''): RefusedKey[] {
  if (invalid !== null && typeof invalid === 'object' && !Array.isArray(invalid)) {
    return Object.entries(invalid as Record<string, unknown>).flatMap(([key, value]) => refusedKeys(value, prefix ? `${prefix}.${key}` : key));
  }
  return [{ key: prefix || '(the file)', reason: String(invalid) }];
}

/**
 * Messages of trafaret's Path (backend.ai@24.12.1:src/ai/backend/common/validators.py) and of
 * pydantic's FilePath and DirectoryPath (25.8+, backend.ai@25.8.1:src/ai/backend/manager/config/unified.py)
 * for a file or folder this machine does not have.
 */
const ABSENT_PATH = /^(value is not a (regular file|directory)|Path does not point to a (file|directory))$/;

/** A key refused only because the path it names is not on this machine (the manager's host may have it). */
export function namesAbsentPath(key: RefusedKey): boolean {
  return ABSENT_PATH.test(key.reason);
}

/**
 * A key refused only because of the machine the loader runs on: a path it lacks, or num-proc above
 * its CPU count (`t.Int[1:_max_cpu_count]`, backend.ai@23.03.12:src/ai/backend/manager/config.py);
 * the manager's host may well have them.
 */
export function dependsOnHost(key: RefusedKey): boolean {
  return namesAbsentPath(key) || (key.key === 'manager.num-proc' && /^value is greater than \d+$/.test(key.reason));
}

/**
 * Runs the release's loader on `configPath` with `python` (the release's venv), by default from the
 * file's folder, where an operator starts the manager and its relative paths resolve.
 */
export async function loadManagerConfig(python: string, configPath: string, options: { cwd?: string; env?: Record<string, string> } = {}): Promise<ConfigLoad> {
  const path = resolve(configPath);
  return parseLoad(await runChild('alembic', python, ['-c', LOAD, path], { cwd: options.cwd ?? dirname(path), env: options.env }));
}

/** What a loader script printed, as a ConfigLoad. */
function parseLoad(result: { exitCode: number | null; stdout: string; stderr: string }): ConfigLoad {
  const lines = `${result.stdout}\n${result.stderr}`.split('\n');
  const tagged = (tag: string) =>
    lines
      .find((line) => line.startsWith(`${tag} `) || line === tag)
      ?.slice(tag.length)
      .trim();
  if (result.exitCode === 0 && tagged('BAI_MIGRATE_LOADED') !== undefined) return { state: 'loads' };
  const refused = tagged('BAI_MIGRATE_REFUSED');
  if (refused !== undefined) {
    try {
      return { state: 'refused', keys: refusedKeys(JSON.parse(refused)) };
    } catch {
      return { state: 'refused', keys: [{ key: '(the file)', reason: refused.slice(0, 600) }] };
    }
  }
  const noPackage = tagged('BAI_MIGRATE_NO_PACKAGE');
  if (noPackage !== undefined) return { state: 'no-package', detail: noPackage };
  const noLoader = tagged('BAI_MIGRATE_NO_LOADER');
  if (noLoader !== undefined) return { state: 'no-loader', detail: noLoader };
  const said = lines
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-4)
    .join(' ');
  return { state: 'failed', detail: `exit ${result.exitCode}: ${said.slice(0, 600)}` };
}

const MERGED_LOAD = `
import asyncio, importlib, json, sys
from pathlib import Path
def first(attr, *modules):
    for name in modules:
        try:
            return getattr(importlib.import_module(name), attr)
        except (ImportError, AttributeError):
            continue
    return None
try:
    import pydantic
    from ai.backend.manager.config.unified import ManagerUnifiedConfig
    from ai.backend.common.etcd import make_dict_from_pairs
except ModuleNotFoundError as e:
    print("BAI_MIGRATE_NO_PACKAGE " + str(e), flush=True)
    sys.exit(3)
except (ImportError, AttributeError) as e:
    print("BAI_MIGRATE_NO_LOADER " + str(e), flush=True)
    sys.exit(4)
merge_configs = first("merge_configs", "ai.backend.manager.config.loader.loader_chain", "ai.backend.common.configs.loader.loader_chain")
TomlConfigLoader = first("TomlConfigLoader", "ai.backend.manager.config.loader.toml_loader", "ai.backend.common.configs.loader.toml_loader")
if merge_configs is None or TomlConfigLoader is None:
    print("BAI_MIGRATE_NO_LOADER no merge_configs or TomlConfigLoader", flush=True)
    sys.exit(4)
with open(sys.argv[2]) as f:
    layers = json.load(f)
merged = merge_configs({}, asyncio.run(TomlConfigLoader(Path(sys.argv[1]), "manager").load()))
for layer in layers:
    tables = make_dict_from_pairs(layer["prefix"].rstrip("/"), sorted((k, v) for k, v in layer["pairs"]), "/")
    if layer.get("under"):
        tables = {layer["under"]: tables}
    merged = merge_configs(merged, tables)
try:
    ManagerUnifiedConfig.model_validate(merged)
except pydantic.ValidationError as e:
    print("BAI_MIGRATE_REFUSED " + json.dumps({".".join(str(p) for p in err["loc"]): err["msg"] for err in e.errors()}), flush=True)
    sys.exit(2)
print("BAI_MIGRATE_LOADED", flush=True)
`;

/** One etcd prefix the release merges over manager.toml, with its keys (relative to the namespace) and values. */
export interface EtcdLayerContent {
  readonly prefix: string;
  readonly under?: string;
  readonly pairs: ReadonlyArray<readonly [string, string]>;
}

/**
 * The release's own merge and validation (25.8+) of manager.toml at `configPath` with the etcd
 * layers given, in merge order, from `cwd` (default the file's folder).
 */
export async function loadMergedManagerConfig(python: string, configPath: string, layers: readonly EtcdLayerContent[], options: { cwd?: string } = {}): Promise<ConfigLoad> {
  const path = resolve(configPath);
  const dir = await mkdtemp(join(tmpdir(), 'bai-migrate-etcd-config-'));
  try {
    const data = join(dir, 'etcd.json');
    await writeFile(data, JSON.stringify(layers), { mode: 0o600 });
    return parseLoad(await runChild('alembic', python, ['-c', MERGED_LOAD, path, data], { cwd: options.cwd ?? dirname(path) }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
