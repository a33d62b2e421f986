/**
 * The GitHub Action adapter: inputs from the workflow, the engine's report back out as outputs,
 * log groups, annotations and a job summary. Everything else lives in the engine.
 */
import * as core from '@actions/core';
import { runCommand } from './engine/engine.js';
import { messageOf } from './engine/errors.js';
import type { Logger } from './engine/logger.js';
import { INPUTS, parseOptions, secretInputs } from './engine/options.js';
import { renderMarkdown, type Report } from './engine/report.js';

const actionLogger: Logger = {
  info: (message) => core.info(message),
  warning: (message) => core.warning(message),
  error: (message) => core.error(message),
  group: (name, body) => core.group(name, body),
};

export async function run(): Promise<void> {
  try {
    const raw = Object.fromEntries(INPUTS.map((spec) => [spec.name, core.getInput(spec.name)]));
    // Mask before validation: an error message must never be the first place a secret appears.
    for (const secret of secretInputs(raw)) core.setSecret(secret);
    const options = parseOptions(raw);
    const report = await runCommand(options, { log: actionLogger, onSecret: (secret) => core.setSecret(secret) });
    setOutputs(report, options.reportFile);
    for (const entry of report.entries.filter((e) => e.status === 'failed')) {
      core.error(entry.detail, { title: `bai-migrate ${entry.phase}: ${entry.step}` });
    }
    await core.summary.addRaw(renderMarkdown(report)).write();
    if (report.outcome === 'failure') core.setFailed(report.error ?? 'bai-migrate failed');
  } catch (error) {
    const message = messageOf(error);
    core.setOutput('outcome', 'failure');
    await core.summary
      .addRaw(`## ❌ bai-migrate did not start\n\n\`\`\`text\n${message}\n\`\`\`\n`)
      .write()
      .catch(() => undefined);
    core.setFailed(message);
  }
}

function setOutputs(report: Report, reportFile: string): void {
  core.setOutput('outcome', report.outcome);
  core.setOutput('from-version', report.fromVersion ?? '');
  core.setOutput('to-version', report.toVersion ?? '');
  core.setOutput('current-revision', report.currentRevision ?? '');
  core.setOutput('target-revision', report.targetRevision ?? '');
  core.setOutput('plan', JSON.stringify(report.plan));
  core.setOutput('report', JSON.stringify(report));
  core.setOutput('report-file', reportFile);
  core.setOutput('cutoff', report.history?.cutoff ?? '');
  core.setOutput('deleted-kernels', report.history ? String(report.history.kernels) : '');
  core.setOutput('deleted-redis-keys', report.history ? String(report.history.redisKeys) : '');
}
