// The fallback kernel stays (issue 16), on a real Debian 12 or 13 chroot with real dpkg, apt and
// update-grub, no VM:
//   1. apt's own `apt-get autoremove -s`, with two newer kernel ABIs installed (the security
//      pocket's, and a higher one), plans to remove the known-good's kernel package when kbackup's
//      apt.conf.d file is absent (the scenario, reproduced), keeps it with the file, and still
//      removes an older kernel nobody falls back to;
//   2. a purge of the known-good's kernel package leaves a backup set of it (prerm hook) that the
//      real update-grub lists with its initrd, and check says its modules are gone;
//   3. the node_exporter textfile kbackup wrote after the hooks passes the real promtool.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as os from 'node:os';
import { type Chroot, createChroot, grubEntries, hostRun, type KernelDebs, type Suite, SUITE_NUMBER } from './harness';
import { expectFallbackVisible, expectNoFallback, promtoolComplaints, TEXTFILE } from './fallback-visible';

const APT_CONF = '/etc/apt/apt.conf.d/50kbackup-fallback';

/** A kernel ABI made up for apt's bookkeeping: an empty package named like Debian's image packages. */
function fakeKernelDeb(work: string, pkg: string, version: string): string {
  const dir = fs.mkdtempSync(path.join(work, 'fakedeb-'));
  fs.mkdirSync(path.join(dir, 'DEBIAN'));
  fs.writeFileSync(
    path.join(dir, 'DEBIAN/control'),
    `Package: ${pkg}\nVersion: ${version}\nArchitecture: amd64\nMaintainer: kbackup tests <root@localhost>\nSection: kernel\nPriority: optional\nDescription: kbackup e2e stand-in for a kernel ABI\n`,
  );
  const deb = `${dir}.deb`;
  const r = spawnSync('dpkg-deb', ['--build', '--root-owner-group', dir, deb], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return deb;
}

/** The packages `apt-get autoremove -s` would remove. */
async function autoremovePlan(c: Chroot): Promise<string[]> {
  const r = await c.mustRun('apt-get autoremove -s');
  return [...r.stdout.matchAll(/^Remv (\S+)/gm)].map((m) => m[1]!).sort();
}

export function fallbackTests(suite: Suite): void {
  let c: Chroot;
  let oldK: KernelDebs;
  let newK: KernelDebs;
  /** Made-up ABIs: one above the security kernel, one below the point release's. */
  let higher: { pkg: string; version: string };
  let lower: { pkg: string; version: string };

  beforeAll(async () => {
    c = await createChroot({ suite, label: `fallback-${suite}` });
    oldK = c.kernel;
    newK = await c.archiveKernel('security');
    expect(newK.imagePackage).not.toBe(oldK.imagePackage);
    // 6.1.0-50-amd64 → 6.1.0-999-amd64; 6.12.48+deb13-amd64 → 6.12.999+deb13-amd64.
    const abi = (n: string) => oldK.version.replace(/^(\d+\.\d+)\.(\d+)-(\d+)-/, `$1.0-${n}-`).replace(/^(\d+\.\d+)\.(\d+)\+/, `$1.${n}+`);
    higher = { pkg: `linux-image-${abi('999')}`, version: `${oldK.packageVersion.split('.').slice(0, 2).join('.')}.999-1` };
    lower = { pkg: `linux-image-${abi('1')}`, version: `${oldK.packageVersion.split('.').slice(0, 2).join('.')}.1-1` };
    expect(higher.pkg).not.toBe(oldK.imagePackage);
    // The textfile collector's directory (prometheus-node-exporter makes it): kbackup writes into it.
    fs.mkdirSync(c.host('/var/lib/prometheus/node-exporter'), { recursive: true });
  });

  afterAll(async () => {
    await c?.dispose();
  });

  describe(`Debian ${SUITE_NUMBER[suite]} (${suite}): the kernel kbackup falls back to`, () => {
    it('1. apt autoremove keeps the known-good with two newer ABIs installed, and still removes an older kernel', async () => {
      // The known-good: the point release kernel booted well (a boot record as kbackup-boot-record.service writes it).
      const sha = async (f: string) => (await c.mustRun(`sha256sum ${f}`)).stdout.split(' ')[0]!;
      const record = {
        time: '2026-12-01T10:00:00.000Z',
        bootId: 'e2e-boot-1',
        version: oldK.version,
        image: `/boot/vmlinuz-${oldK.version}`,
        initrd: `/boot/initrd.img-${oldK.version}`,
        imageSha256: await sha(`/boot/vmlinuz-${oldK.version}`),
        initrdSha256: await sha(`/boot/initrd.img-${oldK.version}`),
        setId: null,
        trial: null,
        grub: true,
      };
      c.writeFile('/var/lib/kbackup/boots.json', `${JSON.stringify([record], null, 2)}\n`);
      // The security update (its hooks run kbackup, which writes the apt.conf.d file), a higher ABI, and an old one.
      const r = await c.installKernel(newK);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      for (const k of [higher, lower]) {
        const deb = fakeKernelDeb(c.work, k.pkg, k.version);
        expect((await c.installDeb(deb)).code).toBe(0);
      }
      // As after `apt full-upgrade`: only the meta package was asked for; every kernel image is automatic.
      await c.mustRun(`apt-mark auto ${oldK.imagePackage} ${newK.imagePackage} ${higher.pkg} ${lower.pkg} && apt-mark manual ${newK.metaPackage}`);

      const conf = c.readFile(APT_CONF);
      expect(conf).not.toContain('\\');
      expect(fs.statSync(c.host(APT_CONF)).mode & 0o777).toBe(0o444);
      expect((await c.mustRun('apt-config dump')).stdout).toContain(`APT::NeverAutoRemove:: "^linux-image-${oldK.version.replace(/[.+]/g, '[$&]')}(-unsigned)?$";`);

      // The scenario: without kbackup's file apt plans to remove the kernel that booted well.
      await c.mustRun(`mv ${APT_CONF} /root/kbackup-fallback.aside`);
      const without = await autoremovePlan(c);
      await c.mustRun(`mv /root/kbackup-fallback.aside ${APT_CONF}`);
      expect(without).toContain(oldK.imagePackage);
      expect(without).toContain(lower.pkg);

      const withFile = await autoremovePlan(c);
      expect(withFile).not.toContain(oldK.imagePackage);
      expect(withFile).toContain(lower.pkg);
      expect(withFile).not.toContain(newK.imagePackage);
      // kbackup changed no mark: the admin's (the test's) marks are as they were.
      expect((await c.mustRun(`apt-mark showauto ${oldK.imagePackage}`)).stdout.trim()).toBe(oldK.imagePackage);
      expect((await c.mustRun('apt-mark showhold')).stdout.trim()).toBe('');
      expect((await c.kbackup('status')).stdout).toContain(`autoremove: apt keeps the kernel package of ${oldK.version}`);
    });

    it('2. purging the known-good kernel leaves a backup set of it that update-grub lists, and check says its modules are gone', async () => {
      const r = await c.run(`DEBIAN_FRONTEND=noninteractive apt-get purge -y ${oldK.imagePackage}`);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`kbackup: kept the known-good kernel ${oldK.version.replace(/[.+]/g, '\\$&')} as backup set`));
      expect(c.exists(`/boot/vmlinuz-${oldK.version}`)).toBe(false);
      const sets = JSON.parse((await c.kbackup('list --json')).stdout) as { id: string; version: string; complete: boolean }[];
      const kept = sets.find((s) => s.version === oldK.version);
      expect(kept, JSON.stringify(sets)).toBeDefined();
      expect(kept!.complete).toBe(true);
      // The kernel's own postrm ran update-grub; run it again to read the menu as the next boot will.
      const cfg = await c.updateGrub();
      const entry = grubEntries(cfg).find((e) => e.linux === `/boot/kernel-${kept!.id}`);
      expect(entry, cfg).toBeDefined();
      expect(entry!.initrd).toEqual([`/boot/initrd.img-${kept!.id}`]);
      const check = JSON.parse((await c.kbackup('check --json')).stdout) as { problems: { code: string }[] };
      expect(check.problems.map((p) => p.code)).toContain('known-good-modules-removed');
    });

    it('3. the node_exporter textfile written after the hooks passes promtool', async () => {
      const text = c.readFile(TEXTFILE);
      expect(text).toContain('kbackup_fallback_kept_from_autoremove 1');
      expect(text).toMatch(/^kbackup_backup_sets [1-9]/m);
      expect(promtoolComplaints(text)).toBe('');
      const status = (await c.kbackup('status --format prometheus')).stdout;
      expect(promtoolComplaints(status)).toBe('');
    });

    it('4. a boot of the kept set picked by hand (not GRUB default) is a fallback: login line, textfile, check --nagios CRITICAL', async () => {
      expectNoFallback((p) => (c.exists(p) ? c.readFile(p) : undefined));
      const kept = (JSON.parse((await c.kbackup('list --json')).stdout) as { id: string; version: string }[]).find((s) => s.version === oldK.version)!;
      // The chroot stands for the machine GRUB started from that menu entry: its /proc/cmdline says so.
      // (`uname -r` is the host's here, so that is the release the record names.)
      const cmdline = path.join(c.work, 'fallback-cmdline');
      fs.writeFileSync(cmdline, `BOOT_IMAGE=/boot/kernel-${kept.id} root=UUID=1111 ro quiet\n`);
      const bind = await hostRun('mount', ['--bind', cmdline, c.host('/proc/cmdline')]);
      expect(bind.code, bind.stderr).toBe(0);
      try {
        const rec = await c.kbackup('boot-record');
        expect(rec.code, rec.stderr).toBe(0);
        expect(rec.stderr).toMatch(/fallback: this boot runs .*, not GRUB's default/);
        expectFallbackVisible((p) => (c.exists(p) ? c.readFile(p) : undefined), os.release(), 'not-default');
        const nagios = await c.kbackup('check --nagios');
        expect(nagios.stdout).toMatch(/^KBACKUP CRITICAL - .*fallback-running.* \| fallback=1;/);
        expect(nagios.code).toBe(2);
      } finally {
        await hostRun('umount', [c.host('/proc/cmdline')]);
      }
    });
  });
}
