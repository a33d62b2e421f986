/**
 * Bad input and bad data end in one clear message and a non-zero exit, and nothing is written:
 * each case runs the bundled CLI against a real deployment and compares PostgreSQL, Redis, the
 * etcd revision and manager.toml before and after.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALEMBIC_COMMAND, FIXTURE_ALEMBIC_INI, snapshotState, useDeployments, type SeedOptions, type TestDeployment } from '../support/deployment.js';
import { runDist, tempDir } from '../support/run.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

function malformedIni(text: string): string {
  const path = join(tempDir(), 'alembic.ini');
  writeFileSync(path, text);
  return path;
}

function malformedToml(text: string): string {
  const path = join(tempDir(), 'manager.toml');
  writeFileSync(path, text);
  return path;
}

interface Case {
  name: string;
  args: (ctx: { toml: string; deployment: TestDeployment }) => string[];
  exit: number;
  message: RegExp;
  seed?: SeedOptions;
  /** Bad data put into the deployment before the run. */
  prepare?: (deployment: TestDeployment) => Promise<void>;
  /** Text that must not appear in the output (a password in the input). */
  secret?: string;
  /** BAI_MIGRATE_* variables for the run. */
  env?: Record<string, string>;
}

const migrate = (toml: string, ...extra: string[]) => [
  'migrate',
  '--manager-config',
  toml,
  '--to-version',
  '22.03',
  '--alembic-command',
  ALEMBIC_COMMAND,
  '--alembic-config',
  FIXTURE_ALEMBIC_INI,
  '--backup-dir',
  tempDir(),
  ...extra,
];

