// Issue 15, item 11: /etc/grub.d/08_kbackup, /etc/default/grub.d/kbackup.cfg and kbackup read
// /etc/default/kbackup with one parser: the GRUB scripts ask `kbackup config TRIAL_BOOT`. The
// scripts name /usr/sbin/kbackup and /etc/default/kbackup, so they run here in a private mount
// namespace with the built program and a test configuration mounted at those paths (as root).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, isRoot, REPO, requireBuiltCli } from '../helpers/root';

beforeAll(() => {
  requireBuiltCli();
});

const CASES: [string, string, 'yes' | 'no'][] = [
  ['plain', 'TRIAL_BOOT=yes\n', 'yes'],
  ['exported, as a shell would read it', 'export TRIAL_BOOT=yes\n', 'yes'],
  ['quoted with a comment', 'TRIAL_BOOT="yes" # on\n', 'yes'],
  ['absent (the default)', 'KEEP=2\n', 'no'],
  ['no', 'TRIAL_BOOT=no\n', 'no'],
];

/** Runs `script` with /usr/sbin/kbackup = the built program and /etc/default/kbackup = `config`. */
function inNamespace(config: string, script: string): { code: number | null; stdout: string; stderr: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbackup-grubcfg-'));
  try {
    fs.mkdirSync(path.join(dir, 'default'));
    fs.writeFileSync(path.join(dir, 'default/kbackup'), config);
    const setup = [
      'set -e',
      'mount --make-rprivate /',
      `mount -t tmpfs kbackup-test /usr/sbin && cp ${CLI} /usr/sbin/kbackup`,
      `mount --bind ${path.join(dir, 'default')} /etc/default`,
      script,
    ].join('\n');
    const r = spawnSync('unshare', ['-m', 'sh', '-c', setup], { encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!isRoot)('the GRUB scripts read TRIAL_BOOT through kbackup', () => {
  it.each(CASES)('%s: kbackup config, 08_kbackup and kbackup.cfg give the same answer', (_, config, want) => {
    const r = inNamespace(
      config,
      [
        'echo "config=$(/usr/sbin/kbackup config TRIAL_BOOT)"',
        `if [ -n "$(sh ${path.join(REPO, 'packaging/grub.d/08_kbackup')})" ]; then echo snippet=yes; else echo snippet=no; fi`,
        `GRUB_CMDLINE_LINUX_DEFAULT=quiet; . ${path.join(REPO, 'packaging/grub.d/kbackup.cfg')}; case "$GRUB_CMDLINE_LINUX_DEFAULT" in *kbackup_cmdline*) echo cmdline=yes;; *) echo cmdline=no;; esac`,
      ].join('\n'),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([`config=${want}`, `snippet=${want}`, `cmdline=${want}`]);
  });

  it('a configuration that cannot be read (a FIFO) makes the scripts print nothing, and never hang', () => {
    const r = inNamespace('', `rm /etc/default/kbackup && mkfifo /etc/default/kbackup && sh ${path.join(REPO, 'packaging/grub.d/08_kbackup')} && echo done`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('done');
  });
});
