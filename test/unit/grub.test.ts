import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GRUBENV_SIGNATURE, grubPathBasename, parseGrubCfg, parseGrubenv, resolveDefaultEntry, type GrubMenu, type MenuEntry, type MenuNode } from '../../src/core/model/grub/grub-cfg';
import {
  detectFlavour,
  grubKernelVersion,
  grubMenuOrder,
  initrdCandidates,
  isGrubGarbage,
  type BootEntry,
  type GrubFlavour,
} from '../../src/core/model/grub/menu-order';

const FIXTURES = path.resolve(__dirname, '../fixtures/grub');
const FLAVOURS: GrubFlavour[] = ['dpkg', 'sort-v'];

const files = (...names: string[]): BootEntry[] => names.map((name) => ({ name, isFile: true }));
const images = (entries: BootEntry[], flavour: GrubFlavour) => grubMenuOrder(entries, flavour).map((k) => k.image);

// ---------------------------------------------------------------------------------------------
describe('detectFlavour', () => {
  // Short excerpts of the lines that differ between the versions.
  const DEBIAN12_10LINUX = 'while [ "x$list" != "x" ] ; do\n  linux=`version_find_latest $list`\n';
  const DEBIAN12_LIB =
    'version_test_gt ()\n{\n  version_test_gt_sedexp="s/[^-]*-//"\n  dpkg --compare-versions "$a" "$cmp" "$b"\n}\n\nversion_find_latest ()\n{\n}\n';
  const UPSTREAM206_LIB =
    'version_test_gt ()\n{\n  version_test_numeric "$version_test_gt_a" "$version_test_gt_cmp" "$version_test_gt_b"\n}\n';
  const GRUB212_10LINUX =
    "reverse_sorted_list=$(echo $list | tr ' ' '\\n' | sed -e 's/\\.old$/ 1/; / 1$/! s/$/ 2/' | version_sort -r | sed -e 's/ 1$/.old/; s/ 2$//')\n";
  const GRUB212_LIB = 'version_sort ()\n{\n  case $version_sort_sort_has_v in\n    yes)\n      LC_ALL=C sort -V "$@";;\n  esac\n}\n';
  const UBUNTU_LIB = 'version_sort ()\n{\n  grub-sort-version "$@"\n}\n';

  it.each([
    ['Debian 12 10_linux with its dpkg lib', DEBIAN12_10LINUX, DEBIAN12_LIB, 'dpkg'],
    ['Debian 12 10_linux alone', DEBIAN12_10LINUX, undefined, 'dpkg'],
    ['version_find_latest over upstream 2.06 sort -V comparisons', DEBIAN12_10LINUX, UPSTREAM206_LIB, undefined],
    ['GRUB 2.12 10_linux with its sort -V lib', GRUB212_10LINUX, GRUB212_LIB, 'sort-v'],
    ['GRUB 2.12 10_linux alone', GRUB212_10LINUX, undefined, 'sort-v'],
    ["Ubuntu's grub-sort-version", GRUB212_10LINUX, UBUNTU_LIB, undefined],
    ['a commented-out sort line', `# ${GRUB212_10LINUX}`, undefined, undefined],
    ['something else entirely', '#!/bin/sh\necho hello\n', undefined, undefined],
  ] as const)('%s', (_, tenLinux, lib, expected) => {
    expect(detectFlavour(tenLinux, lib)).toBe(expected);
  });
});

