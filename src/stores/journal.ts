/**
 * bai-migrate's journal of the hops it started and finished on this database, in its own schema
 * beside dropped_values. A database at a line's head tells nothing about the rest of the hop into
 * that line (a run killed after its schema step left manager.toml or etcd behind); the journal
 * does: a hop started and not finished is planned again, any other database is planned from
 * where it is (an operator's own upgrade, a fresh install, or a hop that finished).
 */
import type pg from 'pg';
import { tableExists } from './schema.js';
import { DROPPED_VALUES_SCHEMA } from './dropped-values.js';

export const HOP_JOURNAL = `${DROPPED_VALUES_SCHEMA}.hops`;

async function ensureTable(client: pg.Client): Promise<void> {
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${DROPPED_VALUES_SCHEMA}`);
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${HOP_JOURNAL} (
       hop text PRIMARY KEY, target_release text NOT NULL, started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz)`,
  );
}

/** Before the hop's first change: it is under way until hopFinished. */
export async function hopStarted(client: pg.Client, hop: string, targetRelease: string): Promise<void> {
  await ensureTable(client);
  await client.query(
    `INSERT INTO ${HOP_JOURNAL} (hop, target_release) VALUES ($1, $2)
     ON CONFLICT (hop) DO UPDATE SET target_release = EXCLUDED.target_release, started_at = now(), finished_at = NULL`,
    [hop, targetRelease],
  );
}

/** After the hop's last step verified. */
export async function hopFinished(client: pg.Client, hop: string): Promise<void> {
  await client.query(`UPDATE ${HOP_JOURNAL} SET finished_at = now() WHERE hop = $1`, [hop]);
}

/**
 * The hops started and not finished; none where no run of bai-migrate kept a journal, or where
 * this user may not read it (a read-only role made before migrate made the journal).
 */
export async function unfinishedHops(client: pg.Client): Promise<string[]> {
  if (!(await tableExists(client, HOP_JOURNAL))) return [];
  try {
    const { rows } = await client.query<{ hop: string }>(`SELECT hop FROM ${HOP_JOURNAL} WHERE finished_at IS NULL ORDER BY started_at`);
    return rows.map((r) => r.hop);
  } catch (error) {
    if ((error as { code?: string }).code === INSUFFICIENT_PRIVILEGE) return [];
    throw error;
  }
}

const INSUFFICIENT_PRIVILEGE = '42501';
