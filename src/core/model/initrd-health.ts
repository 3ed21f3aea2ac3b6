// Is a regenerated initrd still able to boot this machine? Pure: no fs, no child_process. The I/O that
// fills these values (listing an image, hashing its config files, walking /sys) is in
// io/initrd-image.ts and io/root-drivers.ts.
//
// Both field reports kbackup was made from were broken by a *regenerated* initrd, not by the new kernel:
// an empty modules.dep (12 module files where the previous image held 816) and an md array that the
// rebuilt image's mdadm.conf no longer assembled. So check compares the live image with a previous one
// (the newest backup of the same kernel version, else another kernel's image: initrd-baseline.ts) and
// with the drivers `/` needs right now. Advice names the installed generator's command
// (update-initramfs or dracut).
//
// Problem codes (stable; scripts and tests match on them):
//
// | code                          | severity | when |
// | ----------------------------- | -------- | ---- |
// | `initrd-tool-missing`         | warning  | the decompressor the image needs is not installed (or, for an image kbackup's reader does not understand, neither `lsinitramfs` nor `lsinitrd`), so nothing was checked |
// | `initrd-unreadable`           | error    | the live image cannot be read (missing, truncated, damaged, unknown compression) |
// | `initrd-read-timeout`         | warning  | reading the live or the previous image took longer than a hook may wait and was stopped: not judged, not called broken |
// | `initrd-previous-unreadable`  | warning  | the previous image cannot be listed, so there is nothing to compare with |
// | `initrd-modules-dep-empty`    | error    | `lib/modules/V/modules.dep` in the image is missing or empty while the image holds module files, or while the previous image held modules with a non-empty modules.dep: modprobe inside the initrd can then load nothing |
// | `initrd-modules-dropped`      | error    | the image holds fewer than DROP_RATIO (50 %) of the previous image's module files, and at least DROP_MIN_LOST (20) fewer; or, where the driver chain of `/` is not known, it lacks a storage or file system driver (STORAGE_MODULES) the previous image held and its kernel does not build in |
// | `initrd-kernel-mismatch`      | error    | the image's modules are for another kernel version than its file name says |
// | `initrd-root-driver-missing`  | error    | a module the block device behind `/` needs (e.g. virtio_blk, nvme, dm_crypt, raid1, ext4) is neither built into the kernel nor in the image |
// | `initrd-config-changed`       | warning  | configuration files inside the image (mdadm.conf, crypttab, conf.d/…) differ from the same kernel's previous image; listed by name |
// | `initrd-rebuilt-unkept`       | warning  | dracut is the generator and no boot is recorded: a rebuild outside a kernel update leaves no previous image to keep |
import { addModulesAdvice, depmodCommand, rebuildInitrdCommand, type Generator } from './advice';
import { describeBaselineRole, type BaselineRole } from './initrd-baseline';
import { problem, type Problem } from './problems';

/** Below this share of the previous module count, the new image has lost its modules. */
export const DROP_RATIO = 0.5;
/** …and it must have lost at least this many, so small images (tests, MODULES=list) do not trip. */
export const DROP_MIN_LOST = 20;

export const INITRD_PROBLEM_CODES = [
  'initrd-tool-missing',
  'initrd-unreadable',
  'initrd-read-timeout',
  'initrd-previous-unreadable',
  'initrd-modules-dep-empty',
  'initrd-modules-dropped',
  'initrd-kernel-mismatch',
  'initrd-root-driver-missing',
  'initrd-config-changed',
  'initrd-rebuilt-unkept',
] as const;
export type InitrdProblemCode = (typeof INITRD_PROBLEM_CODES)[number];

/** What listed an image: kbackup's own reader (io/initrd-image.ts), or the distribution's tool it falls back to. */
export const INITRD_TOOLS = ['kbackup', 'lsinitramfs', 'lsinitrd'] as const;
export type InitrdTool = (typeof INITRD_TOOLS)[number];