// ---------------------------------------------------------------------------------------------
describe('grubMenuOrder', () => {
  const LIVE_AND_BACKUPS = files(
    'kernel-6.1.0-18-amd64~~backup202601010000',
    'initrd.img-6.1.0-18-amd64~~backup202601010000',
    'kernel-6.1.0-18-amd64~~backup202611222040',
    'initrd.img-6.1.0-18-amd64~~backup202611222040',
    'kernel-6.1.0-18-amd64~~backup202611222040.2',
    'initrd.img-6.1.0-18-amd64~~backup202611222040.2',
    'vmlinuz-6.1.0-18-amd64',
    'initrd.img-6.1.0-18-amd64',
    'config-6.1.0-18-amd64',
    'System.map-6.1.0-18-amd64',
  );

  it.each(FLAVOURS)('%s: the live kernel first, then its backups newest first', (flavour) => {
    expect(images(LIVE_AND_BACKUPS, flavour)).toEqual([
      '/boot/vmlinuz-6.1.0-18-amd64',
      '/boot/kernel-6.1.0-18-amd64~~backup202611222040.2',
      '/boot/kernel-6.1.0-18-amd64~~backup202611222040',
      '/boot/kernel-6.1.0-18-amd64~~backup202601010000',
    ]);
  });

  it.each(FLAVOURS)('%s: a backup image gets its own dated initrd, and its version keeps the suffix', (flavour) => {
    const backup = grubMenuOrder(LIVE_AND_BACKUPS, flavour).find((k) => k.image.endsWith('~~backup202611222040'));
    expect(backup).toEqual({
      image: '/boot/kernel-6.1.0-18-amd64~~backup202611222040',
      version: '6.1.0-18-amd64~~backup202611222040',
      initrd: '/boot/initrd.img-6.1.0-18-amd64~~backup202611222040',
      earlyInitrds: [],
    });
  });

  it.each(FLAVOURS)('%s: a backup whose initrd is missing is listed without one', (flavour) => {
    const [kernel] = grubMenuOrder(files('kernel-6.1.0-18-amd64~~backup202611222040', 'initrd.img-6.1.0-18-amd64'), flavour);
    expect(kernel).toEqual({
      image: '/boot/kernel-6.1.0-18-amd64~~backup202611222040',
      version: '6.1.0-18-amd64~~backup202611222040',
      earlyInitrds: [],
    });
  });

  // Checked against the real scripts (test/integration/grub-real-scripts.test.ts runs these names).
  const LEGACY = files(
    'vmlinuz-6.1.0-17-amd64',
    'vmlinuz-6.1.0-18-amd64',
    'vmlinuz-6.1.0-18-amd64~~backup202601010000',
    'kernel-6.1.0-18-amd64~~backup202611222040',
    'kernel-6.1.0-18-amd64~~backup202611222041',
    'vmlinuz-6.1.0-18-amd64.old',
  );
  it.each([
    [
      'dpkg' as const,
      // Stem stripped: backups of V interleave by date whatever their stem; ".old" is "~old", above "~~".
      [
        '/boot/vmlinuz-6.1.0-18-amd64',
        '/boot/vmlinuz-6.1.0-18-amd64.old',
        '/boot/kernel-6.1.0-18-amd64~~backup202611222041',
        '/boot/kernel-6.1.0-18-amd64~~backup202611222040',
        '/boot/vmlinuz-6.1.0-18-amd64~~backup202601010000',
        '/boot/vmlinuz-6.1.0-17-amd64',
      ],
    ],
    [
      'sort-v' as const,
      // Whole paths compared: every vmlinuz-* (legacy backups too) above every kernel-*.
      [
        '/boot/vmlinuz-6.1.0-18-amd64',
        '/boot/vmlinuz-6.1.0-18-amd64.old',
        '/boot/vmlinuz-6.1.0-18-amd64~~backup202601010000',
        '/boot/vmlinuz-6.1.0-17-amd64',
        '/boot/kernel-6.1.0-18-amd64~~backup202611222041',
        '/boot/kernel-6.1.0-18-amd64~~backup202611222040',
      ],
    ],
  ])('%s: legacy vmlinuz-V~~backup names and .old images', (flavour, expected) => {
    expect(images(LEGACY, flavour)).toEqual(expected);
  });

  it.each(FLAVOURS)('%s: a legacy vmlinuz-V~~backup still sorts below V', (flavour) => {
    expect(images(files('vmlinuz-6.1.0-18-amd64~~backup202611222040', 'vmlinuz-6.1.0-18-amd64'), flavour)).toEqual([
      '/boot/vmlinuz-6.1.0-18-amd64',
      '/boot/vmlinuz-6.1.0-18-amd64~~backup202611222040',
    ]);
  });

  it.each(FLAVOURS)('%s: an .old image boots with the live initrd (alt_version)', (flavour) => {
    const old = grubMenuOrder(files('vmlinuz-6.1.0-18-amd64.old', 'initrd.img-6.1.0-18-amd64'), flavour)[0];
    expect(old).toMatchObject({ version: '6.1.0-18-amd64.old', initrd: '/boot/initrd.img-6.1.0-18-amd64' });
  });

  it.each(FLAVOURS)('%s: newer ABIs first, numerically', (flavour) => {
    expect(images(files('vmlinuz-6.1.0-9-amd64', 'vmlinuz-6.1.0-10-amd64', 'vmlinuz-5.10.0-28-amd64', 'vmlinuz-6.10.0-1-amd64'), flavour)).toEqual([
      '/boot/vmlinuz-6.10.0-1-amd64',
      '/boot/vmlinuz-6.1.0-10-amd64',
      '/boot/vmlinuz-6.1.0-9-amd64',
      '/boot/vmlinuz-5.10.0-28-amd64',
    ]);
  });

  it('dpkg: Debian rewrites -rc/-trunk to ~rc/~trunk, so a release candidate sorts below a release', () => {
    expect(images(files('vmlinuz-6.1.0-rc7-amd64', 'vmlinuz-6.1.0-1-amd64'), 'dpkg')).toEqual([
      '/boot/vmlinuz-6.1.0-1-amd64',
      '/boot/vmlinuz-6.1.0-rc7-amd64',
    ]);
  });

  it.each(FLAVOURS)('%s: garbage and non-regular files are never listed', (flavour) => {
    const entries: BootEntry[] = [
      ...files(
        'vmlinuz-6.1.0-18-amd64',
        'vmlinuz-6.1.0-19-amd64.dpkg-tmp',
        'vmlinuz-6.1.0-19-amd64.dpkg-bak',
        'vmlinuz-6.1.0-19-amd64.dpkg-new',
        'vmlinuz-6.1.0-19-amd64.sig',
        'vmlinuz-6.1.0-19-amd64.rpmsave',
        'vmlinuz-6.1.0-19-amd64.rpmnew',
        '.kbackup-tmp-vmlinuz-6.1.0-19-amd64',
        'vmlinux-6.1.0-19-amd64',
        'initrd.img-6.1.0-19-amd64',
      ),
      { name: 'vmlinuz-6.1.0-20-amd64', isFile: false },
    ];
    expect(images(entries, flavour)).toEqual(['/boot/vmlinuz-6.1.0-18-amd64']);
  });

  it.each([
    ['/boot/vmlinuz-1.dpkg-tmp', true, true],
    ['/boot/vmlinuz-1.rpmsave', true, true],
    ['/boot/vmlinuz-1.sig', true, true],
    ['/boot/vmlinuz-1', false, true],
    ['/boot/vmlinuz-1', true, false],
    ['/boot/vmlinuz-1.signed', true, false],
  ])('isGrubGarbage(%s, isFile=%s) = %s', (p, isFile, garbage) => {
    expect(isGrubGarbage(p, isFile)).toBe(garbage);
  });

  it('other machines also scan vmlinux-*, after vmlinuz-* on ties', () => {
    const entries = files('vmlinux-6.1.0-18-arm64', 'vmlinuz-6.1.0-18-arm64', 'vmlinux-6.1.0-17-arm64');
    expect(grubMenuOrder(entries, 'dpkg', { machine: 'aarch64' }).map((k) => k.image)).toEqual([
      '/boot/vmlinuz-6.1.0-18-arm64',
      '/boot/vmlinux-6.1.0-18-arm64',
      '/boot/vmlinux-6.1.0-17-arm64',
    ]);
    expect(images(entries, 'dpkg')).toEqual(['/boot/vmlinuz-6.1.0-18-arm64']);
  });

  it('lists /vmlinuz-* at the filesystem root with initrds from there', () => {
    const order = grubMenuOrder(files('vmlinuz-6.1.0-17-amd64'), 'dpkg', {
      rootEntries: files('vmlinuz-6.1.0-18-amd64', 'initrd.img-6.1.0-18-amd64'),
    });
    expect(order).toEqual([
      { image: '/vmlinuz-6.1.0-18-amd64', version: '6.1.0-18-amd64', initrd: '/initrd.img-6.1.0-18-amd64', earlyInitrds: [] },
      { image: '/boot/vmlinuz-6.1.0-17-amd64', version: '6.1.0-17-amd64', earlyInitrds: [] },
    ]);
  });

  it('puts microcode images first on the initrd line, in GRUB_EARLY_INITRD order', () => {
    const entries = files('vmlinuz-6.1.0-18-amd64', 'initrd.img-6.1.0-18-amd64', 'amd-ucode.img', 'intel-ucode.img');
    expect(grubMenuOrder(entries, 'dpkg')[0]!.earlyInitrds).toEqual(['/boot/intel-ucode.img', '/boot/amd-ucode.img']);
    expect(grubMenuOrder(entries, 'dpkg', { earlyInitrds: ['amd-ucode.img'] })[0]!.earlyInitrds).toEqual(['/boot/amd-ucode.img']);
  });

  it('sort-v: GRUB_TOP_LEVEL moves one image to the front', () => {
    const entries = files('vmlinuz-6.1.0-18-amd64', 'kernel-6.1.0-18-amd64~~backup202611222040');
    expect(grubMenuOrder(entries, 'sort-v', { topLevel: '/boot/kernel-6.1.0-18-amd64~~backup202611222040' }).map((k) => k.image)).toEqual([
      '/boot/kernel-6.1.0-18-amd64~~backup202611222040',
      '/boot/vmlinuz-6.1.0-18-amd64',
    ]);
  });

  it.each([
    ['dpkg' as const, ['/boot/vmlinuz-6.1.0-18-amd64']],
    ['sort-v' as const, ['/boot/vmlinuz-6.1.0-18-amd64.efi.signed', '/boot/vmlinuz-6.1.0-18-amd64', '/boot/vmlinuz-6.1.0-17-amd64.efi.signed']],
  ])('%s: signed EFI images (Debian 12 skips them, 2.12 lists them)', (flavour, expected) => {
    const entries = files('vmlinuz-6.1.0-18-amd64', 'vmlinuz-6.1.0-18-amd64.efi.signed', 'vmlinuz-6.1.0-17-amd64.efi.signed');
    expect(images(entries, flavour)).toEqual(expected);
  });

  it.each(FLAVOURS)('%s: an empty /boot lists nothing', (flavour) => {
    expect(grubMenuOrder([], flavour)).toEqual([]);
  });
});

