// Temp roots for the integration tier: a fake / with boot/, etc/default/ and var/lib/, and a way to
// run the built CLI against it.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '../..');
export const CLI = path.join(REPO, 'dist/kbackup');
export const V = '6.1.0-18-amd64';

export function requireBuiltCli(): string {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" before the tests`);
  return CLI;
}

export interface TempRoot {
  dir: string;
  boot: string;
  file(rel: string): string;
  write(rel: string, content: string | Buffer, mode?: number): string;
  config(text: string): void;
  ls(): string[];
  sha(rel: string): string;
  cleanup(): void;
}

export function makeRoot(): TempRoot {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbackup-test-'));
  fs.mkdirSync(path.join(dir, 'boot'));
  fs.mkdirSync(path.join(dir, 'etc/default'), { recursive: true });
  const root: TempRoot = {
    dir,
    boot: path.join(dir, 'boot'),
    file: (rel) => path.join(dir, rel),
    write: (rel, content, mode = 0o644) => {
      const p = path.join(dir, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content, { mode });
      fs.chmodSync(p, mode);
      return p;
    },
    config: (text) => fs.writeFileSync(path.join(dir, 'etc/default/kbackup'), text),
    ls: () => fs.readdirSync(path.join(dir, 'boot')).sort(),
    sha: (rel) => createHash('sha256').update(fs.readFileSync(path.join(dir, rel))).digest('hex'),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
  return root;
}

/** Deterministic bytes, so two "kernels" differ and a test can tell which one it has. */
export function bytes(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** An uncompressed newc cpio archive, the format of an initramfs. */
export function cpioNewc(entries: { name: string; data?: Buffer | string; mode?: number }[]): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  let ino = 1;
  const add = (name: string, data: Buffer, mode: number) => {
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, Buffer.byteLength(name) + 1, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}${name}\0`, 'latin1');
    parts.push(header, pad4(header.length), data, pad4(data.length));
  };
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data);
    add(e.name, data, e.mode ?? (e.data === undefined ? 0o40755 : 0o100644));
  }
  add('TRAILER!!!', Buffer.alloc(0), 0);
  return Buffer.concat(parts);
}

/** A small but well-formed initrd whose payload differs with the seed. */
export function fakeInitrd(size: number, seed: number): Buffer {
  return cpioNewc([{ name: 'conf' }, { name: 'conf/initramfs.conf', data: `MODULES=most\n# ${seed}\n` }, { name: 'payload', data: bytes(size, seed) }]);
}

/** A live kernel set as a Debian kernel package leaves it. */
/** A backup set written by hand, as an older kbackup run would have left it; returns its ID. */
export function fakeSet(
  r: TempRoot,
  stamp: string,
  version = V,
  seed = 7,
  stems = ['kernel', 'initrd.img', 'config', 'System.map'],
  initrdSize = 2000,
): string {
  for (const stem of stems) r.write(`boot/${stem}-${version}~~backup${stamp}`, stem === 'initrd.img' ? fakeInitrd(initrdSize, seed) : bytes(1000, seed + stem.length));
  return `${version}~~backup${stamp}`;
}

export function installKernel(root: TempRoot, version = V, seed = 1, sizes = { vmlinuz: 64 * 1024, initrd: 256 * 1024 }): void {
  root.write(`boot/vmlinuz-${version}`, bytes(sizes.vmlinuz, seed));
  root.write(`boot/initrd.img-${version}`, fakeInitrd(sizes.initrd, seed + 1000), 0o600);
  root.write(`boot/config-${version}`, `# config ${seed}\n`);
  root.write(`boot/System.map-${version}`, `ffffffff81000000 T _text ${seed}\n`);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function kbackup(root: TempRoot | string, args: string[], env: Record<string, string> = {}): RunResult {
  const dir = typeof root === 'string' ? root : root.dir;
  // Every run is held to "no kbackup process outlives the command (or hook) that started it".
  const tag = randomBytes(8).toString('hex');
  const r = spawnSync(requireBuiltCli(), ['--root', dir, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env, KBACKUP_TEST_RUN: tag },
    timeout: 60_000,
  });
  const left = processesTagged(tag);
  if (left.length > 0) throw new Error(`kbackup ${args.join(' ')} left processes running after it exited: ${killLeftovers(left)}`);
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export const isRoot = process.getuid?.() === 0;

/**
 * Pids of live processes whose environment holds `KBACKUP_TEST_RUN=tag`: every process a kbackup run
 * started inherits it, detached or not (zombies, which hold nothing, show an empty environment).
 */
export function processesTagged(tag: string): number[] {
  const needle = Buffer.from(`KBACKUP_TEST_RUN=${tag}\0`);
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/environ`).includes(needle)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids;
}

/** SIGKILLs what a test's run left behind and says what it was (its command lines). */
export function killLeftovers(pids: readonly number[]): string {
  const described = pids.map((pid) => {
    let cmdline = '?';
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
    } catch {
      // gone
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
    return `${pid} (${cmdline})`;
  });
  return described.join(', ');
}
