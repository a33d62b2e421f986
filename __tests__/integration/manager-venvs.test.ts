/**
 * manager-venv as a folder of venvs, one per release (manager/venvs.ts), made with the real pip
 * from stand-in backend.ai-manager wheels (support/manager-wheel.ts): a run that needs two releases
 * (a hop that downgrades first needs its source release's alembic) gets two venvs side by side;
 * each one made is saved in the adapter's cache and restored from it by the next runner; a check
 * makes none; the single venv an earlier bai-migrate kept in the folder is replaced.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { TEST_PYTHON } from '../support/deployment.js';
import { buildManagerWheel } from '../support/manager-wheel.js';
import { standInDependencies, uvWheel } from '../support/uv-wheels.js';
import { MemoryLogger } from '../../src/core/logger.js';
import type { ReportEntry } from '../../src/core/report/index.js';
import { ManagerVenvs, type VenvCache } from '../../src/manager/venvs.js';
import { newReport } from '../../src/core/report/index.js';
import { parseOptions } from '../../src/options/index.js';
import { resolveTargets } from '../../src/stores/connections.js';
import { Deployment } from '../../src/stores/deployment.js';
import { Session } from '../../src/commands/session.js';
import { latestRelease } from '../../src/releases/releases.js';
import { requireManagerRelease } from '../../src/manager/venv.js';
import { UV_VERSION } from '../../src/manager/uv.js';

let findLinks: string;
beforeAll(() => {
  // Both releases' wheels in one folder, as a mirror would serve them.
  findLinks = mkdtempSync(join(tmpdir(), 'bai-wheels-'));
  for (const version of ['22.09.23', '23.03.12']) cpSync(buildManagerWheel(version), findLinks, { recursive: true });
});

/** A cache in a folder, with what was asked of it. */
function folderCache(): VenvCache & { saved: string[]; restored: string[] } {
  const store = mkdtempSync(join(tmpdir(), 'bai-venv-cache-'));
  const saved: string[] = [];
  const restored: string[] = [];
  return {
    saved,
    restored,
    async restore(dir, key) {
      if (!existsSync(join(store, key))) return false;
      cpSync(join(store, key), dir, { recursive: true, verbatimSymlinks: true });
      restored.push(key);
      return true;
    },
    async save(dir, key) {
      cpSync(dir, join(store, key), { recursive: true, verbatimSymlinks: true });
      saved.push(key);
    },
  };
}

function venvs(root: string, mode: 'make' | 'check', cache?: VenvCache) {
  const entries: ReportEntry[] = [];
  const options = { dir: root, python: TEST_PYTHON, pipArgs: ['--no-index', '--find-links', findLinks], systemSitePackages: true };
  return { venvs: new ManagerVenvs(options, mode, new MemoryLogger(), (e) => entries.push(e), cache), entries };
}

const target = { use: 'alembic runs from it', unchecked: "alembic and the manager's CLI from it are not checked" };
const source = { use: "22.09's alembic runs from it for the downgrade of 22.09 → 23.03", unchecked: "22.09's alembic from it is not checked" };

