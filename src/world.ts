// The real world kbackup runs in: stderr for messages, programs run without a shell, the system
// clock, this machine's /proc and /sys. main.ts builds it; everything below takes it as a parameter.
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import type { ExecOptions, ExecResult, Logger, MachinePaths, World } from './core/world';

export const REAL_MACHINE: MachinePaths = { proc: '/proc', sys: '/sys', modules: ['/lib/modules', '/usr/lib/modules'] };

/**
 * Runs `file` in its own process group (detached: true makes it a group leader), so that a timeout
 * kills everything it started: `lsinitramfs` is a shell script whose cpio and decompressor would
 * otherwise go on, holding dpkg's pipes, after the script itself was killed. The group is also
 * killed when kbackup itself exits first.
 */
export function realExec(file: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const maxBuffer = options.maxBuffer ?? 256 * 1024 * 1024;
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args as string[], { detached: true, stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    } catch (err) {
      resolve({ code: 127, stdout: '', stderr: `${file}: ${String((err as NodeJS.ErrnoException).code ?? err)}` });
      return;
    }
    const pid = child.pid;
    let timedOut = false;
    let overflow = false;
    const killGroup = () => {
      if (pid === undefined) return;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // The group is gone already.
      }
    };
    const onExit = () => killGroup();
    process.once('exit', onExit);
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    child.stdout?.on('data', (chunk: Buffer) => {
      if (options.onStdout) return options.onStdout(chunk);
      outBytes += chunk.length;
      if (outBytes > maxBuffer) {
        overflow = true;
        killGroup();
        return;
      }
      out.push(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      if (err.reduce((n, b) => n + b.length, 0) < 1024 * 1024) err.push(chunk);
    });
    let spawnError: NodeJS.ErrnoException | undefined;
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError = e;
    });
    let fed: Promise<void> = Promise.resolve();
    if (options.input && child.stdin) {
      const stdin = child.stdin;
      let closed = false;
      // EPIPE when the program stops reading early (it failed, or needs no more): what is left is dropped.
      stdin.on('error', () => {
        closed = true;
      });
      stdin.on('close', () => {
        closed = true;
      });
      const write = (chunk: Uint8Array) =>
        new Promise<void>((res) => {
          if (closed || stdin.destroyed) return res();
          stdin.write(chunk, () => res());
        });
      fed = options
        .input(write)
        .catch(() => undefined)
        .finally(() => {
          if (!stdin.destroyed) stdin.end();
        });
    }
    child.on('close', async (code, signal) => {
      // The feeder may still be handing over what the program no longer reads: it ends on its own
      // (writes to a closed pipe are dropped), and the result waits for it.
      await fed;
      clearTimeout(timer);
      process.removeListener('exit', onExit);
      // The leader is gone; anything it left in its group goes with it.
      killGroup();
      const stderr = Buffer.concat(err).toString('utf8');
      if (spawnError && typeof spawnError.code === 'string' && child.pid === undefined) {
        resolve({ code: 127, stdout: '', stderr: `${file}: ${spawnError.code}` });
        return;
      }
      const result: ExecResult = {
        code: code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: overflow ? `${stderr}${file}: output longer than ${maxBuffer} bytes` : stderr,
      };
      if (timedOut) result.timedOut = true;
      resolve(result);
    });
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
