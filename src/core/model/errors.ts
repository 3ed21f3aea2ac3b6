// The handful of error classes kbackup reports. Only main.ts turns them into exit codes and text;
// nothing below it prints or exits.

/** Exit codes of the spec: 0 ok, 1 problems found or refused for safety, 2 usage/config, 3 runtime. */
export const EXIT = { ok: 0, problems: 1, usage: 2, runtime: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export abstract class KbackupError extends Error {
  abstract readonly exitCode: ExitCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command line: unknown option, malformed VERSION, unknown backup ID. */
export class UsageError extends KbackupError {
  readonly exitCode = EXIT.usage;
}

/** /etc/default/kbackup is unreadable or has a bad line. */
export class ConfigError extends KbackupError {
  readonly exitCode = EXIT.usage;
}

/** An operation that would be unsafe (not enough space, a lock held, a name outside /boot). */
export class RefusedError extends KbackupError {
  readonly exitCode = EXIT.problems;
}

/** The machine said no: I/O errors, permissions, a tool that failed. */
export class IoError extends KbackupError {
  readonly exitCode = EXIT.runtime;
}

/** A bug in kbackup; main prints the stack for these. */
export class InternalError extends KbackupError {
  readonly exitCode = EXIT.runtime;
}

/** Wraps a Node system error with what kbackup was doing, keeping errno for callers. */
export function ioError(doing: string, err: unknown): IoError {
  const e = err as NodeJS.ErrnoException;
  const why = e && typeof e === 'object' && 'code' in e && e.code ? `${e.code}: ${e.message}` : String(err);
  return new IoError(`${doing}: ${why}`, { cause: err });
}

export function errnoOf(err: unknown): string | undefined {
  return err && typeof err === 'object' && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
