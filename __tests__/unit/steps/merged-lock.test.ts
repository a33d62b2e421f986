/**
 * The distributed-lock step on a hop whose target merges etcd over manager.toml (25.8+): a real
 * manager.toml on disk and an in-memory etcd behind the two calls the step makes (etcdPrefix, and
 * a compare-and-put transaction). Where the lock backend is set, which place wins, what is refused
 * and what is rewritten follow the 25.8.1 loader (releases/merged-config.ts); the real servers and
 * the real 25.8.1 manager are in __tests__/integration/merged-config-2508.test.ts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hop as hop2508 } from '../../../src/hops/25.7-25.8/index.js';
import { hop as hop2519 } from '../../../src/hops/25.18-25.19/index.js';
import { hop as hop2506 } from '../../../src/hops/25.5-25.6/index.js';
import { configKeyNames, etcdConfigLayers, mergesEtcdConfig } from '../../../src/releases/merged-config.js';
import { findRelease, latestRelease } from '../../../src/releases/releases.js';
import { parseToml } from '../../../src/manager/toml.js';
import type { Step, StepContext } from '../../../src/steps/step.js';

const TOML = '[manager]\nnum-proc = 4\n# distributed-lock = "pg_advisory"\n\n[debug]\nenabled = false\n';
const lockOf = (steps: readonly Step[]): Step => steps.find((s) => s.id === 'distributed-lock')!;

/** etcd as the step sees it: keys relative to the namespace. */
function fakeEtcd(values: Record<string, string>) {
  const txn = (key: string, expected: string) => ({
    then: (put: { key: string; value: string }) => ({
      commit: async () => {
        if (values[key] !== expected) return { succeeded: false };
        values[put.key] = put.value;
        return { succeeded: true };
      },
    }),
  });
  return {
    values,
    etcdPrefix: async (prefix: string) => Object.fromEntries(Object.entries(values).filter(([k]) => k.startsWith(prefix))),
    etcd: {
      if: (key: string, _target: string, _op: string, expected: string) => txn(key, expected),
      put: (key: string) => ({ value: (value: string) => ({ key, value }) }),
    },
    bounded: <T>(_server: string, promise: Promise<T>) => promise,
  };
}

function context(text: string | undefined, target: string, etcd: Record<string, string>, lockBackend?: string): { ctx: StepContext; path?: string; etcd: Record<string, string> } {
  const fake = fakeEtcd(etcd);
  let managerConfig;
  let path: string | undefined;
  if (text !== undefined) {
    path = join(mkdtempSync(join(tmpdir(), 'bai-merged-lock-')), 'manager.toml');
    writeFileSync(path, text);
    managerConfig = { path, text, table: parseToml(text) };
  }
  const ctx = {
    settings: { lockBackend },
    deployment: { targets: { managerConfig }, ...fake },
    hop: { label: `x → ${target}`, fromLine: 'x', to: findRelease(target)!, steps: [] },
  } as unknown as StepContext;
  return { ctx, path, etcd: fake.values };
}

describe('release data: where the manager reads its configuration', () => {
  it('25.8.0 on merges four etcd prefixes over manager.toml, in the 25.8.1 loader chain order; 25.7 reads the file alone', () => {
    expect(etcdConfigLayers(findRelease('25.8.0')!).map((l) => l.prefix)).toEqual(['config/', 'volumes/', 'ai/backend/config/common/', 'ai/backend/config/manager/']);
    expect(mergesEtcdConfig(latestRelease('25.19'))).toBe(true);
    expect(mergesEtcdConfig(latestRelease('25.7'))).toBe(false);
    expect(configKeyNames(findRelease('25.8.1')!, 'manager', 'distributed-lock')).toEqual(['distributed-lock', 'distributed_lock']);
    expect(configKeyNames(latestRelease('25.6'), 'manager', 'distributed-lock')).toEqual(['distributed-lock']);
  });

  it('every hop from 25.7 → 25.8 to 25.18 → 25.19 judges the lock backend in the merged view', () => {
    for (const hop of [hop2508, hop2519]) expect(lockOf(hop.steps).title).toBe('[manager] distributed-lock in manager.toml and etcd');
    expect(lockOf(hop2506.steps).title).toBe('[manager] distributed-lock in manager.toml');
  });
});

