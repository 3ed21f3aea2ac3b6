// The built CLI on temp roots: boot records, the known-good, and trial boots from arming to
// promotion or fallback. GRUB's part (08_kbackup moving armed → booting → failed at each start) is
// played here with grub-editenv, as the snippet's save_env would; the real GRUB does it in the e2e
// tier. Under --root, kbackup reads the boot from DIR/proc (cmdline, boot_id, osrelease).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bytes, installKernel, kbackup, makeRoot, requireBuiltCli, V, type TempRoot } from '../helpers/root';
import { backup, booted, editenv, env, grubCfg, live, UUID } from '../helpers/trial';

const V2 = '6.1.0-19-amd64';
let root: TempRoot;
beforeAll(() => {
  requireBuiltCli();
});
afterEach(() => root?.cleanup());

/** A machine on V with TRIAL_BOOT=yes, booted once and recorded. */
function recordedMachine(): TempRoot {
  const r = makeRoot();
  r.config('TRIAL_BOOT=yes\n');
  installKernel(r, V, 1);
  grubCfg(r, [live(V)]);
  editenv(r, 'create');
  booted(r, `vmlinuz-${V}`, V, 'boot-1');
  const rec = kbackup(r, ['boot-record']);
  expect(rec.code, rec.stderr).toBe(0);
  return r;
}