const cases: Case[] = [
  {
    name: 'unknown to-version',
    args: ({ toml }) => ['preflight', '--manager-config', toml, '--to-version', '22.04'],
    exit: 2,
    message: /to-version "22\.04" is no Backend\.AI release line bai-migrate knows; accepted: a Backend\.AI release line from 21\.03 to 26\.9 \(e\.g\. 22\.03, 25\.15\) or one of its releases/,
  },
  {
    name: 'a hop bai-migrate cannot take yet',
    args: ({ toml }) => ['migrate', '--manager-config', toml, '--to-version', '26.1', '--alembic-command', ALEMBIC_COMMAND, '--alembic-config', FIXTURE_ALEMBIC_INI, '--backup-dir', tempDir()],
    exit: 1,
    message: /the plan 21\.09 → 26\.1\.\d+ has 1 hop\(s\) bai-migrate cannot take yet: 25\.19 → 26\.1; it takes 21\.03→21\.09, 21\.09→22\.03, .*, 25\.17→25\.18, 25\.18→25\.19\. Nothing was changed/,
  },
  {
    name: 'unknown patch release',
    args: () => ['plan', '--from-version', '21.09.10', '--to-version', '22.03'],
    exit: 2,
    message: /from-version "21\.09\.10" is not a known 21\.09 release; known: 21\.09\.0–\.9/,
  },
  {
    name: 'not a version at all',
    args: () => ['plan', '--to-version', 'latest'],
    exit: 2,
    message: /to-version "latest" is not a Backend\.AI version \(YY\.MM or YY\.N, optionally \.PATCH\)/,
  },
  {
    name: 'downgrade',
    args: ({ toml }) => ['migrate', '--manager-config', toml, '--from-version', '22.03', '--to-version', '21.09'],
    exit: 2,
    message: /from-version 22\.03 is newer than to-version 21\.09: bai-migrate only upgrades/,
  },
  {
    name: 'missing to-version',
    args: ({ toml }) => ['preflight', '--manager-config', toml],
    exit: 2,
    message: /to-version is required for command "preflight"/,
  },
  {
    name: 'invalid retention',
    args: ({ toml }) => ['preflight', '--manager-config', toml, '--to-version', '22.03', '--retention', '1.5mo'],
    exit: 2,
    message: /retention "1\.5mo" is a fraction of a calendar unit; accepted:/,
  },
  {
    name: 'unknown lock backend',
    args: ({ toml }) => ['preflight', '--manager-config', toml, '--to-version', '22.03', '--lock-backend', 'zookeeper'],
    exit: 2,
    message: /lock-backend "zookeeper" is not accepted; accepted: filelock, pg_advisory, etcd, redlock/,
  },
  {
    name: 'not a boolean',
    args: ({ toml }) => ['preflight', '--manager-config', toml, '--to-version', '22.03', '--dry-run', 'yes'],
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
    args: ({ toml }) => ['preflight', '--manager-config', toml, '--to-version', '22.03', '--postgres-url', 'postgresql://bai:pw@127.0.0.1:1/backend', '--connect-timeout', '3'],
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
    message: /is not valid TOML: line 3, column 4: illegal character in key/,
  },
  {
    name: 'manager.toml without [db] name',
    args: () => ['preflight', '--manager-config', malformedToml('[db]\naddr = { host = "127.0.0.1", port = 5432 }\nuser = "postgres"\n'), '--to-version', '22.03'],
    exit: 2,
    message: /\[db\] has no "name"; it is required/,
  },
  {
    name: 'unknown command',
    args: ({ toml }) => ['upgrade', '--manager-config', toml, '--to-version', '22.03'],
    exit: 2,
    message: /command "upgrade" is not accepted; accepted: migrate, preflight, verify, plan, clear-history/,
  },
  {
    name: 'unknown option',
    args: ({ toml }) => ['preflight', '--manager-config', toml, '--from', '21.09'],
    exit: 2,
    message: /unknown option --from; see bai-migrate --help/,
  },
  {
    name: 'batch-size 0',
    args: ({ toml }) => ['clear-history', '--manager-config', toml, '--batch-size', '0'],
    exit: 2,
    message: /batch-size "0" is not accepted; accepted: a whole number from 1 to 100000/,
  },
  { name: 'unknown vacuum', args: ({ toml }) => ['clear-history', '--manager-config', toml, '--vacuum', 'yes'], exit: 2, message: /vacuum "yes" is not accepted; accepted: none, analyze, full/ },
  {
    name: 'unknown redis-failure',
    args: ({ toml }) => ['clear-history', '--manager-config', toml, '--redis-failure', 'ignore'],
    exit: 2,
    message: /redis-failure "ignore" is not accepted; accepted: fail, warn/,
  },
  { name: 'unknown redis-persistence', args: ({ toml }) => migrate(toml, '--redis-persistence', 'off'), exit: 2, message: /redis-persistence "off" is not accepted; accepted: configure, managed/ },
  {
    name: 'periodic-sync-stats not a boolean',
    args: ({ toml }) => migrate(toml, '--periodic-sync-stats', 'maybe'),
    exit: 2,
    message: /periodic-sync-stats "maybe" is not a boolean; accepted: true, false/,
  },
  {
    name: 'lock-timeout 0',
    args: ({ toml }) => migrate(toml, '--lock-timeout', '0'),
    exit: 2,
    message: /lock-timeout "0" is not accepted; accepted: a number of seconds greater than 0 and at most 86400/,
  },
  { name: 'bad etcd-namespace', args: ({ toml }) => migrate(toml, '--etcd-namespace', 'a/b'), exit: 2, message: /etcd-namespace "a\/b" may hold only letters, digits, "\.", "_" and "-"/ },
  { name: 'etcd endpoint without a port', args: ({ toml }) => migrate(toml, '--etcd-endpoints', 'localhost'), exit: 2, message: /etcd-endpoints entry "localhost" is not host:port/ },
  {
    name: 'postgres-url of another database',
    args: ({ toml }) => migrate(toml, '--postgres-url', 'mysql://root:my-Secr3t-pw@127.0.0.1/backend'),
    exit: 2,
    message: /postgres-url must be a postgresql:\/\/ or postgres:\/\/ or postgresql\+asyncpg:\/\/ or postgresql\+psycopg2:\/\/ URL with a host/,
    secret: 'my-Secr3t-pw',
  },
  {
    name: 'wrong PostgreSQL password',
    args: ({ toml, deployment }) => migrate(toml, '--postgres-url', deployment.postgresUrl.replace(encodeURIComponent(info.postgres.password), 'wrong-Secr3t-pg')),
    exit: 1,
    message:
      /PostgreSQL: authentication failed for user "postgres" at 127\.0\.0\.1:\d+\/bai_\w+ \(PostgreSQL, from postgres-url\): password authentication failed for user "postgres" \(SQLSTATE 28P01: the password is wrong, or there is no such user\); check the user and password in postgres-url/,
    secret: 'wrong-Secr3t-pg',
  },
  {
    name: 'unknown PostgreSQL user',
    args: ({ toml, deployment }) => migrate(toml, '--postgres-url', deployment.postgresUrl.replace('postgresql://postgres:', 'postgresql://nobody:')),
    exit: 1,
    message: /PostgreSQL: authentication failed for user "nobody" at 127\.0\.0\.1:\d+\/bai_\w+ \(PostgreSQL, from postgres-url\): .*"nobody" \(SQLSTATE 28(P01|000): /,
  },
  {
    name: 'PostgreSQL role that may not log in',
    prepare: async (d) => {
      await admin().pg.query(`CREATE ROLE nologin_${d.database} NOLOGIN PASSWORD 'nologin-pw'`);
    },
    args: ({ toml, deployment }) => migrate(toml, '--postgres-url', `postgresql://nologin_${deployment.database}:nologin-pw@${info.postgres.host}:${info.postgres.port}/${deployment.database}`),
    exit: 1,
    message:
      /PostgreSQL: authentication failed for user "nologin_bai_\w+" at 127\.0\.0\.1:\d+\/bai_\w+ \(PostgreSQL, from postgres-url\): role "nologin_bai_\w+" is not permitted to log in \(SQLSTATE 28000: the server does not let this user in: no pg_hba\.conf entry matches .*NOLOGIN\)\)/,
  },
  {
    name: 'wrong Redis password in redis-url',
    args: ({ toml }) => migrate(toml, '--redis-url', `redis://:wrong-Secr3t-redis@${info.redis.host}:${info.redis.port}`),
    exit: 1,
    message: /Redis: authentication failed at 127\.0\.0\.1:\d+ \(Redis, from redis-url\): WRONGPASS .* \(the password is wrong\); check the password in redis-url/,
    secret: 'wrong-Secr3t-redis',
  },
  {
    name: 'no Redis password where one is needed',
    args: ({ toml }) => migrate(toml, '--redis-url', `redis://${info.redis.host}:${info.redis.port}`),
    exit: 1,
    message: /Redis: authentication failed at 127\.0\.0\.1:\d+ \(Redis, from redis-url\): NOAUTH .* \(Redis needs a password, and none was given\); check the password in redis-url/,
  },
  {
    name: 'wrong Redis password in etcd config/redis/password',
    prepare: async (d) => {
      await admin().etcd.namespace(`/sorna/${d.namespace}/`).put('config/redis/password').value('wrong-Secr3t-etcd-redis');
    },
    args: ({ toml }) => migrate(toml),
    exit: 1,
    message:
      /Redis: authentication failed at 127\.0\.0\.1:\d+ \(Redis, from etcd config\/redis\/addr\): WRONGPASS .* \(the password is wrong\); check etcd config\/redis\/password \(or set redis-url\)/,
    secret: 'wrong-Secr3t-etcd-redis',
  },
  {
    name: 'etcd namespace without keys',
    args: ({ toml }) => migrate(toml, '--etcd-namespace', 'no-such-deployment'),
    exit: 2,
    message:
      /etcd: etcd namespace "no-such-deployment" holds no keys \(\/sorna\/no-such-deployment\/ is empty at 127\.0\.0\.1:\d+\); namespaces that exist under \/sorna\/: "[^"]+"(, "[^"]+")*( and more)?\. Set etcd-namespace \(or \[etcd\] namespace of manager\.toml\)[^]*Redis: not tried: its address is read from etcd config\/redis, and etcd is not connected/,
  },
  {
    name: 'empty --etcd-namespace',
    args: ({ toml }) => migrate(toml, '--etcd-namespace', ''),
    exit: 2,
    message: /^bai-migrate: option --etcd-namespace was given an empty value; omit it to use manager\.toml's \[etcd\] namespace\n$/,
  },
  {
    name: 'empty --etcd-namespace=',
    args: ({ toml }) => migrate(toml, '--etcd-namespace='),
    exit: 2,
    message: /^bai-migrate: option --etcd-namespace was given an empty value; omit it to use manager\.toml's \[etcd\] namespace\n$/,
  },
  {
    name: 'empty --lock-timeout',
    args: ({ toml }) => migrate(toml, '--lock-timeout', ' '),
    exit: 2,
    message: /^bai-migrate: option --lock-timeout was given an empty value; omit it to use its default \(60\)\n$/,
  },
  {
    name: 'empty BAI_MIGRATE_TO_VERSION counts as unset',
    env: { BAI_MIGRATE_TO_VERSION: '' },
    args: ({ toml }) => ['preflight', '--manager-config', toml],
    exit: 2,
    message: /to-version is required for command "preflight"/,
  },
  {
    name: 'alembic-command that does not exist',
    args: ({ toml }) => migrate(toml, '--alembic-command', '/nonexistent/bin/alembic'),
    exit: 1,
    message:
      /schema: alembic does not work as configured: "\/nonexistent\/bin\/alembic" cannot be run \(.*ENOENT.*\); command: \/nonexistent\/bin\/alembic, config: \S+\/__tests__\/fixtures\/alembic\/alembic\.ini\. Set alembic-command .*, alembic-config .* or manager-venv/,
  },
  {
    name: 'missing alembic.ini',
    args: ({ toml }) => migrate(toml, '--alembic-config', '/nonexistent/alembic.ini'),
    exit: 1,
    message:
      /schema: alembic does not work as configured: its config \/nonexistent\/alembic\.ini cannot be read \(no such file\); command: \S*python3 -m alembic, config: \/nonexistent\/alembic\.ini\. Set alembic-command .*, alembic-config .* or manager-venv/,
  },
  {
    name: 'alembic.ini whose scripts are missing',
    args: ({ toml }) => migrate(toml, '--alembic-config', malformedIni('[alembic]\nscript_location = /nonexistent/scripts\n')),
    exit: 1,
    message:
      /schema: alembic does not work as configured: ".*python3 -m alembic -c <private copy of \S+\/alembic\.ini> show 81c264528f20" failed \(exit \d+: .*\/nonexistent\/scripts.*\); command: .*python3 -m alembic, config: \S+\/alembic\.ini\. Set alembic-command/,
  },
  {
    name: 'unknown revision',
    seed: { revisions: ['0123456789ab'] },
    args: ({ toml }) => migrate(toml),
    exit: 1,
    message: /revision 0123456789ab, which is no revision of a known Backend\.AI release/,
  },
  {
    name: 'several heads',
    seed: { revisions: ['81c264528f20', 'aaaaaaaaaaaa'] },
    args: ({ toml }) => migrate(toml),
    exit: 1,
    message: /alembic_version holds 2 revisions \(81c264528f20, aaaaaaaaaaaa\): the schema has several heads/,
  },
  { name: 'empty alembic_version', seed: { revisions: [] }, args: ({ toml }) => migrate(toml), exit: 1, message: /alembic_version is empty: the schema revision is unknown/ },
  {
    name: 'database newer than to-version',
    seed: { revisions: ['81c264528f20'] },
    args: ({ toml }) => ['migrate', '--manager-config', toml, '--from-version', '21.09', '--to-version', '21.09.2'],
    exit: 1,
    message: /already newer than to-version 21\.09\.2; bai-migrate does not downgrade/,
  },
  {
    name: 'etcd image entries 21.09 cannot use',
    prepare: async (d) => {
      const etcd = admin().etcd.namespace(`/sorna/${d.namespace}/`);
      // A malformed %-sequence is no error (21.09 unquotes like Python), but no resource/ keys is.
      await etcd.put('images/cr.backend.ai/bad%E0%A4%A/1.0').value('sha256:x');
      await etcd.put(`images/cr.backend.ai/${encodeURIComponent('stable/python')}/3.9-ubuntu20.04/size_bytes`).value('12MB');
    },
    args: ({ toml }) => migrate(toml),
    exit: 1,
    message:
      /image-metadata: 4 etcd image entries the 21.09 manager itself cannot use: .*bad%E0%A4%A\/1\.0\/resource: no resource\/ keys.*"12MB" is not a whole number of bytes.*images\/_aliases\/python: points at .*, an image entry 21.09 cannot use.*set skip-unusable-images: true/,
  },
  {
    name: 'redlock for 22.03',
    args: ({ toml }) => migrate(toml, '--lock-backend', 'redlock'),
    exit: 1,
    message: /lock-backend "redlock" is not supported by Backend\.AI 22\.03; accepted: filelock, pg_advisory, etcd/,
  },
  {
    name: 'a manager still registered',
    seed: { managersRegistered: ['i-manager-1'] },
    args: ({ toml }) => migrate(toml, '--lock-backend', 'etcd'),
    exit: 1,
    message: /services-stopped: 1 manager\(s\) registered in etcd nodes\/manager\/: i-manager-1/,
  },
  {
    name: 'manager.toml for another database type',
    args: () => ['preflight', '--manager-config', malformedToml('[db]\ntype = "mysql"\nname = "x"\nuser = "u"\n'), '--to-version', '22.03'],
    exit: 2,
    message: /\[db\] type = "mysql" is not supported; accepted: "postgresql"/,
  },
  {
    // decodeURIComponent would throw URIError here, which used to end the run as an unexpected error.
    name: 'postgres-url whose password is not valid percent-encoding',
    args: ({ toml, deployment }) => migrate(toml, '--postgres-url', deployment.postgresUrl.replace(encodeURIComponent(info.postgres.password), 'Secr3t%zz-pg')),
    exit: 2,
    message: /postgres-url: the password is not valid percent-encoding \(a "%" must start an escape of two hex digits, as UTF-8\); accepted: a literal "%" written as %25/,
    secret: 'Secr3t%zz-pg',
  },
  {
    name: 'redis-url whose user name is not valid percent-encoding',
    args: ({ toml }) => migrate(toml, '--redis-url', 'redis://us%er:Secr3t-redis@127.0.0.1:6379'),
    exit: 2,
    message: /redis-url: the user name is not valid percent-encoding/,
    secret: 'Secr3t-redis',
  },
  {
    name: 'manager.toml with a malformed addr',
    args: () => ['preflight', '--manager-config', malformedToml('[db]\naddr = "localhost"\nname = "x"\nuser = "u"\n'), '--to-version', '22.03'],
    exit: 2,
    message: /\[db\] addr must be \{ host = "…", port = N \}; accepted: addr = \{ host = "127\.0\.0\.1", port = 5432 \}/,
  },
];

describe('bad input and bad data', () => {
  it('has at least 30 cases', () => expect(cases.length).toBeGreaterThanOrEqual(30));

  it.each(cases)('$name', async ({ args, exit, message, seed, prepare, secret, env }) => {
    const deployment = await deploy(seed ?? {});
    await prepare?.(deployment);
    const toml = deployment.writeManagerToml();
    const tomlBefore = readFileSync(toml, 'utf8');
    const before = await snapshotState(admin(), deployment);
    const argv = args({ toml, deployment });
    const result = await runDist('cli.js', argv, env ?? {});
    const output = `${result.stdout}${result.stderr}`;
    expect(result.code, output).toBe(exit);
    expect(output).toMatch(message);
    if (secret) expect(output).not.toContain(secret);
    expect(await snapshotState(admin(), deployment)).toEqual(before);
    expect(readFileSync(toml, 'utf8')).toBe(tomlBefore);
    // No backup bundle either: every case stops before the migration's first write.
    const backupDir = argv[argv.indexOf('--backup-dir') + 1];
    if (argv.includes('--backup-dir') && backupDir && existsSync(backupDir)) expect(readdirSync(backupDir)).toEqual([]);
  });
});
