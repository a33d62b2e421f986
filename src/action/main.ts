/**
 * The GitHub Action adapter: inputs from the workflow, the engine's report back out as outputs,
 * log groups, annotations and a job summary. Everything else lives in the engine.
 */
import * as core from '@actions/core';
import { checkWrittenPaths, runCommand } from '../commands/run-command.js';
import { MigrationError, messageOf } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { INPUTS, OUTPUTS, parseOptions, secretInputs, unusedInputs, type Options, type OutputValues } from '../options/index.js';
import { pullRequestFromEnv, rehearsalComment, upsertComment } from './pr-comment.js';
import { actionsVenvCache, restoreSnapshot, saveSnapshot } from './cache.js';
import { renderMarkdown, retentionSweepOutput, type Report } from '../core/report/index.js';

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
    const unwritten = outputsNotWritten(() => setOutputs(outputValues(report, options)));
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
    // No report, so nothing else to say: the other outputs stay unset (a later step reads them as empty).
    const unwritten = outputsNotWritten(() => setOutputs({ outcome: 'failure' }));
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

/** Every declared output's value for a run that made a report; a missing or misspelt output is a type error. */
export function outputValues(report: Report, options: Options): OutputValues {
  return {
    outcome: report.outcome,
    'from-version': report.fromVersion ?? '',
    'to-version': report.toVersion ?? '',
    'current-revision': report.currentRevision ?? '',
    'target-revision': report.targetRevision ?? '',
    plan: JSON.stringify(report.plan),
    report: JSON.stringify(report),
    'report-file': report.reportFile ?? '',
    cutoff: report.history?.cutoff ?? '',
    'deleted-kernels': report.history ? String(report.history.kernels) : '',
    'deleted-sessions': report.history?.sessions != null ? String(report.history.sessions) : '',
    'deleted-error-logs': report.history?.errorLogs != null ? String(report.history.errorLogs) : '',
    'clear-history-semantics': report.history?.semantics ?? '',
    'deleted-redis-keys': report.history?.redisKeys != null ? String(report.history.redisKeys) : '',
    'retention-sweep': report.history?.retention ? JSON.stringify(retentionSweepOutput(report.history.retention)) : '',
    'swept-redis-keys': report.history?.sweptRedisKeys != null ? String(report.history.sweptRedisKeys) : '',
    'snapshot-file': options.command === 'snapshot' || options.command === 'rehearse' ? options.snapshotFile : '',
    'comment-url': report.commentUrl ?? '',
  };
}

/** Sets the given outputs, in the order OUTPUTS declares them. */
function setOutputs(values: Partial<OutputValues>): void {
  for (const { name } of OUTPUTS) {
    const value = values[name];
    if (value !== undefined) core.setOutput(name, value);
  }
}
