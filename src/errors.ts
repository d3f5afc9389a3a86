/**
 * Errors the user can act on. `exitCode` 2 means bad input (a flag, a file, a folder);
 * anything else that escapes is an internal error and exits 1.
 */
export class EngineError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'EngineError';
    this.exitCode = exitCode;
  }
}

/** A flag or option out of range, or of the wrong type. */
export class UsageError extends EngineError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

/** A file or folder that is missing, unreadable or malformed. */
export class InputError extends EngineError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'InputError';
  }
}

/** A run stopped by a signal (SIGINT, SIGTERM): exit 128 + the signal's number, as a shell reports it. */
export class Interrupted extends EngineError {
  constructor(message: string, signal: unknown) {
    super(message, signal === 'SIGTERM' ? 143 : 130);
    this.name = 'Interrupted';
  }
}
