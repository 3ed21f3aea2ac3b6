// The built CLI against temp roots: pruning, space guard, manifest, restore, adopt, bad input, lock.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bytes, fakeSet as writeSet, installKernel, isRoot, kbackup, makeRoot, requireBuiltCli, V, type TempRoot } from '../helpers/root';

let root: TempRoot;
const mounts: string[] = [];
beforeAll(() => {
  requireBuiltCli();
});
afterEach(() => {
  for (const m of mounts.splice(0)) spawnSync('umount', ['-l', m]);
  root?.cleanup();
});

/** A backup set written by hand, as an older kbackup run would have left it. */
/** cli-manage's sets hold a 200 kB initrd: large enough for the space and size columns it asserts. */
function fakeSet(r: TempRoot, stamp: string, version = V, seed = 7, stems = ['kernel', 'initrd.img', 'config', 'System.map']): string {
  return writeSet(r, stamp, version, seed, stems, 200_000);
}

function codes(stdout: string): string[] {
  return (JSON.parse(stdout).problems as { code: string }[]).map((p) => p.code);
}

describe('prune', () => {
  it('keeps KEEP whole sets per version, oldest out first, and deletes nothing but backup names', () => {
    root = makeRoot();
    installKernel(root);
    const ids = ['202601010000', '202602010000', '202603010000', '202604010000'].map((s) => fakeSet(root, s));
    const decoys = [`vmlinuz-${V}~~backupnotadate`, `notes~~backup202601010000`, `kernel-${V}`, 'grub', `initrd.img-${V}.dpkg-bak`];
    for (const d of decoys) root.write(`boot/${d}`, 'x');
    const dry = kbackup(root, ['prune', '--keep', '2', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`would remove ${ids[0]}`);
    expect(dry.stdout).toContain(`would remove ${ids[1]}`);
    expect(root.ls().filter((n) => n.includes(`${V}~~backup2026`))).toHaveLength(16);
    expect(kbackup(root, ['prune', '--keep', '2']).code).toBe(0);
    const left = root.ls();
    for (const id of ids.slice(0, 2)) expect(left.some((n) => n.endsWith(id))).toBe(false);
    for (const id of ids.slice(2)) expect(left.filter((n) => n.endsWith(id))).toHaveLength(4);
    for (const d of decoys) expect(left).toContain(d);
    for (const live of ['vmlinuz', 'initrd.img', 'config', 'System.map']) expect(left).toContain(`${live}-${V}`);
  });

  it('still sees and prunes the backups of a stem later removed from FILES', () => {
    root = makeRoot();
    installKernel(root);
    root.write(`boot/abi-${V}`, 'abi');
    root.config('FILES="vmlinuz initrd.img config System.map abi"\n');
    expect(kbackup(root, ['snapshot', V]).code).toBe(0);
    root.config('');
    const sets = JSON.parse(kbackup(root, ['list', '--json']).stdout) as { files: { stem: string }[] }[];
    expect(sets[0]!.files.map((f) => f.stem)).toContain('abi');
    expect(kbackup(root, ['prune', '--yes', '--keep', '0']).code).toBe(0);
    expect(root.ls().filter((n) => n.includes('~~backup'))).toEqual([]);
    expect(root.ls()).toContain(`abi-${V}`);
  });

  it('prunes one kernel version when named', () => {
    root = makeRoot();
    installKernel(root);
    fakeSet(root, '202601010000');
    fakeSet(root, '202601010000', '6.1.0-17-amd64');
    expect(kbackup(root, ['prune', '--yes', '--keep', '0', '6.1.0-17-amd64']).code).toBe(0);
    expect(JSON.parse(kbackup(root, ['list', '--json']).stdout).map((s: { id: string }) => s.id)).toEqual([`${V}~~backup202601010000`]);
  });

  it('warns when a removed kernel leaves backups that would become the default entry', () => {
    root = makeRoot();
    installKernel(root, '6.1.0-17-amd64');
    fakeSet(root, '202601010000', V); // the newer kernel V was removed; its backups stayed
    const r = kbackup(root, ['hook', 'postrm', V], { DEB_MAINT_PARAMS: 'remove' });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`would now be GRUB's default entry; kbackup prune --yes --keep 0 ${V} removes them`);
  });

  it('prunes during the hook so that KEEP sets remain after the new one', () => {
    root = makeRoot();
    installKernel(root);
    root.config('KEEP=2\n');
    fakeSet(root, '202601010000');
    fakeSet(root, '202602010000');
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    const sets = JSON.parse(kbackup(root, ['list', '--json']).stdout) as { id: string }[];
    expect(sets).toHaveLength(2);
    expect(sets.map((s) => s.id)).toContain(`${V}~~backup202602010000`);
  });
});

