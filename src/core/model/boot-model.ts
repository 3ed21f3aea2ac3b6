// Pure views of a BootScan (what io/scan.ts read from /boot): the live files of each kernel version
// and the backup sets.
import { setId, stampToDate, type ParsedBootName } from './names';
import { compareDebianVersions } from './version';

export type FileType = 'file' | 'symlink' | 'dir' | 'other';

export interface BootFile {
  name: string;
  type: FileType;
  /** For a symlink: the stat of what it points to, if that is a regular file. */
  targetType?: FileType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  parsed?: ParsedBootName;
}

export interface BootScan {
  bootDir: string;
  files: BootFile[];
  /** Leftover temporary files of an interrupted run (hidden, never seen by GRUB). */
  temps: string[];
}


export interface LiveSet {
  version: string;
  /** stem -> file */
  files: Map<string, BootFile>;
}

export interface BackupSet {
  id: string;
  version: string;
  suffix: string;
  stamp: string;
  seq: number;
  created: Date;
  /** stem -> file; the image is under 'vmlinuz' for both `kernel-` and legacy `vmlinuz-` names. */
  files: Map<string, BootFile>;
  /** True if the image is stored under the original script's `vmlinuz-V~~backup…` name. */
  legacy: boolean;
  /** The `vmlinuz-V~~backup…` file, when there is one (alone, or beside a `kernel-` image). */
  legacyImage?: BootFile;
}

export interface BootModel {
  live: Map<string, LiveSet>;
  /** Sorted by version (dpkg order), then newest first. */
  sets: BackupSet[];
}

/** Whether a file can be read as a regular file (directly or through a symlink). */
export function isReadableFile(file: BootFile): boolean {
  return file.type === 'file' || (file.type === 'symlink' && file.targetType === 'file');
}

export function modelBoot(scan: BootScan): BootModel {
  const live = new Map<string, LiveSet>();
  const sets = new Map<string, BackupSet>();
  for (const file of scan.files) {
    const p = file.parsed;
    if (!p) continue;
    if (p.kind === 'live') {
      if (!isReadableFile(file)) continue;
      const set = live.get(p.version) ?? { version: p.version, files: new Map() };
      set.files.set(p.stem, file);
      live.set(p.version, set);
      continue;
    }
    const id = setId(p.version, p.suffix!);
    let set = sets.get(id);
    if (!set) {
      set = {
        id,
        version: p.version,
        suffix: p.suffix!,
        stamp: p.stamp!,
        seq: p.seq!,
        created: stampToDate(p.stamp!),
        files: new Map(),
        legacy: false,
      };
      sets.set(id, set);
    }
    if (p.kind === 'legacy') {
      set.legacy = true;
      set.legacyImage = file;
      // Should both kernel-V~~X and vmlinuz-V~~X exist, the set's image is the kbackup name.
      if (!set.files.has('vmlinuz')) set.files.set('vmlinuz', file);
    } else {
      set.files.set(p.stem, file);
    }
  }
  return { live, sets: [...sets.values()].sort(compareSets) };
}

/** Version ascending (dpkg order), then newest backup first. */
export function compareSets(a: BackupSet, b: BackupSet): number {
  const byVersion = compareDebianVersions(a.version, b.version);
  if (byVersion !== 0) return byVersion;
  if (a.stamp !== b.stamp) return a.stamp < b.stamp ? 1 : -1;
  return b.seq - a.seq;
}

export function setsOf(model: BootModel, version: string): BackupSet[] {
  return model.sets.filter((s) => s.version === version);
}

/** A set GRUB can boot: a kernel image and its initrd. */
export function isComplete(set: BackupSet): boolean {
  const image = set.files.get('vmlinuz') ?? set.files.get('vmlinux');
  const initrd = set.files.get('initrd.img');
  return !!image && !!initrd && isReadableFile(image) && isReadableFile(initrd);
}

export function setBytes(set: { files: Map<string, BootFile> }): number {
  let total = 0;
  for (const f of set.files.values()) total += f.size;
  return total;
}
