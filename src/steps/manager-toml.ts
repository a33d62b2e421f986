/** Reading and editing the operator's manager.toml, shared by the steps that change a setting in it. */
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { setTomlValue } from '../engine/toml-edit.js';
import { changed, ok, type Finding, type StepContext } from './step.js';

/** manager.toml as it is on disk now (the copy read at start may be stale after apply). */
export async function currentConfig(ctx: StepContext): Promise<{ path: string; text: string }> {
  const config = ctx.deployment.targets.managerConfig;
  if (!config) throw new Error('no manager.toml: set manager-config');
  return { path: config.path, text: await readFile(config.path, 'utf8') };
}

export function lineDiff(before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (a[i] === b[j]) {
      i++;
      j++;
    } else if (b[j] !== undefined && !a.slice(i).includes(b[j]!)) {
      out.push(`+ ${b[j++]}`);
    } else {
      out.push(`- ${a[i++]}`);
    }
  }
  return out.join('\n');
}

export async function dryRunSetting(ctx: StepContext, table: string, key: string, value: string | boolean): Promise<Finding> {
  const { path, text } = await currentConfig(ctx);
  const next = setTomlValue(text, table, key, value);
  const shown = typeof value === 'string' ? `"${value}"` : String(value);
  if (next === text) return ok(`${path} already has [${table}] ${key} = ${shown}`);
  return { status: 'ok', detail: `would set [${table}] ${key} = ${shown} in ${path}`, attachment: { name: `manager.toml diff (${key})`, content: lineDiff(text, next) } };
}

/** Writes beside the file and renames over it: a crash leaves the old file or the new one, never half. */
export async function writeSetting(ctx: StepContext, table: string, key: string, value: string | boolean): Promise<Finding> {
  const { path, text } = await currentConfig(ctx);
  const next = setTomlValue(text, table, key, value);
  const shown = typeof value === 'string' ? `"${value}"` : String(value);
  if (next === text) return ok(`already [${table}] ${key} = ${shown} in ${path}`);
  const temporary = `${path}.bai-migrate.tmp`;
  await writeFile(temporary, next, { mode: (await stat(path)).mode & 0o777 });
  await rename(temporary, path);
  return changed(`[${table}] ${key} = ${shown} written to ${path}`);
}

/** The whole file, for the backup bundle, before a step changes it. */
export async function backupManagerToml(ctx: StepContext): Promise<{ name: string; content: string }> {
  return { name: 'manager.toml', content: (await currentConfig(ctx)).text };
}
