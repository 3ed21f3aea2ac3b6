// The driver chain of the block device behind `/`, read from the running machine's /proc and /sys
// (world.machine), for the initrd health check (model/initrd-health.ts judges).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { moduleNameOf, normalizeModuleName, type RootDriverNeeds } from '../model/initrd-health';
import { exists } from './files';
import type { MachinePaths, World } from '../world';

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

/**
 * The modules an initrd must hold so that the kernel `version` (default: the running one) can mount the
 * device behind `/` on this machine. Empty with a `note` whenever that cannot be told exactly: under
 * --root (the image is for another machine), in a container or VM whose `/` is overlay/virtiofs/9p, or
 * when the kernel has no modules.builtin to tell built-in drivers from modules.
 */
export async function rootDriverNeeds(world: World, options: { version?: string } = {}): Promise<RootDriverNeeds> {
  const machine = world.machine;
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