export const COMPRESSIONS = ['none', 'gzip', 'zstd', 'xz', 'lzma', 'lz4', 'bzip2', 'lzo', 'unknown'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/**
 * Files inside an image whose *content* decides whether the machine boots: they are hashed and compared.
 * A path matches an entry exactly, or, for an entry ending in `/`, is a file directly in that directory.
 * Not listed on purpose: etc/ld.so.cache and modules.* indexes (regenerated every build), scripts/ (they
 * come from packages, whose updates are expected), etc/mdadm/mdadm.conf.tmp (a leftover of mdadm's hook).
 */
export const CONFIG_PATHS = [
  // initramfs-tools: what update-initramfs copied from /etc/initramfs-tools
  'conf/initramfs.conf',
  'conf/arch.conf',
  'conf/modules',
  'conf/conf.d/',
  // older mdadm hooks wrote MD_HOMEHOST (the hostname) here: the renamed-host outage
  'conf/md.conf',
  'etc/mdadm/mdadm.conf',
  'etc/mdadm.conf',
  'cryptroot/crypttab',
  'etc/crypttab',
  'etc/lvm/lvm.conf',
  'etc/multipath.conf',
  'etc/fstab',
  'etc/hostname',
  'etc/modprobe.d/',
  'etc/udev/rules.d/',
  // dracut
  'etc/cmdline.d/',
  'etc/conf.d/',
] as const;

export function isConfigPath(p: string): boolean {
  if (p.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) return false;
  for (const entry of CONFIG_PATHS) {
    if (entry.endsWith('/')) {
      if (p.startsWith(entry) && p.length > entry.length && !p.slice(entry.length).includes('/')) return true;
    } else if (p === entry) return true;
  }
  return false;
}

export type EntryType = 'file' | 'dir' | 'symlink' | 'other';

/** One line of `lsinitramfs -l` / `lsinitrd` (both print `cpio -tv` lines). */
export interface ListingEntry {
  type: EntryType;
  size: number;
  /** Relative, without a leading `./` or `/`. */
  path: string;
  linkTarget?: string;
  /** Permission bits with setuid, setgid and sticky (0o4755), as the listing shows them. */
  mode?: number;
}

export interface ConfigFileFact {
  size: number;
  /** Hex sha256 of the content; absent when the file could not be extracted. */
  sha256?: string;
}

export interface InitrdSummary {
  /** The image as given (a path on the host, inside --root). */
  path: string;
  /** The kernel version the file name says (`initrd.img-V[~~backup…]`), if it says one. */
  nameVersion?: string;
  /** What listed it; absent if it could not be listed. */
  tool?: InitrdTool;
  size?: number;
  /** Compression of the main archive; `earlyArchives` uncompressed cpio archives (microcode) precede it. */
  compression?: Compression;
  earlyArchives?: number;
  /** Entries in the listing (files, directories, links). */
  entries: number;
  /** Kernel versions with a lib/modules/V (or usr/lib/modules/V) directory. */
  kernelVersions: string[];
  /** Module names, `-` folded to `_` as the kernel does, sorted and unique. */
  modules: string[];
  /** Module files (`*.ko`, `*.ko.xz`, `*.ko.zst`, …). */
  moduleFiles: number;
  /** Per kernel version: size of lib/modules/V/modules.dep, absent = no modules.dep in the image. */
  modulesDep: Record<string, number | undefined>;
  /** Configuration files (see CONFIG_PATHS) by path inside the image. */
  configs: Record<string, ConfigFileFact>;
  /** Set when the image could not be read; the other fields are then empty. */
  error?: string;
  /** `timeout`: reading took longer than a hook may wait, and was stopped; the image may be fine. */
  errorKind?: 'tool-missing' | 'unreadable' | 'timeout';
}

export interface RootDriverNeeds {
  /** The block device behind `/`, e.g. /dev/vda1 (absent when `/` is not on a block device). */
  device?: string;
  /** Loadable modules the initrd must hold to mount `/`. */
  modules: string[];
  /** Drivers in the chain that are built into the kernel (nothing to check). */
  builtin: string[];
  /** Why the chain is empty or incomplete (container, --root, no modules.builtin). */
  note?: string;
}

export interface InitrdDiff {
  live: { path: string; moduleFiles: number; modules: number; kernelVersions: string[]; size?: number; compression?: Compression };
  previous: { path: string; moduleFiles: number; modules: number; kernelVersions: string[]; size?: number; compression?: Compression };
  modulesAdded: string[];
  modulesRemoved: string[];
  configsChanged: string[];
  configsAdded: string[];
  configsRemoved: string[];
}

/** The kernel's own module name for a module file name: `virtio-blk.ko.zst` → `virtio_blk`. */
export function moduleNameOf(filePath: string): string | undefined {
  const base = filePath.slice(filePath.lastIndexOf('/') + 1);
  const m = /^(.+)\.ko(?:\.(?:xz|zst|gz|bz2|lz4))?$/.exec(base);
  return m ? normalizeModuleName(m[1]!) : undefined;
}

export function normalizeModuleName(name: string): string {
  return name.replace(/-/g, '_');
}

// `cpio -tv`: mode, links, owner, group, size (or "major, minor"), month, day, time-or-year, name.
const LISTING_RE = /^([-dlcbpsC?])([-rwxsStTl]{9})\S*\s+\d+\s+\S+\s+\S+\s+(\d+|\d+,\s*\d+)\s+\S+\s+\d{1,2}\s+(?:\d{1,2}:\d{2}|\d{4})\s(.+)$/;

/** `rwsr-xr-t` → 0o5755, as ls and cpio -tv write modes. */
export function permissionBits(rwx: string): number {
  let mode = 0;
  for (let i = 0; i < 9; i++) if (/[rwxsSt]/.test(rwx[i]!) && !(rwx[i] === 'S' || rwx[i] === 'T')) mode |= 1 << (8 - i);
  if (/[sS]/.test(rwx[2]!)) mode |= 0o4000;
  if (/[sS]/.test(rwx[5]!)) mode |= 0o2000;
  if (/[tT]/.test(rwx[8]!)) mode |= 0o1000;
  return mode;
}

/** Parses `lsinitramfs -l` or `lsinitrd` output; lines that are not entries (dracut's header) are skipped. */
export function parseListing(text: string): ListingEntry[] {
  const entries: ListingEntry[] = [];
  for (const line of text.split('\n')) {
    const m = LISTING_RE.exec(line);
    if (!m) continue;
    const kind = m[1]!;
    const mode = permissionBits(m[2]!);
    const type: EntryType = kind === '-' ? 'file' : kind === 'd' ? 'dir' : kind === 'l' ? 'symlink' : 'other';
    let name = m[4]!;
    let linkTarget: string | undefined;
    if (type === 'symlink') {
      const arrow = name.indexOf(' -> ');
      if (arrow >= 0) {
        linkTarget = name.slice(arrow + 4);
        name = name.slice(0, arrow);
      }
    }
    name = name.replace(/^(?:\.\/|\/)+/, '');
    if (name === '' || name === '.') continue;
    const size = /^\d+$/.test(m[3]!) ? Number(m[3]) : 0;
    entries.push(linkTarget === undefined ? { type, size, path: name, mode } : { type, size, path: name, linkTarget, mode });
  }
  return entries;
}

const MODULES_DIR_RE = /^(?:usr\/)?lib\/modules\/([^/]+)(?:\/(.*))?$/;

/** Everything a listing alone tells: kernel versions, modules, modules.dep. Config hashes come later. */
export function summarizeListing(
  entries: readonly ListingEntry[],
): Pick<InitrdSummary, 'entries' | 'kernelVersions' | 'modules' | 'moduleFiles' | 'modulesDep'> & { configPaths: string[] } {
  const versions = new Set<string>();
  const modules = new Set<string>();
  const modulesDep: Record<string, number | undefined> = {};
  const configPaths: string[] = [];
  // With usr-merge the image has lib -> usr/lib and every file once; older images have lib/modules only.
  // Count each module file once even if an image somehow lists both trees.
  const seenModuleFiles = new Set<string>();
  for (const e of entries) {
    const m = MODULES_DIR_RE.exec(e.path);
    if (m) {
      const version = m[1]!;
      const rest = m[2];
      if (e.type === 'dir' || rest !== undefined) versions.add(version);
      if (rest === 'modules.dep' && e.type === 'file') modulesDep[version] = e.size;
      if (rest !== undefined && e.type === 'file') {
        const name = moduleNameOf(rest);
        if (name !== undefined && !seenModuleFiles.has(`${version}/${rest}`)) {
          seenModuleFiles.add(`${version}/${rest}`);
          modules.add(name);
        }
      }
    }
    if (e.type === 'file' && isConfigPath(e.path)) configPaths.push(e.path);
  }
  for (const v of versions) if (!(v in modulesDep)) modulesDep[v] = undefined;
  return {
    entries: entries.length,
    kernelVersions: [...versions].sort(),
    modules: [...modules].sort(),
    moduleFiles: seenModuleFiles.size,
    modulesDep,
    configPaths: [...new Set(configPaths)].sort(),
  };
}

function depIsUsable(s: InitrdSummary): boolean {
  const sizes = Object.values(s.modulesDep);
  return sizes.some((size) => size !== undefined && size > 0);
}

function readable(s: InitrdSummary | undefined): s is InitrdSummary {
  return s !== undefined && s.error === undefined;
}

function sample(names: readonly string[], max = 8): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

export function diffInitrd(live: InitrdSummary, previous: InitrdSummary): InitrdDiff {
  const liveModules = new Set(live.modules);
  const previousModules = new Set(previous.modules);
  const changed: string[] = [];
  const added: string[] = [];
  const removed: string[] = [];
  for (const [p, fact] of Object.entries(live.configs)) {
    const before = previous.configs[p];
    if (!before) added.push(p);
    else if (before.size !== fact.size || (before.sha256 !== undefined && fact.sha256 !== undefined && before.sha256 !== fact.sha256)) changed.push(p);
  }
  for (const p of Object.keys(previous.configs)) if (!(p in live.configs)) removed.push(p);
  const side = (s: InitrdSummary) => {
    const out: InitrdDiff['live'] = { path: s.path, moduleFiles: s.moduleFiles, modules: s.modules.length, kernelVersions: s.kernelVersions };
    if (s.size !== undefined) out.size = s.size;
    if (s.compression !== undefined) out.compression = s.compression;
    return out;
  };
  return {
    live: side(live),
    previous: side(previous),
    modulesAdded: live.modules.filter((m) => !previousModules.has(m)),
    modulesRemoved: previous.modules.filter((m) => !liveModules.has(m)),
    configsChanged: changed.sort(),
    configsAdded: added.sort(),
    configsRemoved: removed.sort(),
  };
}

/** Storage and root file system drivers: an image that held one and lost it may no longer find `/`. */
export const STORAGE_MODULES: ReadonlySet<string> = new Set([
  'virtio_blk', 'virtio_scsi', 'xen_blkfront', 'hv_storvsc', 'vmw_pvscsi',
  'nvme', 'nvme_core', 'ahci', 'libahci', 'ata_piix', 'ata_generic', 'sd_mod', 'scsi_mod',
  'mptsas', 'mptspi', 'mpt3sas', 'megaraid_sas', 'aacraid', 'hpsa', 'smartpqi',
  'mmc_block', 'sdhci_pci', 'sdhci_acpi', 'usb_storage', 'uas',
  'dm_mod', 'dm_crypt', 'md_mod', 'raid0', 'raid1', 'raid10', 'raid456',
  'ext4', 'xfs', 'btrfs', 'f2fs',
]);

export interface CompareContext {
  /** What the previous image is to the live one; absent = a backup of the same version. */
  role?: BaselineRole;
  /** Which initramfs generator is installed: advice names its command. Default initramfs-tools. */
  generator?: Generator;
  /** Modules built into the live image's kernel (its modules.builtin), when known: they need no file. */
  builtin?: ReadonlySet<string>;
}

/** How messages name an image: its file name (they all live in /boot). */
function imageName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** `initrd.img-6.1.0-50-amd64 (the previous default)`. */
function baselineName(prev: InitrdSummary, role: BaselineRole | undefined): string {
  return `${imageName(prev.path)} (${describeBaselineRole(role ?? 'backup')})`;
}

/**
 * The problems of a live initrd, judged alone, against a previous image (a backup of the same
 * version, or another kernel's: see initrd-baseline.ts), and against the drivers `/` needs (if
 * known). See the table at the top.
 */
export function compareInitrd(live: InitrdSummary, previous: InitrdSummary | undefined, needs?: RootDriverNeeds, context: CompareContext = {}): Problem[] {
  const problems: Problem[] = [];
  const generator = context.generator ?? 'initramfs-tools';
  const version = live.nameVersion ?? live.kernelVersions[0];
  const rebuild = rebuildInitrdCommand(version, generator);
  const liveName = imageName(live.path);
  if (live.error !== undefined) {
    if (live.errorKind === 'tool-missing') {
      // The error names what to install (io/initrd-image.ts).
      problems.push(problem('initrd-tool-missing', `cannot check ${liveName}: ${live.error}`, 'warning'));
    } else if (live.errorKind === 'timeout') {
      problems.push(problem('initrd-read-timeout', `${liveName} was not checked: ${live.error}; the image may be fine, run kbackup check to read it again`, 'warning'));
    } else {
      problems.push(problem('initrd-unreadable', `cannot read ${liveName}: ${live.error}; the kernel will likely not be able to unpack it either, rebuild it with ${rebuild}`));
    }
    return problems;
  }
  const prev = readable(previous) ? previous : undefined;
  if (previous?.errorKind === 'timeout') {
    problems.push(problem('initrd-read-timeout', `the previous initrd ${baselineName(previous, context.role)} was not read to compare with: ${previous.error}; run kbackup check to read it again`, 'warning'));
  } else if (previous !== undefined && previous.error !== undefined && previous.errorKind !== 'tool-missing') {
    problems.push(problem('initrd-previous-unreadable', `cannot read the previous initrd ${baselineName(previous, context.role)} to compare with: ${previous.error}`, 'warning'));
  }

  if (live.nameVersion !== undefined && live.kernelVersions.length > 0 && !live.kernelVersions.includes(live.nameVersion)) {
    problems.push(
      problem(
        'initrd-kernel-mismatch',
        `${liveName} holds modules for ${live.kernelVersions.join(', ')}, not for ${live.nameVersion}: that kernel could load none of them; rebuild it with ${rebuild}`,
      ),
    );
  }

  const previousHadDep = prev !== undefined && prev.moduleFiles > 0 && depIsUsable(prev);
  const depBroken = !depIsUsable(live) && (live.moduleFiles > 0 || previousHadDep);
  if (depBroken) {
    const where = live.kernelVersions.length > 0 ? `lib/modules/${live.kernelVersions.join(',')}/modules.dep` : 'modules.dep';
    const state = Object.values(live.modulesDep).some((s) => s !== undefined) ? 'is empty' : 'is missing';
    problems.push(
      problem(
        'initrd-modules-dep-empty',
        `${where} in ${liveName} ${state} (${live.moduleFiles} module files): modprobe in the initrd can load nothing, as when depmod (kmod) is broken; fix kmod, run ${depmodCommand(version)}, then ${rebuild}`,
      ),
    );
  }

  if (prev !== undefined) {
    const lost = prev.moduleFiles - live.moduleFiles;
    const present = new Set(live.modules);
    // Where the driver chain of `/` is known, it alone says which drivers matter (md modules an old
    // image held are no loss on a machine whose root is not on md); elsewhere (--root, a chroot, a
    // container) a storage driver the previous image held is taken to matter.
    const chainKnown = needs !== undefined && needs.modules.length > 0;
    const storageLost = chainKnown ? [] : prev.modules.filter((m) => STORAGE_MODULES.has(m) && !present.has(m) && !context.builtin?.has(m));
    const countDropped = lost >= DROP_MIN_LOST && live.moduleFiles < prev.moduleFiles * DROP_RATIO;
    if (countDropped || storageLost.length > 0) {
      const what = countDropped
        ? `${liveName} has ${live.moduleFiles} modules where ${baselineName(prev, context.role)} had ${prev.moduleFiles}${storageLost.length > 0 ? ` (gone: ${sample(storageLost)})` : ''}`
        : `${liveName} lacks ${sample(storageLost)}, which ${baselineName(prev, context.role)} held: a disk or file system behind ${storageLost.length > 1 ? 'them' : 'it'} will not be found at boot`;
      let todo: string;
      if (depBroken) todo = `rebuild it with ${rebuild} once modules.dep is sound`;
      else if (diffInitrd(live, prev).configsChanged.includes('conf/initramfs.conf')) {
        todo = `conf/initramfs.conf changed too: if you switched MODULES= on purpose this is expected, otherwise undo that and run ${rebuild}`;
      } else if (storageLost.length > 0) todo = `${addModulesAdvice(generator, storageLost)} and run ${rebuild}`;
      else todo = `find what left them out (MODULES=, a hook, a module path) and run ${rebuild}`;
      problems.push(problem('initrd-modules-dropped', `${what}${countDropped ? ':' : ';'} ${todo}; until then boot the previous entry if it fails`));
    }
  }

  if (needs !== undefined && needs.modules.length > 0) {
    const present = new Set(live.modules);
    const missing = needs.modules.map(normalizeModuleName).filter((m) => !present.has(m));
    if (missing.length > 0) {
      problems.push(
        problem(
          'initrd-root-driver-missing',
          `${liveName} lacks ${missing.join(', ')}, needed to mount /${needs.device ? ` (on ${needs.device})` : ''}; ${addModulesAdvice(generator, missing)} and run ${rebuild}`,
        ),
      );
    }
  }

  // Configuration is compared with the same kernel's previous image only: another kernel's image
  // was built at another time and its differences say nothing about this rebuild.
  const sameKernel = (context.role ?? 'backup') === 'backup' || (live.nameVersion !== undefined && prev?.nameVersion === live.nameVersion);
  if (prev !== undefined && sameKernel) {
    const d = diffInitrd(live, prev);
    const parts: string[] = [];
    if (d.configsChanged.length > 0) parts.push(`changed: ${sample(d.configsChanged)}`);
    if (d.configsAdded.length > 0) parts.push(`added: ${sample(d.configsAdded)}`);
    if (d.configsRemoved.length > 0) parts.push(`removed: ${sample(d.configsRemoved)}`);
    if (parts.length > 0) {
      problems.push(
        problem(
          'initrd-config-changed',
          `configuration inside ${liveName} differs from ${imageName(prev.path)} (${parts.join('; ')}); if the machine no longer boots (an md array or LUKS volume not found), boot the backup entry`,
          'warning',
        ),
      );
    }
  }
  return problems;
}

/**
 * dracut keeps no `.dpkg-bak` of the image it replaces, so a rebuild outside a kernel update
 * (`dracut -f`, its dpkg trigger) leaves kbackup nothing to keep. Said once, until a boot record
 * exists (then the known-good initrd is the copy to fall back to).
 */
export function unkeptRebuildProblem(generator: Generator, knownGoodRecorded: boolean): Problem | undefined {
  if (generator !== 'dracut' || knownGoodRecorded) return undefined;
  return problem(
    'initrd-rebuilt-unkept',
    'dracut keeps no copy of an initrd it rebuilds (dracut -f, its dpkg triggers), so kbackup cannot keep the previous one: run kbackup snapshot before you rebuild an initrd outside a kernel update',
    'warning',
  );
}
