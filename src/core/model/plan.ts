// The planners: pure functions from what was read (a BootModel, the manifest, free space) to plain
// data saying what to copy, rename and delete. No fs here; apply.ts carries plans out, and
// `--dry-run` prints the very plan a real run would apply.
import { minFreeBytes, type Config } from './config';
import { isComplete, isReadableFile, setBytes, setsOf, type BackupSet, type BootFile, type BootModel } from './boot-model';
import { backupFileName, backupSuffix, isImageStem, liveFileName, setId } from './names';
import type { Manifest } from './manifest';
import { mib } from './size';

export interface CopyStep {
  stem: string;
  /** Name in the boot directory to copy from. */
  from: string;
  /** Name in the boot directory to create. */
  to: string;
  size: number;
}

export interface DeleteSet {
  id: string;
  /** File names, kernel image first and initrd last, so GRUB never sees a kernel without its initrd. */
  names: string[];
  bytes: number;
  why: 'keep' | 'space' | 'purge' | 'incomplete';
  /**
   * When a backup run deletes it: 'before' the copy only to make room; 'after' the new set is
   * published otherwise, so a failed copy never costs the backups that were already there.
   */
  phase: 'before' | 'after';
}

export const SKIP_REASONS = ['nothing-to-back-up', 'incomplete-live-set', 'identical', 'keep-zero', 'no-space'] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export interface BackupPlan {
  version: string;
  id?: string;
  copies: CopyStep[];
  deletes: DeleteSet[];
  skip?: { reason: SkipReason; message: string; warn: boolean };
  space: { free: number; needed: number; minFree: number };
}

