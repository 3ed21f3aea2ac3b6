// The built CLI against temp roots: the ways a backup could be lost or hidden (issue 9, items 1–8).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bytes, fakeSet, installKernel, kbackup, makeRoot, requireBuiltCli, V, type TempRoot } from '../helpers/root';

let root: TempRoot;
beforeAll(() => {
  requireBuiltCli();
});
afterEach(() => {
  root?.cleanup();
});

const STAMPS = ['202601010000', '202602010000', '202603010000', '202604010000', '202605010000', '202606010000'];

function setIds(r: TempRoot): string[] {
  const list = kbackup(r, ['list', '--json']);
  expect(list.code, list.stderr).toBe(0);
  return (JSON.parse(list.stdout) as { id: string }[]).map((s) => s.id);
}

/** Set IDs read from the kernel image backups on disk (independent of list, which reads the configuration). */
function idsOnDisk(r: TempRoot): string[] {
  return r.ls().filter((n) => n.startsWith(`kernel-`)).map((n) => n.slice('kernel-'.length)).sort();
}

function backupFiles(r: TempRoot): string[] {
  return r.ls().filter((n) => n.includes('~~backup'));
}

describe('1. a broken configuration file', () => {
  it('keeps every readable setting (KEEP=10 stays 10), still backs up, and deletes nothing', () => {
    root = makeRoot();
    installKernel(root);
    const ids = STAMPS.map((s, i) => fakeSet(root, s, V, 10 + i));
    root.config('KEEP=10\nONERROR=warn\n');
    const r = kbackup(root, ['hook', 'preinst', V]);
    expect(r.code).toBe(0);
    // The admin learns which line is wrong and that nothing is deleted until it is fixed.
    expect(r.stderr).toContain('/etc/default/kbackup:2: unknown key ONERROR');
    expect(r.stderr).toMatch(/deletes nothing|nothing is deleted/);
    expect(r.stderr).not.toContain('removed');
    const after = idsOnDisk(root);
    for (const id of ids) expect(after).toContain(id);
    expect(after).toHaveLength(7);
  });

  it('still deletes nothing when the readable KEEP is smaller than the sets there', () => {
    root = makeRoot();
    installKernel(root);
    const ids = STAMPS.map((s, i) => fakeSet(root, s, V, 10 + i));
    root.config('KEEP=2\nMIN_FREE_MB=lots\n');
    expect(kbackup(root, ['hook', 'preinst', V]).code).toBe(0);
    const after = idsOnDisk(root);
    for (const id of ids) expect(after).toContain(id);
    expect(after).toHaveLength(7);
  });

  it('honours a readable ENABLED=no: no set removed, none made', () => {
    root = makeRoot();
    installKernel(root);
    STAMPS.forEach((s, i) => fakeSet(root, s, V, 10 + i));
    const before = root.ls();
    root.config('ENABLED=no\nMIN_FREE_MB=lots\n');
    const r = kbackup(root, ['hook', 'preinst', V]);
    expect(r.code).toBe(0);
    expect(root.ls()).toEqual(before);
    expect(fs.existsSync(root.file('var/lib/kbackup'))).toBe(false);
  });
});

