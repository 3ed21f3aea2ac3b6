// What, besides the images, decides how an initrd is judged: which generator built it (advice names
// its command), the known-good boot's initrd (the baseline after a new-ABI update), and the drivers
// the kernel builds in (a driver that became built-in needs no module file).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Generator } from '../model/advice';
import { knownGood } from '../model/boots';
import type { Manifest } from '../model/manifest';
import { readBoots } from './boots';
import { exists, sha256File } from './files';
import { pathsFor } from './paths';
import { readBuiltin } from './root-drivers';

/**
 * The installed initramfs generator, from its command under the root. update-initramfs
 * (initramfs-tools) wins: dracut-core can be installed beside it without building anything, while the
 * dracut package itself Conflicts with initramfs-tools.
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
}

/**
 * The known-good boot's initrd (model/boots.ts: the newest record of boots.json), as the bytes that
 * booted: a backup file the manifest records with the booted sha256 (its live file may since have
 * been rebuilt), else the path that booted. An absent or unreadable boots.json is no record: the
 * baseline then falls back to the running or the previous kernel's initrd.
 */
export async function readKnownGoodInitrd(root: string, manifest: Manifest): Promise<{ recorded: boolean; initrd?: KnownGoodInitrd }> {
  const newest = knownGood((await readBoots(pathsFor(root).boots)).boots);
  if (!newest) return { recorded: false };
  if (newest.initrd === null) return { recorded: true };
  const sha = newest.initrdSha256;
  const kept = sha === null ? undefined : manifest.sets.flatMap((s) => s.files).find((f) => f.stem === 'initrd.img' && f.sha256 === sha);
  const inside = kept ? path.posix.join('/boot', kept.name) : newest.initrd;
  const host = path.join(root, inside);
  const st = await fs.stat(host).catch(() => undefined);
  if (!st?.isFile()) return { recorded: true };
  // No copy, and the recorded file changed after that boot (a same-name update, update-initramfs -u,
  // dracut -f): it is no longer the known-good, and must not be judged against itself.
  if (!kept && sha !== null && !(st.ctimeMs <= Date.parse(newest.time)) && (await sha256File(host)) !== sha) return { recorded: true };
  return { recorded: true, initrd: { version: newest.version, path: host, setId: newest.setId } };
}

/** The drivers built into a kernel installed under the root (its modules.builtin), if it has one. */
export async function builtinModulesUnder(root: string, version: string): Promise<Set<string> | undefined> {
  return readBuiltin({ proc: '', sys: '', modules: [path.join(root, 'lib/modules'), path.join(root, 'usr/lib/modules')] }, version);
}
