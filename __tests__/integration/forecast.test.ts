import { describe, expect, it } from 'vitest';
import { useDeployments } from '../support/deployment.js';
import { runEngine } from '../support/run.js';
import { firstRelease, HEAVY_REVISIONS } from '../../src/releases/heavy-revisions.js';
import { workerTestbed } from '../support/worker-testbed.js';

const { deploy } = useDeployments(workerTestbed());

describe('the downtime forecast of a plan', () => {
  it('names the heavy revisions on the path with the rows their tables hold, and what clear-history would remove first', async () => {
    const deployment = await deploy();
    // Two years of history: 300 kernels terminated 400+ days ago, 50 terminated last week.
    await deployment.pg.query(
      `INSERT INTO kernels (id, session_id, access_key, status, terminated_at)
       SELECT gen_random_uuid(), gen_random_uuid(), 'AKTEST00000000000001', 'TERMINATED'::kernelstatus, now() - interval '400 days' - n * interval '1 hour' FROM generate_series(1, 300) AS n
       UNION ALL
       SELECT gen_random_uuid(), gen_random_uuid(), 'AKTEST00000000000001', 'TERMINATED'::kernelstatus, now() - interval '7 days' FROM generate_series(1, 50)`,
    );
    const counted = await deployment.pg.query<{ kernels: string; old: string }>(`SELECT count(*) AS kernels, count(*) FILTER (WHERE terminated_at < now() - interval '1 year') AS old FROM kernels`);
    const kernels = Number(counted.rows[0]!.kernels);
    const old = Number(counted.rows[0]!.old);

    const { report } = await runEngine({ command: 'plan', 'to-version': '26.8', 'postgres-url': deployment.postgresUrl, retention: '1yr' });
    expect(report.outcome).toBe('success');
    const forecast = report.forecast!;
    const sessions = forecast.hops.flatMap((h) => h.revisions.map((r) => ({ hop: h.hop, ...r }))).find((r) => r.revision === 'b6b884fbae1f')!;
    expect(sessions).toMatchObject({ hop: '22.09 → 23.03', firstRelease: '23.03.0', growth: 'quadratic', rows: { kernels: { count: kernels, estimated: false } } });
    // Every heavy revision lies between 21.09 and 26.8, first in the hop whose target first has it.
    const onPath = forecast.hops.flatMap((h) => h.revisions.map((r) => ({ hop: h.hop, revision: r.revision })));
    expect([...new Set(onPath.map((r) => r.revision))].sort()).toEqual(HEAVY_REVISIONS.map((h) => h.revision).sort());
    for (const h of HEAVY_REVISIONS) expect(onPath.find((r) => r.revision === h.revision)!.hop.endsWith(` ${firstRelease(h.revision)!.line}`)).toBe(true);
    // 26.7's graph does not have 26.4.9's bd1bf0524350, 26.8's has it again: it runs twice on the way (26.4 → 26.7 → 26.8).
    expect(onPath.filter((r) => r.revision === 'bd1bf0524350').map((r) => r.hop)).toEqual(['26.3 → 26.4', '26.7 → 26.8']);
    // A table the 21.09 schema does not have yet (sessions) is not counted.
    expect(forecast.hops.flatMap((h) => h.revisions).find((r) => r.revision === '30c8308738ee')!.rows).toEqual({});
    expect(forecast.history).toMatchObject({ kernels, removable: old });
    const advice = report.entries.find((e) => e.step === 'forecast' && e.status === 'warning')!;
    expect(advice.detail).toContain(`would first remove ${old} of ${kernels} kernels`);
    expect(report.entries.find((e) => e.step === 'forecast' && e.detail.startsWith('b6b884fbae1f'))!.detail).toContain(`grows with the square of kernels; now kernels ${kernels}`);
  });

  it('lists them without row counts when plan works offline, and says nothing where none lies on the path', async () => {
    const offline = await runEngine({ command: 'plan', 'from-version': '23.09', 'to-version': '24.12' });
    expect(offline.report.outcome).toBe('success');
    expect(offline.report.forecast!.hops.map((h) => [h.hop, h.revisions.map((r) => r.revision)])).toEqual([
      ['23.09 → 24.03', ['d3f8c74bf148', 'dddf9be580f5', '679e5721e94d', '3596bc12ec09', '41f332243bf9']],
      ['24.03 → 24.09', ['31463788c713', '1d42c726d8a3']],
      ['24.09 → 24.12', ['6e44ea67d26e']],
    ]);
    expect(offline.report.forecast!.history).toBeUndefined();
    const deployment = await deploy();
    const short = await runEngine({ command: 'plan', 'to-version': '22.03', 'postgres-url': deployment.postgresUrl });
    expect(short.report.forecast).toBeUndefined();
    expect(short.report.entries.filter((e) => e.step === 'forecast')).toEqual([]);
  });

  it('names the RBAC back-fills of 25.13 → 25.14 with the users, projects, memberships, vfolders and shares they page through', async () => {
    const deployment = await deploy();
    const c = deployment.pg;
    // The fixture's 21.09 schema has none of these tables (its base holds agents, kernels, keypairs and
    // policies only), and the forecast reads nothing of them but their row counts: their key columns
    // are enough. An installation that grew: 3 domains, 40 projects, 250 users (every 50th a domain
    // admin) in every project of their domain, 2 vfolders each, the first user's first one shared.
    await c.query(`CREATE TABLE domains (name varchar(64) PRIMARY KEY);
                   CREATE TABLE groups (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name varchar(64), domain_name varchar(64) REFERENCES domains (name));
                   CREATE TABLE users (uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(), username varchar(64), role varchar(64), domain_name varchar(64) REFERENCES domains (name));
                   CREATE TABLE association_groups_users (group_id uuid REFERENCES groups (id), user_id uuid REFERENCES users (uuid), PRIMARY KEY (group_id, user_id));
                   CREATE TABLE vfolders (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name varchar(64), "user" uuid REFERENCES users (uuid));
                   CREATE TABLE vfolder_permissions (vfolder uuid REFERENCES vfolders (id), "user" uuid REFERENCES users (uuid), permission varchar(2))`);
    await c.query(`INSERT INTO domains (name) SELECT 'dom-' || n FROM generate_series(1, 3) AS n`);
    await c.query(`INSERT INTO groups (name, domain_name) SELECT 'proj-' || n, 'dom-' || (n % 3 + 1) FROM generate_series(1, 40) AS n`);
    await c.query(`INSERT INTO users (username, role, domain_name) SELECT 'rbac-' || n, CASE WHEN n % 50 = 0 THEN 'admin' ELSE 'user' END, 'dom-' || (n % 3 + 1) FROM generate_series(1, 250) AS n`);
    await c.query(`INSERT INTO association_groups_users (group_id, user_id) SELECT g.id, u.uuid FROM groups g JOIN users u ON u.domain_name = g.domain_name`);
    await c.query(`INSERT INTO vfolders (name, "user") SELECT 'vf-' || k, u.uuid FROM users u, generate_series(1, 2) AS k`);
    await c.query(
      `INSERT INTO vfolder_permissions (vfolder, "user", permission) SELECT v.id, u.uuid, 'ro' FROM vfolders v JOIN users owner ON owner.uuid = v."user" AND owner.username = 'rbac-1', users u WHERE v.name = 'vf-1' AND u.domain_name = owner.domain_name AND u.uuid <> owner.uuid`,
    );
    const count = async (table: string) => Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
    const tables = ['users', 'groups', 'association_groups_users', 'domains', 'vfolders', 'vfolder_permissions'];
    const counts = Object.fromEntries(await Promise.all(tables.map(async (t) => [t, await count(t)] as const)));
    expect(counts.vfolder_permissions).toBeGreaterThan(0);

    const { report } = await runEngine({ command: 'plan', 'to-version': '25.14', 'postgres-url': deployment.postgresUrl });
    expect(report.outcome).toBe('success');
    const rbac = report.forecast!.hops.find((h) => h.hop === '25.13 → 25.14')!;
    const rowsOf = (revision: string) => rbac.revisions.find((r) => r.revision === revision)!.rows;
    const exact = (...names: string[]) => Object.fromEntries(names.map((t) => [t, { count: counts[t], estimated: false }]));
    expect(rbac.revisions.map((r) => r.revision).sort()).toEqual(['430b1631804d', '5b171528a6f5', 'a4d56e86d9ee', 'e43125b98bba']);
    expect(rowsOf('a4d56e86d9ee')).toEqual(exact('users'));
    expect(rowsOf('430b1631804d')).toEqual(exact('groups', 'users', 'association_groups_users'));
    expect(rowsOf('e43125b98bba')).toEqual(exact('domains', 'users', 'groups'));
    expect(rowsOf('5b171528a6f5')).toEqual(exact('vfolders', 'vfolder_permissions'));
    const n = (t: string) => counts[t]!.toLocaleString('en-US');
    const lines = report.entries.filter((e) => e.step === 'forecast' && e.hop === '25.13 → 25.14').map((e) => e.detail.replace(/^.*: time grows/, 'time grows'));
    expect(lines).toEqual([
      `time grows with the square of users; now users ${n('users')}`,
      `time grows with the square of groups (projects), users and association_groups_users (project memberships); now groups (projects) ${n('groups')}, users ${n('users')}, association_groups_users (project memberships) ${n('association_groups_users')}`,
      `time grows with the square of domains, users and groups (projects); now domains ${n('domains')}, users ${n('users')}, groups (projects) ${n('groups')}`,
      `time grows with the square of vfolders and vfolder_permissions (vfolder shares); now vfolders ${n('vfolders')}, vfolder_permissions (vfolder shares) ${n('vfolder_permissions')}`,
    ]);
  });
});