describe('manager venvs, one per release', () => {
  it('makes the target and the source release side by side, saves each in the cache, and the next runner restores them', async () => {
    const cache = folderCache();
    const root = join(mkdtempSync(join(tmpdir(), 'bai-venvs-')), 'manager');
    const first = venvs(root, 'make', cache);
    const made = await first.venvs.get('23.03.12', target);
    const older = await first.venvs.get('22.09.23', source);
    // Asked twice in a run, made once.
    expect(await first.venvs.get('22.09.23', source)).toBe(older);
    expect(made?.command[0]).toBe(join(root, '23.03.12', 'bin', 'python'));
    expect(older?.command[0]).toBe(join(root, '22.09.23', 'bin', 'python'));
    expect(readdirSync(root).sort()).toEqual(['.bai-migrate-venvs', '22.09.23', '23.03.12']);
    expect(first.entries).toEqual([
      { phase: 'setup', step: 'manager-venv', status: 'changed', detail: `made ${join(root, '23.03.12')} with backend.ai-manager==23.03.12; alembic runs from it` },
      { phase: 'setup', step: 'manager-venv', status: 'changed', detail: `made ${join(root, '22.09.23')} with backend.ai-manager==22.09.23; ${source.use}` },
    ]);
    expect(cache.saved).toHaveLength(2);
    expect(cache.saved[0]).toMatch(/^bai-migrate-venv-linux-\w+-py3\.\d+\.\d+-backend\.ai-manager==23\.03\.12$/);
    expect(first.venvs.used.map((u) => [u.release, u.created, u.cacheKey])).toEqual([
      ['23.03.12', true, cache.saved[0]],
      ['22.09.23', true, cache.saved[1]],
    ]);

    // Another runner, same folder path (a venv's scripts name it), nothing on disk: both come from the cache.
    rmSync(root, { recursive: true });
    const next = venvs(root, 'make', cache);
    const restored = await next.venvs.get('23.03.12', target);
    expect(restored?.created).toBe(false);
    expect(cache.restored).toEqual([cache.saved[0]]);
    expect(cache.saved).toHaveLength(2);
    expect(next.entries[0]).toMatchObject({ status: 'ok', detail: `reused ${join(root, '23.03.12')} with backend.ai-manager==23.03.12; alembic runs from it` });
  });

  it('a check (a dry run) makes nothing: it says what preflight or migrate will make, and uses a venv an earlier run made', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'bai-venvs-')), 'manager');
    await venvs(root, 'make').venvs.get('23.03.12', target);
    const check = venvs(root, 'check');
    expect(await check.venvs.get('22.09.23', source)).toBeUndefined();
    expect((await check.venvs.get('23.03.12', target))?.created).toBe(false);
    expect(check.entries).toEqual([
      {
        phase: 'setup',
        step: 'manager-venv',
        status: 'warning',
        detail: `${join(root, '22.09.23')} holds no venv yet; preflight or migrate will make it with backend.ai-manager==22.09.23 (with uv where it can, else pip); a dry run makes and caches no venv, so 22.09's alembic from it is not checked (run preflight first to check them)`,
      },
      { phase: 'setup', step: 'manager-venv', status: 'ok', detail: `reused ${join(root, '23.03.12')} with backend.ai-manager==23.03.12; alembic runs from it` },
    ]);
    expect(existsSync(join(root, '22.09.23'))).toBe(false);
  });

  it('replaces the single venv an earlier bai-migrate kept right in manager-venv, and refuses a folder inside it that is not its own', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'bai-venvs-')), 'manager');
    mkdirSync(join(root, 'bin'), { recursive: true });
    writeFileSync(join(root, '.bai-migrate-manager'), 'backend.ai-manager==22.03.14\n');
    const check = venvs(root, 'check');
    expect(await check.venvs.get('23.03.12', target)).toBeUndefined();
    expect(check.entries[0]?.detail).toMatch(
      /holds backend\.ai-manager==22\.03\.14 in the layout of an earlier bai-migrate, so preflight or migrate will replace it with backend\.ai-manager==23\.03\.12/,
    );
    expect(existsSync(join(root, 'bin'))).toBe(true);

    await venvs(root, 'make').venvs.get('23.03.12', target);
    expect(readdirSync(root).sort()).toEqual(['.bai-migrate-venvs', '23.03.12']);

    mkdirSync(join(root, '22.09.23'));
    writeFileSync(join(root, '22.09.23', 'pyvenv.cfg'), 'home = /usr/bin\n');
    await expect(venvs(root, 'make').venvs.get('22.09.23', source)).rejects.toThrow(
      `manager-venv "${root}" holds ${join(root, '22.09.23')}, which bai-migrate did not make; accepted: a folder bai-migrate keeps one venv per release in (delete ${join(root, '22.09.23')}, or set manager-venv to another folder)`,
    );
    expect(existsSync(join(root, '22.09.23', 'pyvenv.cfg'))).toBe(true);
  });

  it("a session hands a hop's steps the source line's final release's alembic from its own venv, and none without manager-venv", async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'bai-venvs-')), 'manager');
    const options = parseOptions({ command: 'migrate', 'from-version': '22.09', 'to-version': '23.03.12', 'postgres-url': 'postgresql://bai@127.0.0.1:1/none' });
    // Not connected: handing out the tools needs no server.
    const deployment = new Deployment(resolveTargets(options, {}), 1000, () => undefined);
    const hop = { label: '22.09 → 23.03', fromLine: '22.09', to: latestRelease('23.03'), steps: [] };
    const { venvs: made, entries } = venvs(root, 'make');
    const session = new Session(options, deployment, newReport('migrate', false), new Set(), new MemoryLogger(), made);
    const setup = await session.stepContext(hop).sourceAlembic!();
    expect(latestRelease('22.09').version).toBe('22.09.23');
    expect(setup).toEqual({
      command: [join(root, '22.09.23', 'bin', 'python'), '-m', 'alembic'],
      config: join(root, '22.09.23', 'bai-migrate-alembic.ini'),
      lockTimeoutSeconds: options.alembicLockTimeoutSeconds,
      // 22.09's env.py connects with asyncpg (releases/line-facts.ts).
      driver: 'asyncpg',
    });
    expect(entries).toEqual([
      {
        phase: 'setup',
        step: 'manager-venv',
        status: 'changed',
        detail: `made ${join(root, '22.09.23')} with backend.ai-manager==22.09.23; 22.09's alembic runs from it for the downgrade of 22.09 → 23.03`,
      },
    ]);
    expect(new Session(options, deployment, newReport('migrate', false), new Set(), new MemoryLogger()).stepContext(hop).sourceAlembic).toBeUndefined();
    await deployment.close();
  });
});

