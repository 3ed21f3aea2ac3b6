// What, besides the images, decides how an initrd is judged: which generator built it (advice names
// its command), the known-good boot's initrd (the baseline after a new-ABI update), and the drivers
// the kernel builds in (a driver that became built-in needs no module file).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Generator } from '../model/advice';
import { exists, sha256File } from './files';
import { readManifest } from './manifest';
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
  const newest = records[records.length - 1] as { version?: unknown; initrd?: unknown; setId?: unknown; time?: unknown; initrdSha256?: unknown } | undefined;
  if (!newest || typeof newest.version !== 'string' || typeof newest.initrd !== 'string' || !newest.initrd.startsWith('/')) {
    return { recorded: records.length > 0 };
  }
  const host = path.join(root, newest.initrd);
  const st = await fs.stat(host).catch(() => undefined);
  const setId = typeof newest.setId === 'string' ? newest.setId : null;
  const bootedAt = typeof newest.time === 'string' ? Date.parse(newest.time) : NaN;
  const sha = typeof newest.initrdSha256 === 'string' ? newest.initrdSha256 : undefined;
  // The file may have been replaced since that boot (a same-name update, update-initramfs -u,
  // dracut -f): a change after the record (ctime) is checked against the recorded sha256, and the
  // known-good is then the backup set holding the same bytes, if there is one.
  const replaced = st?.isFile() && sha !== undefined && !(st.ctimeMs <= bootedAt) && (await sha256File(host)) !== sha;
  if (st?.isFile() && !replaced) return { recorded: true, initrd: { version: newest.version, path: host, setId } };
  if (sha === undefined) return { recorded: true };
  const { manifest } = await readManifest(pathsFor(root).manifest);
  for (const set of manifest.sets) {
    const copy = set.files.find((f) => f.stem === 'initrd.img' && f.sha256 === sha);
    const copyPath = copy && path.join(pathsFor(root).boot, copy.name);
    if (copyPath && (await fs.stat(copyPath).then((s) => s.isFile(), () => false))) {
      return { recorded: true, initrd: { version: newest.version, path: copyPath, setId: set.id } };
    }
  }
  return { recorded: true };
}

/** The drivers built into a kernel installed under the root (its modules.builtin), if it has one. */
export async function builtinModulesUnder(root: string, version: string): Promise<Set<string> | undefined> {
  return readBuiltin({ proc: '', sys: '', modules: [path.join(root, 'lib/modules'), path.join(root, 'usr/lib/modules')] }, version);
}