describe('grubKernelVersion and initrdCandidates', () => {
  it.each([
    ['vmlinuz-6.1.0-18-amd64', '6.1.0-18-amd64'],
    ['kernel-6.1.0-18-amd64~~backup202611222040', '6.1.0-18-amd64~~backup202611222040'],
    ['vmlinuz-6.1.0-18-amd64.old', '6.1.0-18-amd64.old'],
    ['vmlinuz-linux-lts', 'lts'],
    ['vmlinuz-', ''],
  ])('%s → %s', (name, version) => {
    expect(grubKernelVersion(name)).toBe(version);
  });

  it('2.12 also tries the .old initrd names that Debian 12 does not', () => {
    const dpkg = initrdCandidates('6.1.0-18-amd64.old', 'dpkg');
    const sortV = initrdCandidates('6.1.0-18-amd64.old', 'sort-v');
    expect(dpkg.slice(0, 2)).toEqual(['initrd.img-6.1.0-18-amd64.old', 'initrd-6.1.0-18-amd64.old.img']);
    expect(dpkg).not.toContain('initrd-6.1.0-18-amd64.img.old');
    expect(sortV[2]).toBe('initrd-6.1.0-18-amd64.img.old');
    expect(dpkg).toContain('initrd.img-6.1.0-18-amd64');
    expect(initrdCandidates('6.1.0-18-686', 'dpkg', 'i686')).toContain('initramfs-genkernel-x86-6.1.0-18-686');
  });
});

