/**
 * manager.toml keeps what the manager needs to read it: a symlink stays a link to the same target,
 * the target keeps its owner, group and mode, and a dry run leaves it untouched.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { migrateInputs, useDeployments } from '../support/deployment.js';
import { runEngine } from '../support/run.js';
import { setTomlValue } from '../../src/manager/toml-edit.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { deploy } = useDeployments(info);

/** Not the runner's user: a manager's service account. */
const SERVICE = { uid: 1234, gid: 1234 };

/** conf/manager.toml -> ../etc-real/manager.toml, the target owned by the service user, mode 0640. */
function linkedConfig(toml: string): { link: string; real: string; realDir: string } {
  const base = mkdtempSync(join(tmpdir(), 'bai-migrate-linked-'));
  const realDir = join(base, 'etc-real');
  mkdirSync(realDir);
  mkdirSync(join(base, 'conf'));
  const real = join(realDir, 'manager.toml');
  copyFileSync(toml, real);
  chownSync(real, SERVICE.uid, SERVICE.gid);
  chmodSync(real, 0o640);
  const link = join(base, 'conf', 'manager.toml');
  symlinkSync('../etc-real/manager.toml', link);
  return { link, real, realDir };
}

describe('manager.toml', () => {
  it('stays a link to the same file, which keeps its owner, group and mode; a dry run leaves it untouched', async () => {
    expect(process.getuid?.(), 'this test gives files another owner, which needs root').toBe(0);
    const deployment = await deploy();
    const { link, real, realDir } = linkedConfig(deployment.writeManagerToml());
    const original = readFileSync(real, 'utf8');
    const before = statSync(real);

    const dry = await runEngine(migrateInputs(link, { 'dry-run': 'true' }));
    expect(dry.report.error).toBeUndefined();
    expect(dry.report.entries.find((e) => e.step === 'distributed-lock' && e.phase === 'apply')?.detail).toContain('dry run: would set [manager] distributed-lock = "etcd"');
    const afterDry = statSync(real);
    expect([afterDry.ino, afterDry.mtimeMs, afterDry.uid, afterDry.gid, afterDry.mode]).toEqual([before.ino, before.mtimeMs, before.uid, before.gid, before.mode]);
    expect(readFileSync(real, 'utf8')).toBe(original);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);

    const { report } = await runEngine(migrateInputs(link));
    expect(report.error).toBeUndefined();
    expect(report.outcome).toBe('success');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe('../etc-real/manager.toml');
    const text = readFileSync(real, 'utf8');
    expect(text).toContain('distributed-lock = "etcd"');
    expect(text).toMatch(/\[debug\][\s\S]*periodic-sync-stats = true/);
    // Each of the dry run's diffs is a unified diff of exactly its step's edit: patch(1) applied to the original makes it.
    const edits = { 'distributed-lock': setTomlValue(original, 'manager', 'distributed-lock', 'etcd'), 'periodic-sync-stats': setTomlValue(original, 'debug', 'periodic-sync-stats', true) };
    const diffs = dry.report.attachments.filter((a) => a.name.startsWith('manager.toml diff'));
    expect(diffs.map((d) => d.name).sort()).toEqual(Object.keys(edits).map((key) => `manager.toml diff (${key})`));
    for (const diff of diffs) {
      expect(diff.content.split('\n').slice(0, 2)).toEqual([`--- ${link}\tnow`, `+++ ${link}\tafter the migration`]);
      const patched = join(mkdtempSync(join(tmpdir(), 'bai-migrate-patch-')), 'manager.toml');
      writeFileSync(patched, original);
      const applied = spawnSync('patch', ['--silent', '--forward', patched], { input: diff.content, encoding: 'utf8' });
      expect(applied.stdout + applied.stderr).toBe('');
      expect(applied.status).toBe(0);
      expect(readFileSync(patched, 'utf8')).toBe(edits[/\((.+)\)$/.exec(diff.name)![1] as keyof typeof edits]);
    }
    const after = statSync(real);
    expect({ uid: after.uid, gid: after.gid, mode: after.mode & 0o7777 }).toEqual({ ...SERVICE, mode: 0o640 });
    // Replaced by rename (atomic; the finding would say "in place" otherwise), no temporary file left beside it.
    expect(readdirSync(realDir)).toEqual(['manager.toml']);
    expect(report.entries.find((e) => e.step === 'distributed-lock' && e.phase === 'apply')?.detail).toBe(`[manager] distributed-lock = "etcd" written to ${link} (through the link, to ${real})`);
    // The backup bundle holds the original content, read through the link.
    expect(readFileSync(join(report.backup!, 'manager.toml'), 'utf8')).toBe(original);
  });

  it('where the runner may not give a new file the owner, rewrites it in place and keeps owner, group, mode and inode', async () => {
    // bai-migrate's writer, bundled, run as the service user on a root-owned file it may write.
    const dir = mkdtempSync(join(tmpdir(), 'bai-migrate-inplace-'));
    chmodSync(dir, 0o777);
    const script = join(dir, 'replace.mjs');
    writeFileSync(
      join(dir, 'entry.ts'),
      `import { replaceContent } from ${JSON.stringify(join(process.cwd(), 'src/manager/manager-toml.ts'))};\nprocess.stdout.write(await replaceContent(process.argv[2], process.argv[3]));\n`,
    );
    await build({ entryPoints: [join(dir, 'entry.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node24', outfile: script, logLevel: 'warning' });
    chmodSync(script, 0o644);
    const file = join(dir, 'manager.toml');
    writeFileSync(file, '[manager]\nnum-proc = 4\n# a comment that is long enough to be cut by a shorter rewrite\n');
    chownSync(file, 0, SERVICE.gid);
    chmodSync(file, 0o660);
    const before = statSync(file);

    const run = spawnSync(process.execPath, [script, file, '[manager]\nnum-proc = 8\n'], { ...SERVICE, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(` (written in place, not by rename: this user may not give a new file the owner 0:${SERVICE.gid})`);
    expect(readFileSync(file, 'utf8')).toBe('[manager]\nnum-proc = 8\n');
    const after = statSync(file);
    expect([after.ino, after.uid, after.gid, after.mode]).toEqual([before.ino, 0, SERVICE.gid, before.mode]);
    expect(readdirSync(dir).sort()).toEqual(['entry.ts', 'manager.toml', 'replace.mjs']);
  });
});
