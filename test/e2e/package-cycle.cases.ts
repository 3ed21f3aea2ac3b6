// kbackup's own package life cycle on a real Debian 12 or 13: install an older build, upgrade to this
// one, remove (conffile shims stay behind), reinstall, purge. At every step a kernel update must still
// succeed, and the backups in /boot (the administrator's) must survive the package. The .deb is the
// one built on Debian 12, installed as is on Debian 13 too (package-cycle.<suite>.test.ts).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Chroot, createChroot, findKbackupDeb, repackDeb, type Suite, SUITE_NUMBER } from './harness';

export function packageCycleTests(suite: Suite): void {
  const SHIMS = [
    '/etc/kernel/preinst.d/00-kbackup',
    '/etc/kernel/postinst.d/zzz-kbackup',
    '/etc/kernel/postrm.d/kbackup',
    '/etc/initramfs/post-update.d/kbackup',
  ] as const;

  let c: Chroot;
  let deb: string;
  let debVersion: string;
  let previousDeb: string;
  let previousVersion: string;

  function backups(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of fs.readdirSync(c.host('/boot')).sort()) if (name.includes('~~backup')) out[name] = c.sha256(`/boot/${name}`);
    return out;
  }

  async function kernelUpdateSucceeds(): Promise<string> {
    const u = await c.kernelUpdate();
    const out = `${u.stdout}\n${u.stderr}`;
    expect(u.code, out).toBe(0);
    expect(await c.packageVersion(c.kernel.imagePackage)).toBe(u.packageVersion);
    return out;
  }

  beforeAll(async () => {
    const found = findKbackupDeb();
    if (!found) throw new Error('dist/kbackup_*.deb is missing: run `npm run build && npm run deb` before the e2e tier');
    deb = found;
    c = await createChroot({ suite, label: `package-cycle-${suite}`, kbackup: false });
    debVersion = spawnSync('dpkg-deb', ['-f', deb, 'Version'], { encoding: 'utf8' }).stdout.trim();
    // "A previous build": the same package re-packed under a lower version (~ sorts before anything).
    previousVersion = `${debVersion}~e2eprev1`;
    previousDeb = await repackDeb(deb, previousVersion);
  });

  afterAll(async () => {
    await c?.dispose();
  });

  describe(`Debian ${SUITE_NUMBER[suite]}: 8. install, upgrade, remove, reinstall, purge`, () => {
    it('installs a previous build, and a kernel update makes a backup', async () => {
      const r = await c.installDeb(previousDeb);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(await c.packageVersion('kbackup')).toBe(previousVersion);
      for (const shim of SHIMS) expect(c.exists(shim), shim).toBe(true);
      expect(c.exists('/etc/default/kbackup')).toBe(true);
      // The single executable runs with no node in the chroot.
      expect(c.exists('/usr/bin/node')).toBe(false);
      const v = await c.kbackup('--version');
      expect(v.code, v.stderr).toBe(0);

      await kernelUpdateSucceeds();
      expect(Object.keys(backups()).length).toBe(4);
    });

    it('upgrades to this build and keeps the manifest and the backups', async () => {
      const before = backups();
      const listBefore = JSON.parse((await c.kbackup('list --json')).stdout) as { id: string }[];
      const r = await c.installDeb(deb);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(await c.packageVersion('kbackup')).toBe(debVersion);
      expect(backups()).toEqual(before);
      const list = await c.kbackup('list --json');
      expect(list.code, list.stderr).toBe(0);
      expect((JSON.parse(list.stdout) as { id: string }[]).map((s) => s.id)).toEqual(listBefore.map((s) => s.id));
    });

    it('remove (not purge): the shims stay and exit 0, so a kernel update still succeeds', async () => {
      const before = backups();
      const r = await c.run('dpkg --remove kbackup');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(c.exists('/usr/sbin/kbackup')).toBe(false);
      // Conffiles stay with a removed package: this is the case the shims' "[ -x … ] || exit 0" is for.
      for (const shim of SHIMS) expect(c.exists(shim), `${shim} stays after remove`).toBe(true);
      expect(c.exists('/var/lib/kbackup')).toBe(true);

      const out = await kernelUpdateSucceeds();
      expect(out).not.toMatch(/kbackup.*(not found|No such file)/i);
      expect(backups()).toEqual(before); // nothing ran, nothing changed
      const ui = await c.run('update-initramfs -u');
      expect(ui.code, ui.stderr).toBe(0);
    });

    it('reinstall: kbackup works again and sees the old sets', async () => {
      const before = backups();
      const r = await c.installDeb(deb);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(await c.packageVersion('kbackup')).toBe(debVersion);
      const list = await c.kbackup('list --json');
      expect(list.code, list.stderr).toBe(0);
      const ids = (JSON.parse(list.stdout) as { id: string }[]).map((s) => s.id);
      for (const name of Object.keys(before).filter((n) => n.startsWith('kernel-'))) expect(ids).toContain(name.slice('kernel-'.length));
    });

    it('purge: /var/lib/kbackup goes, the backups in /boot stay, and a kernel update still succeeds', async () => {
      const before = backups();
      expect(Object.keys(before).length).toBeGreaterThan(0);
      const r = await c.run('dpkg --purge kbackup');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(await c.packageVersion('kbackup')).toBe('');
      expect(c.exists('/var/lib/kbackup')).toBe(false);
      expect(c.exists('/usr/sbin/kbackup')).toBe(false);
      expect(c.exists('/etc/default/kbackup')).toBe(false);
      for (const shim of SHIMS) expect(c.exists(shim), `${shim} purged`).toBe(false);
      expect(backups()).toEqual(before);

      await kernelUpdateSucceeds();
      expect(backups()).toEqual(before);
    });
  });
}