// ---------------------------------------------------------------------------------------------
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'latin1');

function envBlock(vars: Record<string, string>): string {
  let text = GRUBENV_SIGNATURE;
  for (const [k, v] of Object.entries(vars)) text += `${k}=${v.replace(/[\\\n]/g, '\\$&')}\n`;
  return text + '#'.repeat(1024 - Buffer.byteLength(text, 'utf8'));
}

function summary(nodes: readonly MenuNode[]): unknown[] {
  return nodes.map((n) =>
    n.kind === 'submenu' ? { submenu: n.title, id: n.id, children: summary(n.children) } : { title: n.title, id: n.id, linux: n.linux },
  );
}

describe('parseGrubCfg', () => {
  const menu = parseGrubCfg(fixture('grub.cfg'));

  it('reads entries and submenus in order, with titles, ids and kernel paths', () => {
    expect(summary(menu.entries)).toEqual([
      { title: 'Debian GNU/Linux', id: 'gnulinux-simple-0000-test', linux: '/vmlinuz-6.1.0-18-amd64' },
      {
        submenu: 'Advanced options for Debian GNU/Linux',
        id: 'gnulinux-advanced-0000-test',
        children: [
          { title: 'Debian GNU/Linux, with Linux 6.1.0-18-amd64', id: 'gnulinux-6.1.0-18-amd64-advanced-0000-test', linux: '/vmlinuz-6.1.0-18-amd64' },
          {
            title: 'Debian GNU/Linux, with Linux 6.1.0-18-amd64 (recovery mode)',
            id: 'gnulinux-6.1.0-18-amd64-recovery-0000-test',
            linux: '/vmlinuz-6.1.0-18-amd64',
          },
          {
            title: 'Debian GNU/Linux, with Linux 6.1.0-18-amd64~~backup202611222040',
            id: 'gnulinux-6.1.0-18-amd64~~backup202611222040-advanced-0000-test',
            linux: '/kernel-6.1.0-18-amd64~~backup202611222040',
          },
          {
            title: 'Debian GNU/Linux, with Linux 6.1.0-18-amd64~~backup202611222040 (recovery mode)',
            id: 'gnulinux-6.1.0-18-amd64~~backup202611222040-recovery-0000-test',
            linux: '/kernel-6.1.0-18-amd64~~backup202611222040',
          },
          { title: 'Debian GNU/Linux, with Linux 6.1.0-17-amd64', id: 'gnulinux-6.1.0-17-amd64-advanced-0000-test', linux: '/vmlinuz-6.1.0-17-amd64' },
        ],
      },
      { title: 'UEFI Firmware Settings', id: 'uefi-firmware', linux: undefined },
      { title: 'Rescue: "it\'s" kernel', id: 'rescue', linux: '/rescue/vmlinuz-rescue' },
      { title: "Don't > panic", id: undefined, linux: '/memtest86+x64.bin' },
    ]);
  });

  it('reads initrd lines, kernel arguments, positions and conditional entries', () => {
    const simple = menu.entries[0] as MenuEntry;
    expect(simple.initrds).toEqual(['/intel-ucode.img', '/initrd.img-6.1.0-18-amd64']);
    expect(simple.linuxArgs).toEqual(['root=UUID=1111-root', 'ro', 'quiet']);
    expect(simple.position).toEqual([0]);
    const submenu = menu.entries[1]!;
    expect(submenu.kind === 'submenu' && submenu.children[2]!.position).toEqual([1, 2]);
    expect(menu.entries[2]!.conditional).toBe(true);
    expect(menu.entries[3]!.conditional).toBe(false);
    expect((menu.entries[3] as MenuEntry).initrds).toEqual(['/rescue/initrd.img']);
  });

  it('sees GRUB_DEFAULT=saved, load_env, the next_entry branch and the title rewrite', () => {
    expect(menu.default).toBe('${saved_entry}');
    expect(menu.defaultIsSaved).toBe(true);
    expect(menu.loadsEnv).toBe(true);
    expect(menu.honoursNextEntry).toBe(true);
    expect(menu.titleCorrections).toEqual([
      {
        from: 'Debian GNU/Linux, with Linux 6.1.0-17-amd64',
        to: 'Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-17-amd64',
      },
    ]);
  });

  it.each([
    ['set default="0"', '0', false],
    ["set default='1>2'", '1>2', false],
    ['set default="${saved_entry}"', '${saved_entry}', true],
    ['set default=$saved_entry', '${saved_entry}', true],
  ])('%s', (line, value, saved) => {
    const m = parseGrubCfg(`${line}\nmenuentry 'x' {\n}\n`);
    expect(m.default).toBe(value);
    expect(m.defaultIsSaved).toBe(saved);
    expect(m.loadsEnv).toBe(false);
  });
});

