// A same-name kernel update on a real Debian 12 or 13 (the shape of Debian's security updates until
// 2025, and still of reinstalls, vendor and self-built kernels): a linux-image package is upgraded
// with dpkg -i, so dpkg overwrites /boot/vmlinuz-V in place. kbackup's shims run from the real
// /etc/kernel/*.d (on Debian 13 through linux-run-hooks) and /etc/initramfs/post-update.d, the real
// update-grub writes grub.cfg (Debian 13's GRUB 2.12 orders with sort -V, Debian 12's with dpkg).
// The tests of one suite build on each other in order and share one chroot, as a machine lives
// through updates; kernel-update.<suite>.test.ts runs them (one file per suite, so they run in parallel).
// Test 7 (the backup boots under qemu) boots the set test 1 made, so it needs no chroot of its own.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backupNamePattern,
  backupSuffixes,
  bootQemu,
  type Chroot,
  createChroot,
  extractFromDeb,
  type FileInfo,
  grubEntries,
  grubLinuxPaths,
  INITRAMFS_BANNER,
  KERNEL_HANDOVER,
  kernelDebs,
  sha256File,
  type Suite,
  SUITE_NUMBER,
} from './harness';

const STEMS = ['vmlinuz', 'initrd.img', 'config', 'System.map'] as const;
type Stem = (typeof STEMS)[number];

/** What differs between the suites. */
interface SuitePlan {
  /** The ordering of /etc/grub.d/10_linux that check --json must report. */
  flavour: 'dpkg' | 'sort-v';
  /** Test 3: this many updates in all with this KEEP leave KEEP sets (Debian 13 runs a shorter cycle). */
  updates: number;
  keep: number;
  /** Test 4: a fresh install of a second flavour (Debian 13's fresh new-ABI install is in new-abi.trixie). */
  freshFlavour: boolean;
}

const PLANS: Record<Suite, SuitePlan> = {
  bookworm: { flavour: 'dpkg', updates: 6, keep: 4, freshFlavour: true },
  trixie: { flavour: 'sort-v', updates: 3, keep: 2, freshFlavour: false },
};

/**
 * Processes running inside the chroot `root` (other test files' chroots aside), with their command
 * lines. Once dpkg has returned there must be none: no hook may leave anything behind.
 */
