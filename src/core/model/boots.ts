// Boot records (/var/lib/kbackup/boots.json, a JSON array, newest last): which kernel image and
// initrd booted, and when. The newest record is the known-good: the last set that brought the
// machine up. Pure: no fs.
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
  /** False when the kernel command line had no BOOT_IMAGE: another boot loader started it (absent in older records). */
  grub?: boolean;
  /** What the admin relies on, as this boot had it (absent in older records: nothing to compare then). */
  health?: BootHealth;
  /** How this boot was judged against the known-good (absent in older records: they were all taken as good). */
  verdict?: RecordedVerdict;
}

/** An interface that had a global address on a boot (model/verdict.ts compares them by MAC, then name). */
export interface InterfaceFact {
  name: string;
  /** The permanent or current hardware address, lower case; null for an interface without one. */
  mac: string | null;
  /** Global addresses with their prefix length: 10.0.2.15/24, 2001:db8::5/64. */
  addresses: string[];
  /** A default route (IPv4 or IPv6) went out through this interface. */
  defaultRoute: boolean;
}

/**
 * The facts of a boot a verdict compares. Each list is absent when it could not be read (no `ip`,
 * no systemd): an absent list judges nothing, an empty one says there was none.
 */
export interface BootHealth {
  interfaces?: InterfaceFact[];
  /** fstab mount points that were mounted. */
  mounts?: string[];
  /** Units that were active (services, sockets, mounts, timers, paths, swaps, targets). */
  units?: string[];
}

export interface RecordedVerdict {
  good: boolean;
  /** One sentence per thing missing; empty when good. */
  problems: string[];
  /** The boot it was judged against (bootId, version), when there was a known-good. */
  against?: { bootId: string; version: string };
}


const isStr = (v: unknown): v is string => typeof v === 'string';
const isStrOrNull = (v: unknown) => v === null || typeof v === 'string';

/**
 * Splits parsed JSON (an array of records) into the records this version understands and those it
 * does not (written by a newer kbackup, or damaged): those are kept as they are, never dropped.
 * Returns a reason when the value is not an array at all.
 */
export function validateBoots(value: unknown): { boots: BootRecord[]; unknown: unknown[] } | { reason: string } {
  if (!Array.isArray(value)) return { reason: 'not a JSON array of boot records' };
  const boots: BootRecord[] = [];
  const unknown: unknown[] = [];
  for (const b of value) (understood(b) ? boots : unknown).push(b);
  return { boots, unknown };
}

/**
 * The sha256 sums and set IDs a record this version does not understand may name: the sets holding
 * them might be its known-good, so no prune removes them.
 */
export function namedByUnknown(unknown: readonly unknown[]): { hashes: Set<string>; ids: Set<string> } {
  const hashes = new Set<string>();
  const ids = new Set<string>();
  for (const u of unknown) {
    if (!u || typeof u !== 'object') continue;
    const r = u as Record<string, unknown>;
    for (const k of ['imageSha256', 'initrdSha256']) if (isStr(r[k])) hashes.add(r[k] as string);
    if (isStr(r.setId)) ids.add(r.setId);
  }
  return { hashes, ids };
}

function understood(b: unknown): b is BootRecord {
  const r = b as Partial<BootRecord> | null;
  return (
    !!r &&
    isStr(r.time) &&
    !Number.isNaN(Date.parse(r.time)) &&
    isStr(r.bootId) &&
    isStr(r.version) &&
    isStr(r.image) &&
    isStrOrNull(r.initrd) &&
    isStr(r.imageSha256) &&
    isStrOrNull(r.initrdSha256) &&
    isStrOrNull(r.setId ?? null) &&
    (r.trial === null || r.trial === undefined || (BOOT_TRIAL_MARKS as readonly string[]).includes(r.trial)) &&
    (r.health === undefined || validHealth(r.health)) &&
    (r.verdict === undefined || validVerdict(r.verdict))
  );
}

const isStrArray = (v: unknown) => Array.isArray(v) && v.every(isStr);

function validHealth(h: unknown): boolean {
  if (!h || typeof h !== 'object') return false;
  const v = h as BootHealth;
  if (v.mounts !== undefined && !isStrArray(v.mounts)) return false;
  if (v.units !== undefined && !isStrArray(v.units)) return false;
  if (v.interfaces === undefined) return true;
  return (
    Array.isArray(v.interfaces) &&
    v.interfaces.every((i) => i && isStr(i.name) && isStrOrNull(i.mac) && isStrArray(i.addresses) && typeof i.defaultRoute === 'boolean')
  );
}

function validVerdict(v: unknown): boolean {
  const r = v as RecordedVerdict | null;
  return !!r && typeof r.good === 'boolean' && isStrArray(r.problems);
}

/** Whether a record may be the known-good: it passed its verdict (older records, made before verdicts, did). */
export function judgedGood(record: BootRecord): boolean {
  return record.verdict?.good !== false;
}

/**
 * The known-good: the newest record that passed its verdict (records are kept in the order they were
 * made, oldest first; their clocks may be wrong). A boot
 * that came up without its network or a mount never becomes the fallback.
 */
export function knownGood(records: readonly BootRecord[]): BootRecord | undefined {
  for (let i = records.length - 1; i >= 0; i--) if (judgedGood(records[i]!)) return records[i];
  return undefined;
}

/**
 * The newest record, good or not: the boot the machine is running (or last ran). "Newest" is the
 * order the records were made in (boots.json keeps them so), never the clock they carry: one boot
 * with its RTC in 2099 must not stay the newest for ever.
 */
export function latestBoot(records: readonly BootRecord[]): BootRecord | undefined {
  return records.at(-1);
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
  // Appended, not sorted by time: the order of recording is the order of boots.
  const all = [...others, merged];
  const newest = all.slice(Math.max(0, all.length - kept));
  // However many unhealthy boots follow it, the known-good's record is never dropped.
  const good = knownGood(all);
  return good && !newest.includes(good) ? [good, ...newest.slice(1)] : newest;
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

/** Whether a name in /boot is a kernel image by kbackup's naming rules (vmlinuz-V, vmlinux-V, kernel-V~~backupT). */
export function isKernelImageName(name: string): boolean {
  return initrdNameForImage(name) !== undefined;
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
