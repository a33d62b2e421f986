/**
 * 25.5 → 25.6: the plan between every two releases of the lines (revisions/releases.tsv: 25.5.0–2 at
 * 683ca0a32f41, 25.6.0–25.6.17 at c7fedaca4883), a plain upgrade that the two graphs say skips
 * nothing, and the hop's distributed-lock step on a manager.toml on disk: 25.6's loader accepts
 * filelock, pg_advisory, redlock and etcd (backend.ai@25.6.17:src/ai/backend/manager/config.py).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseVersion } from '../../../src/releases/catalogue.js';
import { makePlan, requireSupported } from '../../../src/hops/plan.js';
import { findRelease, RELEASES, upgradeSkips } from '../../../src/releases/releases.js';
import { parseToml } from '../../../src/manager/toml.js';
import { schema } from '../../../src/steps/schema/index.js';
import { HOPS } from '../../../src/hops/index.js';
import type { StepContext } from '../../../src/steps/step.js';

const v = (text: string) => parseVersion(text, 'version');
const HEAD_255 = '683ca0a32f41';
const HEAD_256 = 'c7fedaca4883';
/** What 25.6.17's loader accepts for [manager] distributed-lock, in the order bai-migrate's accepted list gives them. */
const ACCEPTED_256 = ['filelock', 'pg_advisory', 'etcd', 'redlock'];

const hop = HOPS.find((h) => h.from === '25.5' && h.to === '25.6')!;
const distributedLock = hop.steps.find((s) => s.id === 'distributed-lock')!;

describe('plan 25.5 → 25.6', () => {
  const inRange = RELEASES.filter((r) => r.line === '25.5' || r.line === '25.6');

  it('the catalogue has 25.5.0–2 at 683ca0a32f41 and 25.6.0–25.6.17 (no 25.6.16) at c7fedaca4883', () => {
    expect(inRange.filter((r) => r.line === '25.5').map((r) => [r.version, r.head])).toEqual(['25.5.0', '25.5.1', '25.5.2'].map((r) => [r, HEAD_255]));
    const in256 = inRange.filter((r) => r.line === '25.6');
    expect(in256.map((r) => r.version)).toEqual([...Array.from({ length: 16 }, (_, i) => `25.6.${i}`), '25.6.17']);
    expect(new Set(in256.map((r) => r.head))).toEqual(new Set([HEAD_256]));
  });

  const pairs = inRange.flatMap((from, i) => inRange.slice(i + 1).map((to) => [from.version, to.version] as const));
  it.each(pairs)('%s → %s', (fromVersion, toVersion) => {
    const plan = makePlan(v(fromVersion), v(toVersion));
    expect(() => requireSupported(plan)).not.toThrow();
    const hops = plan.hops.map((h) => ({ label: h.label, to: h.to.version, head: h.to.head, steps: h.steps.map((s) => s.id) }));
    const across = fromVersion.startsWith('25.5.') && toVersion.startsWith('25.6.');
    expect(hops).toEqual([
      {
        label: across ? '25.5 → 25.6' : `${fromVersion} → ${toVersion}`,
        to: toVersion,
        head: toVersion.startsWith('25.5.') ? HEAD_255 : HEAD_256,
        steps: across ? ['services-stopped', 'schema', 'distributed-lock', 'manager-starts'] : ['services-stopped', 'schema', 'manager-starts'],
      },
    ]);
  });

  it('a run from 25.5 to the line takes its final patch, 25.6.17, and a plain alembic upgrade skips nothing of 25.6', () => {
    expect(makePlan(v('25.5'), v('25.6')).hops.map((h) => [h.label, h.to.version, h.to.head])).toEqual([['25.5 → 25.6', '25.6.17', HEAD_256]]);
    expect(hop.steps).toContain(schema);
    expect(upgradeSkips('25.5', '25.6', [HEAD_255], HEAD_256)).toEqual({ skipped: [], covered: [] });
  });
});

const TOML = '[etcd]\nnamespace = "local"\n\n[manager]\nnum-proc = 4\n# The lock the managers share.\ndistributed-lock = "etcetra"\n\n[debug]\nenabled = false\n';

function context(text: string, lockBackend?: string): StepContext {
  const path = join(mkdtempSync(join(tmpdir(), 'bai-2506-lock-')), 'manager.toml');
  writeFileSync(path, text);
  return {
    settings: { lockBackend },
    deployment: { targets: { managerConfig: { path, text, table: parseToml(text) } } },
    hop: { label: '25.5 → 25.6', fromLine: '25.5', to: findRelease('25.6.17')!, steps: hop.steps },
  } as unknown as StepContext;
}

describe('25.5 → 25.6 distributed-lock', () => {
  it('refuses etcetra in manager.toml without lock-backend, naming the file, the key and the values 25.6 accepts', async () => {
    const ctx = context(TOML);
    const path = ctx.deployment.targets.managerConfig!.path;
    const [finding] = await distributedLock.preflight!(ctx);
    expect(finding!.status).toBe('failed');
    expect(finding!.detail).toContain(`${path} has [manager] distributed-lock = "etcetra"`);
    expect(finding!.detail).toContain(`accepted: ${ACCEPTED_256.join(', ')}`);
    expect(finding!.detail).toMatch(/set lock-backend to one of them$/);
    expect(distributedLock.configEdits!(ctx)).toEqual([]);
  });

  it('refuses lock-backend etcetra itself', async () => {
    const [finding] = await distributedLock.preflight!(context(TOML, 'etcetra'));
    expect(finding).toEqual({ status: 'failed', detail: expect.stringContaining(`lock-backend "etcetra" is not supported by Backend.AI 25.6`) });
  });

  it.each(ACCEPTED_256)('leaves %s in manager.toml alone without lock-backend', async (value) => {
    const [finding] = await distributedLock.preflight!(context(TOML.replace('"etcetra"', `"${value}"`)));
    expect(finding!.status).toBe('ok');
    expect(finding!.detail).toContain(`distributed-lock stays "${value}"`);
  });

  it('with lock-backend pg_advisory: preflight and the dry run write nothing, apply rewrites that one line, verify reads it back', async () => {
    const ctx = context(TOML, 'pg_advisory');
    const path = ctx.deployment.targets.managerConfig!.path;
    expect((await distributedLock.preflight!(ctx)).map((f) => f.status)).toEqual(['ok']);
    expect(distributedLock.configEdits!(ctx)).toEqual([{ table: 'manager', key: 'distributed-lock', value: 'pg_advisory' }]);
    const [dry] = await distributedLock.dryRun!(ctx);
    expect(dry!.attachment?.content).toContain('-distributed-lock = "etcetra"');
    expect(dry!.attachment?.content).toContain('+distributed-lock = "pg_advisory"');
    expect(readFileSync(path, 'utf8')).toBe(TOML);
    expect(await distributedLock.backup!(ctx)).toEqual({ name: 'manager.toml', content: TOML });
    expect((await distributedLock.apply!(ctx)).status).toBe('changed');
    expect(readFileSync(path, 'utf8')).toBe(TOML.replace('distributed-lock = "etcetra"', 'distributed-lock = "pg_advisory"'));
    expect((await distributedLock.apply!(ctx)).status).toBe('ok');
    expect(await distributedLock.verify!(ctx)).toEqual([{ status: 'ok', detail: '[manager] distributed-lock is "pg_advisory"' }]);
  });
});
