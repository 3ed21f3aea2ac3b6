// Trial-boot fixtures: a fake /proc of the boot, grub.cfg as update-grub writes it with
// /etc/grub.d/08_kbackup active, and grubenv through the real grub-editenv.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { TempRoot } from './root';

export const UUID = '0000-test';

/** The boot as the kernel shows it in /proc. */
export function booted(r: TempRoot, image: string, version: string, bootId: string): void {
  r.write('proc/cmdline', `BOOT_IMAGE=/${image} root=UUID=1111 ro quiet panic=10\n`);
  r.write('proc/sys/kernel/random/boot_id', `${bootId}\n`);
  r.write('proc/sys/kernel/osrelease', `${version}\n`);
}

function entry(image: string, initrd: string, id: string, title: string): string {
  return [
    `\tmenuentry '${title}' --class debian $menuentry_id_option '${id}' {`,
    `\t\tlinux\t/${image} root=UUID=1111 ro quiet \${kbackup_cmdline}`,
    `\t\tinitrd\t/${initrd}`,
    '\t}',
  ].join('\n');
}

/** grub.cfg as Debian's update-grub writes it with 08_kbackup active; kernels newest first. */
export function grubCfg(r: TempRoot, kernels: { image: string; initrd: string; version: string }[], trialLogic = true): void {
  const [first] = kernels;
  const lines = [
    'if [ -s $prefix/grubenv ]; then',
    '  set have_grubenv=true',
    '  load_env',
    'fi',
    'if [ "${next_entry}" ] ; then',
    '   set default="${next_entry}"',
    '   set next_entry=',
    '   save_env next_entry',
    '   set boot_once=true',
    'else',
    '   set default="0"',
    'fi',
    '### BEGIN /etc/grub.d/08_kbackup ###',
    ...(trialLogic
      ? [
          'if [ "${kbackup_trial}" = armed ] ; then',
          '  set kbackup_trial=booting',
          '  save_env kbackup_trial',
          '  set default="${kbackup_trial_entry}"',
          '  set kbackup_cmdline="${kbackup_trial_args}"',
          'elif [ "${kbackup_trial}" = booting ] ; then',
          '  set kbackup_trial=failed',
          '  save_env kbackup_trial',
          '  set default="${kbackup_good_entry}"',
          'elif [ "${kbackup_trial}" = failed ] ; then',
          '  set default="${kbackup_good_entry}"',
          'fi',
        ]
      : []),
    '### END /etc/grub.d/08_kbackup ###',
    `menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-${UUID}' {`,
    `\tlinux\t/${first!.image} root=UUID=1111 ro quiet \${kbackup_cmdline}`,
    `\tinitrd\t/${first!.initrd}`,
    '}',
    `submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-${UUID}' {`,
    ...kernels.map((k) => entry(k.image, k.initrd, `gnulinux-${k.version}-advanced-${UUID}`, `Debian GNU/Linux, with Linux ${k.version}`)),
    '}',
  ];
  r.write('boot/grub/grub.cfg', `${lines.join('\n')}\n`);
}

export const live = (version: string) => ({ image: `vmlinuz-${version}`, initrd: `initrd.img-${version}`, version });
export const backup = (id: string) => ({ image: `kernel-${id}`, initrd: `initrd.img-${id}`, version: id });

export function editenv(r: TempRoot, ...args: string[]): string {
  const file = r.file('boot/grub/grubenv');
  if (!fs.existsSync(file)) spawnSync('grub-editenv', [file, 'create']);
  const out = spawnSync('grub-editenv', [file, ...args], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(out.stderr);
  return out.stdout;
}

export function env(r: TempRoot): Record<string, string> {
  return Object.fromEntries(
    editenv(r, 'list')
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

