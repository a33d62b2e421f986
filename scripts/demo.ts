/**
 * The demo: disposable PostgreSQL, Redis and etcd seeded as a stopped Backend.AI 21.09 deployment,
 * then bai-migrate's CLI (dist/cli.js) runs `plan` and `preflight` against them, as an operator
 * would. Everything it starts is removed at the end.
 */
import { spawnSync } from 'node:child_process';
import { startTestbed } from '../__tests__/support/testbed.js';
import { connectAdmin, createDeployment } from '../__tests__/support/deployment.js';

function cli(args: string[]): number {
  console.log(`\n$ bai-migrate ${args.join(' ')}`);
  const result = spawnSync(process.execPath, ['dist/cli.js', ...args], { stdio: 'inherit' });
  return result.status ?? 1;
}

const testbed = await startTestbed();
const admin = await connectAdmin(testbed.info);
try {
  const deployment = await createDeployment(admin, testbed.info, {});
  const toml = deployment.writeManagerToml();
  console.log(`Seeded a stopped Backend.AI 21.09.9 deployment: database ${deployment.database}, etcd namespace ${deployment.namespace}.`);
  console.log(`Its manager.toml: ${toml}`);
  const failures = [
    cli(['plan', '--manager-config', toml, '--to-version', '22.03']),
    cli(['preflight', '--manager-config', toml, '--to-version', '22.03', '--report-file', '/tmp/bai-migrate-demo-report.json']),
  ].filter((code) => code !== 0).length;
  console.log(`\nThe JSON report of the preflight is in /tmp/bai-migrate-demo-report.json.`);
  await deployment.close();
  process.exitCode = failures === 0 ? 0 : 1;
} finally {
  await admin.close();
  await testbed.stop();
}