describe.runIf(isRoot)('space guard (tmpfs /boot, as root)', () => {
  function tmpfsBoot(r: TempRoot, size: string): void {
    const res = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'kbackup-test', r.boot]);
    expect(res.status, String(res.stderr)).toBe(0);
    mounts.push(r.boot);
  }

  it('skips with a warning that says what was needed and free, and exits 0 (1 with ON_ERROR=fail)', () => {
    root = makeRoot();
    tmpfsBoot(root, '4m');
    installKernel(root, V, 1, { vmlinuz: 512 * 1024, initrd: 1024 * 1024 });
    root.config('MIN_FREE_MB=3\n');
    const r = kbackup(root, ['hook', 'preinst', V]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/not enough space .* it needs 1\.6M plus the MIN_FREE_MB reserve of 3\.0M .* only [\d.]+[KM] is free/s);
    expect(root.ls().filter((n) => n.includes('~~backup'))).toEqual([]);
    root.config('MIN_FREE_MB=3\nON_ERROR=fail\n');
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(1);
  });

  it('prunes older sets first when that makes room, never the newest complete set of the version being replaced', () => {
    root = makeRoot();
    // 6 MiB: 1.5 MiB live, two 1.5 MiB older sets, about 1.5 MiB free; a new set (1.5 MiB) plus
    // MIN_FREE_MB=1 fits only once the oldest set is gone.
    tmpfsBoot(root, '6m');
    installKernel(root, V, 1, { vmlinuz: 512 * 1024, initrd: 1024 * 1024 });
    for (const [stamp, seed] of [['202601010000', 3], ['202602010000', 4]] as const) {
      fakeSet(root, stamp, V, seed, ['kernel', 'initrd.img']);
      root.write(`boot/initrd.img-${V}~~backup${stamp}`, bytes(1536 * 1024, seed + 10));
    }
    root.config('MIN_FREE_MB=1\n');
    const r = kbackup(root, ['hook', 'preinst', V]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`removed ${V}~~backup202601010000 (to make room)`);
    const sets = JSON.parse(kbackup(root, ['list', '--json']).stdout) as { id: string; complete: boolean }[];
    expect(sets.map((s) => s.id)).toContain(`${V}~~backup202602010000`);
    expect(sets).toHaveLength(2);
  });

  it('never deletes the only set of the version for room: the backup is skipped with a warning instead', () => {
    root = makeRoot();
    tmpfsBoot(root, '6m');
    installKernel(root, V, 1, { vmlinuz: 512 * 1024, initrd: 1024 * 1024 });
    fakeSet(root, '202601010000', V, 3, ['kernel', 'initrd.img']);
    root.write(`boot/initrd.img-${V}~~backup202601010000`, bytes(2 * 1024 * 1024, 9));
    root.config('MIN_FREE_MB=2\n');
    const r = kbackup(root, ['hook', 'preinst', V]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/not enough space in \/boot for a backup/);
    expect(r.stderr).not.toContain('removed');
    expect(root.ls()).toContain(`kernel-${V}~~backup202601010000`);
  });

  it('leaves no partial set when the copy itself runs out of space (ENOSPC)', () => {
    root = makeRoot();
    // Free blocks say yes, but the tmpfs has inodes for only two more files: the third copy fails
    // with ENOSPC after the initrd is already copied.
    const res = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,nr_inodes=7', 'kbackup-test', root.boot]);
    expect(res.status, String(res.stderr)).toBe(0);
    mounts.push(root.boot);
    installKernel(root, V, 1, { vmlinuz: 600 * 1024, initrd: 700 * 1024 });
    root.config('MIN_FREE_MB=0\n');
    const r = kbackup(root, ['hook', 'preinst', V]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/no space left|ENOSPC/);
    expect(root.ls().filter((n) => n.includes('~~backup') || n.startsWith('.'))).toEqual([]);
    root.config('MIN_FREE_MB=0\nON_ERROR=fail\n');
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(3);
  });

  it('reports a read-only boot directory: the hook warns and exits 0, snapshot exits 3', () => {
    root = makeRoot();
    tmpfsBoot(root, '8m');
    installKernel(root);
    root.config('MIN_FREE_MB=0\n');
    expect(spawnSync('mount', ['-o', 'remount,ro', root.boot]).status).toBe(0);
    const hook = kbackup(root, ['hook', 'preinst', V]);
    expect(hook.code).toBe(0);
    expect(hook.stderr).toMatch(/EROFS|read-only/);
    const snap = kbackup(root, ['snapshot', V]);
    expect(snap.code).toBe(3);
    expect(snap.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });
});

