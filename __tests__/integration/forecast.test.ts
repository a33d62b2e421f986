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
});
