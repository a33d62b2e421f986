/**
 * Writing the operator's manager.toml (or alembic.ini) and showing a change as a diff. The steps'
 * helpers that find the file through a StepContext are in steps/manager-toml.ts.
 */
import { open, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';

/** The change a dry run would make, as a unified diff (3 lines of context) an operator can read or apply with `patch`. */
export function unifiedDiff(path: string, before: string, after: string): string {
  return createTwoFilesPatch(path, path, before, after, 'now', 'after the migration', { headerOptions: FILE_HEADERS_ONLY });
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
