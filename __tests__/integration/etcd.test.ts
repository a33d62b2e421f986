import { describe, expect, inject, it } from 'vitest';
import { useDeployments } from '../support/deployment.js';
import { resolveTargets } from '../../src/engine/connections.js';
import { Deployment } from '../../src/engine/deployment.js';
import { parseOptions } from '../../src/engine/options.js';

const info = inject('testbed');
const { admin, deploy } = useDeployments(info);

describe('etcd prefix reads', () => {
  it('read a prefix in pages at one revision, and nothing beside it', async () => {
    const seeded = await deploy({ registries: false });
    const etcd = admin().etcd.namespace(`/sorna/${seeded.namespace}/`);
    const expected: Record<string, string> = {};
    for (let i = 0; i < 25; i++) {
      const key = `images/reg/img-${String(i).padStart(2, '0')}/tag`;
      expected[key] = `v${i}`;
      await etcd.put(key).value(`v${i}`);
    }
    // Neighbours that share the prefix's bytes but not the prefix.
    await etcd.put('images0/x').value('no');
    await etcd.put('imagez').value('no');
    const options = parseOptions({ command: 'preflight', 'to-version': '22.03', 'manager-config': seeded.writeManagerToml() });
    const deployment = new Deployment(resolveTargets(options, {}), 5_000, () => undefined);
    try {
      expect((await deployment.connect(['etcd']))[0]?.ok).toBe(true);
      expect(await deployment.etcdPrefix('images/', 4)).toEqual(expected);
      expect(await deployment.etcdPrefix('images/')).toEqual(expected);
      expect(await deployment.etcdPrefix('nothing-here/', 4)).toEqual({});
    } finally {
      await deployment.close();
    }
  });
});
