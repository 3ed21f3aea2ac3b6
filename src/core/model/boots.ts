// Boot records (/var/lib/kbackup/boots.json): which kernel image and initrd booted, and when.
// The newest record is the known-good: the last set that brought the machine up. Pure: no fs.

export const BOOTS_FORMAT = 1;
/** Records kept; older ones add nothing a person or the trial logic uses. */
export const BOOTS_KEPT = 20;
export const BOOT_TRIAL_MARKS = ['promoted', 'fallback'] as const;
export type BootTrialMark = (typeof BOOT_TRIAL_MARKS)[number];

export interface BootRecord {
  /** ISO 8601 time the record was made (the boot had just completed). */
  time: string;
  /** /proc/sys/kernel/random/boot_id: one record per boot, however often the unit runs. */
  bootId: string;
  /** `uname -r` */
  version: string;
  /** The booted kernel image, as a path inside the root (/boot/vmlinuz-V, /boot/kernel-V~~backup…). */
  image: string;
  /** Its initrd by kbackup's naming rule, or null when there is none. */
  initrd: string | null;
  imageSha256: string;
  initrdSha256: string | null;
  /** The backup set ID when a backup set's image booted, else null. */
  setId: string | null;
  /** 'promoted': a trial boot that succeeded; 'fallback': GRUB fell back after a failed trial. */
  trial: BootTrialMark | null;
}

export interface BootsFile {
  format: typeof BOOTS_FORMAT;
  boots: BootRecord[];
}

export function emptyBoots(): BootsFile {
  return { format: BOOTS_FORMAT, boots: [] };
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isStrOrNull = (v: unknown) => v === null || typeof v === 'string';

/** Validates parsed JSON; returns a reason when it is not a boots file this version understands. */
export function validateBoots(value: unknown): { boots: BootsFile } | { reason: string } {
  if (!value || typeof value !== 'object') return { reason: 'not a JSON object' };
  const v = value as Partial<BootsFile>;
  if (v.format !== BOOTS_FORMAT) return { reason: `unknown format ${JSON.stringify(v.format)}` };
  if (!Array.isArray(v.boots)) return { reason: '"boots" is not an array' };
  for (const [i, b] of v.boots.entries()) {
    const r = b as Partial<BootRecord> | null;
    if (
      !r ||
      !isStr(r.time) ||
      Number.isNaN(Date.parse(r.time)) ||
      !isStr(r.bootId) ||
      !isStr(r.version) ||
      !isStr(r.image) ||
      !isStrOrNull(r.initrd) ||
      !isStr(r.imageSha256) ||
      !isStrOrNull(r.initrdSha256) ||
      !isStrOrNull(r.setId ?? null) ||
      !(r.trial === null || r.trial === undefined || (BOOT_TRIAL_MARKS as readonly string[]).includes(r.trial))
    ) {
      return { reason: `record ${i} lacks time, bootId, version, image or a checksum` };
    }
  }
  return { boots: v as BootsFile };
}

/** The known-good: the newest record (records are kept oldest first). */
export function knownGood(records: readonly BootRecord[]): BootRecord | undefined {
  let best: BootRecord | undefined;
  for (const r of records) if (!best || Date.parse(r.time) >= Date.parse(best.time)) best = r;
  return best;
}

/**
 * Adds a record, newest last. A second run in the same boot (the unit restarted by hand) replaces
 * that boot's record instead of adding one, and only the newest BOOTS_KEPT survive.
 */
export function withBoot(records: readonly BootRecord[], record: BootRecord, kept = BOOTS_KEPT): BootRecord[] {
  const others = records.filter((r) => r.bootId !== record.bootId);
  const previous = records.find((r) => r.bootId === record.bootId);
  // A re-run must not forget that this boot was a trial's promotion or a fallback.
  const merged = previous && record.trial === null && previous.trial !== null ? { ...record, trial: previous.trial } : record;
  const all = [...others, merged].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  return all.slice(Math.max(0, all.length - kept));
}

/** BOOT_IMAGE from a kernel command line, as GRUB put it there (`(hd0,gpt2)/vmlinuz-V` or `/boot/vmlinuz-V`). */
export function bootImageFromCmdline(cmdline: string): string | undefined {
  for (const word of cmdline.trim().split(/\s+/)) {
    if (word.startsWith('BOOT_IMAGE=')) {
      const value = word.slice('BOOT_IMAGE='.length).replace(/^"(.*)"$/, '$1');
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}

/**
 * The file in /boot that BOOT_IMAGE names. GRUB's path is relative to the device it read the
 * kernel from (`/vmlinuz-V` with a separate /boot, `/@/boot/…` on btrfs), so only the name counts.
 */
export function bootImageName(bootImage: string): string {
  const withoutDevice = bootImage.replace(/^\([^)]*\)/, '');
  return withoutDevice.slice(withoutDevice.lastIndexOf('/') + 1);
}

/**
 * The initrd that goes with a kernel image name, as update-grub pairs them for kbackup's names:
 * vmlinuz-V → initrd.img-V, kernel-V~~backupT → initrd.img-V~~backupT, and the original script's
 * vmlinuz-V~~backupT → initrd.img-V~~backupT.
 */
export function initrdNameForImage(imageName: string): string | undefined {
  const m = /^(?:vmlinuz|vmlinux|kernel)-(.+)$/.exec(imageName);
  return m ? `initrd.img-${m[1]}` : undefined;
}

/** The files of a set (live or backup), as far as a boot record can be compared with them. */
export interface SetHashes {
  imageSha256?: string;
  initrdSha256?: string | null;
}

/** Whether a set holds exactly the kernel image and initrd a record booted. */
export function bootedSameFiles(record: Pick<BootRecord, 'imageSha256' | 'initrdSha256'>, set: SetHashes): boolean {
  return set.imageSha256 === record.imageSha256 && (set.initrdSha256 ?? null) === record.initrdSha256;
}

/** The times a set with these files booted, oldest first. */
export function bootTimes(records: readonly BootRecord[], set: SetHashes): string[] {
  return records.filter((r) => bootedSameFiles(r, set)).map((r) => r.time);
}

/**
 * The IDs of backup sets the known-good lives in: the set it booted from, and every set holding
 * the same image and initrd (the copy kept when its live files were replaced). No prune removes them.
 */
export function knownGoodSetIds(records: readonly BootRecord[], sets: readonly ({ id: string } & SetHashes)[]): string[] {
  const good = knownGood(records);
  if (!good) return [];
  return sets.filter((s) => s.id === good.setId || bootedSameFiles(good, s)).map((s) => s.id);
}
