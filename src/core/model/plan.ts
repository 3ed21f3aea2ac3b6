// The planners: pure functions from what was read (a BootModel, the manifest, free space) to plain
// data saying what to copy, rename and delete. No fs here; apply.ts carries plans out, and
// `--dry-run` prints the very plan a real run would apply.
import { minFreeBytes, type Config } from './config';
import { isComplete, isReadableFile, setBytes, setsOf, type BackupSet, type BootFile, type BootModel } from './boot-model';
import { backupFileName, backupSuffix, isImageStem, liveFileName, setId } from './names';
import type { Manifest } from './manifest';
import { humanSize, MIB } from './size';

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
  /** When skipped as identical: the set that already holds these bytes. */
  sameAs?: string;
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
  /** Size of the filesystem holding /boot, when known (a MIN_FREE_MB larger than it can never be met). */
  totalBytes?: number | undefined;
  /**
   * The ID of a backup set of the version that already holds these bytes, whichever it is (after a
   * restore, an older one). The reader compares sizes first and hashes only when they match.
   */
  identicalTo?: string | undefined;
  /** Sets that must survive this run whatever KEEP says (the set a restore is putting back). */
  protectedIds?: readonly string[];
  /**
   * The filesystem's block size: a file takes whole blocks, so what a copy needs and what a deletion
   * frees are counted in blocks (a copy that fits in bytes can still hit ENOSPC).
   */
  blockSize?: number | undefined;
  /**
   * The live files of `version` are the known-good's (the last boot that went well booted them):
   * they are copied before being replaced even with KEEP=0, since no other copy of them would be left.
   */
  liveIsKnownGood?: boolean;
}

/** Bytes a file of `size` takes on a filesystem of `blockSize` blocks. */
export function blockBytes(size: number, blockSize = 1): number {
  const bs = Math.max(1, blockSize);
  return Math.ceil(size / bs) * bs;
}

