/**
 * The etcd-key-move step kind against the test bed's etcd: keys move to their new prefix (more
 * than one transaction's worth), a half-done move is finished, a different value at the new name
 * stops it with both values named, and nothing outside the two prefixes is touched.
 */
import { describe, expect, it } from 'vitest';
import { useDeployments } from '../support/deployment.js';
import { resolveTargets } from '../../src/stores/connections.js';
import { Deployment } from '../../src/stores/deployment.js';
import { parseOptions } from '../../src/options/index.js';
import { etcdKeyMove } from '../../src/steps/etcd-key-move.js';
import { stepSettings, type StepContext } from '../../src/steps/step.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

const move = etcdKeyMove({ id: 'overlay-move', title: 'test move', from: 'config/network/overlay/', to: 'config/plugins/network/overlay/', why: 'the test says so' });

async function withStep(body: (ctx: StepContext, etcd: ReturnType<ReturnType<typeof admin>['etcd']['namespace']>) => Promise<void>): Promise<void> {
  const seeded = await deploy({ registries: false });
  const etcd = admin().etcd.namespace(`/sorna/${seeded.namespace}/`);
  const options = parseOptions({ command: 'migrate', 'to-version': '22.03', 'manager-config': seeded.writeManagerToml() });
  const deployment = new Deployment(resolveTargets(options, {}), 5_000, () => undefined);
  try {
    expect((await deployment.connect(['etcd']))[0]?.ok).toBe(true);
    await body({ deployment, settings: stepSettings(options) } as unknown as StepContext, etcd);
  } finally {
    await deployment.close();
  }
}

describe('etcd-key-move', () => {
  it('moves every key, in several transactions, and a second apply changes nothing', async () => {
    await withStep(async (ctx, etcd) => {
      const keys = Array.from({ length: 120 }, (_, i) => `k${String(i).padStart(3, '0')}`);
      for (const k of keys) await etcd.put(`config/network/overlay/${k}`).value(`v-${k}`);
      await etcd.put('config/network/overlayx').value('neighbour');
      await etcd.put('config/network/inter-container/default-driver').value('overlay');
      const outside = await etcd.getAll().prefix('').strings();

      expect((await move.preflight!(ctx))[0]).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^120 key\(s\) will move from config\/network\/overlay\/ to /) });
      expect(await move.pending!(ctx)).toBe(true);
      expect((await move.verify!(ctx))[0]!.status).toBe('failed');
      const backup = JSON.parse((await move.backup!(ctx))!.content) as Record<string, Record<string, string>>;
      expect(Object.keys(backup['config/network/overlay/']!)).toHaveLength(120);

      expect(await move.apply!(ctx)).toMatchObject({ status: 'changed', detail: expect.stringMatching(/^moved 120 key\(s\)/) });
      const after = await etcd.getAll().prefix('').strings();
      const expected = Object.fromEntries(
        Object.entries(outside).map(([k, v]) => [k.startsWith('config/network/overlay/') ? k.replace('config/network/overlay/', 'config/plugins/network/overlay/') : k, v]),
      );
      expect(after).toEqual(expected);
      expect((await move.verify!(ctx))[0]).toEqual({ status: 'ok', detail: 'nothing is left under config/network/overlay/; 120 key(s) under config/plugins/network/overlay/' });
      expect(await move.pending!(ctx)).toBe(false);
      expect((await move.apply!(ctx)).status).toBe('ok');
      expect(await etcd.getAll().prefix('').strings()).toEqual(expected);
    });
  });

  it('finishes a half-done move, and refuses a different value at the new name', async () => {
    await withStep(async (ctx, etcd) => {
      await etcd.put('config/network/overlay/mtu').value('1450');
      await etcd.put('config/plugins/network/overlay/mtu').value('1450');
      await etcd.put('config/network/overlay/extra').value('x');
      expect((await move.apply!(ctx)).status).toBe('changed');
      expect(await etcd.getAll().prefix('config/').strings()).toMatchObject({ 'config/plugins/network/overlay/mtu': '1450', 'config/plugins/network/overlay/extra': 'x' });
      expect(await etcd.getAll().prefix('config/network/').keys()).toEqual([]);

      await etcd.put('config/network/overlay/mtu').value('9000');
      const refused = (await move.preflight!(ctx))[0]!;
      expect(refused).toEqual({
        status: 'failed',
        detail:
          '1 key(s) under config/network/overlay/ have a different value at their new name under config/plugins/network/overlay/: config/plugins/network/overlay/mtu holds "1450", config/network/overlay/mtu holds "9000". Keep the value the new release should read under config/plugins/network/overlay/ and delete the old key (etcdctl del), then run again',
      });
      expect((await move.apply!(ctx)).status).toBe('failed');
      expect(await etcd.get('config/network/overlay/mtu').string()).toBe('9000');
      expect(await etcd.get('config/plugins/network/overlay/mtu').string()).toBe('1450');
    });
  });
});