describe('boot-record', () => {
  it('records the booted image and initrd with their sha256; the newest record is the known-good', () => {
    root = recordedMachine();
    const boots = JSON.parse(fs.readFileSync(root.file('var/lib/kbackup/boots.json'), 'utf8'));
    expect(boots).toHaveLength(1);
    expect(boots[0]).toMatchObject({
      bootId: 'boot-1',
      version: V,
      image: `/boot/vmlinuz-${V}`,
      initrd: `/boot/initrd.img-${V}`,
      imageSha256: root.sha(`boot/vmlinuz-${V}`),
      initrdSha256: root.sha(`boot/initrd.img-${V}`),
      setId: null,
      trial: null,
    });
    // The same boot recorded again is still one record.
    expect(kbackup(root, ['boot-record']).code).toBe(0);
    booted(root, `vmlinuz-${V}`, V, 'boot-2');
    expect(kbackup(root, ['boot-record']).code).toBe(0);
    const after = JSON.parse(fs.readFileSync(root.file('var/lib/kbackup/boots.json'), 'utf8'));
    expect(after.map((b: { bootId: string }) => b.bootId)).toEqual(['boot-1', 'boot-2']);
    const status = kbackup(root, ['status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).knownGood.bootId).toBe('boot-2');
  });

  it('a backup set that booted is listed with its boot times and as the known-good, and no prune removes it', () => {
    root = recordedMachine();
    expect(kbackup(root, ['snapshot', V]).code).toBe(0);
    const [set] = JSON.parse(kbackup(root, ['list', '--json']).stdout) as { id: string }[];
    // The live files change (a same-name update); the machine then boots the backup from the menu.
    root.write(`boot/vmlinuz-${V}`, bytes(70_000, 9));
    booted(root, `kernel-${set!.id}`, V, 'boot-2');
    expect(kbackup(root, ['boot-record']).code).toBe(0);
    const listed = JSON.parse(kbackup(root, ['list', '--json']).stdout) as { id: string; knownGood: boolean; booted: string[] }[];
    expect(listed[0]).toMatchObject({ id: set!.id, knownGood: true });
    expect(listed[0]!.booted).toHaveLength(2); // as the live files at boot-1, as the backup at boot-2
    expect(kbackup(root, ['list']).stdout).toMatch(/known-good/);
    const pruned = kbackup(root, ['prune', '--keep', '0']);
    expect(pruned.code).toBe(0);
    expect(root.ls()).toContain(`kernel-${set!.id}`);
    expect(root.ls()).toContain(`initrd.img-${set!.id}`);
  });

  it('a machine not started by GRUB is recorded from uname -r, with a warning', () => {
    root = makeRoot();
    installKernel(root, V, 1);
    root.write('proc/cmdline', 'root=/dev/vda1 ro\n');
    root.write('proc/sys/kernel/random/boot_id', 'b\n');
    root.write('proc/sys/kernel/osrelease', `${V}\n`);
    const r = kbackup(root, ['boot-record']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/no BOOT_IMAGE/);
    expect(JSON.parse(kbackup(root, ['status', '--json']).stdout).knownGood.image).toBe(`/boot/vmlinuz-${V}`);
    // Such a machine cannot fall back through GRUB: trial boot says so.
    root.config('TRIAL_BOOT=yes\n');
    grubCfg(root, [live(V)]);
    const arm = kbackup(root, ['trial', 'arm']);
    expect(arm.code).toBe(1);
    expect(arm.stderr).toMatch(/not started by GRUB/);
  });
});

describe('trial boot', () => {
  it('a new kernel whose trial never comes up: GRUB falls back, kbackup reports it, retry then promotes', () => {
    root = recordedMachine();
    expect(JSON.parse(kbackup(root, ['trial', 'arm', '--json']).stdout)).toMatchObject({ armed: false, unchanged: true });
    installKernel(root, V2, 2);
    grubCfg(root, [live(V2), live(V)]);
    const hook = kbackup(root, ['hook', 'postinst', V2]);
    expect(hook.code, hook.stderr).toBe(0);
    expect(env(root)).toEqual({
      kbackup_trial: 'armed',
      kbackup_trial_entry: `gnulinux-advanced-${UUID}>gnulinux-${V2}-advanced-${UUID}`,
      kbackup_good_entry: `gnulinux-advanced-${UUID}>gnulinux-${V}-advanced-${UUID}`,
      kbackup_trial_args: 'panic=10 kbackup.trial=600',
    });
    // check says what GRUB boots next: the trial entry.
    const armedCheck = JSON.parse(kbackup(root, ['check', '--json']).stdout);
    expect(armedCheck.problems.map((p: { code: string }) => p.code)).toContain('trial-armed');
    expect(armedCheck.defaultEntry).toBe(`/vmlinuz-${V2}`);
    // GRUB starts the trial (armed → booting); it panics; at the next start GRUB marks it failed.
    editenv(root, 'set', 'kbackup_trial=booting');
    editenv(root, 'set', 'kbackup_trial=failed');
    booted(root, `vmlinuz-${V}`, V, 'boot-2');
    const rec = kbackup(root, ['boot-record']);
    expect(rec.code).toBe(0);
    expect(rec.stderr).toMatch(/trial boot failed/);
    expect(env(root).kbackup_trial).toBe('failed');
    const status = kbackup(root, ['status']);
    expect(status.stdout).toMatch(
      new RegExp(`the trial of /boot/vmlinuz-${V2} failed at \\S+ \\(it never reached its verdict: a panic, a hang past TRIAL_DEADLINE, an emergency shell or a reset\\) and the machine runs /boot/vmlinuz-${V}; kbackup trial retry .*kbackup trial accept`),
    );
    const check = kbackup(root, ['check', '--json']);
    expect(check.code).toBe(1);
    const parsed = JSON.parse(check.stdout);
    expect(parsed.problems.map((p: { code: string }) => p.code)).toContain('trial-failed');
    expect(parsed.defaultEntry).toBe(`/vmlinuz-${V}`);
    const boots = JSON.parse(fs.readFileSync(root.file('var/lib/kbackup/boots.json'), 'utf8'));
    expect(boots.at(-1).trial).toBe('fallback');
    // A later initrd rebuild of the failed kernel with the same files does not re-arm it by itself.
    expect(kbackup(root, ['hook', 'postinst', V2]).code).toBe(0);
    expect(env(root).kbackup_trial).toBe('failed');

    expect(kbackup(root, ['trial', 'retry']).code).toBe(0);
    expect(env(root).kbackup_trial).toBe('armed');
    editenv(root, 'set', 'kbackup_trial=booting');
    booted(root, `vmlinuz-${V2}`, V2, 'boot-3');
    expect(kbackup(root, ['boot-record']).stderr).toMatch(/succeeded/);
    expect(env(root)).toEqual({});
    expect(fs.existsSync(root.file('var/lib/kbackup/trial.json'))).toBe(false);
    const after = JSON.parse(kbackup(root, ['status', '--json']).stdout);
    expect(after).toMatchObject({ state: 'none', knownGood: { image: `/boot/vmlinuz-${V2}`, trial: 'promoted' } });
  });

  it('a same-name update: the known-good lives on as the preinst backup, which is the fallback entry', () => {
    root = recordedMachine();
    const oldImage = root.sha(`boot/vmlinuz-${V}`);
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    const [set] = JSON.parse(kbackup(root, ['list', '--json']).stdout) as { id: string }[];
    root.write(`boot/vmlinuz-${V}`, bytes(66_000, 5));
    grubCfg(root, [live(V), backup(set!.id)]);
    expect(kbackup(root, ['hook', 'postinst', V]).code).toBe(0);
    expect(env(root)).toMatchObject({
      kbackup_trial: 'armed',
      kbackup_trial_entry: `gnulinux-advanced-${UUID}>gnulinux-${V}-advanced-${UUID}`,
      kbackup_good_entry: `gnulinux-advanced-${UUID}>gnulinux-${set!.id}-advanced-${UUID}`,
    });
    expect(root.sha(`boot/kernel-${set!.id}`)).toBe(oldImage);
    // cancel: back to stock GRUB.
    const cancel = kbackup(root, ['trial', 'cancel', '--dry-run']);
    expect(cancel.stdout).toMatch(/would cancel/);
    expect(env(root).kbackup_trial).toBe('armed');
    expect(kbackup(root, ['trial', 'cancel']).code).toBe(0);
    expect(env(root)).toEqual({});
    expect(kbackup(root, ['trial', 'cancel']).code).toBe(1);
    // A hook that runs before the next boot does not arm the files the admin just cancelled…
    expect(kbackup(root, ['hook', 'postinst', V]).code).toBe(0);
    expect(env(root)).toEqual({});
    // …and the next boot (of those files, now GRUB's plain default) makes them the known-good.
    booted(root, `vmlinuz-${V}`, V, 'boot-2');
    expect(kbackup(root, ['boot-record']).code).toBe(0);
    expect(fs.existsSync(root.file('var/lib/kbackup/trial.json'))).toBe(false);
    expect(JSON.parse(kbackup(root, ['trial', 'arm', '--json']).stdout)).toMatchObject({ armed: false, unchanged: true });
  });

  it('arm --dry-run prints the plan and writes nothing', () => {
    root = recordedMachine();
    installKernel(root, V2, 2);
    grubCfg(root, [live(V2), live(V)]);
    const before = fs.readFileSync(root.file('boot/grub/grubenv'));
    const r = kbackup(root, ['trial', 'arm', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/would arm a trial of \/boot\/vmlinuz-6.1.0-19-amd64/);
    expect(fs.readFileSync(root.file('boot/grub/grubenv')).equals(before)).toBe(true);
  });

  describe('refusals, each in one sentence', () => {
    it('no known-good yet', () => {
      root = makeRoot();
      root.config('TRIAL_BOOT=yes\n');
      installKernel(root, V, 1);
      grubCfg(root, [live(V)]);
      const r = kbackup(root, ['trial', 'arm']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/no boot has been recorded yet/);
    });

    it('TRIAL_BOOT=no', () => {
      root = recordedMachine();
      root.config('');
      const r = kbackup(root, ['trial', 'arm']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/TRIAL_BOOT=no/);
    });

    it('no grub.cfg', () => {
      root = recordedMachine();
      fs.rmSync(root.file('boot/grub/grub.cfg'));
      const r = kbackup(root, ['trial', 'arm']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/no \/boot\/grub\/grub.cfg/);
    });

    it('grub.cfg without the trial logic (update-grub not run since TRIAL_BOOT=yes)', () => {
      root = recordedMachine();
      grubCfg(root, [live(V)], false);
      const r = kbackup(root, ['trial', 'arm']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/run update-grub/);
    });

    it.each([
      ['btrfs', '', /on btrfs/],
      ['ext2', 'lvm', /on LVM/],
      ['ext2', 'diskfilter mdraid1x', /software RAID/],
    ])('/boot/grub on %s %s: GRUB cannot write grubenv (grub-probe, as grub-reboot asks)', (fsType, abstraction, message) => {
      root = recordedMachine();
      installKernel(root, V2, 2);
      grubCfg(root, [live(V2), live(V)]);
      const bin = root.file('fakebin');
      fs.mkdirSync(bin);
      fs.writeFileSync(
        path.join(bin, 'grub-probe'),
        `#!/bin/sh\ncase "$1" in --target=fs) echo ${fsType};; --target=abstraction) echo '${abstraction}';; esac\n`,
        { mode: 0o755 },
      );
      const r = kbackup(root, ['trial', 'arm'], { PATH: `${bin}:${process.env.PATH}` });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      // The hook says so and goes on; check reports it.
      const hook = kbackup(root, ['hook', 'postinst', V2], { PATH: `${bin}:${process.env.PATH}` });
      expect(hook.code).toBe(0);
      expect(hook.stderr).toMatch(message);
      const check = JSON.parse(kbackup(root, ['check', '--json'], { PATH: `${bin}:${process.env.PATH}` }).stdout);
      expect(check.problems.map((p: { code: string }) => p.code)).toContain('trial-unavailable');
      expect(fs.readFileSync(root.file('boot/grub/grubenv'), 'utf8')).not.toMatch(/kbackup/);
    });
  });
});

// Issue 15, items 9 and 13: arming says what is true of grubenv.
describe('arming and grubenv', () => {
  function newKernelInstalled(): TempRoot {
    const r = recordedMachine();
    installKernel(r, V2, 2);
    grubCfg(r, [live(V2), live(V)]);
    return r;
  }

  it('a full grubenv is a clear refusal: no stack, nothing armed, no trial.json saying armed', () => {
    root = newKernelInstalled();
    // An admin's variable fills the 1024-byte block.
    editenv(root, 'set', `admin_note=${'x'.repeat(900)}`);
    const before = fs.readFileSync(root.file('boot/grub/grubenv'));
    const arm = kbackup(root, ['trial', 'arm']);
    expect(arm.code, arm.stderr).toBe(1);
    expect(arm.stderr).toMatch(/grubenv has no room for kbackup's trial variables .*grub-editenv/);
    expect(arm.stderr).not.toMatch(/internal error|    at /);
    expect(fs.readFileSync(root.file('boot/grub/grubenv'))).toEqual(before);
    expect(fs.existsSync(root.file('var/lib/kbackup/trial.json'))).toBe(false);
    // The hook says the same as a warning, and the update goes on.
    const hook = kbackup(root, ['hook', 'postinst', V2]);
    expect(hook.code).toBe(0);
    expect(hook.stderr).not.toMatch(/internal error|    at /);
    expect(fs.existsSync(root.file('var/lib/kbackup/trial.json'))).toBe(false);
    expect(JSON.parse(kbackup(root, ['trial', 'status', '--json']).stdout)).toMatchObject({ state: 'none' });
  });

  it('a symlinked grubenv is written through: the link stays, its target gets the trial', () => {
    root = newKernelInstalled();
    const grubenv = root.file('boot/grub/grubenv');
    fs.mkdirSync(root.file('boot/efi/EFI/debian'), { recursive: true });
    fs.renameSync(grubenv, root.file('boot/efi/EFI/debian/grubenv'));
    fs.symlinkSync('../efi/EFI/debian/grubenv', grubenv);
    const arm = kbackup(root, ['trial', 'arm']);
    expect(arm.code, arm.stderr).toBe(0);
    expect(fs.lstatSync(grubenv).isSymbolicLink()).toBe(true);
    expect(env(root).kbackup_trial).toBe('armed');
  });
});

// Issue 15, item 12: boot-record does not trust BOOT_IMAGE.
describe('boot-record and a BOOT_IMAGE that names no kernel image', () => {
  it.each([
    ['/', /BOOT_IMAGE=\/ names no kernel image/],
    [`/boot/initrd.img-${V}`, /names no kernel image/],
    ['/vmlinuz', null],
  ])('BOOT_IMAGE=%s: exit 0, and the record names the kernel image that really booted', (bootImage, warning) => {
    root = makeRoot();
    installKernel(root, V, 1);
    fs.symlinkSync(`boot/vmlinuz-${V}`, root.file('vmlinuz'));
    root.write('proc/cmdline', `BOOT_IMAGE=${bootImage} root=/dev/vda1 ro\n`);
    root.write('proc/sys/kernel/random/boot_id', 'b1\n');
    root.write('proc/sys/kernel/osrelease', `${V}\n`);
    const r = kbackup(root, ['boot-record']);
    expect(r.code, r.stderr).toBe(0);
    if (warning) expect(r.stderr).toMatch(warning);
    else expect(r.stderr).not.toMatch(/warning|names no kernel/);
    const [rec] = JSON.parse(fs.readFileSync(root.file('var/lib/kbackup/boots.json'), 'utf8')) as { image: string; imageSha256: string }[];
    expect(rec!.image).toBe(`/boot/vmlinuz-${V}`);
    expect(rec!.imageSha256).toBe(root.sha(`boot/vmlinuz-${V}`));
  });
});

describe('a failed trial whose kernel was removed', () => {
  it('status no longer offers retry or accept, and says how to clear it', () => {
    root = recordedMachine();
    installKernel(root, V2, 2);
    grubCfg(root, [live(V2), live(V)]);
    expect(kbackup(root, ['hook', 'postinst', V2]).code).toBe(0);
    expect(env(root).kbackup_trial).toBe('armed');
    editenv(root, 'set', 'kbackup_trial=booting');
    editenv(root, 'set', 'kbackup_trial=failed');
    booted(root, `vmlinuz-${V}`, V, 'boot-2');
    expect(kbackup(root, ['boot-record']).code).toBe(0);
    expect(kbackup(root, ['status']).stdout).toMatch(/kbackup trial retry/);
    // The admin removes the kernel that failed.
    for (const stem of ['vmlinuz', 'initrd.img', 'config', 'System.map']) fs.rmSync(root.file(`boot/${stem}-${V2}`));
    const status = kbackup(root, ['status']).stdout;
    expect(status).not.toMatch(/kbackup trial (retry|accept)/);
    expect(status).toMatch(/has since been removed.*kbackup trial cancel clears the failed trial/);
    expect(kbackup(root, ['trial', 'cancel']).code).toBe(0);
    expect(env(root)).toEqual({});
  });
});

describe('a failed trial and a grubenv re-created by hand', () => {
  it("kbackup's own record of the failure is still reported by status and check, until the admin acts", () => {
    root = recordedMachine();
    installKernel(root, V2, 2);
    grubCfg(root, [live(V2), live(V)]);
    expect(kbackup(root, ['hook', 'postinst', V2]).code).toBe(0);
    editenv(root, 'set', 'kbackup_trial=booting');
    editenv(root, 'set', 'kbackup_trial=failed');
    booted(root, `vmlinuz-${V}`, V, 'boot-2');
    expect(kbackup(root, ['boot-record']).code).toBe(0);
    // The admin re-creates grubenv: GRUB would now boot the failed kernel again.
    fs.rmSync(root.file('boot/grub/grubenv'));
    editenv(root, 'create');
    expect(env(root)).toEqual({});
    const check = kbackup(root, ['check', '--json']);
    expect(check.code).toBe(1);
    const failed = (JSON.parse(check.stdout) as { problems: { code: string; message: string }[] }).problems.find((p) => p.code === 'trial-failed');
    expect(failed?.message).toMatch(/grubenv no longer holds the failed state/);
    expect(kbackup(root, ['status']).stdout).toMatch(/grubenv no longer holds the failed state.*kbackup trial retry/);
    // A hook does not quietly re-arm the failed kernel.
    expect(kbackup(root, ['hook', 'postinst', V2]).code).toBe(0);
    expect(env(root)).toEqual({});
    expect(kbackup(root, ['trial', 'accept']).code).toBe(0);
    expect(kbackup(root, ['check', '--json']).stdout).not.toContain('trial-failed');
  });
});