describe('parseGrubenv', () => {
  it('reads the block grub-editenv wrote', () => {
    const env = parseGrubenv(fixture('grubenv-saved'));
    expect(env.problem).toBeUndefined();
    expect(Object.fromEntries(env.vars)).toEqual({
      saved_entry: 'gnulinux-advanced-0000-test>gnulinux-6.1.0-18-amd64~~backup202611222040-advanced-0000-test',
    });
  });

  it('undoes grub-editenv escapes', () => {
    const env = parseGrubenv(envBlock({ a: 'x\\y', b: 'two\nlines', c: '', d: 'k=v' }));
    expect(Object.fromEntries(env.vars)).toEqual({ a: 'x\\y', b: 'two\nlines', c: '', d: 'k=v' });
    expect(env.problem).toBeUndefined();
  });

  it.each([
    ['no signature', 'saved_entry=1\n', /does not start/, {}],
    ['the wrong size', `${GRUBENV_SIGNATURE}saved_entry=1\n`, /not 1024/, { saved_entry: '1' }],
    ['a cut-off last line', `${GRUBENV_SIGNATURE}saved_entry=1\nnext_entry=2`, /cut off/, { saved_entry: '1' }],
  ])('reports %s', (_, text, problem, vars) => {
    const env = parseGrubenv(text);
    expect(env.problem).toMatch(problem);
    expect(Object.fromEntries(env.vars)).toEqual(vars);
  });
});

