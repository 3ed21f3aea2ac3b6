// What, besides the images, decides how an initrd is judged: which generator built it (advice names
// its command), the known-good boot's initrd (the baseline after a new-ABI update), and the drivers
// the kernel builds in (a driver that became built-in needs no module file).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Generator } from '../model/advice';
import { exists } from './files';
import { pathsFor } from './paths';
import { readBuiltin } from './root-drivers';

/**
 * The installed initramfs generator, from its command under the root. update-initramfs
 * (initramfs-tools) wins: dracut-core can be installed beside it without building anything, while the
 * dracut package itself Conflicts with initramfs-tools.
 */
export async function detectGenerator(root: string): Promise<Generator> {
  for (const p of ['usr/sbin/update-initramfs', 'sbin/update-initramfs']) if (await exists(path.join(root, p))) return 'initramfs-tools';
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
 * The newest boot record of /var/lib/kbackup/boots.json (`kbackup boot-record` writes it after a boot
 * that succeeded; newest last): whether any boot is recorded, and its initrd when that file is still
 * there. An absent or unreadable file is no record: the baseline then falls back to the running or
 * the previous kernel's initrd.
 */
export async function readKnownGoodInitrd(root: string): Promise<{ recorded: boolean; initrd?: KnownGoodInitrd }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fs.readFile(path.join(pathsFor(root).state, 'boots.json'), 'utf8'));
  } catch {
    return { recorded: false };
  }
  const boots = (parsed as { boots?: unknown } | null)?.boots;
  const records: unknown[] = Array.isArray(parsed) ? parsed : Array.isArray(boots) ? boots : [];
  const newest = records[records.length - 1] as { version?: unknown; initrd?: unknown; setId?: unknown } | undefined;
  if (!newest || typeof newest.version !== 'string' || typeof newest.initrd !== 'string' || !newest.initrd.startsWith('/')) {
    return { recorded: records.length > 0 };
  }
  const host = path.join(root, newest.initrd);
  const isFile = await fs.stat(host).then(
    (st) => st.isFile(),
    () => false,
  );
  if (!isFile) return { recorded: true };
  return { recorded: true, initrd: { version: newest.version, path: host, setId: typeof newest.setId === 'string' ? newest.setId : null } };
}

/** The drivers built into a kernel installed under the root (its modules.builtin), if it has one. */
export async function builtinModulesUnder(root: string, version: string): Promise<Set<string> | undefined> {
  return readBuiltin({ proc: '', sys: '', modules: [path.join(root, 'lib/modules'), path.join(root, 'usr/lib/modules')] }, version);
}
