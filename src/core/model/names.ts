// The names kbackup reads and writes in /boot. Pure: no fs.
//
// live:    vmlinuz-V, initrd.img-V, config-V, System.map-V
// backup:  kernel-V~~backupYYYYMMDDHHMM[.N], initrd.img-V~~backup…, config-V~~backup…, …
// legacy:  vmlinuz-V~~backup… (the original preinst script). linux-base sorts that name above V, so
//          `update-initramfs -u` would rebuild the backup's initrd; `kernel-` is scanned by GRUB's
//          10_linux but not by linux-base.
import { UsageError } from './errors';

/** Stems whose backup is stored under the `kernel-` prefix (the kernel image). */
export const IMAGE_STEMS = ['vmlinuz', 'vmlinux'] as const;
export const BACKUP_IMAGE_PREFIX = 'kernel';
export const DEFAULT_STEMS = ['vmlinuz', 'initrd.img', 'config', 'System.map'] as const;
/** Temporary files are hidden dot-files so neither GRUB nor linux-base ever sees them. */
export const TEMP_PREFIX = '.kbackup-tmp-';

const SUFFIX_RE = /~~backup(\d{12})(?:\.([1-9]\d{0,3}))?$/;

export function isImageStem(stem: string): boolean {
  return (IMAGE_STEMS as readonly string[]).includes(stem);
}

/** UTC YYYYMMDDHHMM, the spec's timestamp. */
export function formatStamp(date: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(date.getUTCFullYear(), 4)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}`;
}

/** The ISO time a stamp stands for. */
export function stampToDate(stamp: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(stamp);
  if (!m) throw new UsageError(`not a backup timestamp: ${stamp}`);
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!));
}

/** The suffix after the version: `~~backup202611222040` or `~~backup202611222040.2`. */
export function backupSuffix(stamp: string, seq: number): string {
  return seq > 1 ? `~~backup${stamp}.${seq}` : `~~backup${stamp}`;
}

export function setId(version: string, suffix: string): string {
  return `${version}${suffix}`;
}

/** The file name a live file `<stem>-<version>` is backed up as. */
export function backupFileName(stem: string, version: string, suffix: string): string {
  const prefix = isImageStem(stem) ? BACKUP_IMAGE_PREFIX : stem;
  return `${prefix}-${version}${suffix}`;
}

export function liveFileName(stem: string, version: string): string {
  return `${stem}-${version}`;
}

export type BootNameKind = 'live' | 'backup' | 'legacy';

export interface ParsedBootName {
  kind: BootNameKind;
  /** The live stem this file belongs to (`vmlinuz` for `kernel-…` backups). */
  stem: string;
  version: string;
  /** For backups: `~~backup<stamp>[.N]`. */
  suffix?: string;
  stamp?: string;
  seq?: number;
}

/**
 * Classifies a /boot file name against the configured stems. Longest stem first so that a stem
 * that is a prefix of another (none by default) never steals its names.
 */
const prefixCache = new WeakMap<readonly string[], string[]>();

function prefixesFor(stems: readonly string[]): string[] {
  let prefixes = prefixCache.get(stems);
  if (!prefixes) {
    prefixes = [...new Set([...stems, BACKUP_IMAGE_PREFIX])].sort((a, b) => b.length - a.length);
    prefixCache.set(stems, prefixes);
  }
  return prefixes;
}

export function parseBootName(name: string, stems: readonly string[] = DEFAULT_STEMS): ParsedBootName | undefined {
  if (name.startsWith('.')) return undefined;
  const suffixMatch = SUFFIX_RE.exec(name);
  const base = suffixMatch ? name.slice(0, suffixMatch.index) : name;
  for (const prefix of prefixesFor(stems)) {
    if (!base.startsWith(`${prefix}-`)) continue;
    const version = base.slice(prefix.length + 1);
    if (!isSafeVersion(version)) return undefined;
    if (!suffixMatch) {
      if (prefix === BACKUP_IMAGE_PREFIX) return undefined; // a kernel-V without suffix is not ours
      return { kind: 'live', stem: prefix, version };
    }
    const stamp = suffixMatch[1]!;
    const seq = suffixMatch[2] ? Number(suffixMatch[2]) : 1;
    const suffix = suffixMatch[0];
    if (prefix === BACKUP_IMAGE_PREFIX) return { kind: 'backup', stem: 'vmlinuz', version, suffix, stamp, seq };
    if (isImageStem(prefix)) return { kind: 'legacy', stem: prefix, version, suffix, stamp, seq };
    return { kind: 'backup', stem: prefix, version, suffix, stamp, seq };
  }
  return undefined;
}

/** True for a name kbackup may delete: a backup (or legacy backup) file, nothing else. */
export function isBackupFileName(name: string, stems: readonly string[] = DEFAULT_STEMS): boolean {
  const parsed = parseBootName(name, stems);
  return parsed !== undefined && parsed.kind !== 'live';
}

export function isSafeVersion(version: string): boolean {
  return versionProblem(version) === undefined;
}

/** Why a kernel VERSION argument is unsafe to build /boot paths from, or undefined if it is fine. */
export function versionProblem(version: string): string | undefined {
  if (version.length === 0) return 'it is empty';
  if (version.length > 200) return `it is ${version.length} characters long (at most 200)`;
  if (version === '.' || version === '..') return 'it is a path component';
  if (version.includes('/')) return 'it contains "/"';
  if (/[\u0000-\u001f\u007f]/.test(version)) return 'it contains control characters';
  if (/\s/.test(version)) return 'it contains white space';
  if (version.includes('~~')) return 'it contains "~~", which kbackup reserves for backup names';
  if (version.startsWith('-') || version.startsWith('.')) return 'it starts with "-" or "."';
  // dpkg's and update-initramfs' own temporary names (vmlinuz-V.dpkg-new, initrd.img-V.dpkg-bak)
  // are not kernels; GRUB's garbage filter skips them too.
  if (/\.dpkg-[a-z]+$|\.(new|bak|tmp)$|~$/.test(version)) return 'it ends like a temporary or backup file name (.dpkg-*, .new, .bak, .tmp, ~)';
  return undefined;
}

export function assertSafeVersion(version: string): string {
  const problem = versionProblem(version);
  if (problem) throw new UsageError(`refusing kernel version ${JSON.stringify(version)}: ${problem}`);
  return version;
}
