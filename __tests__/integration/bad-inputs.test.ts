/**
 * Bad input ends in one clear message and a non-zero exit, and nothing is written: each case runs
 * the bundled CLI against a real deployment and compares everything before and after.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectAdmin, createDeployment, snapshotState, type Admin, type TestDeployment } from '../support/deployment.js';
import { runDist, tempDir } from '../support/run.js';

const info = inject('testbed');
let admin: Admin;
let deployment: TestDeployment;
let toml: string;

beforeAll(async () => {
  admin = await connectAdmin(info);
  deployment = await createDeployment(admin, info, {});
  toml = deployment.writeManagerToml();
});
afterAll(async () => {
  await deployment.close();
  await admin.close();
});

function malformedToml(text: string): string {
  const path = join(tempDir(), 'manager.toml');
  writeFileSync(path, text);
  return path;
}

interface Case {
  name: string;
  args: () => string[];
  exit: number;
  message: RegExp;
}

const cases: Case[] = [
  {
    name: 'unknown to-version',
    args: () => ['preflight', '--manager-config', toml, '--to-version', '22.04'],
    exit: 2,
    message: /to-version "22\.04" is not a release bai-migrate can migrate; accepted: 21\.03 \(patches \.0–\.32\), 21\.09 \(patches \.0–\.9\), 22\.03 \(patches \.0–\.14\)/,
  },
  {
    name: 'unknown patch release',
    args: () => ['plan', '--from-version', '21.09.10', '--to-version', '22.03'],
    exit: 2,
    message: /from-version "21\.09\.10" is not a known 21\.09 release; accepted:/,
  },
  {
    name: 'not a version at all',
    args: () => ['plan', '--to-version', 'latest'],
    exit: 2,
    message: /to-version "latest" is not a Backend\.AI version \(YY\.MM or YY\.MM\.PATCH\)/,
  },
  {
    name: 'downgrade',
    args: () => ['migrate', '--manager-config', toml, '--from-version', '22.03', '--to-version', '21.09'],
    exit: 2,
    message: /from-version 22\.03 is newer than to-version 21\.09: bai-migrate only upgrades/,
  },
  {
    name: 'missing to-version',
    args: () => ['preflight', '--manager-config', toml],
    exit: 2,
    message: /to-version is required for command "preflight"/,
  },
  {
    name: 'invalid retention',
    args: () => ['preflight', '--manager-config', toml, '--to-version', '22.03', '--retention', '1.5mo'],
    exit: 2,
    message: /retention "1\.5mo" is a fraction of a calendar unit; accepted:/,
  },
  {
    name: 'unknown lock backend',
    args: () => ['preflight', '--manager-config', toml, '--to-version', '22.03', '--lock-backend', 'zookeeper'],
    exit: 2,
    message: /lock-backend "zookeeper" is not accepted; accepted: filelock, pg_advisory, etcd, redlock/,
  },
  {
    name: 'not a boolean',
    args: () => ['preflight', '--manager-config', toml, '--to-version', '22.03', '--dry-run', 'yes'],
    exit: 2,
    message: /dry-run "yes" is not a boolean; accepted: true, false/,
  },
  {
    name: 'missing connection',
    args: () => ['preflight', '--to-version', '22.03'],
    exit: 1,
    message: /PostgreSQL: no postgres-url and no manager\.toml \(set manager-config or postgres-url\)/,
  },
  {
    name: 'unreachable server',
    args: () => ['preflight', '--manager-config', toml, '--to-version', '22.03', '--postgres-url', 'postgresql://bai:pw@127.0.0.1:1/backend', '--connect-timeout', '3'],
    exit: 1,
    message: /PostgreSQL at 127\.0\.0\.1:1\/backend \(from postgres-url\) is unreachable: .*ECONNREFUSED/,
  },
  {
    name: 'missing manager.toml',
    args: () => ['preflight', '--manager-config', '/nonexistent/manager.toml', '--to-version', '22.03'],
    exit: 2,
    message: /manager-config "\/nonexistent\/manager\.toml" cannot be read \(no such file\)/,
  },
  {
    name: 'malformed manager.toml',
    args: () => ['preflight', '--manager-config', malformedToml('[etcd]\nnamespace = "local"\n[db\nname = "x"\n'), '--to-version', '22.03'],
    exit: 2,
    message: /is not valid TOML: line 3, column 4: expected "\]" to close the table header/,
  },
  {
    name: 'manager.toml without [db] name',
    args: () => ['preflight', '--manager-config', malformedToml('[db]\naddr = { host = "127.0.0.1", port = 5432 }\nuser = "postgres"\n'), '--to-version', '22.03'],
    exit: 2,
    message: /\[db\] has no "name"; it is required/,
  },
];

describe('bad input', () => {
  it.each(cases)('$name', async ({ args, exit, message }) => {
    const before = await snapshotState(admin, deployment);
    const result = await runDist('cli.js', args(), {});
    expect(result.code).toBe(exit);
    const output = `${result.stdout}${result.stderr}`;
    expect(output).toMatch(message);
    expect(await snapshotState(admin, deployment)).toEqual(before);
  });
});
