/**
 * Stand-in alembic projects built from a release line's real revision graph (src/releases: the
 * ids and down revisions of the line's final tag), for hops whose manager package no Python here
 * installs. Each revision only records that it ran, in standin_applied (a second run of the same
 * revision fails on its primary key, as a real non-idempotent revision would), and its downgrade
 * removes the record. They run with the machine's real alembic and the fixture's env.py, in one
 * transaction like the manager's.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentsIn, revisionsOf } from '../../src/releases/releases.js';
import { ALEMBIC_COMMAND } from './deployment.js';
import type { AlembicSetup } from '../../src/manager/alembic.js';

const FIXTURE = join(process.cwd(), '__tests__/fixtures/alembic');

function revisionFile(line: string, revision: string): string {
  const parents = parentsIn(line, revision);
  const down = parents.length === 0 ? 'None' : parents.length === 1 ? `'${parents[0]}'` : `(${parents.map((p) => `'${p}'`).join(', ')})`;
  return [
    `revision = '${revision}'`,
    `down_revision = ${down}`,
    'branch_labels = None',
    'depends_on = None',
    'from alembic import op',
    'def upgrade():',
    '    op.execute("CREATE TABLE IF NOT EXISTS standin_applied (revision text PRIMARY KEY, seq bigserial)")',
    `    op.execute("INSERT INTO standin_applied (revision) VALUES ('${revision}')")`,
    'def downgrade():',
    `    op.execute("DELETE FROM standin_applied WHERE revision = '${revision}'")`,
    '',
  ].join('\n');
}

/** A project holding every revision of `line`'s graph; returns how to run its alembic. */
export function graphAlembic(line: string): AlembicSetup {
  const dir = mkdtempSync(join(tmpdir(), `bai-graph-${line}-`));
  mkdirSync(join(dir, 'versions'));
  cpSync(join(FIXTURE, 'env.py'), join(dir, 'env.py'));
  cpSync(join(FIXTURE, 'script.py.mako'), join(dir, 'script.py.mako'));
  for (const revision of revisionsOf(line)) writeFileSync(join(dir, 'versions', `${revision}.py`), revisionFile(line, revision));
  // The fixture's ini (its logging sections; script_location is %(here)s), without its comment.
  const ini = readFileSync(join(FIXTURE, 'alembic.ini'), 'utf8').replace(/^#.*\n/gm, '');
  writeFileSync(join(dir, 'alembic.ini'), `# A stand-in built from the revision graph of Backend.AI ${line}.\n${ini}`);
  return { command: ALEMBIC_COMMAND.split(' '), config: join(dir, 'alembic.ini') };
}
