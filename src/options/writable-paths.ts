/**
 * The paths a run will write to, checked before anything is read or written, and without making
 * anything: the nearest folder that exists must be a folder the run may write to, and not on a
 * pseudo-filesystem (procfs makes Node's mkdir -p loop forever; sysfs refuses with EPERM only once
 * the run has done its work).
 */
import { accessSync, constants, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { invalidInputs, messageOf } from '../core/errors.js';
import { inputSpec } from './index.js';

/** A path input a run writes to: a file (its missing folders made first), or a folder it makes and writes into. */
export interface WrittenPath {
  readonly input: string;
  readonly path: string;
  readonly is: 'file' | 'folder';
  /** Written where it is (not made beside it and renamed), so that a device such as /dev/null may take it. */
  readonly inPlace?: boolean;
}

const PSEUDO_FILESYSTEMS = ['/proc', '/sys', '/dev'];

const ACCEPTED = 'accepted: a path under a folder that exists and may be written, not under /proc, /sys or /dev';

export function checkWritablePaths(paths: readonly WrittenPath[]): void {
  const problems = paths.flatMap((path) => unwritable(path) ?? []);
  if (problems.length > 0) throw invalidInputs(problems);
}

/** Why the run could not write there; undefined when it can. */
function unwritable({ input, path, is, inPlace }: WrittenPath): string | undefined {
  const target = resolve(path);
  const existing = statOf(target);
  const deniedText = (reason: string | undefined) => reason && `${input} "${path}" may not be written (${reason}); ${ACCEPTED}`;
  // report-file: /dev/null (or /dev/full) is written as it is; nothing is made beside it.
  if (existing?.isCharacterDevice() && inPlace) return deniedText(denied(target));
  if (existing?.isDirectory() && is === 'file') return `${input} "${path}" is a folder; accepted: the path of a file, e.g. ${join(path, inputSpec(input)?.default ?? 'file')}`;
  if (existing && !existing.isDirectory() && is === 'folder') return `${input} "${path}" is a file, not a folder; ${ACCEPTED}`;
  const folder = nearestExisting(is === 'file' ? dirname(target) : target);
  const real = realpathSync(folder);
  const pseudo = PSEUDO_FILESYSTEMS.find((root) => real === root || real.startsWith(`${root}/`));
  if (pseudo) return `${input} "${path}" is under ${pseudo}, a pseudo-filesystem${real === folder ? '' : ` (${folder} is ${real})`}; ${ACCEPTED}`;
  if (!statOf(folder)!.isDirectory()) return `${input} "${path}": ${folder} is a file, not a folder; ${ACCEPTED}`;
  return deniedText(denied(folder) ?? (existing ? denied(target) : undefined));
}

/** The path itself or its nearest ancestor that exists: one step per path component, so it ends. */
function nearestExisting(path: string): string {
  let candidate = path;
  while (!statOf(candidate) && dirname(candidate) !== candidate) candidate = dirname(candidate);
  return candidate;
}

/** A missing path, or one that cannot be looked at (a component that is a file: ENOTDIR), has no stats. */
function statOf(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function denied(path: string): string | undefined {
  try {
    accessSync(path, constants.W_OK);
    return undefined;
  } catch (error) {
    return messageOf(error);
  }
}