/** Initrd first, kernel image last: a set becomes bootable in GRUB's eyes only once complete. */
export function copyOrder(a: string, b: string): number {
  const rank = (stem: string) => (stem === 'initrd.img' ? 0 : isImageStem(stem) ? 2 : 1);
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** Kernel image first, initrd last: the reverse of copyOrder. */
export function deleteOrder(set: BackupSet): string[] {
  const names = [...set.files.entries()].sort(([a], [b]) => copyOrder(b, a)).map(([, f]) => f.name);
  const legacy = set.legacyImage?.name;
  return legacy && !names.includes(legacy) ? [legacy, ...names] : names;
}

function deleteSet(set: BackupSet, why: DeleteSet['why'], phase: DeleteSet['phase'] = 'after'): DeleteSet {
  const legacyExtra = set.legacyImage && set.files.get('vmlinuz') !== set.legacyImage ? set.legacyImage.size : 0;
  return { id: set.id, names: deleteOrder(set), bytes: setBytes(set) + legacyExtra, why, phase };
}

/**
 * The sets of one version the keep policy removes, newest-first input: complete sets beyond the
 * `keep` newest, and every incomplete set (it cannot boot, and must not take a complete set's
 * place in KEEP).
 */
function keepPolicy(sets: readonly BackupSet[], keep: number, isProtected: (id: string) => boolean = () => false): DeleteSet[] {
  let kept = 0;
  const out: DeleteSet[] = [];
  for (const set of sets) {
    if (isProtected(set.id)) continue;
    if (!isComplete(set)) out.push(deleteSet(set, 'incomplete'));
    else if (kept < keep) kept++;
    else out.push(deleteSet(set, 'keep'));
  }
  return out;
}

/**
 * The suffix for a new set: `~~backupSTAMP`, or one past the highest `.N` of that minute, so a
 * newer set always sorts as newer even after a lower `.N` was pruned.
 */
export function freeSuffix(model: BootModel, version: string, stamp: string, manifest?: Manifest): string {
  const prefix = setId(version, backupSuffix(stamp, 1));
  let highest = 0;
  const ids = [...model.sets.map((s) => s.id), ...(manifest?.sets ?? []).map((s) => s.id)];
  for (const id of ids) {
    if (id === prefix) highest = Math.max(highest, 1);
    else if (id.startsWith(`${prefix}.`)) highest = Math.max(highest, Number(id.slice(prefix.length + 1)) || 1);
  }
  return backupSuffix(stamp, highest + 1);
}

export interface SourceFile {
  stem: string;
  /** Name in the boot directory. */
  name: string;
  file: BootFile;
}

/**
 * The files a backup of `version` would copy: each configured stem's live file, except where the
 * caller supplies another source (the initramfs hook takes the initrd from INITRD.dpkg-bak).
 */
export function backupSources(model: BootModel, config: Config, version: string, overrides: SourceFile[] = []): SourceFile[] {
  const live = model.live.get(version);
  const sources = new Map<string, SourceFile>();
  for (const stem of config.files) {
    const file = live?.files.get(stem);
    if (file && isReadableFile(file)) sources.set(stem, { stem, name: file.name, file });
  }
  for (const o of overrides) sources.set(o.stem, o);
  return [...sources.values()].sort((a, b) => copyOrder(a.stem, b.stem));
}

export interface BackupInput {
  model: BootModel;
  config: Config;
  manifest: Manifest;
  version: string;
  stamp: string;
  sources: SourceFile[];
  freeBytes: number;
  /**
   * True when the sources are byte-identical to the newest backup of the version (the reader
   * compares sizes first and hashes only when they match).
   */
  identicalToNewest: boolean;
  /** Sets that must survive this run whatever KEEP says (the set a restore is putting back). */
  protectedIds?: readonly string[];
}

export function planBackup(input: BackupInput): BackupPlan {
  const { model, config, version, sources } = input;
  const isProtected = (id: string) => input.protectedIds?.includes(id) ?? false;
  const existing = setsOf(model, version);
  const image = sources.find((s) => isImageStem(s.stem));
  const initrd = sources.find((s) => s.stem === 'initrd.img');
  const liveBytes = (image?.file.size ?? 0) + (initrd?.file.size ?? 0);
  const minFree = minFreeBytes(config, liveBytes);
  const needed = sources.reduce((n, s) => n + s.file.size, 0);
  const base: BackupPlan = { version, copies: [], deletes: [], space: { free: input.freeBytes, needed, minFree } };
  const prunePolicy = (keep: number) => keepPolicy(existing, keep, isProtected);

  if (!image && !initrd) {
    return { ...base, skip: { reason: 'nothing-to-back-up', message: `no kernel ${version} in the boot directory yet: nothing to back up`, warn: false } };
  }
  if (!image || !initrd) {
    const missing = !image ? liveFileName('vmlinuz', version) : liveFileName('initrd.img', version);
    return {
      ...base,
      skip: {
        reason: 'incomplete-live-set',
        message: `${missing} is missing, so there is no bootable set of ${version} to back up (a kernel is never kept without its initrd)`,
        warn: true,
      },
    };
  }
  if (config.keep === 0) {
    return { ...base, deletes: prunePolicy(0), skip: { reason: 'keep-zero', message: 'KEEP=0: no backups are kept', warn: false } };
  }
  if (input.identicalToNewest) {
    return {
      ...base,
      deletes: prunePolicy(config.keep),
      skip: { reason: 'identical', message: `the files of ${version} are identical to its newest backup ${existing[0]?.id}; not copied again`, warn: false },
    };
  }

  // The new set makes KEEP, so the policy removes sets beyond KEEP-1 — but only after the new set
  // is safely published. Before the copy, sets are removed only when the space is needed: first
  // those the policy removes anyway, then older sets of this version, oldest first, and only if
  // that makes the backup fit: nothing is deleted in vain.
  const policy = prunePolicy(config.keep - 1);
  const policyIds = new Set(policy.map((d) => d.id));
  const candidates = [
    ...policy.slice().reverse(),
    ...existing
      .filter((s) => !policyIds.has(s.id) && !isProtected(s.id))
      .reverse()
      .map((s) => deleteSet(s, 'space')),
  ];
  let available = input.freeBytes;
  const before: DeleteSet[] = [];
  while (available - needed < minFree && candidates.length > 0) {
    const d = candidates.shift()!;
    before.push({ ...d, phase: 'before', why: d.why === 'keep' ? 'space' : d.why });
    available += d.bytes;
  }
  if (available - needed < minFree) {
    return {
      ...base,
      deletes: prunePolicy(config.keep),
      skip: {
        reason: 'no-space',
        message:
          `not enough space in the boot directory for a backup of ${version}: it needs ${mib(needed)} and ${mib(minFree)} must stay free ` +
          `for the update itself (MIN_FREE_MB), but only ${mib(input.freeBytes)} is free` +
          (existing.length > 0 ? ` (${mib(available - input.freeBytes)} more even after removing every older backup of ${version})` : ''),
        warn: true,
      },
    };
  }
  const beforeIds = new Set(before.map((d) => d.id));
  const after = policy.filter((d) => !beforeIds.has(d.id));
  const suffix = freeSuffix(model, version, input.stamp, input.manifest);
  return {
    ...base,
    id: setId(version, suffix),
    copies: sources.map((s) => ({ stem: s.stem, from: s.name, to: backupFileName(s.stem, version, suffix), size: s.file.size })),
    deletes: [...before, ...after],
  };
}

/** Keep `keep` newest sets of each version (or only of `version`); whole sets, oldest first out. */
export function planPrune(model: BootModel, keep: number, version?: string, protectedIds: readonly string[] = []): DeleteSet[] {
  const versions = version ? [version] : [...new Set(model.sets.map((s) => s.version))];
  return versions.flatMap((v) => keepPolicy(setsOf(model, v), keep, (id) => protectedIds.includes(id)));
}

/** Every set of a purged kernel (ON_PURGE=remove), except the known-good's. */
export function planPurge(model: BootModel, version: string, protectedIds: readonly string[] = []): DeleteSet[] {
  return setsOf(model, version)
    .filter((s) => !protectedIds.includes(s.id))
    .map((s) => deleteSet(s, 'purge'));
}

export interface RestorePlan {
  set: BackupSet;
  /** Backup file -> live name, initrd first, kernel image last. */
  copies: CopyStep[];
}

export function planRestore(set: BackupSet): RestorePlan {
  const copies = [...set.files.entries()]
    .filter(([, f]) => isReadableFile(f))
    .sort(([a], [b]) => copyOrder(a, b))
    .map(([stem, f]) => ({ stem, from: f.name, to: liveFileName(stem, set.version), size: f.size }));
  return { set, copies };
}

export interface AdoptStep {
  id: string;
  from: string;
  to: string;
}

export interface AdoptPlan {
  renames: AdoptStep[];
  /** Legacy images that cannot be renamed because the kbackup name is taken. */
  conflicts: { id: string; name: string; existing: string }[];
}

export function planAdopt(model: BootModel, allNames: ReadonlySet<string>): AdoptPlan {
  const plan: AdoptPlan = { renames: [], conflicts: [] };
  for (const set of model.sets) {
    const image = set.legacyImage;
    if (!image) continue;
    const to = backupFileName('vmlinuz', set.version, set.suffix);
    if (image.name === to) continue;
    if (allNames.has(to)) plan.conflicts.push({ id: set.id, name: image.name, existing: to });
    else plan.renames.push({ id: set.id, from: image.name, to });
  }
  return plan;
}

export { isComplete };
