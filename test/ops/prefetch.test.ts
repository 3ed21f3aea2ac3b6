// The background reading of a kernel update's new initrd: the initramfs hook starts it (and names it
// in initrd-prefetch.json), check waits for it, and nobody waits for a reader that is gone.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { waitForPrefetch } from '../../src/core/io/initrd-prefetch';
import { DEFAULT_CONFIG } from '../../src/core/model/config';
import { keepPreviousInitrd } from '../../src/core/ops/backup';
import { check } from '../../src/core/ops/check';
import { installKernel, makeRoot, V, type TempRoot } from '../helpers/root';
import { testWorld } from '../helpers/world';

let root: TempRoot;
let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
  root?.cleanup();
});

const defaults = () => ({ ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files] });
const MARKER = 'var/lib/kbackup/initrd-prefetch.json';
const inKernelUpdate = { DPKG_MAINTSCRIPT_PACKAGE: `linux-image-${V}`, DEB_MAINT_PARAMS: 'configure' };

/** A stand-in reader: a real process whose command line says `prefetch`, as /proc shows the real one's. */
function fakeReader(seconds: number): ChildProcess {
  child = spawn('sh', ['-c', `sleep ${seconds}`, 'prefetch'], { stdio: 'ignore' });
  return child;
}

function writeMarker(pid: number, started = new Date()): void {
  root.write(MARKER, JSON.stringify({ pid, version: V, started: started.toISOString() }));
}

describe('the initramfs hook inside a kernel package', () => {
  it('starts one background reader of the new image, with --root, and names it in the marker', async () => {
    root = makeRoot();
    installKernel(root);
    const started: (readonly string[])[] = [];
    const world = testWorld(root.dir, { env: inKernelUpdate, spawnSelf: (args) => (started.push(args), 4242) });
    const outcome = await keepPreviousInitrd(world, defaults(), V, `/boot/initrd.img-${V}`);
    expect(outcome).toMatchObject({ kept: false, prefetch: 4242 });
    expect(outcome.health).toBeUndefined();
    expect(started).toEqual([['--root', root.dir, '-q', 'hook', 'prefetch', V]]);
    expect(JSON.parse(fs.readFileSync(root.file(MARKER), 'utf8'))).toMatchObject({ pid: 4242, version: V });
  });

  it('outside a kernel package, with ENABLED=no, or for a file that is not the live initrd, starts nothing', async () => {
    root = makeRoot();
    installKernel(root);
    const started: (readonly string[])[] = [];
    const spawnSelf = (args: readonly string[]) => (started.push(args), 4242);
    await keepPreviousInitrd(testWorld(root.dir, { spawnSelf }), defaults(), V, `/boot/initrd.img-${V}`);
    await keepPreviousInitrd(testWorld(root.dir, { env: inKernelUpdate, spawnSelf }), { ...defaults(), enabled: false }, V, `/boot/initrd.img-${V}`);
    await keepPreviousInitrd(testWorld(root.dir, { env: inKernelUpdate, spawnSelf }), defaults(), V, `/tmp/initrd.img-${V}`);
    expect(started).toEqual([]);
    expect(fs.existsSync(root.file(MARKER))).toBe(false);
  });

  it('a reader that cannot be started leaves no marker: the postinst hook reads the image itself', async () => {
    root = makeRoot();
    installKernel(root);
    const world = testWorld(root.dir, { env: inKernelUpdate });
    const outcome = await keepPreviousInitrd(world, defaults(), V, `/boot/initrd.img-${V}`);
    expect(outcome.prefetch).toBeUndefined();
    expect(fs.existsSync(root.file(MARKER))).toBe(false);
    expect(world.logs.join('\n')).toContain('could not start reading the initrd');
  });
});

describe('check and the background reader', () => {
  // /proc is read to tell a reader from another program that got its pid, and from a zombie.
  const realProc = (w: ReturnType<typeof testWorld>) => ({ ...w, machine: { ...w.machine, proc: '/proc' } });

  it('waits for a reader at work, and returns once it has ended', async () => {
    root = makeRoot();
    installKernel(root);
    const reader = fakeReader(0.4);
    const exited = new Promise((resolve) => reader.on('exit', resolve));
    writeMarker(reader.pid!);
    const world = realProc(testWorld(root.dir, { now: new Date().toISOString() }));
    let readerDone = false;
    void exited.then(() => (readerDone = true));
    await check(world, defaults());
    // check returned only after the reader ended (its marker, left behind by this fake reader, is
    // then removed as stale).
    await exited;
    expect(readerDone).toBe(true);
    expect(world.logs.join('\n')).toMatch(/waited \d+ ms for the background reading of the initrd of 6\.1\.0-18-amd64|is gone, or is not a kbackup reader: marker removed/);
    expect(fs.existsSync(root.file(MARKER))).toBe(false);
  });

  it('gives up on a reader that takes too long', async () => {
    root = makeRoot();
    const reader = fakeReader(30);
    writeMarker(reader.pid!);
    const world = realProc(testWorld(root.dir, { now: new Date().toISOString() }));
    const waited = await waitForPrefetch(world, { limitMs: 100, pollMs: 10 });
    expect(waited).toMatchObject({ kind: 'gave-up', version: V });
    // Still named: the reader is at work and removes its own marker when done.
    expect(fs.existsSync(root.file(MARKER))).toBe(true);
  });

  it('does not wait for a pid that is not a reader, nor for a marker older than ten minutes', async () => {
    root = makeRoot();
    const world = realProc(testWorld(root.dir, { now: new Date().toISOString() }));
    writeMarker(process.pid); // this test runner: alive, but no `prefetch` on its command line
    expect(await waitForPrefetch(world, { limitMs: 5_000 })).toMatchObject({ kind: 'stale', pid: process.pid });
    const reader = fakeReader(30);
    writeMarker(reader.pid!, new Date(Date.now() - 11 * 60_000));
    expect(await waitForPrefetch(world, { limitMs: 5_000 })).toMatchObject({ kind: 'stale', pid: reader.pid });
    expect(fs.existsSync(root.file(MARKER))).toBe(false);
  });
});
