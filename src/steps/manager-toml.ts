/** Reading and editing the operator's manager.toml through a StepContext, shared by the steps that change a setting in it. */
import { readFile } from 'node:fs/promises';
import { setTomlValue } from '../manager/toml-edit.js';
import { replaceContent, unifiedDiff } from '../manager/manager-toml.js';
import { changed, ok, type Finding, type StepContext } from './step.js';

/** manager.toml as it is on disk now (the copy read at start may be stale after apply). */
export async function currentConfig(ctx: StepContext): Promise<{ path: string; text: string }> {
  const config = ctx.deployment.targets.managerConfig;
  if (!config) throw new Error('no manager.toml: set manager-config');
  return { path: config.path, text: await readFile(config.path, 'utf8') };
}

export async function dryRunSetting(ctx: StepContext, table: string, key: string, value: string | boolean): Promise<Finding> {
  const { path, text } = await currentConfig(ctx);
  const next = setTomlValue(text, table, key, value);
  const shown = typeof value === 'string' ? `"${value}"` : String(value);
  if (next === text) return ok(`${path} already has [${table}] ${key} = ${shown}`);
  return { status: 'ok', detail: `would set [${table}] ${key} = ${shown} in ${path}`, attachment: { name: `manager.toml diff (${key})`, content: unifiedDiff(path, text, next) } };
}

export async function writeSetting(ctx: StepContext, table: string, key: string, value: string | boolean): Promise<Finding> {
  const { path, text } = await currentConfig(ctx);
  const next = setTomlValue(text, table, key, value);
  const shown = typeof value === 'string' ? `"${value}"` : String(value);
  if (next === text) return ok(`already [${table}] ${key} = ${shown} in ${path}`);
  const how = await replaceContent(path, next);
  return changed(`[${table}] ${key} = ${shown} written to ${path}${how}`);
}

/** The whole file, for the backup bundle, before a step changes it. */
export async function backupManagerToml(ctx: StepContext): Promise<{ name: string; content: string }> {
  return { name: 'manager.toml', content: (await currentConfig(ctx)).text };
}
