/**
 * The config-setting step kind on its own, with a real manager.toml on disk (no server is
 * involved): the value asked for and the value already in the file are both judged against the
 * hop's target release, and apply changes only its one key.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { distributedLock } from '../../../src/hops/21.09-22.03/distributed-lock.js';
import { lockBackendProblem } from '../../../src/releases/lock-backends.js';
import { findRelease } from '../../../src/releases/releases.js';
import { parseToml } from '../../../src/manager/toml.js';
import type { StepContext } from '../../../src/steps/step.js';

const TOML = '[manager]\nnum-proc = 4\n# distributed-lock = "pg_advisory"\n\n[debug]\nenabled = false\n';

function context(text: string, target: string, lockBackend?: string): StepContext {
  const path = join(mkdtempSync(join(tmpdir(), 'bai-config-setting-')), 'manager.toml');
  writeFileSync(path, text);
  return {
    settings: { lockBackend },
    deployment: { targets: { managerConfig: { path, text, table: parseToml(text) } } },
    hop: { label: `x → ${target}`, fromLine: 'x', to: findRelease(target)!, steps: [] },
  } as unknown as StepContext;
}

describe('lock backends per release', () => {
  it.each([
    ['redlock', '22.03.14', 'lock-backend "redlock" is not supported by Backend.AI 22.03; accepted: filelock, pg_advisory, etcd'],
    ['redlock', '22.09.23', undefined],
    ['etcetra', '23.09.10', 'lock-backend "etcetra" is not supported by Backend.AI 23.09 (not a value its config accepts); accepted: filelock, pg_advisory, etcd, redlock'],
    ['etcetra', '24.03.11', undefined],
    ['etcetra', '25.6.17', 'lock-backend "etcetra" is not supported by Backend.AI 25.6 (retired: its config validation rejects it); accepted: filelock, pg_advisory, etcd, redlock'],
    [
      'etcetra',
      '26.8.1',
      'lock-backend "etcetra" is not supported by Backend.AI 26.8 (its config accepts it, but the manager refuses to start: "Invalid lock backend: etcetra"); accepted: filelock, pg_advisory, etcd, redlock',
    ],
    ['etcd', '21.09.9', 'Backend.AI 21.09 has no [manager] distributed-lock setting (it came with 22.03)'],
  ] as const)('%s for %s', (value, release, problem) => {
    expect(lockBackendProblem(value, findRelease(release)!)).toBe(problem);
  });
});

describe('config-setting', () => {
  it('judges a value already in manager.toml when the input is unset', async () => {
    const ctx = context(TOML.replace('# distributed-lock = "pg_advisory"', 'distributed-lock = "etcetra"'), '25.6.17');
    const [finding] = await distributedLock.preflight!(ctx);
    expect(finding).toEqual({
      status: 'failed',
      detail: expect.stringMatching(
        /manager\.toml has \[manager\] distributed-lock = "etcetra", but lock-backend "etcetra" is not supported by Backend\.AI 25\.6 .*: set lock-backend to one of them$/,
      ),
    });
    expect((await distributedLock.preflight!(context(TOML, '25.6.17')))[0]!.status).toBe('ok');
  });

  it('refuses a value the target cannot start with before it looks for the file', async () => {
    const [finding] = await distributedLock.preflight!(context(TOML, '22.03.14', 'redlock'));
    expect(finding).toEqual({ status: 'failed', detail: 'lock-backend "redlock" is not supported by Backend.AI 22.03; accepted: filelock, pg_advisory, etcd' });
  });

  it('writes one key, once, and verifies it', async () => {
    const ctx = context(TOML, '22.03.14', 'etcd');
    const path = ctx.deployment.targets.managerConfig!.path;
    expect((await distributedLock.dryRun!(ctx))[0]!.attachment?.content).toContain('+distributed-lock = "etcd"');
    expect(readFileSync(path, 'utf8')).toBe(TOML);
    expect((await distributedLock.verify!(ctx))[0]).toEqual({ status: 'failed', detail: '[manager] distributed-lock is unset; expected "etcd"' });
    expect((await distributedLock.apply!(ctx)).status).toBe('changed');
    expect(readFileSync(path, 'utf8')).toBe(TOML.replace('# distributed-lock = "pg_advisory"\n', '# distributed-lock = "pg_advisory"\ndistributed-lock = "etcd"\n'));
    expect((await distributedLock.apply!(ctx)).status).toBe('ok');
    expect((await distributedLock.verify!(ctx))[0]).toEqual({ status: 'ok', detail: '[manager] distributed-lock is "etcd"' });
  });

  it('leaves the file alone when the input is unset', async () => {
    const ctx = context(TOML, '22.03.14');
    expect(await distributedLock.backup!(ctx)).toBeUndefined();
    expect((await distributedLock.apply!(ctx)).status).toBe('skipped');
    expect(readFileSync(ctx.deployment.targets.managerConfig!.path, 'utf8')).toBe(TOML);
  });
});
