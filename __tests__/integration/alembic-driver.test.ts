/**
 * From 22.09 the manager's env.py connects with asyncpg (releases/line-facts.ts, alembicDriver):
 * bai-migrate's private alembic.ini must then name a postgresql+asyncpg:// URL that still carries
 * the application name and lock_timeout of every alembic run. Run with the real
 * backend.ai-manager 22.09.23 from PyPI (its own env.py and scripts) against the test bed's PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { useDeployments } from '../support/deployment.js';
import { ensureRealManagerVenv, managerAlembicIni, type RealManagerVenv } from '../support/real-manager.js';
import { ALEMBIC_APPLICATION_NAME, runAlembic, type AlembicSetup } from '../../src/manager/alembic.js';
import { ranRealPackage } from '../support/real-lines.js';
import { alembicDriverOf } from '../../src/releases/line-facts.js';
import type { PostgresTarget } from '../../src/stores/connections.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin } = useDeployments(info);
let venv: RealManagerVenv;

beforeAll(async () => {
  venv = await ensureRealManagerVenv('22.09.23');
}, 900_000);

async function freshDatabase(): Promise<PostgresTarget> {
  const database = `bai_driver_${randomBytes(4).toString('hex')}`;
  await admin().pg.query(`CREATE DATABASE ${database}`);
  const { host, port, user, password } = info.postgres;
  return { host, port, user, password, database } as PostgresTarget;
}

function setup(driver: AlembicSetup['driver'], lockTimeoutSeconds = 7): AlembicSetup {
  const dir = mkdtempSync(join(tmpdir(), 'bai-driver-'));
  // The operator's ini names a URL of its own; bai-migrate replaces it in its private copy.
  writeFileSync(join(dir, 'alembic.ini'), managerAlembicIni('postgresql://nobody@127.0.0.1:1/none'));
  return { command: [join(venv.dir, 'bin', 'python'), '-m', 'alembic'], config: join(dir, 'alembic.ini'), lockTimeoutSeconds, driver };
}

/**
 * A database stamped by the real alembic at 3efd66393bd0 whose alembic_version the test holds
 * locked while `body` runs (so that alembic's next session waits where it can be looked at).
 */
async function withLockedVersionTable(body: (target: PostgresTarget) => Promise<void>): Promise<void> {
  const target = await freshDatabase();
  await runAlembic(setup('asyncpg'), target, ['stamp', '3efd66393bd0']);
  const holder = new pg.Client({ ...target });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE');
    await body(target);
  } finally {
    await holder.query('ROLLBACK');
    await holder.end();
  }
}

describe('the alembic of backend.ai-manager 22.09.23 (real, from PyPI)', () => {
  it('is run with asyncpg, as release data says, and its connection carries the application name', async () => {
    expect(alembicDriverOf('22.09.23')).toBe('asyncpg');
    expect(alembicDriverOf('22.03.14')).toBe('psycopg2');
    let stamped: PostgresTarget | undefined;
    let stamping: Promise<string> | undefined;
    await withLockedVersionTable(async (target) => {
      stamped = target;
      stamping = runAlembic(setup('asyncpg', 60), target, ['stamp', 'd58a526bf837']);
      let waiting: Array<{ application_name: string; wait_event_type: string }> = [];
      for (let i = 0; i < 600 && waiting.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        // From another session: a transaction sees pg_stat_activity as it was at its first look.
        ({ rows: waiting } = await admin().pg.query(`SELECT application_name, wait_event_type FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`, [target.database]));
      }
      expect(waiting).toEqual([{ application_name: ALEMBIC_APPLICATION_NAME, wait_event_type: 'Lock' }]);
    });
    // The lock is gone: the stamp goes through.
    await stamping;
    expect(await runAlembic(setup('asyncpg'), stamped!, ['current'])).toContain('d58a526bf837');
    ranRealPackage('22.09.23', 'alembic (asyncpg)');
  }, 300_000);

  it('gets the lock_timeout through the asyncpg URL: a statement waiting for a table lock gives up', async () => {
    await withLockedVersionTable(async (target) => {
      const started = Date.now();
      await expect(runAlembic(setup('asyncpg', 1), target, ['stamp', 'd58a526bf837'])).rejects.toThrow(/lock timeout/);
      // One second of waiting, not the test's timeout: the setting reached alembic's session.
      expect(Date.now() - started).toBeLessThan(30_000);
    });
  }, 300_000);

  it('fails with the psycopg2 URL of 22.03, naming the cause: the 22.09 package does not even install psycopg2', async () => {
    const target = await freshDatabase();
    await expect(runAlembic(setup('psycopg2'), target, ['current'])).rejects.toThrow("alembic current failed (exit 1): ModuleNotFoundError: No module named 'psycopg2'");
  }, 300_000);
});
