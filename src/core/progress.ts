/**
 * Long waits say that they are still waiting: alembic, pip, the manager's CLI, the migration lock
 * and an AOF rewrite can each take minutes, and a log that stays silent that long looks hung.
 */
import type { Logger } from './logger.js';

/** How often a wait says so: often enough for a watcher, rarely enough not to drown the log. */
export const PROGRESS_EVERY_MS = 10_000;

/** What is waited for, and where to say it. */
export interface Progress {
  readonly log: Logger;
  /** "alembic upgrade 81c264528f20", "pip install backend.ai-manager==24.12.1" */
  readonly what: string;
  readonly everyMs?: number;
}

/** Runs `work`; while it runs, prints "still waiting for <what> (N s)" every interval. */
export async function whileWaiting<T>(progress: Progress | undefined, work: () => Promise<T>): Promise<T> {
  if (!progress) return work();
  const started = Date.now();
  const timer = setInterval(() => progress.log.info(`… still waiting for ${progress.what} (${Math.round((Date.now() - started) / 1000)} s)`), progress.everyMs ?? PROGRESS_EVERY_MS);
  timer.unref();
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
