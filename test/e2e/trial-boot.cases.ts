// Trial boot (issue 11) end to end with the real GRUB: a disk made from the real Debian chroot boots
// under qemu + OVMF through GRUB EFI from the chroot's own grub-efi-amd64-bin, with the grub.cfg the
// real update-grub wrote from /etc/grub.d/08_kbackup and /etc/default/grub.d/kbackup.cfg.
//
// One chroot per release, one chain of boots, each boot's state carried into the next step:
//   (c) no trial armed: GRUB boots its stock default; the boot record makes it the known-good.
//   (b) a healthy same-name update: kbackup arms a trial, the trial boots the new kernel with the
//       trial arguments and is promoted; the following boot is the new kernel with no trial.
//   (a) an update whose initrd is broken (empty modules.dep): the trial boot panics (panic=N reboots
//       it), GRUB starts the known-good by itself, kbackup there reports the failed trial, and the
//       boot after that is the known-good again.
// The VM runs a tiny init (efi-vm.ts) instead of systemd: it runs the unit's ExecStart
// (kbackup boot-record) and kbackup status, and powers off. The unit itself is checked by
// systemd-analyze verify. Each qemu run is bounded; its console is saved and quoted on failure.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expectFallbackVisible } from './fallback-visible';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Chroot, createChroot, grubEntries, hostRun, type Suite } from './harness';
import {
  bootVm,
  buildDisk,
  consoleTail,
  copyFromDisk,
  type EfiBoot,
  prepareEfiBoot,
  readFromDisk,
  REBOOTS_FILE,
  splitBoots,
  STATUS_FILE,
  statusOf,
  TINY_INIT,
  type VmRun,
} from './efi-vm';

const BROKEN_DEPMOD = fs.readFileSync(path.join(__dirname, '../fixtures/initrd/depmod-empty.sh'));
const UNIT = path.join(__dirname, '../../packaging/kbackup-boot-record.service');
/** grub-mkconfig's lines for a /etc/grub.d script that prints nothing. */
const EMPTY_SNIPPET = '\n### BEGIN /etc/grub.d/08_kbackup ###\n### END /etc/grub.d/08_kbackup ###\n';
/** One OVMF + GRUB + kernel + initramfs + tiny init boot takes 40-110 s under TCG on a busy machine. */
const VM_TIMEOUT_PER_BOOT_MS = 240_000;

interface BootRecord {
  time: string;
  version: string;
  image: string;
  initrd: string;
  imageSha256: string;
  initrdSha256: string;
  setId: string | null;
  trial: 'promoted' | 'fallback' | null;
}

function grubenvVars(text: string | undefined): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of (text ?? '').split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) vars[m[1]!] = m[2]!;
  }
  return vars;
}

const kbackupVars = (vars: Record<string, string>) => Object.keys(vars).filter((k) => k.startsWith('kbackup_'));

