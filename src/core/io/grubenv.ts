// GRUB's environment block (/boot/grub/grubenv): read it, write it whole and atomically, and ask
// grub-probe whether GRUB can write it back at boot (it cannot on LVM, RAID, btrfs or ZFS).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { parseGrubenv } from '../model/grub/grub-cfg';
import { writeFileDurably } from './copy';
import { readText } from './files';
import type { World } from '../world';

export interface GrubenvRead {
  /** Undefined when there is no grubenv (GRUB then starts with an empty environment). */
  text?: string;
  vars: Map<string, string>;
  problem?: string;
}

export async function readGrubenv(file: string): Promise<GrubenvRead> {
  const text = await readText(file);
  if (text === undefined) return { vars: new Map() };
  const env = parseGrubenv(text);
  return env.problem ? { text, vars: env.vars, problem: env.problem } : { text, vars: env.vars };
}

/**
 * Replaces the block (model/grub/grubenv.ts's editGrubenv makes the text): a hidden temporary file
 * in the same directory, fsync, rename, fsync the directory. A crash leaves the old block or the
 * new one, never half of one.
 */
export async function writeGrubenv(file: string, text: string): Promise<void> {
  await writeFileDurably(await symlinkTarget(file), text, 0o644);
}

/**
 * Where a write of `file` must go: a symlinked grubenv (some EFI layouts keep it on the ESP) is
 * written at its target, so the link stays and GRUB reads the new block.
 */
async function symlinkTarget(file: string): Promise<string> {
  let target = file;
  for (let hops = 0; hops < 16; hops++) {
    const st = await fs.lstat(target).catch(() => undefined);
    if (!st?.isSymbolicLink()) return target;
    target = path.resolve(path.dirname(target), await fs.readlink(target));
  }
  return target;
}

export interface GrubProbe {
  fs?: string;
  abstractions: string[];
}

/**
 * What grub-reboot asks before it trusts save_env: the filesystem and the abstractions (lvm,
 * diskfilter, mdraid…) under /boot/grub. Undefined when grub-probe is absent or cannot tell
 * (a directory on tmpfs, a chroot without its devices): then nothing is known to be wrong.
 */
export async function probeGrubDir(world: World, grubDir: string): Promise<GrubProbe | undefined> {
  const [fsr, abs] = await Promise.all([
    world.exec('grub-probe', ['--target=fs', grubDir], { timeoutMs: 30_000 }),
    world.exec('grub-probe', ['--target=abstraction', grubDir], { timeoutMs: 30_000 }),
  ]);
  if (fsr.code !== 0) {
    world.log.debug(`grub-probe --target=fs ${grubDir}: ${(fsr.stderr || fsr.stdout).trim() || `exit ${fsr.code}`}`);
    return undefined;
  }
  return { fs: fsr.stdout.trim() || undefined, abstractions: abs.code === 0 ? abs.stdout.split(/\s+/).filter(Boolean) : [] };
}