function processesIn(root: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (path.resolve(fs.readlinkSync(`/proc/${pid}/root`)) !== path.resolve(root)) continue;
      found.push(`${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim()}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

export function kernelUpdateTests(suite: Suite): void {
  const plan = PLANS[suite];
  let c: Chroot;
  let V: string;
  /** Suffixes of the sets created by kernel updates, oldest first, with the live files' shas before each. */
  const created: { suffix: string; before: Record<Stem, FileInfo> }[] = [];
  let updates = 0;

  function liveName(stem: Stem): string {
    return `${stem}-${V}`;
  }
  function backupName(stem: Stem, suffix: string): string {
    return `${stem === 'vmlinuz' ? 'kernel' : stem}-${V}${suffix}`;
  }
  function liveFiles(): Record<Stem, FileInfo> {
    const files = c.bootFiles();
    const out = {} as Record<Stem, FileInfo>;
    for (const stem of STEMS) {
      const info = files[liveName(stem)];
      if (!info) throw new Error(`/boot/${liveName(stem)} is missing`);
      out[stem] = info;
    }
    return out;
  }
  function backupFileNames(): string[] {
    return Object.keys(c.bootFiles()).filter((n) => n.includes('~~backup'));
  }
  function suffixes(): string[] {
    return backupSuffixes(Object.keys(c.bootFiles()), V);
  }

  /** Runs one same-name kernel update and records the backup set it made. */
  async function updateKernel(): Promise<{ code: number; out: string; suffix: string | undefined; deb: string }> {
    const before = liveFiles();
    const had = new Set(suffixes());
    const r = await c.kernelUpdate();
    updates++;
    const out = `${r.stdout}\n${r.stderr}`;
    const made = suffixes().filter((s) => !had.has(s));
    if (made.length > 1) throw new Error(`one update made ${made.length} sets: ${made.join(', ')}`);
    const suffix = made[0];
    if (suffix) created.push({ suffix, before });
    return { code: r.code, out, suffix, deb: r.deb };
  }

  /** /vmlinuz, /vmlinuz.old, /initrd.img, /initrd.img.old: each resolves, and never to a backup. */
  function expectRootLinksSane(): void {
    for (const link of ['/vmlinuz', '/vmlinuz.old', '/initrd.img', '/initrd.img.old']) {
      const file = c.host(link);
      if (!fs.existsSync(file) && !isSymlink(file)) continue; // linux-base makes .old only once there is an old
      expect(isSymlink(file), `${link} is a symlink`).toBe(true);
      const target = fs.readlinkSync(file);
      expect(fs.existsSync(path.resolve(path.dirname(file), target)), `${link} -> ${target} dangles`).toBe(true);
      expect(target, `${link} points at a backup`).not.toMatch(/~~backup|\/kernel-/);
    }
  }
  function isSymlink(file: string): boolean {
    try {
      return fs.lstatSync(file).isSymbolicLink();
    } catch {
      return false;
    }
  }

  beforeAll(async () => {
    c = await createChroot({ suite, label: `kernel-update-${suite}` });
    V = c.kernel.version;
  });

  afterAll(async () => {
    await c?.dispose();
  });

  describe(`Debian ${SUITE_NUMBER[suite]} (${suite}): a same-name kernel update (dpkg -i of linux-image-V with a higher Version)`, () => {
    it('1. makes one complete backup set with the spec names, the old bytes, modes and mtimes, and installs the new files', async () => {
      // A 0600 initrd must stay 0600 in its backup (newer initramfs-tools write them so).
      fs.chmodSync(c.host(`/boot/${liveName('initrd.img')}`), 0o600);
      expect(backupFileNames()).toEqual([]);
      const start = Date.now();

      const u = await updateKernel();

      expect(u.code, u.out).toBe(0);
      expect(await c.packageVersion(c.kernel.imagePackage)).toBe(`${c.kernel.packageVersion}+kbtest1`);
      expect(u.suffix, `no backup set in /boot after the update:\n${u.out}`).toBeDefined();
      const suffix = u.suffix!;
      expect(suffix).toMatch(/^~~backup\d{12}(\.[1-9]\d*)?$/);
      const files = c.bootFiles();
      // Exactly the four files of one set, under the spec's names, and nothing else new.
      expect(backupFileNames().sort()).toEqual(STEMS.map((s) => backupName(s, suffix)).sort());
      for (const stem of STEMS) expect(backupName(stem, suffix)).toMatch(backupNamePattern(stem, V));
      // The set's time is the update's minute (UTC).
      const stamp = /(\d{12})/.exec(suffix)![1]!;
      const when = Date.UTC(+stamp.slice(0, 4), +stamp.slice(4, 6) - 1, +stamp.slice(6, 8), +stamp.slice(8, 10), +stamp.slice(10, 12));
      expect(when).toBeGreaterThanOrEqual(Math.floor(start / 60_000) * 60_000);
      expect(when).toBeLessThanOrEqual(Date.now());

      const before = created[0]!.before;
      for (const stem of STEMS) {
        const b = files[backupName(stem, suffix)]!;
        expect(b.sha256, `${backupName(stem, suffix)} holds the pre-update ${liveName(stem)}`).toBe(before[stem].sha256);
        expect(b.mode, `${backupName(stem, suffix)} keeps the mode`).toBe(before[stem].mode);
        expect(Math.floor(b.mtimeMs / 1000), `${backupName(stem, suffix)} keeps the mtime`).toBe(Math.floor(before[stem].mtimeMs / 1000));
      }
      expect(files[backupName('initrd.img', suffix)]!.mode).toBe(0o600);

      // The live files are the package's new ones (initrd: regenerated by the update).
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kbackup-e2e-'));
      try {
        for (const stem of ['vmlinuz', 'config', 'System.map'] as const) {
          const fromDeb = path.join(tmp, stem);
          await extractFromDeb(u.deb, `/boot/${liveName(stem)}`, fromDeb);
          expect(files[liveName(stem)]!.sha256, `live ${liveName(stem)} is the update's`).toBe(sha256File(fromDeb));
          expect(files[liveName(stem)]!.sha256).not.toBe(before[stem].sha256);
        }
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
      expect(files[liveName('initrd.img')]!.mtimeMs).toBeGreaterThan(start - 1000);

      // kbackup's own view agrees.
      const list = await c.kbackup('list --json');
      expect(list.code, list.stderr).toBe(0);
      const sets = JSON.parse(list.stdout) as { id: string; version: string; complete: boolean; files: { path: string; sha256: string }[] }[];
      expect(sets.map((s) => s.id)).toEqual([`${V}${suffix}`]);
      expect(sets[0]!.version).toBe(V);
      expect(sets[0]!.complete).toBe(true);
      const listed = Object.fromEntries(sets[0]!.files.map((f) => [f.path, f.sha256]));
      for (const stem of STEMS) expect(listed[`/boot/${backupName(stem, suffix)}`]).toBe(before[stem].sha256);

      // The postinst hook read the new initrd in its own time: when dpkg returns no process is left
      // in the chroot, and the summaries hold the new image and its backup (the old one), each
      // read once.
      expect(processesIn(c.host('/'))).toEqual([]);
      const summaries = JSON.parse(c.readFile('/var/lib/kbackup/initrd-summaries.json')) as { entries: { sha256: string }[] };
      expect(summaries.entries.map((e) => e.sha256)).toEqual(
        expect.arrayContaining([files[liveName('initrd.img')]!.sha256, files[backupName('initrd.img', suffix)]!.sha256]),
      );
    });

    it('7. the backed-up kernel and initrd (the archive kernel and the initrd it booted with) boot under qemu into the initramfs', async () => {
      // The set the first update made: the archive's original kernel, not the (re-packed) update.
      const first = created[0];
      expect(first, 'test 1 made a set').toBeDefined();
      const dir = fs.mkdtempSync(path.join(c.work, 'qemu-'));
      // Copied out of the chroot: the boot must not depend on the chroot's mounts.
      const kernel = path.join(dir, backupName('vmlinuz', first!.suffix));
      const initrd = path.join(dir, backupName('initrd.img', first!.suffix));
      fs.copyFileSync(c.host(`/boot/${backupName('vmlinuz', first!.suffix)}`), kernel);
      fs.copyFileSync(c.host(`/boot/${backupName('initrd.img', first!.suffix)}`), initrd);
      expect(sha256File(initrd)).toBe(first!.before['initrd.img'].sha256);
      const original = path.join(dir, 'vmlinuz-from-archive');
      await extractFromDeb(c.kernel.imageDeb, `/boot/vmlinuz-${V}`, original);
      expect(sha256File(kernel)).toBe(sha256File(original));

      const boot = await bootQemu({
        kernel,
        initrd,
        // No root= device exists: the initramfs starts, looks for it, and (panic=-1) reboots, which
        // -no-reboot turns into qemu exiting. We only need to see the hand-over and the banner.
        append: 'console=ttyS0 panic=-1 loglevel=7',
        until: (text) => {
          const handover = text.indexOf(KERNEL_HANDOVER);
          return handover >= 0 && INITRAMFS_BANNER.test(text.slice(handover));
        },
        timeoutMs: 240_000,
      });
      const text = boot.console;
      expect(text, boot.tail).toContain(`Linux version ${V} `);
      expect(text, boot.tail).toContain(KERNEL_HANDOVER);
      expect(text.slice(text.indexOf(KERNEL_HANDOVER)), boot.tail).toMatch(INITRAMFS_BANNER);
      // The kernel unpacked the initrd: a broken or truncated one fails before /init runs.
      expect(text, boot.tail).not.toMatch(/Initramfs unpacking failed|VFS: Unable to mount root fs/);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('2. grub.cfg boots the live kernel first, lists every backup below it with its own initrd, and check --json predicts that order', async () => {
      const cfg = c.readFile('/boot/grub/grub.cfg'); // written by zz-update-grub during the update
      const entries = grubEntries(cfg);
      expect(entries[0]!.linux).toBe(`/boot/vmlinuz-${V}`);
      expect(entries[0]!.initrd).toEqual([`/boot/initrd.img-${V}`]);
      const order = grubLinuxPaths(cfg);
      const liveIndex = order.indexOf(`/boot/vmlinuz-${V}`);
      expect(liveIndex).toBe(0);
      const sfx = suffixes();
      expect(sfx.length).toBeGreaterThan(0);
      for (const s of sfx) {
        const image = `/boot/${backupName('vmlinuz', s)}`;
        expect(order.indexOf(image), `${image} is in the menu, below the live kernel`).toBeGreaterThan(liveIndex);
        for (const e of entries.filter((x) => x.linux === image)) expect(e.initrd).toEqual([`/boot/${backupName('initrd.img', s)}`]);
      }

      const check = await c.kbackup('check --json');
      const report = JSON.parse(check.stdout) as { ok: boolean; flavour: string; predictedOrder: string[]; problems: { code: string }[] };
      // bookworm's 10_linux sorts with dpkg --compare-versions, trixie's GRUB 2.12 with sort -V
      expect(report.flavour).toBe(plan.flavour);
      expect(report.predictedOrder).toEqual(order);
      expect(report.problems, check.stdout).toEqual([]);
      expect(report.ok).toBe(true);
      expect(check.code).toBe(0);
    });

    it(`3. after ${plan.updates} updates with KEEP=${plan.keep} ${plan.keep} whole sets remain (the newest), and /vmlinuz.old and /initrd.img.old never point at a backup nor dangle`, async () => {
      c.writeConfig(`KEEP=${plan.keep}\n`);
      expectRootLinksSane();
      while (updates < plan.updates) {
        const u = await updateKernel();
        expect(u.code, u.out).toBe(0);
        expect(u.suffix, `update ${updates} made no backup:\n${u.out}`).toBeDefined();
        expectRootLinksSane();
        expect(suffixes().length).toBeLessThanOrEqual(plan.keep);
      }
      expect(created.length).toBe(plan.updates);
      expect(plan.updates).toBeGreaterThan(plan.keep); // so that something was pruned
      const kept = created.slice(-plan.keep);
      expect(suffixes()).toEqual(kept.map((k) => k.suffix).sort());
      // Whole sets only: every remaining set has all four files, with the bytes its update replaced.
      const files = c.bootFiles();
      expect(backupFileNames().sort()).toEqual(kept.flatMap((k) => STEMS.map((s) => backupName(s, k.suffix))).sort());
      for (const k of kept) {
        for (const stem of STEMS) expect(files[backupName(stem, k.suffix)]!.sha256).toBe(k.before[stem].sha256);
      }
      const list = JSON.parse((await c.kbackup('list --json')).stdout) as { id: string }[];
      expect(list.map((s) => s.id).sort()).toEqual(kept.map((k) => `${V}${k.suffix}`).sort());
      // The menu still boots the live kernel first.
      expect(grubLinuxPaths(c.readFile('/boot/grub/grub.cfg'))[0]).toBe(`/boot/vmlinuz-${V}`);
    });
  });

  describe(`Debian ${SUITE_NUMBER[suite]}: update-initramfs -u after a backup (what dpkg triggers run when cryptsetup, udev, firmware… change)`, () => {
    it('3b. rebuilds the live initrd and leaves every backup byte-identical', async () => {
      c.writeConfig('KEEP=99\n'); // so that a set the initramfs hook adds prunes nothing here
      const before = c.bootFiles();
      const backups = Object.keys(before).filter((n) => n.includes('~~backup'));
      expect(backups.length).toBeGreaterThan(0);
      const liveInitrd = before[liveName('initrd.img')]!;

      const r = await c.run('update-initramfs -u');

      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toContain(`Generating /boot/initrd.img-${V}\n`);
      const after = c.bootFiles();
      const live = after[liveName('initrd.img')]!;
      expect(live.sha256 !== liveInitrd.sha256 || live.mtimeMs > liveInitrd.mtimeMs, 'the live initrd was rebuilt').toBe(true);
      for (const name of backups) {
        expect(after[name], `${name} still exists`).toBeDefined();
        expect(after[name]!.sha256, `${name} is untouched`).toBe(before[name]!.sha256);
        expect(after[name]!.mtimeMs).toBe(before[name]!.mtimeMs);
      }
      // The initramfs hook keeps the initrd that was replaced (INITRD.dpkg-bak) in a backup set.
      const backupInitrds = Object.keys(after).filter((n) => backupNamePattern('initrd.img', V).test(n));
      expect(backupInitrds.map((n) => after[n]!.sha256)).toContain(liveInitrd.sha256);
      expect(Object.keys(after).filter((n) => n.endsWith('.dpkg-bak') || n.startsWith('.kbackup-tmp'))).toEqual([]);
    });

    it("3b contrast: under the original script's name (vmlinuz-V~~backup…) update-initramfs -u rebuilds the BACKUP's initrd without modules, leaves the live one stale, and linux-base points /vmlinuz.old at the backup", async () => {
      const s = suffixes().at(-1)!;
      const kernelBackup = c.host(`/boot/${backupName('vmlinuz', s)}`);
      const legacyImage = c.host(`/boot/vmlinuz-${V}${s}`);
      const backupInitrd = `/boot/${backupName('initrd.img', s)}`;
      const saved = path.join(c.work, 'saved-initrd');
      fs.copyFileSync(c.host(backupInitrd), saved);
      const savedStat = fs.statSync(saved);
      const before = c.bootFiles();
      const links = Object.fromEntries(['/vmlinuz.old', '/initrd.img.old'].map((l) => [l, fs.readlinkSync(c.host(l))]));
      fs.renameSync(kernelBackup, legacyImage);
      try {
        // linux-base scans vmlinuz-* only, and sorts V~~backup… above V.
        const sorted = await c.mustRun('linux-version list | linux-version sort --reverse');
        expect(sorted.stdout.split('\n')[0]).toBe(`${V}${s}`);
        // …so what the kernel's postinst runs points /vmlinuz.old at the backup (dangling once it is pruned).
        await c.mustRun(`linux-update-symlinks upgrade ${V} /boot/vmlinuz-${V}`);
        expect(fs.readlinkSync(c.host('/vmlinuz.old'))).toBe(`boot/vmlinuz-${V}${s}`);
        expect(fs.readlinkSync(c.host('/initrd.img.old'))).toBe(`boot/initrd.img-${V}${s}`);

        const r = await c.run('update-initramfs -u');

        expect(r.code, r.stderr).toBe(0); // kbackup's initramfs hook refuses the odd version quietly (ON_ERROR=warn)
        expect(r.stdout + r.stderr).toContain(`Generating /boot/initrd.img-${V}${s}`);
        expect(r.stdout + r.stderr).toContain(`missing /lib/modules/${V}${s}`);
        const after = c.bootFiles();
        const b0 = before[backupName('initrd.img', s)]!;
        const b1 = after[backupName('initrd.img', s)]!;
        expect(b1.sha256, "the backup's initrd was rewritten").not.toBe(b0.sha256);
        // Measured by the project: 36 MB -> 5.5 MB; here the same collapse (no /lib/modules/V~~backup…).
        expect(b1.size).toBeLessThan(b0.size / 3);
        expect(after[liveName('initrd.img')]!.sha256, 'the live initrd was left stale').toBe(before[liveName('initrd.img')]!.sha256);
      } finally {
        // Put the set and the links back as they were, for the tests below.
        fs.renameSync(legacyImage, kernelBackup);
        for (const [link, target] of Object.entries(links)) {
          fs.rmSync(c.host(link), { force: true });
          fs.symlinkSync(target, c.host(link));
        }
        fs.copyFileSync(saved, c.host(backupInitrd));
        fs.utimesSync(c.host(backupInitrd), savedStat.atime, savedStat.mtime);
        fs.rmSync(saved);
      }
    });
  });

  describe(`Debian ${SUITE_NUMBER[suite]}: other kernels and restore`, () => {
    if (plan.freshFlavour) it('4. a fresh install of a second flavour (a new ABI, nothing to back up) succeeds and is a quiet no-op for kbackup', async () => {
      const cloud = await kernelDebs('cloud-amd64', { suite });
      const before = c.bootFiles();
      const r = await c.installDeb([cloud.imageDeb, cloud.metaDeb]);
      try {
        const out = `${r.stdout}\n${r.stderr}`;
        expect(r.code, out).toBe(0);
        expect(c.exists(`/boot/vmlinuz-${cloud.version}`)).toBe(true);
        expect(c.exists(`/boot/initrd.img-${cloud.version}`)).toBe(true);
        const after = c.bootFiles();
        expect(Object.keys(after).filter((n) => n.includes('~~backup')).sort()).toEqual(Object.keys(before).filter((n) => n.includes('~~backup')).sort());
        expect(Object.keys(after).filter((n) => n.includes(cloud.version) && n.includes('~~backup'))).toEqual([]);
        // GRUB still agrees with kbackup's model with two flavours installed.
        const check = JSON.parse((await c.kbackup('check --json')).stdout) as { predictedOrder: string[] };
        expect(check.predictedOrder).toEqual(grubLinuxPaths(c.readFile('/boot/grub/grub.cfg')));
        // Quiet: run-parts --report names a hook only when it prints something, so the preinst hook
        // must print nothing at all for a kernel it has nothing to back up of.
        expect(out).not.toMatch(/kbackup: (warning|error)/i);
        expect(out).not.toContain('preinst.d/00-kbackup');
      } finally {
        // Purging that kernel (postrm hook, ON_PURGE=keep) succeeds and leaves the other kernel's
        // backups; done even when an assertion above failed, so that the tests below see one kernel.
        const purge = await c.run(`dpkg --purge ${cloud.metaPackage} ${cloud.imagePackage}`);
        expect(purge.code, purge.stdout + purge.stderr).toBe(0);
        expect(c.exists(`/boot/vmlinuz-${cloud.version}`)).toBe(false);
        const afterPurge = c.bootFiles();
        for (const n of Object.keys(before).filter((x) => x.includes('~~backup'))) expect(afterPurge[n]?.sha256).toBe(before[n]!.sha256);
      }
    });

    it('5. restore ID --yes puts back the exact bytes of the chosen set, and update-grub still boots the live kernel first', async () => {
      const sets = JSON.parse((await c.kbackup('list --json')).stdout) as { id: string; version: string; created: string }[];
      const ours = sets.filter((s) => s.version === V).sort((a, b) => a.id.localeCompare(b.id));
      expect(ours.length).toBeGreaterThan(1);
      const chosen = ours[0]!; // the oldest: its bytes differ from the live ones
      const suffix = chosen.id.slice(V.length);
      const before = c.bootFiles();
      const want = Object.fromEntries(STEMS.map((s) => [s, before[backupName(s, suffix)]!.sha256])) as Record<Stem, string>;
      const liveBefore = liveFiles();
      expect(want.vmlinuz).not.toBe(liveBefore.vmlinuz.sha256);

      const r = await c.kbackup(`restore ${chosen.id} --yes`);

      expect(r.code, r.stdout + r.stderr).toBe(0);
      const live = liveFiles();
      for (const stem of STEMS) expect(live[stem].sha256, `live ${liveName(stem)} restored`).toBe(want[stem]);
      // The live files it replaced were backed up first, as a set of their own.
      const after = c.bootFiles();
      const newSuffixes = suffixes().filter((s) => !before[backupName('vmlinuz', s)]);
      expect(newSuffixes.length).toBe(1);
      for (const stem of STEMS) expect(after[backupName(stem, newSuffixes[0]!)]!.sha256).toBe(liveBefore[stem].sha256);
      // restore ran update-grub; running it again gives the same answer: the live kernel is the default.
      expect(grubLinuxPaths(c.readFile('/boot/grub/grub.cfg'))[0]).toBe(`/boot/vmlinuz-${V}`);
      const cfg = await c.updateGrub();
      expect(grubEntries(cfg)[0]).toMatchObject({ linux: `/boot/vmlinuz-${V}`, initrd: [`/boot/initrd.img-${V}`] });
    });
  });

  describe(`Debian ${SUITE_NUMBER[suite]}: a full /boot`, () => {
    let size = 0;
    beforeAll(async () => {
      c.writeConfig('KEEP=4\n');
      const pruned = await c.kbackup('prune --yes --keep 0');
      expect(pruned.code, pruned.stderr).toBe(0);
      expect(backupFileNames()).toEqual([]);
      // Move /boot onto a tmpfs that holds the live set and the update, but not another backup on
      // top of MIN_FREE_MB=auto (1.2 x (vmlinuz + initrd) + 16 MiB).
      const live = liveFiles();
      const page = (n: number) => Math.ceil(n / 4096) * 4096;
      let used = 0;
      for (const e of walk(c.host('/boot'))) used += page(e) + 4096;
      const minFree = 1.2 * (live.vmlinuz.size + live['initrd.img'].size) + 16 * 1024 * 1024;
      const setSize = STEMS.reduce((n, s) => n + page(live[s].size), 0);
      size = page(used + minFree + setSize / 2);
      const saved = path.join(c.work, 'boot-saved');
      fs.renameSync(c.host('/boot'), saved);
      fs.mkdirSync(c.host('/boot'), { mode: 0o755 });
      const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'kbtest-boot', c.host('/boot')], { encoding: 'utf8' });
      expect(mount.status, mount.stderr).toBe(0);
      const copy = spawnSync('cp', ['-a', `${saved}/.`, c.host('/boot')], { encoding: 'utf8' });
      expect(copy.status, copy.stderr).toBe(0);
      fs.rmSync(saved, { recursive: true, force: true });
    });

    it('6. the update succeeds with a warning and no backup when a backup would not leave MIN_FREE_MB', async () => {
      const df = await c.mustRun('df -B1 --output=size,avail /boot | tail -1');
      expect(Number(df.stdout.trim().split(/\s+/)[0])).toBe(size);
      const u = await updateKernel();
      expect(u.code, u.out).toBe(0);
      expect(u.suffix, 'no backup on a /boot that cannot hold one').toBeUndefined();
      expect(backupFileNames()).toEqual([]);
      expect(u.out).toMatch(/kbackup: warning: .*/);
      expect(await c.packageVersion(c.kernel.imagePackage)).toBe(`${c.kernel.packageVersion}+kbtest${updates}`);
    });

    it('6. with ON_ERROR=fail the same update fails before dpkg touches anything', async () => {
      c.writeConfig('KEEP=4\nON_ERROR=fail\n');
      const before = liveFiles();
      const version = await c.packageVersion(c.kernel.imagePackage);
      const u = await updateKernel();
      expect(u.code, u.out).not.toBe(0);
      expect(u.out).toMatch(/preinst/);
      const after = liveFiles();
      for (const stem of STEMS) expect(after[stem].sha256, `${liveName(stem)} untouched`).toBe(before[stem].sha256);
      expect(await c.packageVersion(c.kernel.imagePackage)).toBe(version);
      expect(backupFileNames()).toEqual([]);
    });
  });

}

function* walk(dir: string): Generator<number> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(full);
    else if (e.isFile()) yield fs.statSync(full).size;
  }
}
