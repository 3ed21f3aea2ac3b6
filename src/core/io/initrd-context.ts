// What, besides the images, decides how an initrd is judged: which generator built it (advice names
// its command), the known-good boot's initrd (the baseline after a new-ABI update), and the drivers
// the kernel builds in (a driver that became built-in needs no module file).
import * as path from 'node:path';
import type { Generator } from '../model/advice';
import { knownGood } from '../model/boots';
import { readBoots } from './boots';
import { exists } from './files';
import { pathsFor } from './paths';
import { readBuiltin } from './root-drivers';

/**
 * The installed initramfs generator, from its command under the root; initramfs-tools, Debian's
 * default, when neither is found. initramfs-tools wins: dracut-core can be installed beside it
 * without building anything, while the dracut package itself Conflicts with initramfs-tools.
 */
export async function detectGenerator(root: string): Promise<Generator> {
  for (const p of ['usr/sbin/update-initramfs', 'sbin/update-initramfs', 'usr/sbin/mkinitramfs', 'sbin/mkinitramfs']) if (await exists(path.join(root, p))) return 'initramfs-tools';
  for (const p of ['usr/bin/dracut', 'usr/sbin/dracut', 'sbin/dracut']) if (await exists(path.join(root, p))) return 'dracut';
  return 'initramfs-tools';
}

export interface KnownGoodInitrd {
  version: string;
  /** Host path of the initrd that booted. */
  path: string;
  setId?: string | null;
  /** Its sha256 when it booted, if recorded: the file at `path` may have been rebuilt since. */
  sha256?: string;
}

/**
 * The known-good boot (the newest record of /var/lib/kbackup/boots.json, model/boots.ts): whether any
 * boot is recorded, and the initrd it booted. Missing or corrupt records are no known-good: the
 * baseline then falls back to the running or the previous kernel's initrd. Whether that file still
 * holds what booted is the caller's question (ops/initrd.ts).
 */
export async function readKnownGoodInitrd(root: string): Promise<{ recorded: boolean; initrd?: KnownGoodInitrd }> {
  const { boots } = await readBoots(pathsFor(root).boots);
  const newest = knownGood(boots);
  if (!newest) return { recorded: false };
  if (newest.initrd === null || !newest.initrd.startsWith('/')) return { recorded: true };
  const initrd: KnownGoodInitrd = { version: newest.version, path: path.join(root, newest.initrd), setId: newest.setId };
  if (newest.initrdSha256 !== null) initrd.sha256 = newest.initrdSha256;
  return { recorded: true, initrd };
}

/** The drivers built into a kernel installed under the root (its modules.builtin), if it has one. */
export async function builtinModulesUnder(root: string, version: string): Promise<Set<string> | undefined> {
  return readBuiltin({ proc: '', sys: '', modules: [path.join(root, 'lib/modules'), path.join(root, 'usr/lib/modules')] }, version);
}