describe('distributed-lock in the merged view (25.8.1)', () => {
  const step = lockOf(hop2508.steps);
  const ETCD = { 'config/manager/distributed-lock': 'etcetra', 'ai/backend/config/manager/manager/distributed-lock': 'etcetra', 'config/redis/addr': '127.0.0.1:6379' };

  it('refuses etcetra in etcd, naming each key, when the file does not set it', async () => {
    const { ctx } = context(TOML, '25.8.1', { ...ETCD });
    const findings = await step.preflight!(ctx);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.status).toBe('failed');
    expect(findings[0]!.detail).toContain('etcd key config/manager/distributed-lock = "etcetra" (25.8 merges it over manager.toml as [manager] distributed-lock)');
    expect(findings[0]!.detail).toContain('etcd key ai/backend/config/manager/manager/distributed-lock = "etcetra"');
    expect(findings[0]!.detail).toContain('accepted: filelock, pg_advisory, etcd, redlock');
  });

  it('says a file value etcd shadows is not the one the manager reads', async () => {
    const { ctx, path } = context(TOML.replace('# distributed-lock = "pg_advisory"', 'distributed-lock = "pg_advisory"'), '25.8.1', { ...ETCD });
    const [finding] = await step.preflight!(ctx);
    expect(finding!.status).toBe('failed');
    expect(finding!.detail).toContain(
      `${path} [manager] distributed-lock = "pg_advisory" is shadowed: 25.8 reads "etcetra" from etcd key ai/backend/config/manager/manager/distributed-lock, which it merges over manager.toml, so that line does not take effect`,
    );
    // The kebab name in the file wins over the snake name in etcd (pydantic reads the first alias present): etcd's value is the one named ineffective.
    const valid = context(TOML.replace('# distributed-lock = "pg_advisory"', 'distributed-lock = "pg_advisory"'), '25.8.1', { 'config/manager/distributed_lock': 'redlock' });
    const findings = await step.preflight!(valid.ctx);
    expect(findings.map((f) => f.status)).toEqual(['ok', 'warning']);
    expect(findings[0]!.detail).toContain(`distributed-lock stays "pg_advisory" (from ${valid.path} [manager] distributed-lock)`);
    expect(findings[1]!.detail).toBe(
      `etcd key config/manager/distributed_lock = "redlock" is shadowed: 25.8 reads "pg_advisory" from ${valid.path} [manager] distributed-lock (it reads the name distributed-lock before distributed_lock)`,
    );
    // A valid value in etcd over another in the file: the manager starts with etcd's; the file's line is named as ineffective.
    const over = context(TOML.replace('# distributed-lock = "pg_advisory"', 'distributed-lock = "pg_advisory"'), '25.8.1', { 'ai/backend/config/common/manager/distributed-lock': 'redlock' });
    const overFindings = await step.preflight!(over.ctx);
    expect(overFindings.map((f) => f.status)).toEqual(['ok', 'warning']);
    expect(overFindings[0]!.detail).toContain('distributed-lock stays "redlock" (from etcd key ai/backend/config/common/manager/distributed-lock)');
    expect(overFindings[1]!.detail).toContain(`${over.path} [manager] distributed-lock = "pg_advisory" is shadowed: 25.8 reads "redlock"`);
  });

  it('with lock-backend rewrites every place that sets it, file untouched when only etcd does; the dry run writes nothing', async () => {
    const { ctx, path, etcd } = context(TOML, '25.8.1', { ...ETCD }, 'pg_advisory');
    const [pre] = await step.preflight!(ctx);
    expect(pre!.status).toBe('ok');
    expect(pre!.detail).toContain('etcd key config/manager/distributed-lock (now "etcetra"), etcd key ai/backend/config/manager/manager/distributed-lock (now "etcetra")');
    const dry = await step.dryRun!(ctx);
    expect(dry.map((f) => f.detail)).toEqual([
      'would set etcd key config/manager/distributed-lock = "pg_advisory" (now "etcetra")',
      'would set etcd key ai/backend/config/manager/manager/distributed-lock = "pg_advisory" (now "etcetra")',
    ]);
    expect(etcd).toEqual(ETCD);
    const backup = await step.backup!(ctx);
    expect(JSON.parse(backup!.content)).toEqual({ etcd: { 'config/manager/distributed-lock': 'etcetra', 'ai/backend/config/manager/manager/distributed-lock': 'etcetra' } });
    expect((await step.verify!(ctx))[0]!.status).toBe('failed');
    expect((await step.apply!(ctx)).status).toBe('changed');
    expect(etcd).toEqual({ ...ETCD, 'config/manager/distributed-lock': 'pg_advisory', 'ai/backend/config/manager/manager/distributed-lock': 'pg_advisory' });
    expect(readFileSync(path!, 'utf8')).toBe(TOML);
    expect((await step.apply!(ctx)).status).toBe('ok');
    expect((await step.verify!(ctx))[0]!.status).toBe('ok');
  });

  it('with lock-backend rewrites the file under the name it uses, and etcd; where nothing sets it, the file', async () => {
    const snake = TOML.replace('# distributed-lock = "pg_advisory"', 'distributed_lock = "etcetra"');
    const { ctx, path, etcd } = context(snake, '25.8.1', { 'ai/backend/config/common/manager/distributed-lock': 'etcetra' }, 'etcd');
    expect((await step.apply!(ctx)).status).toBe('changed');
    expect(readFileSync(path!, 'utf8')).toBe(snake.replace('distributed_lock = "etcetra"', 'distributed_lock = "etcd"'));
    expect(etcd).toEqual({ 'ai/backend/config/common/manager/distributed-lock': 'etcd' });
    expect((await step.verify!(ctx))[0]!.status).toBe('ok');

    const none = context(TOML, '25.19.2', {}, 'redlock');
    expect((await step.apply!(none.ctx)).status).toBe('changed');
    expect(readFileSync(none.path!, 'utf8')).toContain('\ndistributed-lock = "redlock"\n');
  });

  it('needs no manager.toml when only etcd sets it', async () => {
    const { ctx, etcd } = context(undefined, '25.8.1', { 'config/manager/distributed-lock': 'etcetra' }, 'pg_advisory');
    expect((await step.preflight!(ctx))[0]!.status).toBe('ok');
    expect((await step.apply!(ctx)).status).toBe('changed');
    expect(etcd['config/manager/distributed-lock']).toBe('pg_advisory');
  });
});
