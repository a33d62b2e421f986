/**
 * The demo: disposable PostgreSQL, Redis and etcd seeded as a stopped Backend.AI 21.09 deployment
 * (keypairs, kernels, a registry with images, labels, aliases and an admin-set limit, Redis stats),
 * then bai-migrate's CLI (dist/cli.js) plans, preflights, rehearses (dry run), migrates it to 22.03
 * and verifies, as an operator would. The manager's alembic is stood in for by the test fixture
 * that carries Backend.AI's real revision graph. Everything it starts is removed at the end.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALEMBIC_COMMAND, FIXTURE_ALEMBIC_INI, createDeployment, withTestbed } from '../__tests__/support/deployment.js';

/** Runs the bundled CLI as an operator would, its log (stderr) and its result (stdout) both shown. */
function cli(args: string[]): number {
  console.log(`\n$ bai-migrate ${args.join(' ')}`);
  const result = spawnSync(process.execPath, ['dist/cli.js', ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  return result.status ?? 1;
}

await withTestbed(async (info, admin) => {
  const deployment = await createDeployment(admin, info, {});
  const toml = deployment.writeManagerToml();
  const work = mkdtempSync(join(tmpdir(), 'bai-migrate-demo-'));
  console.log(`Seeded a stopped Backend.AI 21.09.9 deployment: database ${deployment.database}, etcd namespace ${deployment.namespace}.`);
  console.log(`manager.toml: ${toml}`);
  const common = ['--manager-config', toml, '--to-version', '22.03'];
  const alembic = ['--alembic-command', ALEMBIC_COMMAND, '--alembic-config', FIXTURE_ALEMBIC_INI];
  const migrate = [...common, ...alembic, '--lock-backend', 'pg_advisory', '--backup-dir', join(work, 'backup')];
  const codes = [
    cli(['plan', ...common]),
    // preflight checks the alembic that migrate will run.
    cli(['preflight', ...common, ...alembic]),
    cli(['migrate', ...migrate, '--dry-run', 'true']),
    cli(['migrate', ...migrate, '--report-file', join(work, 'report.json')]),
    cli(['verify', ...common, '--lock-backend', 'pg_advisory']),
  ];
  console.log(`\nThe migration's JSON report: ${join(work, 'report.json')}; its backup bundle is under ${join(work, 'backup')}.`);
  await deployment.close();
  process.exitCode = codes.every((code) => code === 0) ? 0 : 1;
});