// ---------------------------------------------------------------------------------------------
describe('resolveDefaultEntry', () => {
  const cfg = fixture('grub.cfg');
  const savedMenu = parseGrubCfg(cfg);
  const withDefault = (value: string): GrubMenu => parseGrubCfg(cfg.replace('set default="${saved_entry}"', `set default="${value}"`));
  const LIVE = '/vmlinuz-6.1.0-18-amd64';
  const BACKUP = '/kernel-6.1.0-18-amd64~~backup202611222040';
  const OLDER = '/vmlinuz-6.1.0-17-amd64';

  it.each([
    ['0', LIVE, [0]],
    ['1', LIVE, [1, 0]],
    ['1>2', BACKUP, [1, 2]],
    ['1>4', OLDER, [1, 4]],
    ['0x1>0x2', BACKUP, [1, 2]],
    ['gnulinux-simple-0000-test', LIVE, [0]],
    ['gnulinux-advanced-0000-test>gnulinux-6.1.0-18-amd64~~backup202611222040-advanced-0000-test', BACKUP, [1, 2]],
    ['Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-18-amd64~~backup202611222040', BACKUP, [1, 2]],
    ['gnulinux-advanced-0000-test>Debian GNU/Linux, with Linux 6.1.0-17-amd64', OLDER, [1, 4]],
    ['Rescue: \\"it\'s\\" kernel', '/rescue/vmlinuz-rescue', [3]],
    ["Don't >> panic", '/memtest86+x64.bin', [4]],
    // A pre-2.00 title: 10_linux's correction code points it into the submenu.
    ['Debian GNU/Linux, with Linux 6.1.0-17-amd64', OLDER, [1, 4]],
  ])('default=%s boots %s', (value, linux, position) => {
    const resolved = resolveDefaultEntry(withDefault(value));
    expect(resolved.problem).toBeUndefined();
    expect(resolved.entry?.linux).toBe(linux);
    expect(resolved.entry?.position).toEqual(position);
  });

  it.each([
    ['7', 'matches no menu entry'],
    ['no such title', 'matches no menu entry'],
    ['1>99', 'matches no menu entry'],
  ])('default=%s falls back to entry 0 and says so', (value, problem) => {
    const resolved = resolveDefaultEntry(withDefault(value));
    expect(resolved.problem).toContain(problem);
    expect(resolved.entry?.position).toEqual(value.startsWith('1>') ? [1, 0] : [0]);
  });

  // kbackup's /etc/grub.d/08_kbackup as it is shipped (packaging/grub.d/08_kbackup with TRIAL_BOOT=yes),
  // placed after 00_header as grub-mkconfig places it.
  const SNIPPET = [
    'if [ "${kbackup_trial}" = armed ] ; then',
    '  if [ -n "${kbackup_trial_entry}" ] ; then',
    '    set kbackup_trial=booting',
    '    save_env kbackup_trial',
    '    set default="${kbackup_trial_entry}"',
    '    set kbackup_cmdline="${kbackup_trial_args}"',
    '  fi',
    'elif [ "${kbackup_trial}" = booting ] ; then',
    '  set kbackup_trial=failed',
    '  save_env kbackup_trial',
    '  if [ -n "${kbackup_good_entry}" ] ; then',
    '    set default="${kbackup_good_entry}"',
    '  fi',
    'elif [ "${kbackup_trial}" = failed ] ; then',
    '  if [ -n "${kbackup_good_entry}" ] ; then',
    '    set default="${kbackup_good_entry}"',
    '  fi',
    'fi',
  ].join('\n');
  const trialMenu = parseGrubCfg(cfg.replace('### BEGIN /etc/grub.d/10_linux ###', `${SNIPPET}\n### BEGIN /etc/grub.d/10_linux ###`));
  const trialEnv = (state: string) =>
    envBlock({
      saved_entry: '0',
      kbackup_trial: state,
      kbackup_trial_entry: 'gnulinux-advanced-0000-test>gnulinux-6.1.0-17-amd64-advanced-0000-test',
      kbackup_good_entry: 'gnulinux-advanced-0000-test>gnulinux-6.1.0-18-amd64~~backup202611222040-advanced-0000-test',
    });

  it('08_kbackup: seen, and its set default lines are not taken for the stock default', () => {
    expect(trialMenu.trialLogic).toBe(true);
    expect(savedMenu.trialLogic).toBe(false);
    expect(trialMenu.default).toBe(savedMenu.default);
    expect(resolveDefaultEntry(trialMenu, envBlock({ saved_entry: '0' })).entry?.linux).toBe(LIVE);
  });

  it.each([
    ['armed', OLDER],
    ['booting', BACKUP],
    ['failed', BACKUP],
    ['', LIVE],
  ])('08_kbackup with kbackup_trial=%s boots %s', (state, linux) => {
    const resolved = resolveDefaultEntry(trialMenu, trialEnv(state));
    expect(resolved.entry?.linux).toBe(linux);
    expect(resolved.problem).toBeUndefined();
    expect(resolveDefaultEntry(trialMenu, trialEnv(state), { ignoreTrial: true }).entry?.linux).toBe(LIVE);
    // Without the snippet in grub.cfg the variables mean nothing to GRUB.
    expect(resolveDefaultEntry(savedMenu, trialEnv(state)).entry?.linux).toBe(LIVE);
  });

  it('GRUB_DEFAULT=saved follows saved_entry from grubenv', () => {
    const resolved = resolveDefaultEntry(savedMenu, fixture('grubenv-saved'));
    expect(resolved.entry?.linux).toBe(BACKUP);
    expect(resolved.how).toContain('GRUB_DEFAULT=saved');
    expect(resolved.problem).toBeUndefined();
  });

  it.each([
    ['no grubenv at all', undefined, LIVE],
    ['an empty saved_entry', envBlock({}), LIVE],
    ['saved_entry by index path', envBlock({ saved_entry: '1>4' }), OLDER],
    ['a pending grub-reboot', envBlock({ saved_entry: '0', next_entry: '1>2' }), BACKUP],
    ['prev_saved_entry, which only applies from the next boot', envBlock({ saved_entry: '0', prev_saved_entry: '1>2' }), LIVE],
  ])('GRUB_DEFAULT=saved with %s', (_, env, linux) => {
    expect(resolveDefaultEntry(savedMenu, env).entry?.linux).toBe(linux);
  });

  it('a grubenv GRUB rejects counts as empty, and says why', () => {
    const resolved = resolveDefaultEntry(savedMenu, 'saved_entry=1>2\n');
    expect(resolved.entry?.linux).toBe(LIVE);
    expect(resolved.problem).toMatch(/grubenv: .*does not start/);
  });

  it('ignores grubenv when grub.cfg never loads it', () => {
    const menu = parseGrubCfg("set default=\"${saved_entry}\"\nmenuentry 'a' {\n}\nmenuentry 'b' {\n}\n");
    expect(resolveDefaultEntry(menu, envBlock({ saved_entry: '1' })).entry?.title).toBe('a');
  });

  it('a default on a conditional entry is flagged', () => {
    const resolved = resolveDefaultEntry(withDefault('uefi-firmware'));
    expect(resolved.entry?.title).toBe('UEFI Firmware Settings');
    expect(resolved.problem).toMatch(/inside an "if"/);
  });

  it('an empty menu boots nothing', () => {
    const resolved = resolveDefaultEntry(parseGrubCfg('set default="0"\n'));
    expect(resolved.entry).toBeUndefined();
    expect(resolved.problem).toMatch(/no entries/);
  });
});

describe('grubPathBasename', () => {
  it.each([
    ['/vmlinuz-6.1.0-18-amd64', 'vmlinuz-6.1.0-18-amd64'],
    ['/boot/kernel-6.1.0-18-amd64~~backup202611222040', 'kernel-6.1.0-18-amd64~~backup202611222040'],
    ['/@/boot/vmlinuz-6.1.0-18-amd64', 'vmlinuz-6.1.0-18-amd64'],
    ['(hd0,gpt2)/vmlinuz-6.1.0-18-amd64', 'vmlinuz-6.1.0-18-amd64'],
  ])('%s → %s', (p, name) => {
    expect(grubPathBasename(p)).toBe(name);
  });
});
