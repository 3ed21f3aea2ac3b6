// Everything kbackup needs from the outside world comes in through a World, so tests never touch
// the real /boot, /proc or /sys and need no module mocking. src/world.ts builds the real one.
// Types only: every layer may name them.
export interface Logger {
  /** Normal progress, suppressed by --quiet. */
  info(message: string): void;
  /** Something the admin should read; never suppressed. */
  warn(message: string): void;
  /** A problem `check` would call an error (the postinst hook labels its lines as check does); never suppressed. */
  error(message: string): void;
  /** Details for --verbose. */
  debug(message: string): void;
}

export interface ExecResult {
  code: number;
  /** Empty when the output went to `onStdout`. */
  stdout: string;
  stderr: string;
  /** The program ran out of its time and was killed with every process it started. */
  timedOut?: boolean;
}

export interface ExecOptions {
  timeoutMs?: number;
  maxBuffer?: number;
  /**
   * Feeds the program's stdin: called once with a writer (each write resolves when the pipe took
   * the chunk, so a fast reader never queues a whole image); stdin is closed when it returns. A
   * writer whose program has exited drops what it is given.
   */
  input?: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>;
  /** Takes stdout as it comes instead of collecting it (a decompressed initrd is never held whole). */
  onStdout?: (chunk: Uint8Array) => void;
}

/** Where the running machine's /proc, /sys and /lib/modules are; tests point these at a fake tree. */
export interface MachinePaths {
  proc: string;
  sys: string;
  /** Directories holding <version>/modules.builtin, first found wins. */
  modules: string[];
}

export interface World {
  /** The root that /boot, /etc and /var/lib are relative to ("/" unless --root). */
  root: string;
  /** The configuration file (defaults to <root>/etc/default/kbackup). */
  configPath: string;
  now(): Date;
  /** Release of the running kernel (`uname -r`). */
  uname(): string;
  log: Logger;
  env: NodeJS.ProcessEnv;
  /**
   * Runs a program without a shell, in its own process group: a timeout kills the group, so nothing
   * it started outlives it. Never throws for a non-zero exit; 127 = not installed.
   */
  exec(file: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** The running machine (not --root's): where its /proc, /sys and module lists are. */
  machine: MachinePaths;
  /** A directory for short-lived scratch files (initrd extraction). */
  tmpdir: string;
}
