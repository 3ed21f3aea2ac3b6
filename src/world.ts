// The real world kbackup runs in: stderr for messages, programs run without a shell, the system
// clock, this machine's /proc and /sys. main.ts builds it; everything below takes it as a parameter.
import { execFile } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExecResult, Logger, MachinePaths, World } from './core/world';

export const REAL_MACHINE: MachinePaths = { proc: '/proc', sys: '/sys', modules: ['/lib/modules', '/usr/lib/modules'] };

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
    machine: REAL_MACHINE,
    tmpdir: os.tmpdir(),
  };
}
