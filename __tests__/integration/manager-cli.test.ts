/**
 * The parts of image-rescan and clear-history `mode: manager` that do not need the manager itself
 * (which this machine cannot install: no PyPI): the admin-set limits a 22.03 rescan resets are put
 * back, a manager CLI that cannot run is named before anything is written, and the manager mode's
 * dry run counts with bai-migrate's own cutoff.
 */
import { chmodSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrateInputs, snapshotState, useDeployments } from '../support/deployment.js';
import { runEngine } from '../support/run.js';
import { Deployment } from '../../src/stores/deployment.js';
import { resolveTargets } from '../../src/stores/connections.js';
import { parseOptions } from '../../src/options/index.js';
import { adminLimits, putBackAdminLimits } from '../../src/hops/21.09-22.03/image-rescan.js';
import { workerTestbed } from '../support/worker-testbed.js';

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);
const MISSING_CLI = '/nonexistent/backend.ai';

describe('image-rescan', () => {
  it('reads the admin-set limits of a 21.09 database, which has no images table before alembic (a dry run)', async () => {
    const deployment = await deploy();
    const options = parseOptions({ command: 'migrate', 'to-version': '22.03', 'manager-config': deployment.writeManagerToml(), 'dry-run': 'true', 'image-rescan': 'true' });
    const connected = new Deployment(resolveTargets(options, {}), 10_000, () => undefined, true);
    await connected.connect(['postgres', 'etcd']);
    try {
      expect([...(await adminLimits(connected))]).toEqual([['cr.backend.ai/stable/python:3.9-ubuntu20.04|x86_64', { cpu: '8' }]]);
    } finally {
      await connected.close();
    }
  });

  it('puts back the admin-set limits that a rescan rebuilds from labels alone', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    expect((await runEngine(migrateInputs(toml))).report.outcome).toBe('success');
    const options = parseOptions({ command: 'migrate', 'to-version': '22.03', 'manager-config': toml });
    const connected = new Deployment(resolveTargets(options, {}), 10_000, () => undefined);
    await connected.connect(['postgres', 'etcd']);
    try {
      const limits = await adminLimits(connected);
      expect([...limits]).toEqual([['cr.backend.ai/stable/python:3.9-ubuntu20.04|x86_64', { cpu: '8' }]]);
      // What 22.03's rescan does to an existing row (backend.ai-manager@22.03.3:src/ai/backend/manager/container_registry/base.py, _scan_tag): resources from the min labels only.
      await deployment.pg.query(`UPDATE images SET resources = '{"cpu": {"min": "1"}, "mem": {"min": "1g"}}'`);
      expect(await putBackAdminLimits(connected, limits)).toBe(1);
      const { rows } = await deployment.pg.query(`SELECT resources FROM images WHERE name = 'cr.backend.ai/stable/python:3.9-ubuntu20.04'`);
      expect(rows[0].resources).toEqual({ cpu: { min: '1', max: '8' }, mem: { min: '1g' } });
      expect(await putBackAdminLimits(connected, limits)).toBe(0);
    } finally {
      await connected.close();
    }
  });

  it('fails preflight, naming the command, when the manager CLI cannot run, and writes nothing', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const before = await snapshotState(admin(), deployment);
    const { report } = await runEngine(migrateInputs(toml, { 'image-rescan': 'true', 'manager-command': MISSING_CLI }));
    expect(report.outcome).toBe('failure');
    const finding = report.entries.find((e) => e.phase === 'preflight' && e.step === 'image-rescan');
    expect(finding?.status).toBe('failed');
    expect(finding?.detail).toMatch(
      /^image-rescan needs the 22\.03\.14 manager's CLI, but "\/nonexistent\/backend\.ai mgr image rescan --help" failed \(exit 127\): .*; set manager-command or manager-venv$/,
    );
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });

  it('fails preflight when the manager CLI runs but does not answer the rescan command, before the backup', async () => {
    const deployment = await deploy();
    const toml = deployment.writeManagerToml();
    const before = await snapshotState(admin(), deployment);
    // A CLI of another release (or a broken venv): it starts, but has no image rescan.
    const cli = join(mkdtempSync(join(tmpdir(), 'bai-cli-')), 'backend.ai');
    writeFileSync(cli, `#!/bin/sh\necho "Error: No such command 'image'." >&2\nexit 2\n`);
    chmodSync(cli, 0o755);
    const inputs = migrateInputs(toml, { 'image-rescan': 'true', 'manager-command': cli });
    const { report } = await runEngine(inputs);
    expect(report.outcome).toBe('failure');
    expect(report.entries.find((e) => e.phase === 'preflight' && e.step === 'image-rescan')?.detail).toBe(
      `image-rescan needs the 22.03.14 manager's CLI, but "${cli} mgr image rescan --help" failed (exit 2): Error: No such command 'image'.; set manager-command or manager-venv`,
    );
    expect(report.entries.filter((e) => e.phase === 'apply')).toEqual([]);
    expect(readdirSync(inputs['backup-dir'])).toEqual([]);
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });
});

describe('clear-history mode: manager', () => {
  it('counts in a dry run with its own cutoff, and says the manager has none', async () => {
    const deployment = await deploy({ schema: '81c264528f20' });
    const toml = deployment.writeManagerToml();
    const before = await snapshotState(admin(), deployment);
    const { report } = await runEngine({ command: 'clear-history', mode: 'manager', 'manager-config': toml, retention: '30d', 'dry-run': 'true', 'manager-command': MISSING_CLI });
    expect(report.error).toBeUndefined();
    expect(report.history).toMatchObject({ kernels: 11, redisKeys: null });
    expect(report.entries.map((e) => e.detail)).toContain('dry run: the manager has no dry run; it would delete about 11 kernel row(s)');
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });

  it('names a manager CLI that cannot run, and deletes nothing', async () => {
    const deployment = await deploy({ schema: '81c264528f20' });
    const toml = deployment.writeManagerToml();
    const before = await snapshotState(admin(), deployment);
    const { report } = await runEngine({ command: 'clear-history', mode: 'manager', 'manager-config': toml, retention: '30d', 'manager-command': MISSING_CLI });
    expect(report.outcome).toBe('failure');
    expect(report.error).toMatch(
      /^manager-command "\/nonexistent\/backend\.ai" cannot be run \(.*\); accepted: the manager venv's backend\.ai, e\.g\. \/opt\/backend\.ai\/bin\/backend\.ai \(or set manager-venv\)$/,
    );
    expect(await snapshotState(admin(), deployment)).toEqual(before);
  });
});
