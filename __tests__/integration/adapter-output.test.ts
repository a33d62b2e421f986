/**
 * What the adapters print, run as operators run them (dist/cli.js, dist/index.js): every finding
 * once, one annotation per failed finding or warning and a failure that names none again, and an
 * outcome that is the work's, not the report file's or the job summary's.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrateInputs, snapshotState, useDeployments } from '../support/deployment.js';
import { runAction, runDist, tempDir } from '../support/run.js';
import type { Report, ReportEntry } from '../../src/core/report/index.js';
import { workerTestbed } from '../support/worker-testbed.js';

/** A preflight that passes: it checks the alembic migrate would run, so it gets the fixture's. */
const preflightInputs = (toml: string) => ({ ...migrateInputs(toml), command: 'preflight' });

const info = workerTestbed();
const { admin, deploy } = useDeployments(info);

const cliArgs = (inputs: Record<string, string>) => Object.entries(inputs).flatMap(([k, v]) => (k === 'command' ? [v] : [`--${k}`, v]));
const occurrences = (text: string, part: string) => text.split(part).length - 1;
/** Workflow commands escape %, CR and LF in their message (and also : and , in properties). */
const escapeData = (text: string) => text.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
const unescapeData = (text: string) => text.replaceAll('%0A', '\n').replaceAll('%0D', '\r').replaceAll('%25', '%');
/** A finding's line as the log prints it: "[hop ]step: detail". */
const findingLine = (e: ReportEntry) => `${e.step}: ${e.detail}`;

/**
 * Every finding the log printed ends exactly one line of it (rows of different phases with the same
 * text, such as apply's and verify's "not requested", one line each); plan rows (never logged
 * during a migrate) at most once. The old output repeated them at the end of report and error lines.
 */
function expectEachFindingOnce(output: string, report: Report): void {
  const text = `${output}\n`;
  const logged = report.entries.filter((e) => e.phase !== 'plan');
  expect(logged.length).toBeGreaterThan(5);
  for (const entry of logged) {
    const same = logged.filter((e) => findingLine(e) === findingLine(entry)).length;
    expect(occurrences(text, `${findingLine(entry)}\n`), findingLine(entry)).toBe(same);
  }
  for (const entry of report.entries.filter((e) => e.phase === 'plan')) expect(occurrences(text, `${findingLine(entry)}\n`)).toBeLessThanOrEqual(1);
}

/** A deployment whose preflight fails several ways: a manager registered, live sessions, no registry, a lock backend 22.03 lacks. */
async function failingPreflight() {
  const deployment = await deploy({ managersRegistered: ['i-manager-1'], liveKernels: 2, registries: false });
  return { deployment, inputs: migrateInputs(deployment.writeManagerToml(), { 'lock-backend': 'redlock' }) };
}

describe('the CLI prints each finding once', () => {
  it('a migrate that succeeds: the log has every finding, stdout counts them', async () => {
    const deployment = await deploy();
    const reportFile = join(tempDir(), 'report.json');
    const result = await runDist('cli.js', cliArgs(migrateInputs(deployment.writeManagerToml(), { 'report-file': reportFile })), {});
    const output = `${result.stderr}${result.stdout}`;
    expect(result.code, output).toBe(0);
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;
    expectEachFindingOnce(output, report);
    const count = (status: string) => report.entries.filter((e) => e.status === status).length;
    expect(result.stdout).toContain(`\n  ${count('ok')} ok, ${count('changed')} changed, ${count('warning')} warning, ${count('skipped')} skipped; every row is in ${reportFile}\n`);
    expect(result.stdout).toContain(`  backup bundle ${report.backup}`);
    expect(result.stdout.trimEnd().endsWith('Result: success')).toBe(true);
  });

  it('a migrate whose preflight fails: each problem once, the result counts them', async () => {
    const { inputs } = await failingPreflight();
    const reportFile = join(tempDir(), 'report.json');
    const result = await runDist('cli.js', cliArgs({ ...inputs, 'report-file': reportFile }), {});
    const output = `${result.stderr}${result.stdout}`;
    expect(result.code, output).toBe(1);
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;
    const failed = report.entries.filter((e) => e.status === 'failed');
    expect(failed.length).toBeGreaterThanOrEqual(4);
    expectEachFindingOnce(output, report);
    // The report keeps the whole list; the terminal gets the count.
    for (const f of failed) expect(report.error).toContain(f.detail);
    expect(result.stdout).toContain(`Result: failure\npreflight found ${failed.length} problems (each reported above; the report lists them)\n`);
  });
});

