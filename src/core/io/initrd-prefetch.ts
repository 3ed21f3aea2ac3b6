// /var/lib/kbackup/initrd-prefetch.json: names the kbackup process that is reading a new initrd in
// the background. Inside a kernel package's postinst the initramfs hook starts that reading right
// after the image is written, so that it runs while update-grub does; the postinst hook, last of
// /etc/kernel/postinst.d, waits for it and finds the summary in initrd-summaries.json. The file is
// only a hint: a reader that died, or a pid now used by another program, is never waited for long.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { World } from '../world';
import { replaceFile } from './copy';
import { pathsFor } from './paths';

interface Marker {
  pid: number;
  version: string;
  /** ISO 8601, when the reader was started. */
  started: string;
}

/** Readers older than this are not waited for, whatever their pid says (a reused pid, a hung tool). */
const STALE_AFTER_MS = 10 * 60_000;

function markerFile(world: World): string {
  return path.join(pathsFor(world.root).state, 'initrd-prefetch.json');
}

export async function writePrefetchMarker(world: World, marker: Marker): Promise<void> {
  const file = markerFile(world);
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  // A waiter reads the whole marker or none; a crash makes it stale anyway, so it is not fsynced.
  await replaceFile(file, `${JSON.stringify(marker)}\n`, 0o644, { durable: false });
}

async function readMarker(world: World): Promise<Marker | undefined> {
  try {
    const m = JSON.parse(await fs.readFile(markerFile(world), 'utf8')) as Partial<Marker>;
    if (typeof m.pid === 'number' && Number.isInteger(m.pid) && m.pid > 0 && typeof m.version === 'string' && typeof m.started === 'string') {
      return { pid: m.pid, version: m.version, started: m.started };
    }
  } catch {
    // No marker, or not one kbackup wrote: nothing to wait for.
  }
  return undefined;
}

/** Removes the marker if it names `pid` (a reader removes only its own). */
export async function removePrefetchMarker(world: World, pid: number): Promise<void> {
  const marker = await readMarker(world);
  if (marker?.pid === pid) await fs.rm(markerFile(world), { force: true }).catch(() => undefined);
}

/** Whether `pid` is still running as kbackup's reader: alive, and (where /proc tells) a `hook prefetch`. */
async function isReader(world: World, pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH: gone. EPERM: alive but not ours to signal, so not a reader this kbackup started.
    return false;
  }
  const cmdline = await fs.readFile(path.join(world.machine.proc, String(pid), 'cmdline'), 'latin1').catch(() => undefined);
  return cmdline === undefined || cmdline.split('\0').includes('prefetch');
}

export type PrefetchWait =
  | { kind: 'none' }
  /** The marker named no running reader (it died, or ended before its marker was written): removed. */
  | { kind: 'stale'; file: string; pid: number }
  | { kind: 'finished'; version: string; waitedMs: number }
  | { kind: 'gave-up'; version: string; waitedMs: number };

/**
 * Waits while the marker names a running reader, at most `limitMs`; then removes a marker whose
 * reader is gone (it was killed, or ended before the marker was written).
 */
export async function waitForPrefetch(world: World, options: { limitMs: number; pollMs?: number }): Promise<PrefetchWait> {
  const first = await readMarker(world);
  if (!first) return { kind: 'none' };
  const t0 = Date.now();
  const fresh = (m: Marker) => Math.abs(world.now().getTime() - Date.parse(m.started)) < STALE_AFTER_MS;
  if (!fresh(first) || !(await isReader(world, first.pid))) {
    await removePrefetchMarker(world, first.pid);
    return { kind: 'stale', file: markerFile(world), pid: first.pid };
  }
  let marker: Marker | undefined = first;
  do {
    if (Date.now() - t0 >= options.limitMs) return { kind: 'gave-up', version: marker.version, waitedMs: Date.now() - t0 };
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 20));
    marker = await readMarker(world);
  } while (marker && fresh(marker) && (await isReader(world, marker.pid)));
  if (marker) await removePrefetchMarker(world, marker.pid);
  return { kind: 'finished', version: first.version, waitedMs: Date.now() - t0 };
}
