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
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { useDeployments } from '../support/deployment.js';
import { ensureRealManagerVenv, managerAlembicIni, type RealManagerVenv } from '../support/real-manager.js';
import { ALEMBIC_APPLICATION_NAME, runAlembic, type AlembicSetup } from '../../src/manager/alembic.js';
import { alembicDriverOf } from '../../src/releases/line-facts.js';
import type { PostgresTarget } from '../../src/stores/connections.js';

const info = inject('testbed');
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

describe('the alembic of backend.ai-manager 22.09.23 (real, from PyPI)', () => {
  it('is run with asyncpg, as release data says, and its connection carries the application name', async () => {
    expect(alembicDriverOf('22.09.23')).toBe('asyncpg');
    expect(alembicDriverOf('22.03.14')).toBe('psycopg2');
    const target = await freshDatabase();
    // The stamp is a real online run of the manager's env.py; the watcher sees its session's settings.
    const client = new pg.Client({ ...target });
    await client.connect();
    try {
      const seen: Array<{ application_name: string }> = [];
      const watching = (async () => {
        for (let i = 0; i < 600 && seen.length === 0; i++) {
          const { rows } = await client.query<{ application_name: string }>(`SELECT application_name FROM pg_stat_activity WHERE application_name = $1`, [ALEMBIC_APPLICATION_NAME]);
          seen.push(...rows);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      await runAlembic(setup('asyncpg'), target, ['stamp', '3efd66393bd0']);
      await watching;
      expect(seen.length).toBeGreaterThan(0);
      const current = await runAlembic(setup('asyncpg'), target, ['current']);
      expect(current).toContain('3efd66393bd0');
      const { rows } = await client.query<{ version_num: string }>('SELECT version_num FROM alembic_version');
      expect(rows).toEqual([{ version_num: '3efd66393bd0' }]);
    } finally {
      await client.end();
    }
  }, 300_000);

  it('gets the lock_timeout through the asyncpg URL: a statement waiting for a table lock gives up', async () => {
    const target = await freshDatabase();
    await runAlembic(setup('asyncpg'), target, ['stamp', '3efd66393bd0']);
    const holder = new pg.Client({ ...target });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      await expect(runAlembic(setup('asyncpg', 1), target, ['stamp', 'd58a526bf837'])).rejects.toThrow(/lock timeout/);
      // One second of waiting, not the test's timeout: the setting reached alembic's session.
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  }, 300_000);

  it('fails with the psycopg2 URL of 22.03, naming the cause: the 22.09 package does not even install psycopg2', async () => {
    const target = await freshDatabase();
    await expect(runAlembic(setup('psycopg2'), target, ['current'])).rejects.toThrow("alembic current failed (exit 1): ModuleNotFoundError: No module named 'psycopg2'");
  }, 300_000);
});
