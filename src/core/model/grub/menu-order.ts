// What update-grub will list: the order Debian's 10_linux gives the kernels in /boot, and the
// initrd it pairs with each. Pure: no fs; the check reads /boot, /etc/grub.d/10_linux and
// grub-mkconfig_lib and passes their contents in (what grub.cfg then boots is grub-cfg.ts).
//
// Two orderings exist in the wild, and kbackup's backup names must sort below the live kernel in
// both (`V` above `V~~backup…`, newer backups first):
// - 'dpkg' (Debian 12, grub 2.06-13): 10_linux repeatedly takes `version_find_latest $list`, whose
//   `version_test_gt` strips the path up to the first "-", rewrites `[._-](pre|rc|test|git|old|trunk)`
//   to `~…` and asks `dpkg --compare-versions`. Ties keep the earlier glob match.
// - 'sort-v' (upstream 2.12, Debian 13): `reverse_sorted_list` is the whole path list, `.old`
//   turned into " 1" and everything else suffixed " 2", through `LC_ALL=C sort -V -r`. Because the
//   full path is compared, every /boot/vmlinuz-* sorts above every /boot/kernel-*.
//
// Not modelled (no kernel package or kbackup makes such names): names with white space, glob
// characters or backslashes, which the scripts' unquoted `$list` and dash's `echo` would mangle.
import { compareSortV, dpkgCompareVersions } from '../version';

export const GRUB_FLAVOURS = ['dpkg', 'sort-v'] as const;
export type GrubFlavour = (typeof GRUB_FLAVOURS)[number];

// ---------------------------------------------------------------------------------------------
// Which ordering the installed scripts use

/** The body of a shell function `name ()` in grub-mkconfig_lib, up to the next function. */
function shellFunctionBody(text: string, name: string): string | undefined {
  const start = new RegExp(`^${name}\\s*\\(\\)`, 'm').exec(text);
  if (!start) return undefined;
  const rest = text.slice(start.index + start[0].length);
  const next = /^[A-Za-z_][A-Za-z0-9_]*\s*\(\)/m.exec(rest);
  return next ? rest.slice(0, next.index) : rest;
}

function withoutComments(text: string): string {
  return text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n');
}

/**
 * The ordering the installed /etc/grub.d/10_linux uses, or undefined if it is neither Debian 12's
 * nor upstream 2.12's. Without the grub-mkconfig_lib text, a `version_find_latest` script is taken
 * to be Debian's (upstream 2.06 compared with `sort -V` there instead of dpkg).
 */
