import { describe, expect, it } from 'vitest';
import { useDeployments } from '../support/deployment.js';
import { resolveTargets } from '../../src/stores/connections.js';
import { Deployment } from '../../src/stores/deployment.js';
import { parseOptions } from '../../src/options/index.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
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
      expect(await deployment.etcdPrefix('images/', { pageSize: 4 })).toEqual(expected);
      // Every entry is shown to onEntry once, in key order, as its page is decoded.
      const seen: Array<[string, string]> = [];
      await deployment.etcdPrefix('images/', { pageSize: 4, onEntry: (key, value) => seen.push([key, value]) });
      expect(seen).toEqual(Object.entries(expected).sort(([a], [b]) => (a < b ? -1 : 1)));
      expect(await deployment.etcdPrefix('images/')).toEqual(expected);
      expect(await deployment.etcdPrefix('nothing-here/', { pageSize: 4 })).toEqual({});
    } finally {
      await deployment.close();
    }
  });
});

describe('an etcd namespace without keys', () => {
  it('is refused at connect, listing the namespaces that exist (at most 20, read keys only), and nothing is written', async () => {
    const seeded = await deploy({ registries: false });
    // More namespaces than the list shows, with neighbours that share their names' bytes.
    const run = Math.random().toString(16).slice(2, 8);
    const extra = Array.from({ length: 22 }, (_, i) => `a-${run}-${String(i).padStart(2, '0')}`);
    for (const ns of extra) await admin().etcd.put(`/sorna/${ns}/config/x`).value('1');
    await admin().etcd.put(`/sorna/a-${run}-00-x/config/y`).value('1');
    try {
      // Computed apart from the code under test: every key under /sorna/, its first segment, in
      // etcd's byte order of "name/" (so "a-00-x/" comes before "a-00/").
      const keys = await admin().etcd.getAll().prefix('/sorna/').keys();
      const all = [...new Set(keys.filter((k) => k.slice(7).includes('/')).map((k) => k.slice(7).split('/')[0]!))].sort((a, b) => Buffer.compare(Buffer.from(`${a}/`), Buffer.from(`${b}/`)));
      expect(all.length).toBeGreaterThan(20);
      const listed = `${all
        .slice(0, 20)
        .map((n) => `"${n}"`)
        .join(', ')} and more`;
      const revision = (await admin().etcd.getAll().prefix('/').limit(1).exec()).header.revision;

      const options = parseOptions({ command: 'preflight', 'to-version': '22.03', 'manager-config': seeded.writeManagerToml(), 'etcd-namespace': `none-${run}` });
      const deployment = new Deployment(resolveTargets(options, {}), 5_000, () => undefined);
      try {
        const [etcd, redis] = await deployment.connect(['etcd', 'redis']);
        expect(etcd).toEqual({
          server: 'etcd',
          ok: false,
          code: 'invalid-input',
          detail: `etcd namespace "none-${run}" holds no keys (/sorna/none-${run}/ is empty at ${seeded.etcdEndpoint}); namespaces that exist under /sorna/: ${listed}. Set etcd-namespace (or [etcd] namespace of manager.toml) to the deployment's namespace`,
        });
        // Not the misleading default address: Redis is not tried without the namespace's config/redis.
        expect(redis).toMatchObject({ server: 'redis', ok: false, detail: expect.stringMatching(/^not tried: its address is read from etcd config\/redis/) });
      } finally {
        await deployment.close();
      }
      expect((await admin().etcd.getAll().prefix('/').limit(1).exec()).header.revision).toBe(revision);
    } finally {
      await admin().etcd.delete().prefix(`/sorna/a-${run}-`);
    }
  });
});
