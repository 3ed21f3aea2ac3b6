// Everything kbackup needs from the outside world comes in through a World, so tests never touch
// the real /boot and need no module mocking. main.ts builds the real one.
import { execFile } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Logger {
  /** Normal progress, suppressed by --quiet. */
  info(message: string): void;
  /** Something the admin should read; never suppressed. */
  warn(message: string): void;
  /** Details for --verbose. */
  debug(message: string): void;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
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
}

export interface Paths {
  root: string;
  boot: string;
  state: string;
  manifest: string;
  lock: string;
  grubDir: string;
  grubD: string;
}

export function pathsFor(root: string): Paths {
  const boot = path.join(root, 'boot');
  const state = path.join(root, 'var/lib/kbackup');
  return {
    root,
    boot,
    state,
    manifest: path.join(state, 'manifest.json'),
    lock: path.join(state, 'lock'),
    grubDir: path.join(boot, 'grub'),
    grubD: path.join(root, 'etc/grub.d'),
  };
}

export function realExec(
  file: string,
  args: readonly string[],
  options: { timeoutMs?: number; maxBuffer?: number } = {},
): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args as string[],
      { timeout: options.timeoutMs ?? 120_000, maxBuffer: options.maxBuffer ?? 256 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          // ENOENT and friends: the program could not be started at all.
          resolve({ code: 127, stdout: '', stderr: `${file}: ${(err as NodeJS.ErrnoException).code}` });
          return;
        }
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export function stderrLogger(level: 'quiet' | 'normal' | 'verbose'): Logger {
  return {
    info: (m) => {
      if (level !== 'quiet') process.stderr.write(`kbackup: ${m}\n`);
    },
    warn: (m) => process.stderr.write(`kbackup: warning: ${m}\n`),
    debug: (m) => {
      if (level === 'verbose') process.stderr.write(`kbackup: ${m}\n`);
    },
  };
}

export function realWorld(options: { root: string; configPath?: string; log: Logger }): World {
  const root = path.resolve(options.root);
  return {
    root,
    configPath: options.configPath ?? path.join(root, 'etc/default/kbackup'),
    now: () => new Date(),
    uname: () => os.release(),
    log: options.log,
    env: process.env,
    exec: realExec,
  };
}
