// The handful of error classes kbackup reports. Only main.ts turns them into exit codes and text;
// nothing below it prints or exits.

/** Exit codes of the spec: 0 ok, 1 problems found or refused for safety, 2 usage/config, 3 runtime. */
export const EXIT = { ok: 0, problems: 1, usage: 2, runtime: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The error's kind, as `--json` output names it in `error.code` (stable; kbackup(8)). */
export const ERROR_CODES = ['usage', 'config', 'refused', 'io', 'internal'] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export abstract class KbackupError extends Error {
  abstract readonly exitCode: ExitCode;
  abstract readonly code: ErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command line: unknown option, malformed VERSION, unknown backup ID. */
export class UsageError extends KbackupError {
  readonly code = 'usage' as const;
  readonly exitCode = EXIT.usage;
}

/** /etc/default/kbackup is unreadable or has a bad line. */
export class ConfigError extends KbackupError {
  readonly code = 'config' as const;
  readonly exitCode = EXIT.usage;
}

/** An operation that would be unsafe (not enough space, a lock held, a name outside /boot). */
export class RefusedError extends KbackupError {
  readonly code = 'refused' as const;
  readonly exitCode = EXIT.problems;
}

/** The machine said no: I/O errors, permissions, a tool that failed. */
export class IoError extends KbackupError {
  readonly code = 'io' as const;
  readonly exitCode = EXIT.runtime;
}

/** A bug in kbackup; main prints the stack for these. */
export class InternalError extends KbackupError {
  readonly code = 'internal' as const;
  readonly exitCode = EXIT.runtime;
}

/**
 * What a system error means to an admin, and what to do about it: the errno text Node gives
 * ("EROFS: read-only file system, copyfile '…' -> '…'") says neither.
 */
const ERRNO_ADVICE: Record<string, string> = {
  ENOENT: 'it does not exist',
  ENOTDIR: 'a part of the path is not a directory',
  EROFS: 'the filesystem is mounted read-only; remount it read-write (mount -o remount,rw /boot) and try again',
  EACCES: 'permission denied; run kbackup as root',
  EPERM: 'the operation is not permitted; run kbackup as root (and check for chattr +i)',
  ENOSPC: 'no space is left on the device; free space (kbackup prune, apt autoremove) and try again',
  EDQUOT: 'the disk quota is exhausted; free space and try again',
  EIO: 'an I/O error; the disk may be failing (see dmesg)',
  EISDIR: 'it is a directory',
  EBUSY: 'it is busy; try again',
  EMFILE: 'too many open files; try again',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
};

/** Wraps a Node system error with what kbackup was doing, keeping errno for callers (err.cause). */
export function ioError(doing: string, err: unknown): IoError {
  const code = errnoOf(err);
  const why = code !== undefined ? (ERRNO_ADVICE[code] ?? `the system said ${code}`) : err instanceof Error ? err.message : String(err);
  return new IoError(`${doing}: ${why}`, { cause: err });
}

export function errnoOf(err: unknown): string | undefined {
  return err && typeof err === 'object' && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
