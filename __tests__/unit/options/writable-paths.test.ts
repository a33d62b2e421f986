/**
 * The paths a run writes to are checked before anything is read or written, without making
 * anything: the nearest existing folder must be one the run may write to, not on /proc, /sys or /dev.
 */
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../support/run.js';
import { MemoryLogger } from '../../../src/core/logger.js';
import { parseOptions, type RawInputs } from '../../../src/options/index.js';
import { runCommand } from '../../../src/commands/run-command.js';
import { writtenPaths } from '../../../src/commands/registry.js';
import { checkWritablePaths, type WrittenPath } from '../../../src/options/writable-paths.js';

/** Folders the stand-in access() says may not be written (the tests may run as root, who may write anywhere). */
const readOnly = vi.hoisted(() => new Set<string>());
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const accessSync: typeof fs.accessSync = (path, mode) => {
    if (readOnly.has(String(path))) throw Object.assign(new Error(`EACCES: permission denied, access '${String(path)}'`), { code: 'EACCES' });
    fs.accessSync(path, mode);
  };
  return { ...fs, accessSync, default: { ...fs, accessSync } };
});

const ACCEPTED = 'accepted: a path under a folder that exists and may be written, not under /proc, /sys or /dev';

const check =
  (...paths: WrittenPath[]) =>
  () =>
    checkWritablePaths(paths);
const file = (input: string, path: string): WrittenPath => ({ input, path, is: 'file' });
const folder = (input: string, path: string): WrittenPath => ({ input, path, is: 'folder' });

describe('the paths a run writes to', () => {
  it('are the report, and what the command writes: backup-dir only for a migration that is no dry run, snapshot-file for snapshot, manager-venv when it makes one', () => {
    const inputs = (raw: RawInputs) =>
      writtenPaths(parseOptions({ 'to-version': '22.03', 'report-file': 'r.json', 'backup-dir': 'bk', 'snapshot-file': 's.gz', ...raw })).map((p) => `${p.input} ${p.path} (${p.is})`);
    expect(inputs({ command: 'plan' })).toEqual(['report-file r.json (file)']);
    expect(inputs({ command: 'migrate' })).toEqual(['report-file r.json (file)', 'backup-dir bk (folder)']);
    expect(inputs({ command: 'migrate', 'dry-run': 'true' })).toEqual(['report-file r.json (file)']);
    expect(inputs({ command: 'migrate', 'manager-venv': 'venvs' })).toEqual(['report-file r.json (file)', 'backup-dir bk (folder)', 'manager-venv venvs (folder)']);
    // preflight makes the venvs a run needs; a dry run makes none.
    expect(inputs({ command: 'preflight', 'manager-venv': 'venvs' })).toEqual(['report-file r.json (file)', 'manager-venv venvs (folder)']);
    expect(inputs({ command: 'migrate', 'manager-venv': 'venvs', 'dry-run': 'true' })).toEqual(['report-file r.json (file)']);
    expect(inputs({ command: 'clear-history', mode: 'manager', 'manager-venv': 'venvs' })).toEqual(['report-file r.json (file)', 'manager-venv venvs (folder)']);
    expect(inputs({ command: 'clear-history', mode: 'manager', 'manager-venv': 'venvs', 'dry-run': 'true' })).toEqual(['report-file r.json (file)']);
    expect(inputs({ command: 'snapshot' })).toEqual(['report-file r.json (file)', 'snapshot-file s.gz (file)']);
    // rehearse reads snapshot-file; the Action restores it from the cache first.
    expect(inputs({ command: 'rehearse' })).toEqual(['report-file r.json (file)']);
    expect(inputs({ command: 'rehearse', 'snapshot-cache-key': 'prod', 'snapshot-key': 'a'.repeat(64) })).toEqual(['report-file r.json (file)', 'snapshot-file s.gz (file)']);
  });

  it('may be in folders still to be made, under one that may be written; nothing is made by the check', () => {
    const dir = tempDir();
    expect(check(file('report-file', join(dir, 'a', 'b', 'r.json')), folder('backup-dir', join(dir, 'bk', 'nightly')))).not.toThrow();
    expect(existsSync(join(dir, 'a'))).toBe(false);
    expect(existsSync(join(dir, 'bk'))).toBe(false);
    // A device is written where it is: report-file: /dev/null drops the report.
    expect(check({ ...file('report-file', '/dev/null'), inPlace: true })).not.toThrow();
  });

  it('refuses /proc, /sys and /dev at once, also through a symbolic link (procfs would make mkdir -p loop forever)', () => {
    expect(check(file('report-file', '/proc/1/x/r.json'))).toThrow(`report-file "/proc/1/x/r.json" is under /proc, a pseudo-filesystem; ${ACCEPTED}`);
    expect(check(folder('backup-dir', '/sys/kernel/bk'))).toThrow(`backup-dir "/sys/kernel/bk" is under /sys, a pseudo-filesystem; ${ACCEPTED}`);
    // Renamed over in place, /dev/null itself would be replaced.
    expect(check(file('snapshot-file', '/dev/null'))).toThrow(`snapshot-file "/dev/null" is under /dev, a pseudo-filesystem; ${ACCEPTED}`);
    const link = join(tempDir(), 'proc');
    symlinkSync('/proc/1', link);
    expect(check(folder('manager-venv', join(link, 'venvs')))).toThrow(`manager-venv "${link}/venvs" is under /proc, a pseudo-filesystem (${link} is /proc/1); ${ACCEPTED}`);
  });

  it('refuses a file where a folder must be, a folder where the file must be, and a folder that may not be written', () => {
    const dir = tempDir();
    const plain = join(dir, 'plain');
    writeFileSync(plain, 'x');
    expect(check(file('report-file', join(plain, 'r.json')))).toThrow(`report-file "${plain}/r.json": ${plain} is a file, not a folder; ${ACCEPTED}`);
    expect(check(folder('backup-dir', plain))).toThrow(`backup-dir "${plain}" is a file, not a folder; ${ACCEPTED}`);
    expect(check(file('snapshot-file', dir))).toThrow(`snapshot-file "${dir}" is a folder; accepted: the path of a file, e.g. ${dir}/bai-migrate-snapshot.jsonl.gz`);
    const locked = join(dir, 'locked');
    mkdirSync(locked);
    readOnly.add(locked);
    expect(check(folder('backup-dir', join(locked, 'bk')), file('report-file', join(locked, 'r.json')))).toThrow(
      `invalid inputs:\n- backup-dir "${locked}/bk" may not be written (EACCES: permission denied, access '${locked}'); ${ACCEPTED}\n- report-file "${locked}/r.json" may not be written (EACCES: permission denied, access '${locked}'); ${ACCEPTED}`,
    );
  });

  it('are checked before the run connects to anything or makes the report folder', async () => {
    const reportFile = join(tempDir(), 'reports', 'r.json');
    const options = parseOptions({ command: 'migrate', 'to-version': '22.03', 'report-file': reportFile, 'backup-dir': '/sys/kernel/bk', 'postgres-url': 'postgresql://u:p@db.invalid/backend' });
    await expect(runCommand(options, { log: new MemoryLogger(), onSecret: () => undefined, env: {} })).rejects.toThrow(`backup-dir "/sys/kernel/bk" is under /sys, a pseudo-filesystem; ${ACCEPTED}`);
    expect(existsSync(join(reportFile, '..'))).toBe(false);
  });
});
