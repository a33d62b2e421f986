import { redact } from './report/index.js';

/** What the engine may say while it works. The Action maps it onto @actions/core, the CLI onto stderr. */
export interface Logger {
  info(message: string): void;
  /** `title` names the finding in an annotation (the Action); the CLI prints the message alone. */
  warning(message: string, title?: string): void;
  error(message: string, title?: string): void;
  /** For whoever debugs bai-migrate: the Action shows it with ACTIONS_STEP_DEBUG, the CLI with --debug. */
  debug(message: string): void;
  /** Runs `body` inside a collapsible log group named `name`. */
  group<T>(name: string, body: () => Promise<T>): Promise<T>;
}

/** Masks secrets in every message, whatever the adapter does: the CLI has no runner to mask them. */
export function redactingLogger(log: Logger, secrets: ReadonlySet<string>): Logger {
  const clean = (message: string) => redact(message, secrets);
  return {
    info: (m) => log.info(clean(m)),
    warning: (m, title) => log.warning(clean(m), title === undefined ? undefined : clean(title)),
    error: (m, title) => log.error(clean(m), title === undefined ? undefined : clean(title)),
    debug: (m) => log.debug(clean(m)),
    group: (name, body) => log.group(clean(name), body),
  };
}

/** Collects messages instead of printing them; used by tests and by callers that only want the report. */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  info(message: string): void {
    this.lines.push(message);
  }
  warning(message: string): void {
    this.lines.push(`warning: ${message}`);
  }
  error(message: string): void {
    this.lines.push(`error: ${message}`);
  }
  debug(message: string): void {
    this.lines.push(`debug: ${message}`);
  }
  async group<T>(name: string, body: () => Promise<T>): Promise<T> {
    this.lines.push(`[${name}]`);
    return body();
  }
}