export function trialBootTests(suite: Suite): void {
  describe(`trial boot under real GRUB (EFI) on ${suite}`, () => {
    let c: Chroot;
    let efi: EfiBoot;
    let V: string;
    const runs: string[] = [];

    const disks = new Map<VmRun, string>();
    const diskOf = (run: VmRun) => disks.get(run)!;

    /** Builds the disk from the chroot as it is now and boots it; `boots` kernel starts are expected. */
    async function boot(label: string, boots: number): Promise<VmRun> {
      const disk = path.join(c.work, `${label}.img`);
      await buildDisk(c, efi, disk);
      const run = await bootVm(disk, { timeoutMs: VM_TIMEOUT_PER_BOOT_MS * boots, label });
      disks.set(run, disk);
      runs.push(`${suite} ${label}: ${run.seconds.toFixed(0)} s\n${run.events.map((e) => `  ${e.t.toFixed(1)} s ${e.line}`).join('\n')}`);
      expect(run.poweredOff, `the VM did not power off by itself\n${consoleTail(run)}`).toBe(true);
      expect(splitBoots(run.console).length, consoleTail(run)).toBe(boots);
      return run;
    }

    /**
     * What the VM left on its disk becomes the chroot's: kbackup's state and GRUB's environment.
     * The chroot also sees the VM's last kernel command line as its /proc/cmdline (bind-mounted over
     * the host's, which has no BOOT_IMAGE): the chroot stands for that machine, started by GRUB.
     */
    async function takeStateFrom(run: VmRun): Promise<void> {
      await copyFromDisk(diskOf(run), '/var/lib/kbackup', c.host('/var/lib/kbackup'));
      c.writeFile('/boot/grub/grubenv', readFromDisk(diskOf(run), '/boot/grub/grubenv')!);
      const last = splitBoots(run.console).filter((b) => b.cmdline).pop();
      expect(last?.cmdline).toMatch(/^BOOT_IMAGE=/);
      const file = path.join(c.work, 'vm-cmdline');
      fs.writeFileSync(file, `${last!.cmdline}\n`);
      const r = await hostRun('mount', ['--bind', file, c.host('/proc/cmdline')]);
      expect(r.code, r.stderr).toBe(0);
      fs.rmSync(diskOf(run), { force: true }); // 1-2 GB each; the console log stays for a failure message
    }

    /** boots.json as the VM left it: a JSON array of records, newest last (model/boots.ts). */
    const boots = (run: VmRun) => JSON.parse(readFromDisk(diskOf(run), '/var/lib/kbackup/boots.json') ?? '[]') as BootRecord[];

    beforeAll(async () => {
      c = await createChroot({ suite, label: `trial-boot-${suite}` });
      V = c.kernel.version;
      // The VM: serial console, no menu wait, the tiny init, a short wait for a root device that
      // will not come (the broken initrd), and a small initrd (the disk is SATA, the root ext4).
      await c.mustRun(
        `sed -i -e 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=0/' -e 's|^GRUB_CMDLINE_LINUX=.*|GRUB_CMDLINE_LINUX="console=ttyS0 init=${TINY_INIT} rootdelay=5"|' /etc/default/grub`,
      );
      c.writeConfig('ENABLED=no\n');
      c.writeFile('/etc/initramfs-tools/modules', 'ahci\nsd_mod\next4\n');
      await c.mustRun(`sed -i 's/^MODULES=.*/MODULES=list/' /etc/initramfs-tools/initramfs.conf && update-initramfs -u -k ${V}`);
      await c.mustRun('rm -f /boot/*.dpkg-bak');
      efi = await prepareEfiBoot(c);
    });

    afterAll(async () => {
      process.stderr.write(`[e2e] trial boot ${suite} timeline\n${runs.join('\n')}\n`);
      await c?.dispose();
    });

    it("08_kbackup: with TRIAL_BOOT=no grub.cfg is the one without kbackup's GRUB files; with yes the snippet passes this GRUB's grub-script-check", async () => {
      c.writeConfig('TRIAL_BOOT=no\n');
      const withFiles = await c.updateGrub();
      await c.mustRun('mkdir /root/aside && mv /etc/grub.d/08_kbackup /etc/default/grub.d/kbackup.cfg /root/aside/');
      const without = await c.updateGrub();
      await c.mustRun('mv /root/aside/08_kbackup /etc/grub.d/ && mv /root/aside/kbackup.cfg /etc/default/grub.d/ && rmdir /root/aside');
      // grub-mkconfig writes BEGIN/END comment lines for every executable script, even a silent one.
      expect(withFiles).toContain(EMPTY_SNIPPET);
      expect(withFiles.replace(EMPTY_SNIPPET, '')).toBe(without);

      c.writeConfig('TRIAL_BOOT=yes\n');
      const cfg = await c.updateGrub();
      const snippet = cfg.slice(cfg.indexOf('### BEGIN /etc/grub.d/08_kbackup ###'), cfg.indexOf('### END /etc/grub.d/08_kbackup ###'));
      expect(snippet).toContain('if [ "${kbackup_trial}" = armed ] ; then');
      expect(snippet).toContain('save_env kbackup_trial');
      // After 00_header has loaded grubenv and chosen the default, before the first menu entry.
      expect(cfg.indexOf('load_env')).toBeLessThan(cfg.indexOf('### BEGIN /etc/grub.d/08_kbackup ###'));
      expect(cfg.indexOf('### END /etc/grub.d/08_kbackup ###')).toBeLessThan(cfg.indexOf('menuentry '));
      const linuxLines = cfg.split('\n').filter((l) => /^\s*linux\s/.test(l));
      expect(linuxLines.length).toBeGreaterThan(0);
      for (const line of linuxLines) {
        if (/single|recovery/.test(line)) expect(line).not.toContain('${kbackup_cmdline}');
        else expect(line.trimEnd()).toMatch(/ \$\{kbackup_cmdline\}$/);
      }
      const check = await c.run('grub-script-check /boot/grub/grub.cfg');
      expect(check.code, `${check.stdout}${check.stderr}`).toBe(0);
      const version = (await c.mustRun('grub-script-check --version')).stdout.trim();
      expect(version).toMatch(suite === 'bookworm' ? / 2\.06/ : / 2\.12/);
    });

    it('kbackup-boot-record.service passes systemd-analyze verify; the VM runs its ExecStart', async () => {
      // The packaged unit, in a root with the package's files and the host's systemd units.
      const root = fs.mkdtempSync(path.join(c.work, 'unit-'));
      const r = await hostRun('sh', [
        '-c',
        'mkdir -p "$1/lib/systemd" "$1/usr/sbin" && cp -a /lib/systemd/system "$1/lib/systemd/" && cp "$2" "$1/lib/systemd/system/" && cp "$3" "$1/usr/sbin/kbackup" && ' +
          'systemd-analyze verify --man=no --root="$1" /lib/systemd/system/kbackup-boot-record.service',
        'sh',
        root,
        c.host('/lib/systemd/system/kbackup-boot-record.service'),
        c.host('/usr/sbin/kbackup'),
      ]);
      expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
      expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
      const execStart = /^ExecStart=(.*)$/m.exec(fs.readFileSync(UNIT, 'utf8'))![1]!;
      expect(fs.readFileSync(c.host(TINY_INIT), 'utf8')).toContain(`\n${execStart}\n`);
      // Enabled by the package: the symlink deb-systemd-helper made for WantedBy=multi-user.target.
      // (Debian 13's deb-systemd-helper links to the /usr/lib path of merged /usr: the same file.)
      expect(fs.readlinkSync(c.host('/etc/systemd/system/multi-user.target.wants/kbackup-boot-record.service'))).toMatch(
        /^(\/usr)?\/lib\/systemd\/system\/kbackup-boot-record\.service$/,
      );
    });

    let known = '';
    it('(c) with no trial armed GRUB boots its stock default, and kbackup records that boot as the known-good', async () => {
      c.writeConfig('TRIAL_BOOT=yes\n');
      const cfg = await c.updateGrub();
      const run = await boot('c-stock', 1);
      const [b] = splitBoots(run.console);
      // Stock GRUB boots the first entry: the newest kernel, /boot/vmlinuz-V.
      expect(grubEntries(cfg)[0]!.linux).toBe(`/boot/vmlinuz-${V}`);
      expect(b!.bootImage, consoleTail(run)).toBe(`/boot/vmlinuz-${V}`);
      expect(b!.cmdline).not.toMatch(/\bpanic=/);
      expect(b!.text).toContain('KBTEST-BOOT-RECORD-EXIT 0');
      expect(kbackupVars(grubenvVars(readFromDisk(diskOf(run), '/boot/grub/grubenv')))).toEqual([]);
      const records = boots(run);
      expect(records.length).toBe(1);
      expect(records[0]).toMatchObject({ version: V, image: `/boot/vmlinuz-${V}`, trial: null, imageSha256: c.sha256(`/boot/vmlinuz-${V}`) });
      known = records[0]!.imageSha256;
      await takeStateFrom(run);
      const status = await c.kbackup('status');
      expect(status.stdout, status.stderr).toContain(`known-good: /boot/vmlinuz-${V}`);
    });

    it('(b) a healthy update is a trial: it boots the new kernel with the trial arguments, is promoted, and the next boot has no trial', async () => {
      const u = await c.kernelUpdate();
      expect(u.code, `${u.stdout}\n${u.stderr}`).toBe(0);
      const newSha = c.sha256(`/boot/vmlinuz-${V}`);
      expect(newSha).not.toBe(known);
      // The postinst hook armed the trial by itself (TRIAL_BOOT=yes), and said so in dpkg's output.
      const env = grubenvVars(c.readFile('/boot/grub/grubenv'));
      expect(env.kbackup_trial, `${u.stdout}\n${u.stderr}`).toBe('armed');
      expect(`${u.stdout}\n${u.stderr}`).not.toContain('no trial boot armed');
      expect(env.kbackup_trial_args).toMatch(/\bpanic=\d+/);
      c.writeFile(REBOOTS_FILE, '1\n');
      const run = await boot('b-healthy', 2);
      const [trial, next] = splitBoots(run.console);
      expect(trial!.bootImage, consoleTail(run)).toBe(`/boot/vmlinuz-${V}`);
      expect(trial!.cmdline).toContain(env.kbackup_trial_args!);
      expect(trial!.text).toContain('KBTEST-GRUBENV-BEFORE kbackup_trial=booting');
      expect(trial!.text).toContain('KBTEST-BOOT-RECORD-EXIT 0');
      expect(next!.bootImage).toBe(`/boot/vmlinuz-${V}`);
      expect(next!.cmdline).not.toMatch(/\bpanic=/);
      expect(kbackupVars(grubenvVars(readFromDisk(diskOf(run), '/boot/grub/grubenv')))).toEqual([]);
      expect(readFromDisk(diskOf(run), '/var/lib/kbackup/trial.json')).toBeUndefined();
      const records = boots(run);
      expect(records.slice(-2).map((r) => [r.image, r.imageSha256, r.trial])).toEqual([
        [`/boot/vmlinuz-${V}`, newSha, 'promoted'],
        [`/boot/vmlinuz-${V}`, newSha, null],
      ]);
      known = newSha;
      c.writeFile(REBOOTS_FILE, '0\n');
      await takeStateFrom(run);
    });

    it('(a) a broken initrd: the trial panics, GRUB boots the known-good by itself (and again next time), and kbackup there reports the failed trial', async () => {
      await c.mustRun('dpkg-divert --local --rename --divert /sbin/depmod.real --add /sbin/depmod');
      c.writeFile('/sbin/depmod', BROKEN_DEPMOD, 0o755);
      const u = await c.kernelUpdate();
      expect(u.code, `${u.stdout}\n${u.stderr}`).toBe(0);
      await c.mustRun('rm /sbin/depmod && dpkg-divert --local --rename --remove /sbin/depmod');
      const brokenSha = c.sha256(`/boot/vmlinuz-${V}`);
      // The known-good's files were kept as a backup set by the update: that is GRUB's fallback.
      const good = grubEntries(c.readFile('/boot/grub/grub.cfg')).find((e) => e.linux.includes('~~backup') && fs.existsSync(c.host(e.linux)) && c.sha256(e.linux) === known);
      expect(good, 'a backup set holds the known-good kernel').toBeDefined();
      // The postinst hook armed the trial by itself (TRIAL_BOOT=yes), and said so in dpkg's output.
      const env = grubenvVars(c.readFile('/boot/grub/grubenv'));
      expect(env.kbackup_trial, `${u.stdout}\n${u.stderr}`).toBe('armed');
      expect(`${u.stdout}\n${u.stderr}`).not.toContain('no trial boot armed');
      // On Debian 12 a third start shows the fallback stays (GRUB does not touch a failed state);
      // on 13 the same script's second fallback is left out to keep the tier's time down.
      const again = suite === 'bookworm';
      c.writeFile(REBOOTS_FILE, again ? '1\n' : '0\n');
      c.writeFile(STATUS_FILE, '');
      // node_exporter's textfile directory: the fallback boot writes its metrics there (issue 16).
      fs.mkdirSync(c.host('/var/lib/prometheus/node-exporter'), { recursive: true });
      const run = await boot('a-broken', again ? 3 : 2);
      const [trial, fallback, third] = splitBoots(run.console);
      // The scenario reproduces: the trial kernel (the live /boot/vmlinuz-V) never reaches userspace.
      expect(trial!.grubLoading, consoleTail(run)).toBe(`Loading Linux ${V} ...`);
      expect(trial!.text).toMatch(/ALERT!\s+\/dev\/sda1 does not exist/);
      expect(trial!.text).toContain('Rebooting automatically due to panic= boot argument');
      expect(trial!.uname).toBeUndefined();
      // GRUB, by itself, started the known-good set.
      expect(fallback!.bootImage, consoleTail(run)).toBe(good!.linux);
      expect(fallback!.cmdline).not.toMatch(/\bpanic=/);
      expect(fallback!.text).toContain('KBTEST-GRUBENV-BEFORE kbackup_trial=failed');
      expect(fallback!.text).toContain('KBTEST-BOOT-RECORD-EXIT 0');
      const status = statusOf(fallback!);
      expect(status, consoleTail(run)).toMatch(/fail/i);
      expect(status).toContain('kbackup trial retry');
      expect(status).toContain('kbackup trial accept');
      // ...and keeps doing so until the administrator acts.
      if (again) expect(third!.bootImage, consoleTail(run)).toBe(good!.linux);
      const disk = diskOf(run);
      // The fallback is seen (issue 16): the login line with the commands to act, and the metrics.
      expectFallbackVisible((p) => readFromDisk(disk, p), V);
      expect(grubenvVars(readFromDisk(disk, '/boot/grub/grubenv')).kbackup_trial).toBe('failed');
      const trialState = JSON.parse(readFromDisk(disk, '/var/lib/kbackup/trial.json') ?? 'null') as { state: string; imageSha256: string; failedAt?: string } | null;
      expect(trialState).toMatchObject({ state: 'failed', imageSha256: brokenSha });
      expect(trialState!.failedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      const last = boots(run).pop()!;
      expect([last.image, last.imageSha256, last.trial]).toEqual([good!.linux, known, 'fallback']);
      // The same answer from kbackup in the chroot, on the state the VM left.
      await takeStateFrom(run);
      const json = await c.kbackup('trial status --json');
      expect(JSON.parse(json.stdout)).toMatchObject({ state: 'failed' });
    });
  });
}
