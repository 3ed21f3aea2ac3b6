// systemd's side of a trial boot: packaging/kbackup-trial-generator on a trial's kernel command line
// (kbackup.trial=SECONDS) and on any other, and the units it writes as systemd-analyze reads them
// beside the packaged boot-record unit. The real boots are in test/e2e/trial-boot.cases.ts.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const repo = path.resolve(__dirname, '../..');
const GENERATOR = path.join(repo, 'packaging/kbackup-trial-generator');
const BOOT_RECORD = path.join(repo, 'packaging/kbackup-boot-record.service');

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kbackup-units-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function generate(cmdline: string): { code: number | null; stderr: string; files: string[] } {
  const dir = path.join(tmp, 'gen');
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('sh', [GENERATOR, dir, `${dir}-early`, `${dir}-late`], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', SYSTEMD_PROC_CMDLINE: cmdline } });
  const files: string[] = [];
  const walk = (d: string, rel = '') => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(rel, e.name);
      if (e.isDirectory()) walk(path.join(d, e.name), p);
      else files.push(e.isSymbolicLink() ? `${p} -> ${fs.readlinkSync(path.join(d, e.name))}` : p);
    }
  };
  walk(dir);
  return { code: r.status, stderr: r.stderr, files: files.sort() };
}

describe('kbackup-trial-generator', () => {
  it('writes nothing on a boot that is not a trial (no kbackup.trial= on the command line)', () => {
    for (const cmdline of ['BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-amd64 root=UUID=1 ro quiet', 'BOOT_IMAGE=/vmlinuz ro kbackup.trialx=1 panic=10']) {
      expect(generate(cmdline)).toEqual({ code: 0, stderr: '', files: [] });
    }
  });

  it('on a trial boot: a deadline wanted by multi-user.target after the verdict, and a reboot for emergency and rescue mode', () => {
    const g = generate('BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-amd64 root=UUID=1 ro quiet panic=10 kbackup.trial=900');
    expect(g.code, g.stderr).toBe(0);
    expect(g.files).toEqual([
      'emergency.target.wants/kbackup-trial-reboot.service -> ../kbackup-trial-reboot.service',
      'kbackup-trial-deadline.target',
      'kbackup-trial-reboot.service',
      'multi-user.target.wants/kbackup-trial-deadline.target -> ../kbackup-trial-deadline.target',
      'rescue.target.wants/kbackup-trial-reboot.service -> ../kbackup-trial-reboot.service',
    ]);
    const target = fs.readFileSync(path.join(tmp, 'gen/kbackup-trial-deadline.target'), 'utf8');
    expect(target).toContain('After=kbackup-boot-record.service');
    expect(target).toContain('JobTimeoutAction=reboot-force');
    // Counted from the kernel's start: what is left of 900 s after this machine's uptime, 60 s at least.
    const uptime = Math.floor(Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]));
    const left = Number(/^JobTimeoutSec=(\d+)$/m.exec(target)![1]);
    expect(Math.abs(left - Math.max(60, 900 - uptime))).toBeLessThanOrEqual(1);
    expect(left).toBeGreaterThanOrEqual(60);
    expect(left).toBeLessThanOrEqual(900);
    expect(fs.readFileSync(path.join(tmp, 'gen/kbackup-trial-reboot.service'), 'utf8')).toMatch(/^ExecStart=\/bin\/systemctl --force reboot$/m);
  });

  it('passes systemd-analyze verify with the packaged boot-record unit, with no ordering cycle in the boot’s transaction', () => {
    const g = generate('ro kbackup.trial=600');
    expect(g.code).toBe(0);
    const root = path.join(tmp, 'root');
    const unitDir = path.join(root, 'lib/systemd/system');
    fs.mkdirSync(path.join(root, 'lib/systemd'), { recursive: true });
    fs.mkdirSync(path.join(root, 'usr/sbin'), { recursive: true });
    fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
    spawnSync('cp', ['-a', '/lib/systemd/system', path.join(root, 'lib/systemd/')]);
    spawnSync('cp', ['-a', `${path.join(tmp, 'gen')}/.`, unitDir]);
    fs.copyFileSync(BOOT_RECORD, path.join(root, 'lib/systemd/system/kbackup-boot-record.service'));
    // Enabled as the package enables it (WantedBy=multi-user.target).
    fs.symlinkSync('../kbackup-boot-record.service', path.join(unitDir, 'multi-user.target.wants/kbackup-boot-record.service'));
    fs.writeFileSync(path.join(root, 'usr/sbin/kbackup'), '#!/bin/sh\n', { mode: 0o755 });
    for (const b of ['echo', 'systemctl']) fs.writeFileSync(path.join(root, 'bin', b), '#!/bin/sh\n', { mode: 0o755 });
    const r = spawnSync(
      'systemd-analyze',
      [
        'verify',
        '--man=no',
        `--root=${root}`,
        '/lib/systemd/system/kbackup-trial-deadline.target',
        '/lib/systemd/system/kbackup-trial-reboot.service',
        '/lib/systemd/system/kbackup-boot-record.service',
        // The transactions a trial boot starts: a cycle here would make systemd drop the deadline.
        '/lib/systemd/system/multi-user.target',
        '/lib/systemd/system/emergency.target',
      ],
      { encoding: 'utf8' },
    );
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
  });
});
