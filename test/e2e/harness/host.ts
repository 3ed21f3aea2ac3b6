// Host side of the e2e harness: running programs, hashing, logging, mounts, the run directories of
// chroots (and cleaning up after crashed runs), cross-process locks and tarballs.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
/**
 * .cache/e2e, with symlinks resolved: mounts are matched against /proc/self/mountinfo, which names
 * real paths (a worktree's .cache may be a symlink to a shared cache).
 */
export const E2E_CACHE = path.join(realOrSelf(path.join(REPO_ROOT, '.cache')), 'e2e');
function realOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

export const RUN_DIR = path.join(E2E_CACHE, 'run');
export const FIXTURES = path.join(__dirname, '..', 'fixtures');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  input?: string;
}

// ---------------------------------------------------------------------------------------------
// Processes

/** Runs a program on the host; never throws for a non-zero exit. Kills the process group on timeout. */
export function hostRun(file: string, args: readonly string[], options: RunOptions & { cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args as string[], {
      cwd: options.cwd,
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            try {
              process.kill(-child.pid!, 'SIGKILL');
            } catch {
              /* already gone */
            }
          }, options.timeoutMs);
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8') + (timedOut ? `\n[harness: killed after ${options.timeoutMs} ms]` : '');
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // a child that does not read its input is not an error
      child.stdin.end(options.input);
    }
  });
}

/** hostRun, but throws with the output's tail when the program exits non-zero. */
export async function hostMustRun(file: string, args: readonly string[], options: RunOptions & { cwd?: string } = {}): Promise<RunResult> {
  const r = await hostRun(file, args, options);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.code}\n${tail(r.stdout)}\n${tail(r.stderr)}`);
  return r;
}

export function tail(text: string, lines = 60): string {
  return text.split('\n').slice(-lines).join('\n');
}

export function sha256File(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

export function hashOf(parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);
}

export function log(message: string): void {
  process.stderr.write(`[e2e ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const result = await fn();
  log(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Mounts and run directories

function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const mounts: string[] = [];
  for (const line of text.split('\n')) {
    const raw = line.split(' ')[4];
    if (!raw) continue;
    const mountPoint = raw.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
    if (mountPoint === dir || mountPoint.startsWith(prefix)) mounts.push(mountPoint);
  }
  return mounts;
}

/** Unmounts everything at or below dir, deepest first (synchronous so it also works in an exit handler). */
export function unmountAllUnder(dir: string): void {
  for (let round = 0; round < 5; round++) {
    const mounts = mountsUnder(dir).sort((a, b) => b.length - a.length);
    if (mounts.length === 0) return;
    for (const m of mounts) {
      const r = spawnSync('umount', [m], { encoding: 'utf8' });
      if (r.status !== 0) spawnSync('umount', ['-l', m], { encoding: 'utf8' });
    }
  }
  const left = mountsUnder(dir);
  if (left.length > 0) throw new Error(`could not unmount: ${left.join(', ')}`);
}

/** Deletes a chroot tree, but only once nothing is mounted below it (a bind of /dev would be the host's). */
export function removeTree(dir: string): void {
  unmountAllUnder(dir);
  if (mountsUnder(dir).length > 0) throw new Error(`refusing to delete ${dir}: still has mounts`);
  spawnSync('rm', ['-rf', '--one-file-system', dir]);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Unmounts and deletes chroots left by runs whose process is gone (a crash, a killed vitest). */
export function cleanLeftovers(): void {
  if (!fs.existsSync(RUN_DIR)) return;
  for (const entry of fs.readdirSync(RUN_DIR)) {
    const pid = Number(/^(\d+)-/.exec(entry)?.[1]);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    if (pid === process.pid || pidAlive(pid)) continue;
    log(`removing leftover chroot ${entry}`);
    removeTree(path.join(RUN_DIR, entry));
  }
}

/** A new directory .cache/e2e/run/<pid>-<label>-<random> (its pid tells cleanLeftovers whose it is). */
export function newRunDir(label: string): string {
  fs.mkdirSync(RUN_DIR, { recursive: true });
  const dir = path.join(RUN_DIR, `${process.pid}-${label.replace(/[^A-Za-z0-9_.-]/g, '_')}-${randomBytes(3).toString('hex')}`);
  fs.mkdirSync(dir);
  return dir;
}

const liveDirs = new Set<string>();
let exitHookInstalled = false;

/** Remembers a run directory whose mounts must go even if the worker exits without afterAll. */
export function trackLiveDir(dir: string): void {
  liveDirs.add(dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const d of liveDirs) {
      try {
        unmountAllUnder(d);
      } catch {
        /* best effort on exit */
      }
    }
  });
}

export function untrackLiveDir(dir: string): void {
  liveDirs.delete(dir);
}

// ---------------------------------------------------------------------------------------------
// A simple cross-process lock (mkdir is atomic), so two vitest runs never build the same cache twice
// (and never run two qemu VMs at once).

export async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(E2E_CACHE, { recursive: true });
  const dir = path.join(E2E_CACHE, `${name}.lock`);
  for (;;) {
    try {
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
      } catch {
        /* being created right now */
      }
      if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) {
        fs.rmSync(dir, { recursive: true, force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Tarballs of whole trees

export async function packTree(dir: string, tarball: string): Promise<void> {
  const tmp = `${tarball}.${process.pid}.tmp`;
  await hostMustRun('tar', ['--numeric-owner', '-I', 'zstd -T0 -3', '-C', dir, '-cpf', tmp, '.']);
  fs.renameSync(tmp, tarball);
}

export async function unpackTree(tarball: string, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await hostMustRun('tar', ['--numeric-owner', '-I', 'zstd -d -T0', '-C', dir, '-xpf', tarball]);
}