describe('the Action annotates each finding once', () => {
  it('one titled error per failed finding, one warning per warning, and a failure that repeats none', async () => {
    const { inputs } = await failingPreflight();
    const { result, outputs, summary, files } = await runAction(inputs);
    expect(result.code).toBe(1);
    expect(outputs.outcome).toBe('failure');
    const report = JSON.parse(readFileSync(files.report, 'utf8')) as Report;
    const failed = report.entries.filter((e) => e.status === 'failed');
    const warnings = report.entries.filter((e) => e.status === 'warning');
    expect(failed.length).toBeGreaterThanOrEqual(4);
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    const lines = result.stdout.split('\n');
    const titledErrors = lines.filter((l) => l.startsWith('::error title='));
    expect(titledErrors).toHaveLength(failed.length);
    for (const f of failed) {
      expect(
        titledErrors.filter((l) => l.startsWith(`::error title=bai-migrate ${f.phase}%3A ${f.step}::`) && l.endsWith(escapeData(findingLine(f)))),
        findingLine(f),
      ).toHaveLength(1);
    }
    expect(lines.filter((l) => l.startsWith('::warning'))).toHaveLength(warnings.length);
    expect(lines.filter((l) => l.startsWith('::error::'))).toEqual([`::error::preflight found ${failed.length} problems (each reported above; the report lists them)`]);
    expect(lines.filter((l) => l.startsWith('::error') || l.startsWith('::warning'))).toHaveLength(failed.length + warnings.length + 1);
    // The job summary still lists every finding.
    for (const f of [...failed, ...warnings]) expect(summary).toContain(f.detail.replaceAll('|', '\\|').split('\n')[0]);
    expectEachFindingOnce(unescapeData(result.stdout), report);
  });
});

describe('an outcome is the work’s', () => {
  it('a report-file in a folder that does not exist yet: the folder is made and the migration succeeds', async () => {
    const deployment = await deploy();
    const reportFile = join(tempDir(), 'reports', 'nightly', 'migrate.json');
    const { result, outputs, summary } = await runAction(migrateInputs(deployment.writeManagerToml(), { 'report-file': reportFile }));
    expect(result.code, result.stdout).toBe(0);
    expect(outputs.outcome).toBe('success');
    expect(outputs['report-file']).toBe(reportFile);
    expect(JSON.parse(readFileSync(reportFile, 'utf8'))).toMatchObject({ command: 'migrate', outcome: 'success', reportFile });
    expect(summary).toContain('bai-migrate migrate: succeeded');
    expectEachFindingOnce(unescapeData(result.stdout), JSON.parse(readFileSync(reportFile, 'utf8')) as Report);
  });

  it('a report-file whose folder cannot be made (under a file) is an input error before anything is written', async () => {
    const deployment = await deploy();
    const file = join(tempDir(), 'not-a-folder');
    writeFileSync(file, 'x');
    const inputs = migrateInputs(deployment.writeManagerToml(), { 'report-file': join(file, 'report.json') });
    const before = await snapshotState(admin(), deployment);
    const result = await runDist('cli.js', cliArgs(inputs), {});
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      new RegExp(
        `^bai-migrate: report-file "${file}/report\\.json": ${file} is a file, not a folder; accepted: a path under a folder that exists and may be written, not under /proc, /sys or /dev\\n$`,
      ),
    );
    expect(await snapshotState(admin(), deployment)).toEqual(before);
    expect(readdirSync(inputs['backup-dir'])).toEqual([]);
  });

  it('a report file that cannot be written (a full disk) is a warning: the outcome stays success and the outputs carry the report', async () => {
    const deployment = await deploy();
    const { result, outputs, summary } = await runAction({ ...preflightInputs(deployment.writeManagerToml()), 'report-file': '/dev/full' });
    expect(result.code, result.stdout).toBe(0);
    expect(outputs.outcome).toBe('success');
    expect(outputs['report-file']).toBe('');
    expect(JSON.parse(outputs.report!)).toMatchObject({ command: 'preflight', outcome: 'success' });
    expect(result.stdout).toMatch(/^::warning::the report file \/dev\/full was not written \(ENOSPC.*\); the outcome stands: success$/m);
    expect(summary).toContain('bai-migrate preflight: succeeded');
  });

  it('a runner without GITHUB_STEP_SUMMARY: a warning, the outcome stays success', async () => {
    const deployment = await deploy();
    const { result, outputs } = await runAction(preflightInputs(deployment.writeManagerToml()), { GITHUB_STEP_SUMMARY: '' });
    expect(result.code, result.stdout).toBe(0);
    expect(outputs.outcome).toBe('success');
    expect(result.stdout).toMatch(/^::warning::bai-migrate: the job summary was not written \(.*GITHUB_STEP_SUMMARY.*\); the outcome stands: success$/m);
    expect(result.stdout.split('\n').filter((l) => l.startsWith('::error'))).toEqual([]);
  });
});