describe('manifest', () => {
  it('is rebuilt from /boot with a warning when missing or corrupt, never a crash', () => {
    root = makeRoot();
    installKernel(root);
    fakeSet(root, '202601010000');
    const missing = kbackup(root, ['prune']);
    expect(missing.code).toBe(0);
    expect(missing.stderr).toContain('manifest.json is missing; rebuilding it');
    const manifest = root.file('var/lib/kbackup/manifest.json');
    expect(JSON.parse(fs.readFileSync(manifest, 'utf8')).sets).toHaveLength(1);
    fs.writeFileSync(manifest, '{"format": 1, "sets": [tr');
    const list = kbackup(root, ['list', '--json']);
    expect(list.code).toBe(0);
    const corrupt = kbackup(root, ['hook', 'preinst', V]);
    expect(corrupt.code).toBe(0);
    expect(corrupt.stderr).toContain('was unreadable');
    expect(JSON.parse(fs.readFileSync(manifest, 'utf8')).sets).toHaveLength(2);
    expect(fs.readdirSync(root.file('var/lib/kbackup')).some((n) => n.startsWith('manifest.json.corrupt-'))).toBe(true);
  });
});

describe('check', () => {
  it('passes on a machine whose backups sort below the live kernel', () => {
    root = makeRoot();
    installKernel(root);
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    const r = kbackup(root, ['check', '--json']);
    const report = JSON.parse(r.stdout);
    expect(r.code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.predictedOrder[0]).toBe(`/boot/vmlinuz-${V}`);
    expect(report.predictedOrder[1]).toMatch(/^\/boot\/kernel-6\.1\.0-18-amd64~~backup\d{12}$/);
  });

  it('fails when a backup would become the default entry (backups of a purged newer kernel)', () => {
    root = makeRoot();
    installKernel(root);
    fakeSet(root, '202601010000', '6.10.0-1-amd64');
    const r = kbackup(root, ['check', '--json']);
    expect(r.code).toBe(1);
    expect(codes(r.stdout)).toContain('backup-is-default');
  });

  it('names a changed backup, a legacy name, an orphan kernel and a dangling link', () => {
    root = makeRoot();
    installKernel(root);
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    const initrd = root.ls().find((n) => n.startsWith('initrd.img-') && n.includes('~~'))!;
    fs.appendFileSync(root.file(`boot/${initrd}`), 'rot');
    root.write(`boot/vmlinuz-${V}~~backup201407021638`, 'legacy kernel');
    root.write(`boot/initrd.img-${V}~~backup201407021638`, 'legacy initrd');
    root.write(`boot/kernel-${V}~~backup201501010000`, 'orphan kernel');
    fs.symlinkSync(`boot/vmlinuz-${V}.gone`, root.file('vmlinuz.old'));
    const r = kbackup(root, ['check', '--json']);
    expect(r.code).toBe(1);
    expect(codes(r.stdout)).toEqual(expect.arrayContaining(['manifest-mismatch', 'legacy-backup', 'backup-missing-initrd', 'link-dangling']));
    const human = kbackup(root, ['check']);
    expect(human.stdout).toContain('problems found');
  });
});

