/**
 * An error the operator can act on: bad input, an unreachable server, credentials a server
 * refuses (authentication-failed), a deployment in a state
 * bai-migrate will not touch. Its message is shown as it is, so it says what is wrong and what is
 * accepted; anything else that escapes the engine is a bug.
 */
export type ErrorCode = 'invalid-input' | 'unreachable' | 'authentication-failed' | 'inconsistent-state' | 'unsupported' | 'checks-failed';

export class MigrationError extends Error {
  /**
   * @param summary the message in words that do not repeat findings already reported one by one
   * (the adapters print it; the report keeps the whole message)
   */
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly summary?: string,
  ) {
    super(message);
    this.name = 'MigrationError';
  }
}

export function invalidInput(message: string): MigrationError {
  return new MigrationError('invalid-input', message);
}

/** Every input problem at once: one as it is, several as a list. */
export function invalidInputs(problems: readonly string[]): MigrationError {
  return invalidInput(problems.length === 1 ? problems[0]! : `invalid inputs:\n- ${problems.join('\n- ')}`);
}

export function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map(messageOf).join('; ');
  }
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
