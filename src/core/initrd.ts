// Reads initrd images and the running machine for the initrd health check (the judging is pure, in
// initrd-health.ts).
//
// Listing uses the distribution's own tool on the running system (`lsinitramfs -l` from
// initramfs-tools-core, else dracut's `lsinitrd`): it knows every compression the image may use and
// skips prepended early-microcode archives. The few configuration files whose content is compared
// are then extracted by name only: kbackup finds the main archive behind the early cpio archives by
// reading their headers (a few hundred bytes), and pipes `tail -c +N | <decompressor> | cpio -i NAMES`
// into a temporary directory, so neither the image nor its unpacked tree is ever held in memory and
// only the named files touch the disk. A missing tool or an unreadable image is a summary with
// `error` set, never an exception: check turns it into a problem.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { errnoOf } from './errors';
import {
  compareInitrd,
  normalizeModuleName,
  parseListing,
  summarizeListing,
  type Compression,
  type ConfigFileFact,
  type InitrdSummary,
  type InitrdTool,
  type RootDriverNeeds,
} from './initrd-health';
import { modelBoot } from './boot-model';
import { DEFAULT_STEMS, parseBootName } from './names';
import { scanBoot } from './scan';
import type { Problem } from './problems';
import { pathsFor, type World } from './world';

export type { InitrdSummary, RootDriverNeeds } from './initrd-health';

interface ListingResult {
  tool?: InitrdTool;
  text: string;
  error?: string;
  errorKind?: InitrdSummary['errorKind'];
}

// `env LC_ALL=C`: cpio prints month names in the locale, and the listing parser expects C's.
// env exits 127 when the program is not installed, which tells "no such tool" from "bad image" (2).
async function listImage(world: World, image: string): Promise<ListingResult> {
  const attempts: { tool: InitrdTool; args: string[] }[] = [
    { tool: 'lsinitramfs', args: ['-l', image] },
    { tool: 'lsinitrd', args: [image] },
  ];
  for (const { tool, args } of attempts) {
    const r = await world.exec('env', ['LC_ALL=C', tool, ...args], { timeoutMs: 300_000, maxBuffer: 64 * 1024 * 1024 });
    if (r.code === 127 || r.code === 126) continue;
    if (r.code !== 0) {
      const why = lastLines(r.stderr) || `${tool} exited with status ${r.code}`;
      return { tool, text: r.stdout, error: `${tool} failed: ${why}`, errorKind: 'unreadable' };
    }
    return { tool, text: r.stdout };
  }
  return { text: '', error: 'neither lsinitramfs nor lsinitrd is installed', errorKind: 'tool-missing' };
}

function lastLines(text: string, n = 2): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(-n)
    .join('; ');
}

export interface ImageLayout {
  /** Uncompressed cpio archives before the main one (early microcode, dracut's early_cpio). */
  earlyArchives: number;
  /** Byte offset of the main archive. */
  mainOffset: number;
  compression: Compression;
}

const MAGICS: { compression: Compression; bytes: number[] }[] = [
  { compression: 'gzip', bytes: [0x1f, 0x8b] },
  { compression: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd] },
  { compression: 'xz', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { compression: 'lz4', bytes: [0x02, 0x21, 0x4c, 0x18] }, // legacy frame, what mkinitramfs writes
  { compression: 'lz4', bytes: [0x04, 0x22, 0x4d, 0x18] },
  { compression: 'bzip2', bytes: [0x42, 0x5a, 0x68] },
  { compression: 'lzo', bytes: [0x89, 0x4c, 0x5a, 0x4f] },
  { compression: 'lzma', bytes: [0x5d, 0x00, 0x00] },
];

function compressionOf(head: Buffer): Compression {
  if (head.subarray(0, 6).toString('latin1').startsWith('07070')) return 'none';
  for (const { compression, bytes } of MAGICS) {
    if (bytes.every((b, i) => head[i] === b)) return compression;
  }
  return 'unknown';
}

