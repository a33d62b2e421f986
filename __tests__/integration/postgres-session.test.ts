/**
 * The run's PostgreSQL session is shared by checks and steps that run side by side. Its queries
 * go to the server one after another: pg 8 warns when a busy client is given another query (and
 * pg 9 will refuse), and a warning on stderr is noise in every operator's log.
 */
import { describe, expect, it } from 'vitest';
import { connectPostgres, closePostgres } from '../../src/stores/postgres.js';
import { workerTestbed } from '../support/worker-testbed.js';

describe('the run’s PostgreSQL session', () => {
  it('answers queries issued side by side, in order, without a deprecation warning, and a failed one does not stop the rest', async () => {
    const { postgres } = workerTestbed();
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    const { client } = await connectPostgres(
      { host: postgres.host, port: postgres.port, user: postgres.user, password: postgres.password, database: postgres.database, source: 'the test bed' },
      5000,
      true,
    );
    try {
      const answers = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => (i === 7 ? client.query('SELECT 1/0') : client.query<{ n: number }>('SELECT $1::int AS n', [i]))));
      expect(answers[7]?.status).toBe('rejected');
      const numbers = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value.rows[0]?.n] : []));
      expect(numbers).toEqual(Array.from({ length: 30 }, (_, i) => i).filter((i) => i !== 7));
      // The warning is emitted on the next tick; give it one.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await closePostgres(client, 2000);
    }
  });
});