export function planBackup(input: BackupInput): BackupPlan {
  const { model, config, version, sources } = input;
  const isProtected = (id: string) => input.protectedIds?.includes(id) ?? false;
  const existing = setsOf(model, version);
  const image = sources.find((s) => isImageStem(s.stem));
  const initrd = sources.find((s) => s.stem === 'initrd.img');
  const liveBytes = (image?.file.size ?? 0) + (initrd?.file.size ?? 0);
  const minFree = minFreeBytes(config, liveBytes);
  const needed = sources.reduce((n, s) => n + blockBytes(s.file.size, input.blockSize), 0);
  const base: BackupPlan = { version, copies: [], deletes: [], space: { free: input.freeBytes, needed, minFree } };
  // A broken configuration deletes nothing, whatever the settings it could read say.
  const mayDelete = (config.problems?.length ?? 0) === 0;
  const prunePolicy = (keep: number) => (mayDelete ? keepPolicy(existing, keep, isProtected) : []);

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
  if (config.keep === 0 && !(input.liveIsKnownGood && input.identicalTo === undefined)) {
    // KEEP=0 stops new backups; the existing ones go only by an explicit prune. A hook never
    // deletes the last sets of the kernel it is about to replace. The known-good's files are the
    // exception: they are what a failed update falls back to, so they are copied all the same.
    return {
      ...base,
      skip: { reason: 'keep-zero', message: `KEEP=0: no new backups are made (existing ones stay until kbackup prune removes them)`, warn: false },
    };
  }
  if (input.identicalTo !== undefined) {
    // The set that holds the live files is their backup: this run relies on it, so it counts as one
    // of the KEEP newest and is never among the deletions (after a restore it is an older set).
    const same = input.identicalTo;
    return {
      ...base,
      deletes: mayDelete ? keepPolicy(existing.filter((s) => s.id !== same), Math.max(0, config.keep - 1), isProtected) : [],
      sameAs: input.identicalTo,
      skip: { reason: 'identical', message: `the files of ${version} are identical to its backup ${input.identicalTo}; not copied again`, warn: false },
    };
  }

  // The new set makes KEEP, so the policy removes sets beyond KEEP-1 — but only after the new set
  // is safely published. Before the copy, sets are removed only when the space is needed: first
  // those the policy removes anyway, then older sets of this version, oldest first, and only if
  // that makes the backup fit: nothing is deleted in vain.
  const keepZeroCopy = config.keep === 0;
  const policy = keepZeroCopy ? [] : prunePolicy(config.keep - 1);
  const policyIds = new Set(policy.map((d) => d.id));
  // The newest complete set of the version being replaced is never deleted to make room: if the
  // copy then failed after all, no copy of the kernel would be left.
  const lastComplete = existing.find((s) => isComplete(s))?.id;
  const candidates = !mayDelete || keepZeroCopy
    ? []
    : [
    ...policy.slice().reverse(),
    ...existing
      .filter((s) => !policyIds.has(s.id) && !isProtected(s.id))
      .reverse()
      .map((s) => deleteSet(s, 'space')),
  ].filter((d) => d.id !== lastComplete);
  const setOf = new Map(existing.map((s) => [s.id, s]));
  const freedBy = (d: DeleteSet) => {
    const set = setOf.get(d.id);
    return set ? [...set.files.values()].reduce((n, f) => n + blockBytes(f.size, input.blockSize), 0) : d.bytes;
  };
  let available = input.freeBytes;
  const before: DeleteSet[] = [];
  while (available - needed < minFree && candidates.length > 0) {
    const d = candidates.shift()!;
    before.push({ ...d, phase: 'before', why: d.why === 'keep' ? 'space' : d.why });
    available += freedBy(d);
  }
  if (available - needed < minFree) {
    const total = input.totalBytes;
    // A reserve larger than the whole filesystem can never be met: say so, and what would fit.
    const tooLarge = typeof config.minFreeMb === 'number' && total !== undefined && minFree >= total;
    const message = tooLarge
      ? `MIN_FREE_MB=${config.minFreeMb} (${humanSize(minFree)}) is larger than the whole filesystem of /boot (${humanSize(total)}), so no backup can ever fit; ` +
        `set MIN_FREE_MB=auto, or a number below ${Math.max(0, Math.floor((total - needed) / MIB))}, in /etc/default/kbackup`
      : `not enough space in /boot for a backup of ${version}: it needs ${humanSize(needed)} plus the MIN_FREE_MB reserve of ${humanSize(minFree)} ` +
        `(so that the update itself fits), but only ${humanSize(input.freeBytes)} is free` +
        (existing.length > 0 && mayDelete ? `, even after removing every older backup of ${version}` : '') +
        '; free space in /boot (kbackup prune, or remove old kernels with apt autoremove) or lower MIN_FREE_MB';
    // Nothing is deleted for a copy that is not made: the deletions found above would free too little.
    return { ...base, deletes: keepZeroCopy ? [] : prunePolicy(config.keep), skip: { reason: 'no-space', message, warn: true } };
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

/**
 * What in a prune deserves a person's yes (see `prune --yes`): removing every complete set of a
 * version, or the set GRUB boots by default (`defaultImage`: the file name grub.cfg's default entry
 * boots, or else the first entry update-grub would make).
 */
export function pruneRisks(model: BootModel, deletes: readonly DeleteSet[], defaultImage?: string): string[] {
  const deleting = new Set(deletes.map((d) => d.id));
  const risks: string[] = [];
  for (const version of new Set(deletes.map((d) => model.sets.find((s) => s.id === d.id)?.version))) {
    if (version === undefined) continue;
    const complete = setsOf(model, version).filter(isComplete);
    if (complete.length > 0 && complete.every((s) => deleting.has(s.id))) {
      risks.push(`every backup of ${version} (${complete.length} set${complete.length === 1 ? '' : 's'})`);
    }
  }
  if (defaultImage !== undefined) {
    const set = model.sets.find((s) => deleting.has(s.id) && [...s.files.values()].some((f) => f.name === defaultImage));
    if (set) risks.push(`${set.id}, the set GRUB boots by default`);
  }
  return risks;
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
  /** The set the renamed file belongs to afterwards (a new `.N` set when the name was taken). */
  id: string;
  version: string;
  from: string;
  to: string;
}

export interface AdoptPlan {
  renames: AdoptStep[];
  /**
   * Files copied so that a legacy image moved to a new `.N` set keeps what GRUB booted it with:
   * 10_linux pairs `vmlinuz-V~~backupT` with `initrd.img-V~~backupT`, which the kbackup set of the
   * same name keeps. Initrd first, as for a backup.
   */
  copies: (CopyStep & { id: string })[];
  /** Legacy images that cannot be renamed (none since a taken name moves the set to `.N`; kept for the report). */
  conflicts: { id: string; name: string; existing: string }[];
}

/**
 * The original script's `vmlinuz-V~~backupT` images get kbackup's `kernel-V~~backupT` name. When
 * that name is taken by a kbackup set of the same minute, the legacy set takes the next free `.N`
 * instead, with copies of the other files GRUB paired it with.
 */
export function planAdopt(model: BootModel, allNames: ReadonlySet<string>, manifest?: Manifest): AdoptPlan {
  const plan: AdoptPlan = { renames: [], copies: [], conflicts: [] };
  const taken = new Set(allNames);
  for (const set of model.sets) {
    const image = set.legacyImage;
    if (!image) continue;
    const to = backupFileName('vmlinuz', set.version, set.suffix);
    if (image.name === to) continue;
    if (!taken.has(to)) {
      plan.renames.push({ id: set.id, version: set.version, from: image.name, to });
      taken.add(to);
      continue;
    }
    const ids = new Set([...model.sets.map((s) => s.id), ...plan.renames.map((r) => r.id)]);
    const isFree = (n: number) => {
      const sfx = backupSuffix(set.stamp, n);
      return !ids.has(setId(set.version, sfx)) && ![...set.files.keys(), 'vmlinuz'].some((stem) => taken.has(backupFileName(stem, set.version, sfx)));
    };
    let seq = Number(/\.(\d+)$/.exec(freeSuffix(model, set.version, set.stamp, manifest))?.[1] ?? 1);
    while (!isFree(seq)) seq++;
    const suffix = backupSuffix(set.stamp, seq);
    const id = setId(set.version, suffix);
    const others = [...set.files.entries()].filter(([stem, f]) => !isImageStem(stem) && isReadableFile(f)).sort(([a], [b]) => copyOrder(a, b));
    for (const [stem, f] of others) {
      const copyTo = backupFileName(stem, set.version, suffix);
      plan.copies.push({ id, stem, from: f.name, to: copyTo, size: f.size });
      taken.add(copyTo);
    }
    const newImage = backupFileName('vmlinuz', set.version, suffix);
    plan.renames.push({ id, version: set.version, from: image.name, to: newImage });
    taken.add(newImage);
  }
  return plan;
}

export { isComplete };