describe('check against grub.cfg', () => {
  const cfg = (def: string) => `set default="${def}"
menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-x' {
\tlinux\t/boot/vmlinuz-${V} root=/dev/sda1 ro quiet
\tinitrd\t/boot/initrd.img-${V}
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-x' {
\tmenuentry 'Debian GNU/Linux, with Linux ${V}~~backup202601010000' $menuentry_id_option 'gnulinux-backup-x' {
\t\tlinux\t/boot/kernel-${V}~~backup202601010000 root=/dev/sda1 ro quiet
\t\tinitrd\t/boot/initrd.img-${V}~~backup202601010000
\t}
}
`;
  it('during a failed trial that fell back to a backup set, check says trial-failed and gives no GRUB_DEFAULT advice beside it', () => {
    root = makeRoot();
    installKernel(root);
    const id = fakeSet(root, '202601010000');
    root.write('boot/grub/grub.cfg', cfg('1>0'));
    // Without a trial, the same grub.cfg earns the GRUB_DEFAULT advice.
    expect(codes(kbackup(root, ['check', '--json']).stdout)).toContain('grub-default-is-backup');
    root.write(
      'var/lib/kbackup/trial.json',
      JSON.stringify({
        state: 'failed',
        version: V,
        image: `/boot/vmlinuz-${V}`,
        initrd: `/boot/initrd.img-${V}`,
        imageSha256: root.sha(`boot/vmlinuz-${V}`),
        initrdSha256: root.sha(`boot/initrd.img-${V}`),
        entry: 'gnulinux-simple-x',
        goodEntry: 'gnulinux-advanced-x>gnulinux-backup-x',
        goodImage: `/boot/kernel-${id}`,
        armedAt: '2026-11-01T00:00:00.000Z',
        failedAt: '2026-11-01T00:05:00.000Z',
      }),
    );
    const r = kbackup(root, ['check', '--json']);
    expect(codes(r.stdout)).toContain('trial-failed');
    expect(codes(r.stdout)).not.toContain('grub-default-is-backup');
    expect(r.stdout).not.toContain('GRUB_DEFAULT');
  });

  it('fails when grub.cfg boots a backup by default, and agrees when it boots the live kernel', () => {
    root = makeRoot();
    installKernel(root);
    fakeSet(root, '202601010000');
    root.write('boot/grub/grub.cfg', cfg('1>0'));
    const bad = kbackup(root, ['check', '--json']);
    expect(bad.code).toBe(1);
    expect(codes(bad.stdout)).toContain('grub-default-is-backup');
    expect(JSON.parse(bad.stdout).defaultEntry).toBe(`/boot/kernel-${V}~~backup202601010000`);
    root.write('boot/grub/grub.cfg', cfg('0'));
    const good = kbackup(root, ['check', '--json']);
    expect(codes(good.stdout)).not.toContain('grub-default-is-backup');
    expect(codes(good.stdout)).not.toContain('grub-cfg-stale');
    // A newer backup that update-grub has not been run for yet:
    fakeSet(root, '202602010000');
    expect(codes(kbackup(root, ['check', '--json']).stdout)).toContain('grub-cfg-stale');
  });
});

describe('adopt', () => {
  it("renames the original script's vmlinuz-V~~backup… to kernel-V~~backup… and records it", () => {
    root = makeRoot();
    installKernel(root);
    root.write(`boot/vmlinuz-${V}~~backup201407021638`, 'legacy kernel');
    root.write(`boot/initrd.img-${V}~~backup201407021638`, 'legacy initrd');
    const dry = kbackup(root, ['adopt', '--dry-run']);
    expect(dry.stdout).toContain(`would rename vmlinuz-${V}~~backup201407021638 -> kernel-${V}~~backup201407021638`);
    expect(root.ls()).toContain(`vmlinuz-${V}~~backup201407021638`);
    expect(kbackup(root, ['adopt']).code).toBe(0);
    expect(root.ls()).toContain(`kernel-${V}~~backup201407021638`);
    expect(root.ls()).not.toContain(`vmlinuz-${V}~~backup201407021638`);
    const check = kbackup(root, ['check', '--json']);
    expect(codes(check.stdout)).not.toContain('legacy-backup');
    expect(JSON.parse(kbackup(root, ['list', '--json']).stdout)[0].verified).toBe(true);
  });
});

