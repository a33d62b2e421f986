import { describe, expect, it } from 'vitest';
import { connectAdmin } from '../support/deployment.js';
import { workerTestbed } from '../support/worker-testbed.js';

describe('test bed', () => {
  it('serves PostgreSQL, Redis and etcd', async () => {
    const admin = await connectAdmin(workerTestbed());
    try {
      const { rows } = await admin.pg.query<{ v: string }>('SELECT 1 AS v');
      expect(rows[0]?.v).toBe(1);
      expect(await admin.redis(0).ping()).toBe('PONG');
      await admin.etcd.put('/probe').value('1');
      expect(await admin.etcd.get('/probe').string()).toBe('1');
    } finally {
      await admin.close();
    }
  });
});
