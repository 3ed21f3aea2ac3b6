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
  stdout: string;
  stderr: string;
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
  /** Runs a program without a shell; never throws for a non-zero exit. */
  exec(file: string, args: readonly string[], options?: { timeoutMs?: number; maxBuffer?: number }): Promise<ExecResult>;
  /** The running machine (not --root's): where its /proc, /sys and module lists are. */
  machine: MachinePaths;
  /** A directory for short-lived scratch files (initrd extraction). */
  tmpdir: string;
  /**
   * Starts kbackup itself again with `args`, detached: its own session, no stdin, stdout or stderr
   * (nothing holds dpkg's or run-parts' pipes open), working directory /. Returns its pid, or
   * undefined when it could not be started. Nothing waits for it.
   */
  spawnSelf(args: readonly string[]): number | undefined;
}