describe('restore', () => {
  it('backs up the live set, puts back the exact bytes, and says how to undo', () => {
    root = makeRoot();
    installKernel(root, V, 1);
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    const old = { vmlinuz: root.sha(`boot/vmlinuz-${V}`), initrd: root.sha(`boot/initrd.img-${V}`) };
    const id = JSON.parse(kbackup(root, ['list', '--json']).stdout)[0].id as string;
    installKernel(root, V, 2); // the "update"
    const dry = kbackup(root, ['restore', id, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`would restore kernel-${id.replace(V, V)}`.replace(`kernel-${id}`, `kernel-${id}`));
    expect(root.sha(`boot/vmlinuz-${V}`)).not.toBe(old.vmlinuz);
    const refused = kbackup(root, ['restore', id]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--yes');
    const r = kbackup(root, ['restore', id, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(root.sha(`boot/vmlinuz-${V}`)).toBe(old.vmlinuz);
    expect(root.sha(`boot/initrd.img-${V}`)).toBe(old.initrd);
    expect(fs.statSync(root.file(`boot/initrd.img-${V}`)).mode & 0o777).toBe(0o600);
    const undo = /To undo: kbackup restore (\S+)/.exec(r.stdout)?.[1];
    expect(undo).toBeDefined();
    expect(JSON.parse(kbackup(root, ['list', '--json']).stdout).map((s: { id: string }) => s.id)).toContain(undo);
  });

  it('refuses before touching anything when the live files could not be kept (KEEP=0), and says so in --dry-run', () => {
    root = makeRoot();
    installKernel(root, V, 1);
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    installKernel(root, V, 2);
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    const before = root.ls();
    const id = JSON.parse(kbackup(root, ['list', '--json']).stdout)[1].id as string;
    root.config('KEEP=0\n');
    const dry = kbackup(root, ['restore', id, '--dry-run']);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toContain('would refuse');
    const r = kbackup(root, ['restore', id, '--yes']);
    expect(r.code).toBe(1);
    expect(root.ls()).toEqual(before);
  });

  it('restores over an incomplete live set (the likely rescue case) with a warning', () => {
    root = makeRoot();
    installKernel(root, V, 1);
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    const id = JSON.parse(kbackup(root, ['list', '--json']).stdout)[0].id as string;
    const initrd = root.sha(`boot/initrd.img-${V}`);
    fs.rmSync(root.file(`boot/initrd.img-${V}`));
    const r = kbackup(root, ['restore', id, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('incomplete');
    expect(root.sha(`boot/initrd.img-${V}`)).toBe(initrd);
  });

  it('refuses an unknown ID with the nearest IDs, and a set that no longer matches its checksums', () => {
    root = makeRoot();
    installKernel(root);
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    const id = JSON.parse(kbackup(root, ['list', '--json']).stdout)[0].id as string;
    const unknown = kbackup(root, ['restore', `${id}9`, '--yes']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`nearest: ${id}`);
    fs.appendFileSync(root.file(`boot/kernel-${id}`), 'rot');
    const rotten = kbackup(root, ['restore', id, '--yes']);
    expect(rotten.code).toBe(1);
    expect(rotten.stderr).toContain('no longer matches');
  });
});

describe('bad input', () => {
  it.each([['../x'], ['a/b'], [''], ['6.1\u0001'], ['x'.repeat(300)], ['..']])('refuses kernel version %j before touching anything', (bad) => {
    root = makeRoot();
    installKernel(root);
    const before = root.ls();
    // As a command: a usage error. As a hook: the same message, and the update goes on (ON_ERROR=warn).
    const snap = kbackup(root, ['snapshot', bad]);
    expect(snap.code).toBe(2);
    expect(snap.stderr).toContain('refusing kernel version');
    expect(snap.stderr).not.toMatch(/\n\s+at /);
    const hook = kbackup(root, ['hook', 'preinst', bad]);
    expect(hook.code).toBe(0);
    expect(hook.stderr).toContain('refusing kernel version');
    root.config('ON_ERROR=fail\n');
    expect(kbackup(root, ['hook', 'preinst', bad]).code).toBe(2);
    expect(root.ls()).toEqual(before);
  });

  it('names file, line and accepted values for a bad configuration (exit 2)', () => {
    root = makeRoot();
    installKernel(root);
    root.config('# comment\nKEEP=many\n');
    const r = kbackup(root, ['prune', '--dry-run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/etc/default/kbackup:2: KEEP="many" is not valid (accepted: a whole number from 0 to 99)');
    root.config('KEPE=3\n');
    expect(kbackup(root, ['prune', '--dry-run']).stderr).toContain('unknown key KEPE (did you mean KEEP?) (known keys: ENABLED, KEEP, FILES, MIN_FREE_MB, ON_ERROR, ON_PURGE, TRIAL_BOOT, TRIAL_DEADLINE)');
  });

  it('refuses a missing --config file and a --root that is not a directory (exit 2); hooks go on', () => {
    root = makeRoot();
    installKernel(root);
    expect(kbackup(root, ['--config', root.file('nope'), 'list']).code).toBe(2);
    const missing = `${root.dir}/nowhere`;
    const list = kbackup(missing, ['list']);
    expect(list.code).toBe(2);
    expect(list.stderr).toContain('is not a directory');
    const hook = kbackup(missing, ['hook', 'preinst', V]);
    expect(hook.code).toBe(0);
    expect(fs.existsSync(missing)).toBe(false);
    const noValue = spawnSync(requireBuiltCli(), ['list', '--root'], { encoding: 'utf8' });
    expect(noValue.status).toBe(2);
    expect(noValue.stderr).not.toMatch(/\n\s+at /);
  });

  it('keeps hooks working through a bad configuration line or command line, unless ON_ERROR=fail', () => {
    root = makeRoot();
    installKernel(root);
    root.config('KEEP=many\n');
    const r = kbackup(root, ['hook', 'preinst', V]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('KEEP="many" is not valid');
    expect(root.ls().filter((n) => n.includes('~~backup'))).toHaveLength(4);
    expect(kbackup(root, ['hook', 'preinst', V, '/boot/vmlinuz', 'extra']).code).toBe(0);
    root.config('KEEP=many\nON_ERROR=fail\n');
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(2);
    expect(kbackup(root, ['hook', 'preinst', V, '/boot/vmlinuz', 'extra']).code).toBe(2);
  });

  it('gives a usage error, not a help dump, for an unknown command or option', () => {
    root = makeRoot();
    const r = kbackup(root, ['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').filter(Boolean).length).toBeLessThanOrEqual(2);
    expect(kbackup(root, ['list', '--nope']).code).toBe(2);
  });

  it('prints the package version', () => {
    const pkg = JSON.parse(fs.readFileSync(`${__dirname}/../../package.json`, 'utf8'));
    expect(spawnSync(requireBuiltCli(), ['--version'], { encoding: 'utf8' }).stdout.trim()).toBe(pkg.version);
  });
});

describe('lock', () => {
  it('makes a second run wait, then say who holds the lock; a dead holder is taken over', async () => {
    root = makeRoot();
    installKernel(root);
    // A process that is a kbackup as far as /proc/PID/cmdline says (a lock naming any other program is stale).
    const holder = spawn('bash', ['-c', 'exec -a kbackup sleep 30']);
    await new Promise((res) => setTimeout(res, 200));
    try {
      root.write('var/lib/kbackup/lock', JSON.stringify({ pid: holder.pid, command: 'snapshot test', since: '2026-11-22T20:40:00Z' }));
      const r = kbackup(root, ['snapshot', V]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`another kbackup (pid ${holder.pid}, "snapshot test"`);
    } finally {
      holder.kill();
    }
    await new Promise((res) => holder.on('exit', res));
    const r = kbackup(root, ['snapshot', V]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(root.file('var/lib/kbackup/lock'))).toBe(false);
  });

  it('takes over an unreadable lock left by a crash, once it is old', () => {
    root = makeRoot();
    installKernel(root);
    const lock = root.write('var/lib/kbackup/lock', '');
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(lock, old, old);
    const r = kbackup(root, ['snapshot', V]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('two runs at once make exactly one set', async () => {
    root = makeRoot();
    installKernel(root, V, 1, { vmlinuz: 1024 * 1024, initrd: 8 * 1024 * 1024 });
    const run = () =>
      new Promise<number>((res) => {
        const p = spawn(requireBuiltCli(), ['--root', root.dir, 'snapshot', V], { stdio: 'ignore' });
        p.on('exit', (code) => res(code ?? -1));
      });
    const codesRun = await Promise.all([run(), run(), run()]);
    expect(codesRun).toEqual([0, 0, 0]);
    const sets = JSON.parse(kbackup(root, ['list', '--json']).stdout) as { complete: boolean }[];
    expect(sets).toHaveLength(1);
    expect(sets[0]!.complete).toBe(true);
  });
});
