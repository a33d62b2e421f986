/**
 * The GitHub Action adapter: inputs from the workflow, the engine's report back out as outputs,
 * log groups, annotations and a job summary. Everything else lives in the engine.
 */
import * as core from '@actions/core';
import { checkWrittenPaths, runCommand } from '../commands/run-command.js';
import { MigrationError, messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { INPUTS, parseOptions, secretInputs, unusedInputs, type Options } from '../options/index.js';
import { pullRequestFromEnv, rehearsalComment, upsertComment } from './pr-comment.js';
import { actionsVenvCache, restoreSnapshot, saveSnapshot } from './cache.js';
import { renderMarkdown, type Report } from '../core/report/index.js';

const actionLogger: Logger = {
  info: (message) => core.info(message),
  warning: (message, title) => core.warning(message, title ? { title } : {}),
  error: (message, title) => core.error(message, title ? { title } : {}),
  debug: (message) => core.debug(message),
  group: (name, body) => core.group(name, body),
};

export async function run(): Promise<void> {
  try {
    const raw = Object.fromEntries(INPUTS.map((spec) => [spec.name, core.getInput(spec.name)]));
    // Mask before validation: an error message must never be the first place a secret appears.
    for (const secret of secretInputs(raw)) core.setSecret(secret);
    const options = parseOptions(raw);
    // A shared set of inputs passed to every command is common: ignored, with a warning, not refused.
    for (const warning of unusedInputs(raw, options.command)) core.warning(warning);
    if (options.command === 'rehearse' && options.snapshotCacheKey) {
      // The restore writes snapshot-file before the engine would check it.
      checkWrittenPaths(options);
      const entry = await core.group('Restore the snapshot from the Actions cache', () => restoreSnapshot(options.snapshotFile, options.snapshotCacheKey!));
      core.info(`Snapshot restored from cache entry ${entry}`);
    }
    // Each manager venv the run makes is restored from and saved in the Actions cache, keyed by release, Python and OS.
    const report = await runCommand(options, { log: actionLogger, onSecret: (secret) => core.setSecret(secret), venvCache: actionsVenvCache() });
    if (options.command === 'snapshot' && options.snapshotCacheKey && report.outcome === 'success') {
      const entry = await core.group('Save the snapshot in the Actions cache', () => saveSnapshot(options.snapshotFile, options.snapshotCacheKey!));
      core.info(`Snapshot saved as cache entry ${entry}`);
    }
    if (options.command === 'rehearse') await commentOnPullRequest(report, options.githubToken);
    const unwritten = outputsNotWritten(() => setOutputs(report, options));
    // The summary is a view of the outcome, not part of it: a runner without one gets a warning.
    await core.summary
      .addRaw(renderMarkdown(report))
      .write()
      .catch((error: unknown) => core.warning(`bai-migrate: the job summary was not written (${messageOf(error)}); the outcome stands: ${report.outcome}`));
    // Each finding was annotated once as it was found (GitHub keeps 10 annotations a step): the failure names none again.
    const failure = report.outcome === 'failure' ? (report.errorSummary ?? report.error ?? 'bai-migrate failed') : undefined;
    // Later steps cannot read the outcome without the outputs: the step fails, and its log says how the run ended.
    if (unwritten) core.setFailed(`${unwritten}; the run's outcome: ${report.outcome}${failure ? ` (${failure})` : ''}`);
    else if (failure) core.setFailed(failure);
  } catch (error) {
    const message = messageOf(error);
    // Masked by the runner like every line; shown with ACTIONS_STEP_DEBUG.
    if (!(error instanceof MigrationError) && error instanceof Error && error.stack) core.debug(error.stack);
    const unwritten = outputsNotWritten(() => core.setOutput('outcome', 'failure'));
    await core.summary
      .addRaw(`## ❌ bai-migrate did not start\n\n\`\`\`text\n${message}\n\`\`\`\n`)
      .write()
      .catch(() => undefined);
    core.setFailed(unwritten ? `${message}\n${unwritten}` : message);
  }
}

/**
 * core.setOutput appends to the file GITHUB_OUTPUT names, and throws where it cannot (a missing or
 * read-only folder): said in words instead of a stack. Undefined when every output was written.
 */
function outputsNotWritten(write: () => void): string | undefined {
  try {
    write();
    return undefined;
  } catch (error) {
    return `bai-migrate: the step outputs could not be written to GITHUB_OUTPUT (${messageOf(error)})`;
  }
}

/** The rehearsal's comment on the pull request; a comment that cannot be written is a warning, not a failed rehearsal. */
async function commentOnPullRequest(report: Report, token: string | undefined): Promise<void> {
  if (!token) {
    core.notice('bai-migrate rehearse: no github-token, so no pull-request comment (the job summary has the result)');
    return;
  }
  const pr = pullRequestFromEnv(process.env);
  if (!pr) {
    core.notice('bai-migrate rehearse: this run is not for a pull request, so no comment');
    return;
  }
  try {
    const { marker, body } = rehearsalComment(report);
    const { url, action } = await upsertComment(pr, token, marker, body);
    report.commentUrl = url;
    core.info(`Pull-request comment ${action}: ${url}`);
  } catch (error) {
    core.warning(`bai-migrate rehearse: the pull-request comment was not written: ${messageOf(error)}`);
  }
}

function setOutputs(report: Report, options: Options): void {
  core.setOutput('outcome', report.outcome);
  core.setOutput('from-version', report.fromVersion ?? '');
  core.setOutput('to-version', report.toVersion ?? '');
  core.setOutput('current-revision', report.currentRevision ?? '');
  core.setOutput('target-revision', report.targetRevision ?? '');
  core.setOutput('plan', JSON.stringify(report.plan));
  core.setOutput('report', JSON.stringify(report));
  core.setOutput('report-file', report.reportFile ?? '');
  core.setOutput('cutoff', report.history?.cutoff ?? '');
  core.setOutput('deleted-kernels', report.history ? String(report.history.kernels) : '');
  core.setOutput('deleted-sessions', report.history?.sessions != null ? String(report.history.sessions) : '');
  core.setOutput('deleted-error-logs', report.history?.errorLogs != null ? String(report.history.errorLogs) : '');
  core.setOutput('clear-history-semantics', report.history?.semantics ?? '');
  core.setOutput('deleted-redis-keys', report.history?.redisKeys != null ? String(report.history.redisKeys) : '');
  core.setOutput('swept-redis-keys', report.history?.sweptRedisKeys != null ? String(report.history.sweptRedisKeys) : '');
  core.setOutput('snapshot-file', options.command === 'snapshot' || options.command === 'rehearse' ? options.snapshotFile : '');
  core.setOutput('comment-url', report.commentUrl ?? '');
}
