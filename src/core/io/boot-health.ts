// Reads what a boot's verdict compares (model/verdict.ts): the addressed network interfaces
// (`ip -j addr`, /proc/net/route and ipv6_route), the fstab mounts (/etc/fstab against
// /proc/self/mountinfo), the units (systemctl) and the checks RequiredBy=boot-complete.target.
// Everything comes through the World: tests give a fake /proc and /sys under --root and a fake exec.
// A fact that cannot be read (no iproute2, no systemd) is left out, and so judges nothing.
import * as path from 'node:path';
import type { World } from '../world';
import type { BootHealth, InterfaceFact } from '../model/boots';
import type { BootObservation } from '../model/verdict';
import { readText } from './files';

/** Where the boot's /proc and /sys are: the machine's, or under --root DIR (a recorded boot seen from outside, as in tests). */
function machineDirs(world: World): { proc: string; sys: string } {
  return world.root === '/' ? { proc: world.machine.proc, sys: world.machine.sys } : { proc: path.join(world.root, 'proc'), sys: path.join(world.root, 'sys') };
}

/** Unit types whose being active means something ran (not devices, scopes or slices, which come and go). */
const UNIT_TYPES = ['.service', '.socket', '.mount', '.swap', '.target', '.timer', '.path', '.automount'];
/** kbackup's own units are judged by being there, not compared. */
const OWN_UNIT = /^kbackup[-.@]/;

interface IpAddr {
  ifname?: string;
  address?: string;
  permaddr?: string;
  link_type?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[];
}

/** Interfaces with a global address, from `ip -j addr show`; undefined when ip cannot run. */
async function readAddresses(world: World): Promise<{ name: string; mac: string | null; addresses: string[] }[] | undefined> {
  const r = await world.exec('ip', ['-j', 'addr', 'show'], { timeoutMs: 10_000 });
  if (r.code !== 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  const out: { name: string; mac: string | null; addresses: string[] }[] = [];
  for (const link of parsed as IpAddr[]) {
    if (!link.ifname || link.link_type === 'loopback') continue;
    const addresses = (link.addr_info ?? [])
      .filter((a) => a.scope === 'global' && typeof a.local === 'string')
      .map((a) => `${a.local}/${a.prefixlen ?? (a.family === 'inet6' ? 128 : 32)}`);
    // A bond or a VLAN shares its MAC with its members; the permanent one tells the NIC apart.
    const mac = (link.permaddr ?? link.address ?? '').toLowerCase();
    out.push({ name: link.ifname, mac: /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac) && mac !== '00:00:00:00:00:00' ? mac : null, addresses });
  }
  return out;
}

/** Interfaces a default route goes out through (IPv4 /proc/net/route, IPv6 /proc/net/ipv6_route). */
export function defaultRouteInterfaces(route: string | undefined, ipv6Route: string | undefined): Set<string> {
  const names = new Set<string>();
  for (const line of (route ?? '').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Iface Destination Gateway Flags RefCnt Use Metric Mask ...; RTF_UP is flag 0x1.
    if (f.length >= 8 && f[1] === '00000000' && f[7] === '00000000' && (parseInt(f[3]!, 16) & 1) === 1) names.add(f[0]!);
  }
  for (const line of (ipv6Route ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    // dest destlen src srclen nexthop metric refcnt use flags iface; RTF_REJECT (0x200) is the kernel's unreachable default on lo.
    if (f.length >= 10 && /^0{32}$/.test(f[0]!) && f[1] === '00' && f[9] !== 'lo' && (parseInt(f[8]!, 16) & 0x200) === 0) names.add(f[9]!);
  }
  return names;
}

/** All current interfaces, addressed or not (the verdict looks a lost address up by MAC among them). */
export async function readAllInterfaces(world: World): Promise<InterfaceFact[] | undefined> {
  const { proc } = machineDirs(world);
  const [links, route, route6] = await Promise.all([
    readAddresses(world),
    readText(path.join(proc, 'net/route')).catch(() => undefined),
    readText(path.join(proc, 'net/ipv6_route')).catch(() => undefined),
  ]);
  if (!links) return undefined;
  const defaults = defaultRouteInterfaces(route, route6);
  return links.map((l) => ({ ...l, defaultRoute: defaults.has(l.name) }));
}

const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
const normalMountPoint = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p);

/** Mount points of /proc/self/mountinfo. */
export function mountPoints(mountinfo: string): Set<string> {
  const out = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field) out.add(normalMountPoint(unescapeMount(field)));
  }
  return out;
}