export function detectFlavour(tenLinuxText: string, mkconfigLibText?: string): GrubFlavour | undefined {
  const script = withoutComments(tenLinuxText);
  const lib = mkconfigLibText === undefined ? undefined : withoutComments(mkconfigLibText);
  const sortsReversed = /reverse_sorted_list=.*\bversion_sort\s+-r\b/.test(script);
  const findsLatest = /`version_find_latest\s|\$\(version_find_latest\s/.test(script);
  if (sortsReversed && !findsLatest) {
    if (lib === undefined) return 'sort-v';
    const body = shellFunctionBody(lib, 'version_sort');
    // Ubuntu swaps in grub-sort-version (dpkg order with flavour preferences): not modelled.
    return body !== undefined && /LC_ALL=C sort -V/.test(body) ? 'sort-v' : undefined;
  }
  if (findsLatest && !sortsReversed) {
    if (lib === undefined) return 'dpkg';
    const body = shellFunctionBody(lib, 'version_test_gt');
    return body !== undefined && /dpkg --compare-versions/.test(body) ? 'dpkg' : undefined;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// What 10_linux lists, in order

export interface BootEntry {
  name: string;
  /** `test -f`: a regular file, after following symlinks. Directories and broken links are false. */
  isFile: boolean;
}

export interface GrubOrderOptions {
  /** `uname -m`; x86 scans only vmlinuz-*, other machines also vmlinux-*. Default x86_64. */
  machine?: string;
  /** Entries of the filesystem root, for the `/vmlinuz-*` glob (rare). Default none. */
  rootEntries?: readonly BootEntry[];
  /** GRUB_EARLY_INITRD_LINUX_STOCK + _CUSTOM; default grub-mkconfig's stock microcode list. */
  earlyInitrds?: readonly string[];
  /** GRUB_TOP_LEVEL (sort-v scripts only: Debian 12's 10_linux has no such setting). */
  topLevel?: string;
}

export interface GrubKernel {
  /** The image path as 10_linux names it (`/boot/NAME`, or `/NAME` for the root glob). */
  image: string;
  /** `version` in 10_linux: the name without its longest digit-free prefix ending in "-". */
  version: string;
  /** The initrd 10_linux found for it (first hit of its search list), if any. */
  initrd?: string;
  /** Microcode images put before `initrd` on the same `initrd` line. */
  earlyInitrds: string[];
}

/** grub-mkconfig's default GRUB_EARLY_INITRD_LINUX_STOCK. */
export const STOCK_EARLY_INITRDS = [
  'intel-uc.img',
  'intel-ucode.img',
  'amd-uc.img',
  'amd-ucode.img',
  'early_ucode.cpio',
  'microcode.cpio',
] as const;

function isX86(machine: string): boolean {
  return /^i.86$/.test(machine) || machine === 'x86_64';
}

/** grub-mkconfig_lib's grub_file_is_not_garbage, on the full path. */
export function isGrubGarbage(path: string, isFile: boolean): boolean {
  if (!isFile) return true;
  return (
    path.includes('.dpkg-') ||
    path.endsWith('.rpmsave') ||
    path.endsWith('.rpmnew') ||
    path.startsWith('README') ||
    path.includes('/README') ||
    path.endsWith('.sig')
  );
}

/** dash sorts glob matches with strcmp: byte order of the UTF-8 encoding. */
function compareBytewise(a: string, b: string): number {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return Buffer.compare(x, y);
}

/** The candidate list 10_linux builds: each glob's matches in byte order, garbage dropped. */
function candidateImages(bootEntries: readonly BootEntry[], machine: string, rootEntries: readonly BootEntry[]): string[] {
  const globs: { dir: '/boot' | ''; prefix: string }[] = isX86(machine)
    ? [
        { dir: '/boot', prefix: 'vmlinuz-' },
        { dir: '', prefix: 'vmlinuz-' },
        { dir: '/boot', prefix: 'kernel-' },
      ]
    : [
        { dir: '/boot', prefix: 'vmlinuz-' },
        { dir: '/boot', prefix: 'vmlinux-' },
        { dir: '', prefix: 'vmlinuz-' },
        { dir: '', prefix: 'vmlinux-' },
        { dir: '/boot', prefix: 'kernel-' },
      ];
  const list: string[] = [];
  for (const glob of globs) {
    const entries = glob.dir === '/boot' ? bootEntries : rootEntries;
    const matches = entries
      .filter((e) => e.name.startsWith(glob.prefix) && !e.name.includes('/'))
      .sort((a, b) => compareBytewise(a.name, b.name));
    for (const e of matches) {
      const path = `${glob.dir}/${e.name}`;
      if (!isGrubGarbage(path, e.isFile)) list.push(path);
    }
  }
  return list;
}

/** Debian's version_test_gt_sedexp: `s/[^-]*-//;s/[._-]\(pre\|rc\|test\|git\|old\|trunk\)/~\1/g`. */
export function debianGrubVersionKey(path: string): string {
  return path.replace(/^[^-]*-/, '').replace(/[._-](pre|rc|test|git|old|trunk)/g, '~$1');
}

/** Debian 12's version_test_gt A B, including its (now unreachable) `.old` cases. */
function versionTestGt(a: string, b: string): boolean {
  let x = debianGrubVersionKey(a);
  let y = debianGrubVersionKey(b);
  if (y === '') return true;
  let relation: 'gt' | 'ge' = 'gt';
  const pair = `${x}:${y}`;
  if (/^.*\.old:.*\.old$/s.test(pair)) {
    // both .old: compared as they are
  } else if (/^.*\.old:.*$/s.test(pair)) {
    x = x.replace(/\.old$/, '');
  } else if (/^.*:.*\.old$/s.test(pair)) {
    y = y.replace(/\.old$/, '');
    relation = 'ge';
  }
  // dpkg refusing a version (exit 2) reads as "not greater" in the `if`.
  return dpkgCompareVersions(x, relation, y) === 0;
}

function orderLikeDebian12(list: readonly string[]): string[] {
  let remaining = [...list];
  const ordered: string[] = [];
  while (remaining.length > 0) {
    let latest = '';
    for (const candidate of remaining) {
      if (versionTestGt(candidate, latest)) latest = candidate;
    }
    if (latest.endsWith('.efi.signed')) {
      // 10_linux drops these (linux_entry boots IMAGE.efi.signed beside IMAGE), with an unquoted
      // `grep -vx $linux`, so a "." in the name matches any character.
      const pattern = new RegExp(`^${latest.replace(/[\\^$*+?()[\]{}|]/g, '\\$&')}$`);
      remaining = remaining.filter((p) => !pattern.test(p));
      continue;
    }
    ordered.push(latest);
    remaining = remaining.filter((p) => p !== latest);
  }
  return ordered;
}

function orderLikeSortV(list: readonly string[], topLevel: string | undefined): string[] {
  const keyed = list.map((path) => (path.endsWith('.old') ? `${path.slice(0, -'.old'.length)} 1` : `${path} 2`));
  keyed.sort((a, b) => compareSortV(b, a));
  const ordered = keyed.map((line) => line.replace(/ 1$/, '.old').replace(/ 2$/, ''));
  if (topLevel !== undefined && topLevel !== '' && ordered.includes(topLevel)) {
    return [topLevel, ...ordered.filter((p) => p !== topLevel)];
  }
  return ordered;
}

/** 10_linux's `sed -e "s,^[^0-9]*-,,g"` on the basename. */
export function grubKernelVersion(basename: string): string {
  return basename.replace(/^[^0-9]*-/, '');
}

function genkernelArch(machine: string): string {
  if (/^i.86$/.test(machine)) return 'x86';
  if (machine === 'mips' || machine === 'mips64') return 'mips';
  if (machine === 'mipsel' || machine === 'mips64el') return 'mipsel';
  if (machine.startsWith('arm')) return 'arm';
  return machine;
}

/** The names 10_linux tries, in order; the first that exists (`test -e`) is the initrd. */
export function initrdCandidates(version: string, flavour: GrubFlavour, machine = 'x86_64'): string[] {
  const alt = version.replace(/\.old$/, '');
  const arch = genkernelArch(machine);
  const genkernel = [
    `initramfs-genkernel-${version}`,
    `initramfs-genkernel-${alt}`,
    `initramfs-genkernel-${arch}-${version}`,
    `initramfs-genkernel-${arch}-${alt}`,
  ];
  if (flavour === 'dpkg') {
    return [
      `initrd.img-${version}`,
      `initrd-${version}.img`,
      `initrd-${version}.gz`,
      `initrd-${version}`,
      `initramfs-${version}.img`,
      `initrd.img-${alt}`,
      `initrd-${alt}.img`,
      `initrd-${alt}`,
      `initramfs-${alt}.img`,
      ...genkernel,
    ];
  }
  return [
    `initrd.img-${version}`,
    `initrd-${version}.img`,
    `initrd-${alt}.img.old`,
    `initrd-${version}.gz`,
    `initrd-${alt}.gz.old`,
    `initrd-${version}`,
    `initramfs-${version}.img`,
    `initramfs-${alt}.img.old`,
    `initrd.img-${alt}`,
    `initrd-${alt}.img`,
    `initrd-${alt}`,
    `initramfs-${alt}.img`,
    ...genkernel,
  ];
}

/**
 * The kernel images exactly as /etc/grub.d/10_linux lists them (first = the top-level entry and
 * entry 0 of "Advanced options"), each with the initrd it will get. `bootEntries` is a listing of
 * /boot; any entry counts as existing for the initrd search (`test -e`), so leave out broken links.
 */
export function grubMenuOrder(
  bootEntries: readonly BootEntry[],
  flavour: GrubFlavour,
  opts: GrubOrderOptions = {},
): GrubKernel[] {
  const machine = opts.machine ?? 'x86_64';
  const rootEntries = opts.rootEntries ?? [];
  const early = opts.earlyInitrds ?? STOCK_EARLY_INITRDS;
  const list = candidateImages(bootEntries, machine, rootEntries);
  const ordered = flavour === 'dpkg' ? orderLikeDebian12(list) : orderLikeSortV(list, opts.topLevel);
  const bootNames = new Set(bootEntries.map((e) => e.name));
  const rootNames = new Set(rootEntries.map((e) => e.name));
  return ordered.map((image) => {
    const slash = image.lastIndexOf('/');
    const dir = image.slice(0, slash);
    const basename = image.slice(slash + 1);
    const present = dir === '/boot' ? bootNames : rootNames;
    const version = grubKernelVersion(basename);
    const found = initrdCandidates(version, flavour, machine).find((name) => present.has(name));
    const kernel: GrubKernel = {
      image,
      version,
      earlyInitrds: early.filter((name) => present.has(name)).map((name) => `${dir}/${name}`),
    };
    if (found !== undefined) kernel.initrd = `${dir}/${found}`;
    return kernel;
  });
}

