/** Reading and editing the operator's manager.toml, shared by the steps that change a setting in it. */
import { open, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';
import { setTomlValue } from './toml-edit.js';
import { changed, ok, type Finding, type StepContext } from '../steps/step.js';

/** manager.toml as it is on disk now (the copy read at start may be stale after apply). */
export async function currentConfig(ctx: StepContext): Promise<{ path: string; text: string }> {
  const config = ctx.deployment.targets.managerConfig;
  if (!config) throw new Error('no manager.toml: set manager-config');
  return { path: config.path, text: await readFile(config.path, 'utf8') };
}

/** The change a dry run would make, as a unified diff (3 lines of context) an operator can read or apply with `patch`. */
export function unifiedDiff(path: string, before: string, after: string): string {
  return createTwoFilesPatch(path, path, before, after, 'now', 'after the migration', { headerOptions: FILE_HEADERS_ONLY });
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

/**
 * Gives the file new content and changes nothing else about it, since a manager running as a
 * service user must still read it: a symlink (config management) stays a link and the file it
 * points at is edited; owner, group and mode stay the original's.
 *
 * The new content goes to a file beside the real one, gets the original's owner, group and mode
 * before any byte is written, and is renamed over it: a crash leaves the old file or the new one.
 * Giving a file another owner needs root; where that is refused (the runner is not root and the
 * file is another user's), keeping the owner matters more than atomicity, so the file is rewritten
 * in place (same inode, owner and mode; the backup bundle already holds the original). Returns
 * how it was written, for the finding.
 */
export async function replaceContent(path: string, content: string): Promise<string> {
  const real = await realpath(path);
  const original = await stat(real);
  const temporary = join(dirname(real), `.${basename(real)}.bai-migrate.tmp`);
  // A crashed earlier run's leftover; `wx` below must create the file itself.
  await rm(temporary, { force: true });
  const file = await open(temporary, 'wx', 0o600);
  let renamed = false;
  try {
    try {
      await file.chown(original.uid, original.gid);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
      await file.close();
      await rm(temporary, { force: true });
      await writeInPlace(real, content);
      return ` (written in place, not by rename: this user may not give a new file the owner ${original.uid}:${original.gid})`;
    }
    await file.chmod(original.mode & 0o7777);
    await file.writeFile(content);
    await file.sync();
    await file.close();
    await rename(temporary, real);
    renamed = true;
  } finally {
    if (!renamed) {
      await file.close().catch(() => undefined);
      await rm(temporary, { force: true });
    }
  }
  return real === resolve(path) ? '' : ` (through the link, to ${real})`;
}

async function writeInPlace(path: string, content: string): Promise<void> {
  const file = await open(path, 'r+');
  try {
    const bytes = Buffer.from(content, 'utf8');
    await file.write(bytes, 0, bytes.length, 0);
    await file.truncate(bytes.length);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** The whole file, for the backup bundle, before a step changes it. */
export async function backupManagerToml(ctx: StepContext): Promise<{ name: string; content: string }> {
  return { name: 'manager.toml', content: (await currentConfig(ctx)).text };
}
