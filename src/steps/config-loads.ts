/**
 * Whether the target release's manager will accept manager.toml: its own loader run on the file in
 * its venv (manager/config-load.ts), in preflight, so that a value valid for the source release but
 * refused by the target's loader stops the run before the window instead of the manager after it.
 * Keys refused only because of the runner (a path it lacks, more processes than its CPUs: the
 * manager's host may have them) are a warning, not a refusal. Where the hop's steps set keys of
 * manager.toml (configEdits), the loader reads a private copy with those keys set, as the run will
 * leave the file, and the operator's file stays as it is. From 25.8 the target validates manager.toml
 * merged with etcd (releases/merged-config.ts): its own merge runs on the file and the etcd prefixes
 * it reads, each setting the hop's steps write set where those steps write it (steps/config-setting.ts:
 * every place that sets it, or manager.toml), read from etcd here and handed to the loader, never
 * written.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { dependsOnHost, loadManagerConfig, loadMergedManagerConfig, type ConfigLoad, type EtcdLayerContent, type RefusedKey } from '../manager/config-load.js';
import { etcdConfigLayers } from '../releases/merged-config.js';
import { settingView } from './merged-config.js';
import { pythonOf } from '../manager/apply-revisions.js';
import { setTomlValue } from '../manager/toml-edit.js';
import { failed, ok, skipped, warning, type ConfigEdit, type Finding, type StepContext } from './step.js';

const listKeys = (keys: readonly RefusedKey[]) => keys.map((k) => `${k.key} (${k.reason})`).join('; ');

export async function targetConfigLoads(ctx: StepContext, release: string): Promise<Finding[]> {
  const config = ctx.deployment.targets.managerConfig?.path;
  if (!config) return [skipped(`no manager.toml given (manager-config): the ${release} loader was not run on it`)];
  if (ctx.venvToMake) return [skipped(`manager.toml is loaded with ${release}'s own loader in the venv preflight or migrate makes in ${ctx.venvToMake.dir}: not here (a dry run makes no venv)`)];
  let python: string;
  try {
    python = await pythonOf(ctx.alembic);
  } catch {
    return [skipped(`manager.toml is not loaded with ${release}'s own loader: alembic-command does not say which Python runs it`)];
  }
  const edits = ctx.hop.steps.flatMap((step) => step.configEdits?.(ctx) ?? []);
  const merged = etcdConfigLayers(ctx.hop.to).length > 0;
  const loaded = merged ? await loadMergedAsLeft(ctx, python, config, edits) : await loadAsLeft(python, config, edits);
  const asLeft = edits.length > 0 ? ` as this run leaves it (${edits.map(showEdit).join(', ')})` : '';
  const what = merged ? `manager.toml (${config}) merged with etcd` : `manager.toml (${config})`;
  switch (loaded.state) {
    case 'loads':
      return [ok(`${what}${asLeft} loads with ${release}'s own loader`)];
    case 'no-package':
      return [skipped(`manager.toml is not loaded with ${release}'s own loader: alembic's Python (${python}) has no backend.ai-manager (${loaded.detail})`)];
    case 'no-loader':
      return [skipped(`${release} has no file-only loader (${loaded.detail}): it reads manager.toml merged with etcd, which the manager's start in a rehearsal proves`)];
    case 'failed':
      return [warning(`manager.toml (${config}) could not be checked with ${release}'s own loader: ${loaded.detail}`)];
    case 'refused': {
      const onHost = loaded.keys.filter(dependsOnHost);
      const refused = loaded.keys.filter((k) => !dependsOnHost(k));
      const findings: Finding[] = [];
      if (refused.length > 0) {
        findings.push(
          failed(
            `${what}${asLeft} does not load with ${release}'s own loader, so the ${release} manager would not start after the migration; it refuses ${refused.length} key(s): ${listKeys(refused)}; accepted: values ${release}'s configuration accepts (fix them before the window)`,
          ),
        );
      }
      if (onHost.length > 0) {
        findings.push(
          warning(
            `${what} names path(s), or leaves default path(s), or asks for more processes than this runner's ${cpus().length} CPU(s), which ${release}'s loader checks against the machine it runs on (relative paths resolved from manager.toml's folder): ${listKeys(onHost)}; the manager's host must have them`,
          ),
        );
      }
      return findings;
    }
  }
}

const showEdit = (edit: ConfigEdit): string => `[${edit.table}] ${edit.key} = ${typeof edit.value === 'string' ? JSON.stringify(edit.value) : String(edit.value)}`;

/**
 * The loader on manager.toml with `edits` set: a copy in a private folder (mode 0700; the file holds
 * passwords), run from the operator's file's folder so that its relative paths resolve as they do
 * there, removed afterwards.
 */
async function loadAsLeft(python: string, config: string, edits: readonly ConfigEdit[]): Promise<ConfigLoad> {
  return withEdits(config, edits, (path, cwd) => loadManagerConfig(python, path, cwd ? { cwd } : {}));
}

/** `load` on manager.toml itself, or on a private copy with `edits` set, run from the operator's file's folder. */
async function withEdits(config: string, edits: readonly ConfigEdit[], load: (path: string, cwd?: string) => Promise<ConfigLoad>): Promise<ConfigLoad> {
  if (edits.length === 0) return load(config);
  const text = await readFile(config, 'utf8');
  const edited = edits.reduce((next, edit) => setTomlValue(next, edit.table, edit.key, edit.value), text);
  if (edited === text) return load(config);
  const dir = await mkdtemp(join(tmpdir(), 'bai-migrate-manager-toml-'));
  try {
    const copy = join(dir, 'manager.toml');
    await writeFile(copy, edited, { mode: 0o600 });
    return await load(copy, dirname(resolve(config)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The target's merge of manager.toml and etcd with `edits` made where the hop's steps make them:
 * etcd's values as read now with each edited key replaced in memory, and the file through loadAsLeft's
 * private copy when an edit goes there.
 */
async function loadMergedAsLeft(ctx: StepContext, python: string, config: string, edits: readonly ConfigEdit[]): Promise<ConfigLoad> {
  const layers = await Promise.all(etcdConfigLayers(ctx.hop.to).map(async (layer) => ({ layer, values: { ...(await ctx.deployment.etcdPrefix(layer.prefix)) } })));
  const fileEdits: ConfigEdit[] = [];
  for (const edit of edits) {
    const view = await settingView(ctx, edit.table, edit.key);
    const inFile = view.places.flatMap((p) => (p.where === 'file' ? [p.name] : []));
    if (view.places.length === 0) fileEdits.push(edit);
    for (const name of inFile) fileEdits.push({ ...edit, key: name });
    for (const place of view.places) {
      if (place.where !== 'etcd') continue;
      for (const { values } of layers) if (place.key in values) values[place.key] = String(edit.value);
    }
  }
  const content: EtcdLayerContent[] = layers.map(({ layer, values }) => ({ prefix: layer.prefix, under: layer.under, pairs: Object.entries(values) }));
  return withEdits(config, fileEdits, (path, cwd) => loadMergedManagerConfig(python, path, content, { cwd }));
}