/** What the venv's Python has installed, name==version. */
function distributions(python: string): string[] {
  const listing = execFileSync(python, ['-c', 'import importlib.metadata as m; print("\\n".join(sorted(f"{d.metadata[\'Name\'].lower()}=={d.version}" for d in m.distributions())))']).toString();
  return listing.trim().split('\n');
}

describe('manager venvs made with uv', () => {
  // The stand-in wheels and what they require, all from one folder: no system packages (uv does not count them).
  let withUv: string;
  let withoutUv: string;
  beforeAll(() => {
    withoutUv = mkdtempSync(join(tmpdir(), 'bai-wheels-'));
    cpSync(findLinks, withoutUv, { recursive: true });
    cpSync(standInDependencies(), withoutUv, { recursive: true });
    withUv = mkdtempSync(join(tmpdir(), 'bai-wheels-'));
    cpSync(withoutUv, withUv, { recursive: true });
    cpSync(uvWheel(), withUv, { recursive: true });
  }, 300_000);

  function uvVenvs(root: string, links: string, cache?: VenvCache) {
    const entries: ReportEntry[] = [];
    const log = new MemoryLogger();
    const options = { dir: root, python: TEST_PYTHON, pipArgs: ['--no-index', '--find-links', links], systemSitePackages: false };
    return { venvs: new ManagerVenvs(options, 'make', log, (e) => entries.push(e), cache), entries, log };
  }

  it('makes 23.03.12 with uv and 22.09.23 (whose install needs --ignore-requires-python) with pip; the uv venv is what pip makes, and the cache keeps it', async () => {
    const cache = folderCache();
    const root = join(mkdtempSync(join(tmpdir(), 'bai-venvs-')), 'manager');
    const { venvs: made, entries, log } = uvVenvs(root, withUv, cache);
    const venv = await made.get('23.03.12', target);
    const older = await made.get('22.09.23', source);
    expect(entries.map((e) => e.status)).toEqual(['changed', 'changed']);
    expect(log.lines).toContain(`fetching uv ${UV_VERSION} (pip download uv==${UV_VERSION}) into ${join(root, '.uv', UV_VERSION)}`);
    expect(log.lines).toContainEqual(expect.stringMatching(new RegExp(`^creating manager venv ${join(root, '23.03.12')} with .*, installing with uv$`)));
    expect(log.lines).toContain('backend.ai-manager 22.09.23 is installed with pip: it needs --ignore-requires-python, and uv has no --ignore-requires-python (it always enforces Requires-Python)');
    expect(log.lines.filter((l) => l.startsWith('warning'))).toEqual([]);
    // uv's binary and its cache beside the venvs; pip (and setuptools) seeded as python -m venv seeds them.
    expect(readdirSync(join(root, '.uv')).sort()).toEqual([UV_VERSION, 'cache']);
    expect(existsSync(join(root, '23.03.12', 'bin', 'pip'))).toBe(true);
    // The same packages pip installs, and a working alembic entry point.
    const pipRoot = join(mkdtempSync(join(tmpdir(), 'bai-venvs-')), 'manager');
    const byPip = uvVenvs(pipRoot, withoutUv);
    await byPip.venvs.get('23.03.12', target);
    expect(byPip.log.lines).toContainEqual(expect.stringMatching(/^uv is not available \(pip download uv==[\d.]+ failed \(exit 1\): .*\); backend\.ai-manager 23\.03\.12 is installed with pip$/));
    expect(existsSync(join(pipRoot, '.uv', UV_VERSION, 'uv'))).toBe(false);
    expect(distributions(venv!.command[0]!)).toEqual(distributions(join(pipRoot, '23.03.12', 'bin', 'python')));
    expect(distributions(venv!.command[0]!)).toContain('backend.ai-manager==23.3.12');
    expect(execFileSync(join(root, '23.03.12', 'bin', 'alembic'), ['--help']).toString()).toContain('usage: alembic');
    expect(older?.command[0]).toBe(join(root, '22.09.23', 'bin', 'python'));

    // Another runner restores it from the cache, and its Python still says 23.03.12.
    rmSync(root, { recursive: true });
    const next = uvVenvs(root, withUv, cache);
    const restored = await next.venvs.get('23.03.12', target);
    expect(restored?.created).toBe(false);
    expect(await requireManagerRelease(restored!, '23.03.12')).toBe('23.3.12');
    expect(next.log.lines.some((l) => l.includes('fetching uv'))).toBe(false);
  }, 300_000);

  it('a uv that cannot install the release leaves the venv to pip, which then ends with its own reason', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'bai-venvs-')), 'manager');
    const { venvs: made, log } = uvVenvs(root, withUv);
    await expect(made.get('23.03.11', target)).rejects.toThrow(/^provisioning the manager venv failed at pip install backend\.ai-manager==23\.03\.11 \(exit 1\): .*No matching distribution/);
    expect(log.lines).toContainEqual(expect.stringMatching(/^warning: uv could not make .*23\.03\.11 \(provisioning the manager venv failed at uv pip install .*\); making it with pip instead$/));
  }, 300_000);
});