/** fstab's file systems: all that mount at boot, and those a boot must have (not nofail). */
export function fstabMounts(fstab: string): { atBoot: string[]; required: string[] } {
  const atBoot: string[] = [];
  const required: string[] = [];
  for (const raw of fstab.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [, file, type, opts = 'defaults'] = line.split(/\s+/);
    if (!file || !file.startsWith('/') || type === 'swap') continue;
    const options = opts.split(',');
    if (options.includes('noauto')) continue;
    const mountPoint = normalMountPoint(unescapeMount(file));
    atBoot.push(mountPoint);
    if (!options.includes('nofail')) required.push(mountPoint);
  }
  return { atBoot, required };
}

/** `systemctl list-units --all --plain`: the active and the failed units. */
export function parseListUnits(text: string): { active: string[]; failed: string[] } {
  const active: string[] = [];
  const failed: string[] = [];
  for (const raw of text.split('\n')) {
    const f = raw.replace(/^\s*[●*]\s*/, '').trim().split(/\s+/);
    const [unit, , state] = f;
    if (!unit || !state || !UNIT_TYPES.some((t) => unit.endsWith(t)) || OWN_UNIT.test(unit)) continue;
    if (state === 'active') active.push(unit);
    else if (state === 'failed') failed.push(unit);
  }
  return { active: active.sort(), failed: failed.sort() };
}

/** `systemctl show -p Id,ActiveState,Result,InactiveExitTimestampMonotonic u1 u2 …`: one block per unit. */
export function parseShowBlocks(text: string): Record<string, string>[] {
  return text
    .split(/\n\s*\n/)
    .map((block) => Object.fromEntries(block.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])))
    .filter((b) => b.Id);
}

/** How a unit boot-complete.target requires ended: a oneshot that exited 0 is inactive with Result=success, but it ran. */
export function bootCompleteResult(b: Record<string, string>): 'success' | 'failed' | 'pending' {
  if (b.ActiveState === 'failed' || (b.Result && b.Result !== 'success')) return 'failed';
  if (b.ActiveState === 'active') return 'success';
  if (b.ActiveState === 'inactive' && b.InactiveExitTimestampMonotonic && b.InactiveExitTimestampMonotonic !== '0') return 'success';
  return 'pending';
}

async function readUnits(world: World): Promise<{ active: string[]; failed: string[]; bootComplete: BootObservation['bootComplete'] } | undefined> {
  const list = await world.exec('systemctl', ['list-units', '--all', '--plain', '--no-legend', '--no-pager', '--full'], { timeoutMs: 30_000 });
  if (list.code !== 0) return undefined;
  const units = parseListUnits(list.stdout);
  const requires = await world.exec('systemctl', ['show', '--property=Requires', '--value', 'boot-complete.target'], { timeoutMs: 30_000 });
  const names = requires.code === 0 ? requires.stdout.split(/\s+/).filter((u) => u && !OWN_UNIT.test(u)) : [];
  let bootComplete: BootObservation['bootComplete'] = [];
  if (names.length > 0) {
    const show = await world.exec('systemctl', ['show', '--property=Id,ActiveState,Result,InactiveExitTimestampMonotonic', ...names], { timeoutMs: 30_000 });
    bootComplete = show.code === 0 ? parseShowBlocks(show.stdout).map((b) => ({ unit: b.Id!, result: bootCompleteResult(b) })) : undefined;
  }
  return { ...units, bootComplete };
}

/** The current boot as its verdict sees it, and the health facts it is recorded with. */
export async function observeBoot(world: World): Promise<BootObservation> {
  const { proc } = machineDirs(world);
  const [interfaces, mountinfo, fstab, units] = await Promise.all([
    readAllInterfaces(world),
    readText(path.join(proc, 'self/mountinfo')).catch(() => undefined),
    readText(path.join(world.root, 'etc/fstab')).catch(() => undefined),
    readUnits(world),
  ]);
  const health: BootHealth = {};
  const observation: BootObservation = { health };
  if (interfaces) health.interfaces = interfaces;
  if (mountinfo !== undefined) {
    const mounted = mountPoints(mountinfo);
    const { atBoot, required } = fstabMounts(fstab ?? '');
    health.mounts = atBoot.filter((m) => mounted.has(m));
    observation.fstabRequired = required;
  }
  if (units) {
    health.units = units.active;
    observation.failedUnits = units.failed;
    if (units.bootComplete) observation.bootComplete = units.bootComplete;
  }
  return observation;
}

/** The health facts a record keeps: only the interfaces that had an address. */
export function recordedHealth(observation: BootObservation): BootHealth {
  const h = observation.health;
  const out: BootHealth = {};
  if (h.interfaces) out.interfaces = h.interfaces.filter((i) => i.addresses.length > 0);
  if (h.mounts) out.mounts = h.mounts;
  if (h.units) out.units = h.units;
  return out;
}
