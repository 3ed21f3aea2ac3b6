// The real world kbackup runs in: stderr for messages, programs run without a shell, the system
// clock, this machine's /proc and /sys. main.ts builds it; everything below takes it as a parameter.
import { execFile, spawn } from 'node:child_process';
import * as os from 'node:os';
import { isSea } from 'node:sea';
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

/** Messages on stderr; `shown` turns host paths into paths as seen inside --root. */
export function stderrLogger(level: 'quiet' | 'normal' | 'verbose', shown: (text: string) => string = (t) => t): Logger {
  const write = (text: string) => process.stderr.write(shown(`kbackup: ${text}\n`));
  return {
    info: (m) => {
      if (level !== 'quiet') write(m);
    },
    warn: (m) => write(`warning: ${m}`),
    error: (m) => write(`error: ${m}`),
    debug: (m) => {
      if (level === 'verbose') write(m);
    },
  };
}

/** A function that shows the paths of a text as seen inside `root` (the identity for /). */
export function showInside(root: string): (text: string) => string {
  const prefix = `${path.resolve(root).replace(/\/+$/, '')}/`;
  return prefix === '/' ? (t) => t : (t) => t.split(prefix).join('/');
}

/**
 * kbackup started again, detached. A single executable is its own interpreter; `node kbackup.cjs`
 * (the tests) needs its script named again.
 */
export function spawnSelf(args: readonly string[]): number | undefined {
  const argv = isSea() || process.argv[1] === undefined ? [...args] : [process.argv[1], ...args];
  try {
    const child = spawn(process.execPath, argv, { detached: true, stdio: 'ignore', cwd: '/' });
    // A start that fails after spawn returned comes as an 'error' event, which nothing needs: the
    // caller's marker then names a pid that is not running, and waiters ignore it.
    child.on('error', () => undefined);
    child.unref();
    return child.pid;
  } catch {
    return undefined;
  }
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
    spawnSelf,
  };
}