/**
 * Where the main archive starts, found as the kernel (lib/earlycpio.c) and unmkinitramfs do: walk
 * the `newc` headers of uncompressed archives at the front, skip the zero padding after each
 * TRAILER!!!, and stop at the first thing that is not a cpio header. Reads only headers.
 */
export async function imageLayout(image: string): Promise<ImageLayout> {
  const fh = await fs.open(image, 'r');
  try {
    const { size } = await fh.stat();
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
      if (buf.length > 0) await fh.read(buf, 0, buf.length, offset);
      return buf;
    };
    let offset = 0;
    let archiveStart = 0;
    let earlyArchives = 0;
    let inArchive = false;
    for (let guard = 0; guard < 1_000_000 && offset < size; guard++) {
      const header = await read(offset, 110);
      const magic = header.subarray(0, 6).toString('latin1');
      if (magic === '070701' || magic === '070702') {
        if (!inArchive) {
          inArchive = true;
          archiveStart = offset;
        }
        const fileSize = parseInt(header.subarray(54, 62).toString('latin1'), 16);
        const nameSize = parseInt(header.subarray(94, 102).toString('latin1'), 16);
        if (!Number.isFinite(fileSize) || !Number.isFinite(nameSize)) break;
        const name = (await read(offset + 110, Math.min(nameSize, 4096))).toString('latin1').replace(/\0.*$/s, '');
        offset = align4(align4(offset + 110 + nameSize) + fileSize);
        if (name === 'TRAILER!!!') {
          inArchive = false;
          earlyArchives++;
          offset = await skipZeros(read, offset, size);
        }
        continue;
      }
      break;
    }
    // Cut off inside an uncompressed archive: nothing after it can be trusted.
    if (inArchive) return { earlyArchives, mainOffset: archiveStart, compression: 'unknown' };
    if (offset >= size) {
      // The whole image is uncompressed cpio: its last archive is the main one.
      return { earlyArchives: Math.max(0, earlyArchives - 1), mainOffset: archiveStart, compression: 'none' };
    }
    return { earlyArchives, mainOffset: offset, compression: compressionOf(await read(offset, 8)) };
  } finally {
    await fh.close();
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

async function skipZeros(read: (offset: number, length: number) => Promise<Buffer>, offset: number, size: number): Promise<number> {
  let at = offset;
  while (at < size) {
    const chunk = await read(at, 4096);
    const nonZero = chunk.findIndex((b) => b !== 0);
    if (nonZero >= 0) return at + (nonZero & ~3);
    at += chunk.length;
  }
  return at;
}

// The decompressor is chosen by name inside the script, so no caller-supplied word is ever run.
const EXTRACT_SCRIPT = `set -e
image=$1; offset=$2; compression=$3; dir=$4; shift 4
case "$compression" in
  none) dec="cat" ;;
  gzip) dec="gzip -dc" ;;
  zstd) dec="zstd -dcq" ;;
  xz|lzma) dec="xz -dc" ;;
  lz4) dec="lz4 -dc" ;;
  bzip2) dec="bzip2 -dc" ;;
  lzo) dec="lzop -dc" ;;
  *) echo "unknown compression $compression" >&2; exit 2 ;;
esac
tail -c +"$offset" -- "$image" | $dec | (cd "$dir" && cpio -i -d --quiet --no-absolute-filenames --no-preserve-owner -- "$@")
`;

/** cpio treats its arguments as shell patterns: match the names literally. */
function literalPattern(name: string): string {
  return name.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function extractConfigs(world: World, image: string, layout: ImageLayout, names: readonly string[], sizes: Map<string, number>): Promise<Record<string, ConfigFileFact>> {
  const configs: Record<string, ConfigFileFact> = {};
  for (const n of names) configs[n] = { size: sizes.get(n) ?? 0 };
  if (names.length === 0 || layout.compression === 'unknown') return configs;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kbackup-initrd-'));
  try {
    const r = await world.exec(
      'sh',
      ['-c', EXTRACT_SCRIPT, 'kbackup-extract', image, String(layout.mainOffset + 1), layout.compression, dir, ...names.map(literalPattern)],
      { timeoutMs: 300_000, maxBuffer: 4 * 1024 * 1024 },
    );
    if (r.code !== 0) world.log.debug(`extracting configuration files from ${image}: ${lastLines(r.stderr) || `status ${r.code}`}`);
    for (const n of names) {
      const file = path.join(dir, n);
      try {
        const st = await fs.lstat(file);
        if (!st.isFile()) continue;
        configs[n] = { size: st.size, sha256: await sha256File(file) };
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') world.log.debug(`hashing ${n} from ${image}: ${String(err)}`);
      }
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  return configs;
}

function emptySummary(image: string): InitrdSummary {
  const summary: InitrdSummary = { path: image, entries: 0, kernelVersions: [], modules: [], moduleFiles: 0, modulesDep: {}, configs: {} };
  const parsed = parseBootName(path.basename(image), ['initrd.img']);
  if (parsed && parsed.stem === 'initrd.img') summary.nameVersion = parsed.version;
  return summary;
}

/**
 * Lists an initrd with the distribution's tool and hashes its configuration files. Never throws for a
 * missing tool or a bad image: the summary then has `error` (and `errorKind`) set.
 */
export async function readInitrd(world: World, image: string): Promise<InitrdSummary> {
  const summary = emptySummary(image);
  let st;
  try {
    st = await fs.stat(image);
  } catch (err) {
    return { ...summary, error: errnoOf(err) === 'ENOENT' ? 'no such file' : String((err as Error).message ?? err), errorKind: 'unreadable' };
  }
  if (!st.isFile()) return { ...summary, error: 'not a regular file', errorKind: 'unreadable' };
  summary.size = st.size;
  if (st.size === 0) return { ...summary, error: 'the file is empty', errorKind: 'unreadable' };

  let layout: ImageLayout;
  try {
    layout = await imageLayout(image);
  } catch (err) {
    world.log.debug(`reading the archive headers of ${image}: ${String(err)}`);
    layout = { earlyArchives: 0, mainOffset: 0, compression: 'unknown' };
  }

  const listing = await listImage(world, image);
  if (listing.tool) summary.tool = listing.tool;
  // unmkinitramfs takes every uncompressed archive for an early one and then fails on the empty
  // "main" archive after them; the kernel boots such an image, and the listing is complete.
  const wholeImageListed = layout.compression === 'none' && listing.errorKind === 'unreadable' && listing.tool === 'lsinitramfs';
  if (listing.error !== undefined && !wholeImageListed) {
    return { ...summary, error: listing.error, ...(listing.errorKind ? { errorKind: listing.errorKind } : {}) };
  }

  const entries = parseListing(listing.text);
  if (entries.length === 0) return { ...summary, error: listing.error ?? `${listing.tool} listed no files`, errorKind: 'unreadable' };
  const facts = summarizeListing(entries);
  Object.assign(summary, {
    entries: facts.entries,
    kernelVersions: facts.kernelVersions,
    modules: facts.modules,
    moduleFiles: facts.moduleFiles,
    modulesDep: facts.modulesDep,
  });

  summary.compression = layout.compression;
  summary.earlyArchives = layout.earlyArchives;
  const sizes = new Map(entries.filter((e) => e.type === 'file').map((e) => [e.path, e.size] as const));
  summary.configs = await extractConfigs(world, image, layout, facts.configPaths, sizes);
  return summary;
}

// ---------------------------------------------------------------------------------------------
// The driver chain of the block device behind `/`.

/** Where the running machine's /proc, /sys and /lib/modules are; tests point these at a fake tree. */
export interface MachinePaths {
  proc: string;
  sys: string;
  /** Directories holding <version>/modules.builtin, first found wins. */
  modules: string[];
}

const REAL_MACHINE: MachinePaths = { proc: '/proc', sys: '/sys', modules: ['/lib/modules', '/usr/lib/modules'] };

/** File systems that are not on a local block device: nothing in the initrd drives them. */
const NON_BLOCK_FS = new Set(['overlay', 'virtiofs', '9p', 'tmpfs', 'ramfs', 'rootfs', 'nfs', 'nfs4', 'cifs', 'smb3', 'aufs', 'ceph', 'glusterfs']);

/** Root file system types whose module has another name (Debian builds ext2/ext3 support into ext4). */
const FS_MODULE: Record<string, string> = { ext2: 'ext4', ext3: 'ext4', fuseblk: 'fuse', msdos: 'msdos', vfat: 'vfat' };

interface RootMount {
  major: number;
  minor: number;
  fstype: string;
  source: string;
}

/** The mount at `/` (the last one listed, as later mounts hide earlier ones). */
export function rootMountOf(mountinfo: string): RootMount | undefined {
  let found: RootMount | undefined;
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    if (left[4] !== '/') continue;
    const [maj, min] = (left[2] ?? '').split(':').map(Number);
    if (maj === undefined || min === undefined || !Number.isFinite(maj) || !Number.isFinite(min)) continue;
    found = { major: maj, minor: min, fstype: right[0] ?? '', source: unescapeMount(right[1] ?? '') };
  }
  return found;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

async function readTrim(file: string): Promise<string | undefined> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch {
    return false;
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch {
    return [];
  }
}

/** md's `level` → the personality module (raid4/5/6 are all raid456). */
function mdLevelModule(level: string): string | undefined {
  if (/^raid[456]$/.test(level)) return 'raid456';
  if (/^raid(0|1|10)$/.test(level)) return level;
  if (level === 'linear' || level === 'multipath') return level;
  return undefined;
}

/** dm's `uuid` prefix (set by the tool that made the device) → the target module. */
function dmTargetModule(uuid: string): string | undefined {
  if (uuid.startsWith('CRYPT-')) return 'dm_crypt';
  if (uuid.startsWith('mpath-')) return 'dm_multipath';
  if (uuid.startsWith('LVM-')) return undefined; // linear/striped targets are part of dm_mod
  return undefined;
}

interface DriverFact {
  name: string;
  /** True when sysfs says it is a module of its own (driver/module link); false = built in. */
  hasModuleLink: boolean;
}

/** The drivers of a device and all its parents: virtio_blk ← virtio_pci, sd_mod ← ahci, nvme, … */
async function driversUpFrom(sys: string, deviceDir: string): Promise<DriverFact[]> {
  const out: DriverFact[] = [];
  const stop = path.join(sys, 'devices');
  let dir = deviceDir;
  for (let i = 0; i < 64 && dir.startsWith(stop) && dir !== stop; i++) {
    const driverLink = path.join(dir, 'driver');
    if (await exists(driverLink)) {
      let moduleName: string | undefined;
      try {
        moduleName = path.basename(await fs.realpath(path.join(driverLink, 'module')));
      } catch {
        moduleName = undefined;
      }
      const driverName = path.basename(await fs.realpath(driverLink).catch(() => driverLink));
      out.push({ name: normalizeModuleName(moduleName ?? driverName), hasModuleLink: moduleName !== undefined });
    }
    dir = path.dirname(dir);
  }
  return out;
}

async function blockChain(sys: string, blockDir: string, seen: Set<string>, chain: DriverFact[], devices: string[]): Promise<void> {
  const real = await fs.realpath(blockDir);
  if (seen.has(real)) return;
  seen.add(real);
  devices.push(path.basename(real));
  // A partition's directory sits inside its disk's.
  const disk = (await exists(path.join(real, 'partition'))) ? path.dirname(real) : real;
  const dmUuid = await readTrim(path.join(disk, 'dm', 'uuid'));
  const mdLevel = await readTrim(path.join(disk, 'md', 'level'));
  if (dmUuid !== undefined || (await exists(path.join(disk, 'dm')))) {
    chain.push({ name: 'dm_mod', hasModuleLink: true });
    const target = dmTargetModule(dmUuid ?? '');
    if (target) chain.push({ name: target, hasModuleLink: true });
  } else if (mdLevel !== undefined) {
    chain.push({ name: 'md_mod', hasModuleLink: true });
    const personality = mdLevelModule(mdLevel);
    if (personality) chain.push({ name: personality, hasModuleLink: true });
  } else if (path.basename(disk).startsWith('loop')) {
    chain.push({ name: 'loop', hasModuleLink: true });
  }
  const slaves = await listDir(path.join(disk, 'slaves'));
  for (const s of slaves) await blockChain(sys, path.join(disk, 'slaves', s), seen, chain, devices);
  if (slaves.length === 0 && (await exists(path.join(disk, 'device')))) {
    chain.push(...(await driversUpFrom(sys, await fs.realpath(path.join(disk, 'device')))));
  }
}

async function readBuiltin(machine: MachinePaths, version: string): Promise<Set<string> | undefined> {
  for (const dir of machine.modules) {
    const text = await readTrim(path.join(dir, version, 'modules.builtin'));
    if (text === undefined) continue;
    const names = new Set<string>();
    for (const line of text.split('\n')) {
      const name = moduleNameOf(line.trim());
      if (name) names.add(name);
    }
    return names;
  }
  return undefined;
}

function moduleNameOf(p: string): string | undefined {
  const m = /([^/]+)\.ko(?:\.[a-z0-9]+)?$/.exec(p);
  return m ? normalizeModuleName(m[1]!) : undefined;
}

/**
 * The modules an initrd must hold so that the kernel `version` (default: the running one) can mount the
 * device behind `/` on this machine. Empty with a `note` whenever that cannot be told exactly: under
 * --root (the image is for another machine), in a container or VM whose `/` is overlay/virtiofs/9p, or
 * when the kernel has no modules.builtin to tell built-in drivers from modules.
 */
export async function rootDriverNeeds(world: World, options: { version?: string; machine?: MachinePaths } = {}): Promise<RootDriverNeeds> {
  const machine = options.machine ?? REAL_MACHINE;
  const version = options.version ?? world.uname();
  if (path.resolve(world.root) !== '/') {
    return { modules: [], builtin: [], note: `skipped: --root ${world.root} is not the running system, whose drivers are in /sys` };
  }
  const mountinfo = await readTrim(path.join(machine.proc, 'self', 'mountinfo'));
  const mount = mountinfo === undefined ? undefined : rootMountOf(mountinfo);
  if (!mount) return { modules: [], builtin: [], note: `cannot find / in ${machine.proc}/self/mountinfo` };
  let { major, minor } = mount;
  const fsModule = FS_MODULE[mount.fstype] ?? normalizeModuleName(mount.fstype);
  if (NON_BLOCK_FS.has(mount.fstype) || mount.fstype.startsWith('fuse.')) {
    return { modules: [], builtin: [], note: `/ is ${mount.fstype} (${mount.source}), not a local block device: no root driver to check` };
  }
  if (major === 0) {
    // btrfs (and zfs) report an anonymous device number; the source names the real device.
    if (!mount.source.startsWith('/dev/')) {
      return { modules: [], builtin: [], note: `/ is ${mount.fstype} on ${mount.source}, not a block device kbackup can follow` };
    }
    try {
      const st = await fs.stat(mount.source);
      // glibc's dev_t layout (gnu_dev_major/minor) for numbers below 2^32.
      major = (st.rdev >>> 8) & 0xfff;
      minor = (st.rdev & 0xff) | ((st.rdev >>> 12) & 0xfff00);
    } catch {
      return { modules: [], builtin: [], note: `/ is ${mount.fstype} on ${mount.source}, which cannot be opened to find its driver` };
    }
  }
  const blockDir = path.join(machine.sys, 'dev', 'block', `${major}:${minor}`);
  if (!(await exists(blockDir))) {
    return { modules: [], builtin: [], note: `/ is on ${major}:${minor} (${mount.source}), which ${machine.sys}/dev/block does not list` };
  }
  const chain: DriverFact[] = [];
  const devices: string[] = [];
  await blockChain(machine.sys, blockDir, new Set(), chain, devices);
  chain.push({ name: fsModule, hasModuleLink: true });
  const device = `/dev/${devices[0]}`;

  const names = [...new Set(chain.map((c) => c.name))];
  const builtinSet = await readBuiltin(machine, version);
  if (builtinSet === undefined) {
    let hasModulesDir = false;
    for (const dir of machine.modules) hasModulesDir ||= await exists(path.join(dir, version));
    return {
      device,
      modules: [],
      builtin: names,
      note: hasModulesDir
        ? `lib/modules/${version}/modules.builtin is missing, so built-in drivers cannot be told from modules: root driver check skipped`
        : `kernel ${version} has no lib/modules/${version}: it loads no modules from disk, so its drivers are built in`,
    };
  }
  // A driver without a module link in sysfs is built in even if modules.builtin forgot it.
  const linkless = new Set(chain.filter((c) => !c.hasModuleLink).map((c) => c.name));
  const builtin = names.filter((n) => builtinSet.has(n) || linkless.has(n));
  const modules = names.filter((n) => !builtin.includes(n));
  return { device, modules, builtin };
}

// ---------------------------------------------------------------------------------------------
// Finding the images to compare.

export interface InitrdBackup {
  /** The set ID: `V~~backupYYYYMMDDHHMM[.N]`. */
  id: string;
  version: string;
  stamp: string;
  seq: number;
  /** Host path of the backup initrd. */
  path: string;
}

/**
 * Backup initrds in <root>/boot, newest first per version: the initrds of the backup sets as the
 * scan and boot model see them (one reading of /boot's names for every command).
 */
export async function listInitrdBackups(world: World, version?: string): Promise<InitrdBackup[]> {
  const boot = pathsFor(world.root).boot;
  const { sets } = modelBoot(await scanBoot(boot, DEFAULT_STEMS));
  return sets.flatMap((set) => {
    const initrd = set.files.get('initrd.img');
    if (!initrd || (version !== undefined && set.version !== version)) return [];
    return [{ id: set.id, version: set.version, stamp: set.stamp, seq: set.seq, path: path.join(boot, initrd.name) }];
  });
}

export function liveInitrdPath(world: World, version: string): string {
  return path.join(pathsFor(world.root).boot, `initrd.img-${version}`);
}

// ---------------------------------------------------------------------------------------------
// What check and the hooks call.

export interface InitrdAssessment {
  version: string;
  live: InitrdSummary;
  /** The newest backup initrd of the same version, if any. */
  previous?: InitrdSummary;
  previousId?: string;
  needs?: RootDriverNeeds;
  problems: Problem[];
}

/**
 * The live initrd of `version` judged against its newest backup and against the drivers `/` needs.
 * In the postinst hook that backup is the set preinst just made; in the initramfs hook, the one made
 * from INITRD.dpkg-bak. Root drivers are only checked on the running system (not under --root).
 */
export async function assessInitrd(world: World, version: string, options: { rootDrivers?: boolean; machine?: MachinePaths } = {}): Promise<InitrdAssessment> {
  const [newest] = await listInitrdBackups(world, version);
  const wantNeeds = options.rootDrivers ?? true;
  const [live, previous, needs] = await Promise.all([
    readInitrd(world, liveInitrdPath(world, version)),
    newest ? readInitrd(world, newest.path) : Promise.resolve(undefined),
    wantNeeds ? rootDriverNeeds(world, { version, ...(options.machine ? { machine: options.machine } : {}) }) : Promise.resolve(undefined),
  ]);
  if (needs?.note) world.log.debug(`root driver check for ${version}: ${needs.note}`);
  const assessment: InitrdAssessment = { version, live, problems: compareInitrd(live, previous, needs) };
  if (previous) assessment.previous = previous;
  if (newest) assessment.previousId = newest.id;
  if (needs) assessment.needs = needs;
  return assessment;
}

/** check's initrd section: the problems of every given kernel version's live initrd, in order. */
export async function initrdProblemsFor(world: World, versions: readonly string[]): Promise<Problem[]> {
  const problems: Problem[] = [];
  // One at a time: each image is decompressed twice, and check should not take both cores from dpkg.
  for (const version of versions) problems.push(...(await assessInitrd(world, version)).problems);
  return problems;
}