describe('2. KEEP=0', () => {
  it('never lets a hook delete the sets of the kernel about to be replaced', () => {
    root = makeRoot();
    installKernel(root);
    const ids = STAMPS.slice(0, 4).map((s, i) => fakeSet(root, s, V, 10 + i));
    root.config('KEEP=0\n');
    const r = kbackup(root, ['hook', 'preinst', V]);
    expect(r.code).toBe(0);
    expect(setIds(root)).toEqual([...ids].reverse());
  });

  it('a snapshot with KEEP=0 is refused with exit 1 and says what to change', () => {
    root = makeRoot();
    installKernel(root);
    root.config('KEEP=0\n');
    const r = kbackup(root, ['snapshot', V]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/KEEP=0/);
    expect(r.stderr).toMatch(/KEEP=1|KEEP to 1/);
    expect(backupFiles(root)).toEqual([]);
  });

  it('prune that would remove every set of a version needs --yes off a terminal', () => {
    root = makeRoot();
    installKernel(root);
    const ids = STAMPS.slice(0, 2).map((s, i) => fakeSet(root, s, V, 10 + i));
    const refused = kbackup(root, ['prune', '--keep', '0']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--yes');
    expect(refused.stderr).toContain(V);
    expect(setIds(root)).toEqual([...ids].reverse());
    // --dry-run shows it without asking.
    const dry = kbackup(root, ['prune', '--keep', '0', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`would remove ${ids[0]}`);
    const yes = kbackup(root, ['prune', '--keep', '0', '--yes']);
    expect(yes.code, yes.stderr).toBe(0);
    expect(setIds(root)).toEqual([]);
  });

  it('prune that would remove the set GRUB boots by default needs --yes', () => {
    root = makeRoot();
    installKernel(root);
    const older = fakeSet(root, STAMPS[0]!, V, 10);
    const newer = fakeSet(root, STAMPS[1]!, V, 11);
    root.write(
      'boot/grub/grub.cfg',
      `set default="0"\nmenuentry 'Debian GNU/Linux, with Linux ${V}~~backup${STAMPS[0]}' {\n\tlinux /boot/kernel-${older} root=/dev/sda1 ro\n\tinitrd /boot/initrd.img-${older}\n}\n` +
        `menuentry 'Debian GNU/Linux, with Linux ${V}' {\n\tlinux /boot/vmlinuz-${V} root=/dev/sda1 ro\n\tinitrd /boot/initrd.img-${V}\n}\n`,
    );
    const refused = kbackup(root, ['prune', '--keep', '1']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(older);
    expect(refused.stderr).toMatch(/default/);
    expect(refused.stderr).toContain('--yes');
    expect(setIds(root)).toEqual([newer, older]);
  });
});

describe('3. a missing live initrd', () => {
  it('is an error with its own code in check, for every live kernel without one', () => {
    root = makeRoot();
    installKernel(root);
    installKernel(root, '6.1.0-17-amd64', 2);
    fs.rmSync(root.file(`boot/initrd.img-${V}`));
    fs.rmSync(root.file('boot/initrd.img-6.1.0-17-amd64'));
    const r = kbackup(root, ['check', '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; problems: { code: string; message: string; severity: string }[] };
    expect(report.ok).toBe(false);
    const missing = report.problems.filter((p) => p.code === 'live-missing-initrd');
    expect(missing.map((p) => p.severity)).toEqual(['error', 'error']);
    expect(missing.some((p) => p.message.includes(`/boot/initrd.img-${V}`) && p.message.includes(`update-initramfs -c -k ${V}`))).toBe(true);
    expect(missing.some((p) => p.message.includes('/boot/initrd.img-6.1.0-17-amd64'))).toBe(true);
  });
});

describe('4. dedupe', () => {
  it('after a restore, the next update does not copy bytes any set of the version already holds', () => {
    root = makeRoot();
    installKernel(root);
    expect(kbackup(root, ['snapshot', V]).code).toBe(0);
    const [first] = setIds(root);
    root.write(`boot/vmlinuz-${V}`, bytes(64 * 1024, 99));
    expect(kbackup(root, ['snapshot', V]).code).toBe(0);
    expect(setIds(root)).toHaveLength(2);
    const restored = kbackup(root, ['restore', '--yes', first!]);
    expect(restored.code, restored.stderr).toBe(0);
    const r = kbackup(root, ['hook', 'preinst', V]);
    expect(r.code).toBe(0);
    expect(setIds(root)).toHaveLength(2);
    expect(r.stderr).not.toContain('made backup set');
    // Restoring the newer set again: the live files (the older set's bytes) are not copied a third
    // time, and the way back names the set that holds them.
    const second = setIds(root).find((id) => id !== first)!;
    const again = kbackup(root, ['restore', '--yes', second]);
    expect(again.code, again.stderr).toBe(0);
    expect(setIds(root)).toHaveLength(2);
    expect(again.stdout).toContain(`To undo: kbackup restore ${first}`);
  });
});

describe('5. verified', () => {
  it('is false in list, and restore refuses, when a recorded file is gone (as check reports)', () => {
    root = makeRoot();
    installKernel(root);
    expect(kbackup(root, ['snapshot', V]).code).toBe(0);
    const [id] = setIds(root);
    fs.rmSync(root.file(`boot/config-${id}`));
    const list = JSON.parse(kbackup(root, ['list', '--json']).stdout) as { id: string; verified: boolean }[];
    expect(list[0]!.verified).toBe(false);
    expect(kbackup(root, ['list']).stdout).toMatch(/unverified/);
    expect(JSON.parse(kbackup(root, ['check', '--json']).stdout).problems.map((p: { code: string }) => p.code)).toContain('manifest-mismatch');
    const restore = kbackup(root, ['restore', '--dry-run', id!]);
    expect(restore.code).toBe(1);
    expect(restore.stdout).toContain(`config-${id}`);
  });
});

describe('6. mtime', () => {
  it('keeps nanoseconds in the backup and in a restore, as cp -p does', () => {
    root = makeRoot();
    installKernel(root);
    const live = root.file(`boot/vmlinuz-${V}`);
    const ns = 1767225600123456789n; // 2026-01-01T00:00:00.123456789Z
    const touch = spawnSync('touch', ['-d', '2026-01-01 00:00:00.123456789 UTC', live]);
    expect(touch.status).toBe(0);
    expect(fs.statSync(live, { bigint: true }).mtimeNs).toBe(ns);
    expect(kbackup(root, ['snapshot', V]).code).toBe(0);
    const [id] = setIds(root);
    expect(fs.statSync(root.file(`boot/kernel-${id}`), { bigint: true }).mtimeNs).toBe(ns);
    root.write(`boot/vmlinuz-${V}`, bytes(64 * 1024, 42));
    expect(kbackup(root, ['restore', '--yes', id!]).code).toBe(0);
    expect(fs.statSync(live, { bigint: true }).mtimeNs).toBe(ns);
  });
});

describe('7. snapshot arguments and refused commands', () => {
  it('snapshot -- VERSION backs up VERSION, not the running kernel', () => {
    root = makeRoot();
    installKernel(root);
    const r = kbackup(root, ['snapshot', '--', V]);
    expect(r.code, r.stderr).toBe(0);
    expect(setIds(root)).toHaveLength(1);
    expect(setIds(root)[0]).toMatch(new RegExp(`^${V.replace(/\./g, '\\.')}~~backup\\d{12}$`));
  });

  it('a command refused for bad input creates no /var/lib/kbackup', () => {
    root = makeRoot();
    installKernel(root);
    const state = root.file('var/lib/kbackup');
    for (const args of [['snapshot', '9.9.9-nope'], ['snapshot', 'a/b'], ['prune', '--keep', 'abc'], ['restore', `${V}~~backup202601010000`], ['prune', '--keep', '0', '9.9.9-nope']]) {
      const r = kbackup(root, args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(fs.existsSync(state), args.join(' ')).toBe(false);
    }
  });
});

describe('8. adopt beside a same-named kbackup set', () => {
  it('gives the legacy set the next free .N, and list no longer calls it legacy', () => {
    root = makeRoot();
    installKernel(root);
    const stamp = '202601010000';
    expect(kbackup(root, ['list']).code).toBe(0);
    fakeSet(root, stamp, V, 3, ['kernel', 'initrd.img']);
    root.write(`boot/vmlinuz-${V}~~backup${stamp}`, bytes(1000, 77));
    const legacyBytes = root.sha(`boot/vmlinuz-${V}~~backup${stamp}`);
    const kernelBytes = root.sha(`boot/kernel-${V}~~backup${stamp}`);
    expect(kbackup(root, ['list']).stdout).toContain('legacy name (kbackup adopt)');
    const r = kbackup(root, ['adopt']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`vmlinuz-${V}~~backup${stamp} -> kernel-${V}~~backup${stamp}.2`);
    expect(root.sha(`boot/kernel-${V}~~backup${stamp}.2`)).toBe(legacyBytes);
    expect(root.sha(`boot/kernel-${V}~~backup${stamp}`)).toBe(kernelBytes);
    expect(root.ls()).not.toContain(`vmlinuz-${V}~~backup${stamp}`);
    // The legacy image booted with the same initrd in GRUB's menu: it keeps one under the new name.
    expect(root.ls()).toContain(`initrd.img-${V}~~backup${stamp}.2`);
    const list = kbackup(root, ['list']);
    expect(list.stdout).not.toContain('legacy');
    const sets = JSON.parse(kbackup(root, ['list', '--json']).stdout) as { id: string; complete: boolean }[];
    expect(sets.map((s) => [s.id, s.complete])).toEqual([
      [`${V}~~backup${stamp}.2`, true],
      [`${V}~~backup${stamp}`, true],
    ]);
  });
});

// Issue 15, item 6: an unreadable configuration must not stop (or hang) a kernel update.
describe('an unreadable /etc/default/kbackup', () => {
  const kinds: [string, (r: TempRoot) => void][] = [
    ['a directory', (r) => fs.mkdirSync(r.file('etc/default/kbackup'), { recursive: true })],
    [
      'a symbolic link loop',
      (r) => {
        fs.mkdirSync(r.file('etc/default'), { recursive: true });
        fs.symlinkSync('kbackup.loop', r.file('etc/default/kbackup'));
        fs.symlinkSync('kbackup', r.file('etc/default/kbackup.loop'));
      },
    ],
    [
      'a FIFO (nothing ever writes to it)',
      (r) => {
        fs.mkdirSync(r.file('etc/default'), { recursive: true });
        const made = spawnSync('mkfifo', [r.file('etc/default/kbackup')]);
        expect(made.status).toBe(0);
      },
    ],
  ];

  it.each(kinds)('that is %s: the preinst and postinst hooks warn, back up with the defaults, and exit 0; a command says what to fix (exit 2), and nothing hangs', (_, make) => {
    root = makeRoot();
    installKernel(root, V, 1);
    fs.rmSync(root.file('etc/default/kbackup'), { force: true, recursive: true });
    make(root);
    const pre = kbackup(root, ['hook', 'preinst', V]);
    expect(pre.code, pre.stderr).toBe(0);
    expect(pre.stderr).toMatch(/cannot read .*etc\/default\/kbackup.*; until this is fixed, kbackup uses the default settings, still backs up, and deletes nothing/);
    expect(idsOnDisk(root)).toHaveLength(1);
    const post = kbackup(root, ['hook', 'postinst', V]);
    expect(post.code, post.stderr).toBe(0);
    const list = kbackup(root, ['list']);
    expect(list.code).toBe(2);
    expect(list.stderr).toMatch(/cannot read .*etc\/default\/kbackup/);
  });
});
