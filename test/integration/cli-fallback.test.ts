// The fallback kept and seen, through the built CLI on temp roots: a failed trial's boot record
// writes the apt.conf.d file (read back by the real apt-config through APT_CONFIG, as apt itself
// would read the root's apt.conf.d), the login line, the textfile (checked by the real promtool),
// `status` and `check --nagios` say it, and `trial accept` ends it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { installKernel, kbackup, makeRoot, requireBuiltCli, V, type TempRoot } from '../helpers/root';
import { booted, editenv, grubCfg, live } from '../helpers/trial';

const V2 = '6.1.0-19-amd64';
const APT_CONF = 'etc/apt/apt.conf.d/50kbackup-fallback';
const TEXTFILE = 'var/lib/prometheus/node-exporter/kbackup.prom';
let root: TempRoot;
beforeAll(() => {
  requireBuiltCli();
});
afterEach(() => root?.cleanup());

const have = (program: string) => spawnSync('sh', ['-c', `command -v ${program}`]).status === 0;

/** apt-config reading the root's apt.conf.d instead of the host's (APT_CONFIG is read before the parts directory). */
function aptConfigDump(r: TempRoot): { code: number; stdout: string; stderr: string } {
  const conf = r.write('apt-test.conf', `Dir::Etc::Parts "${r.file('etc/apt/apt.conf.d')}";\nDir::Etc::main "/dev/null";\n`);
  const out = spawnSync('apt-config', ['dump'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', APT_CONFIG: conf } });
  return { code: out.status ?? -1, stdout: out.stdout, stderr: out.stderr };
}

function promtool(text: string): { code: number; output: string } {
  const out = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { code: out.status ?? -1, output: `${out.stdout}${out.stderr}` };
}

/** A machine on V whose trial of V2 failed: GRUB fell back to V and this boot's record sees it. */
function fellBack(): TempRoot {
  const r = makeRoot();
  r.config('TRIAL_BOOT=yes\n');
  installKernel(r, V, 1);
  fs.mkdirSync(r.file('etc/apt/apt.conf.d'), { recursive: true });
  fs.mkdirSync(r.file('var/lib/prometheus/node-exporter'), { recursive: true });
  grubCfg(r, [live(V)]);
  editenv(r, 'create');
  booted(r, `vmlinuz-${V}`, V, 'boot-1');
  expect(kbackup(r, ['boot-record']).code).toBe(0);
  installKernel(r, V2, 2);
  grubCfg(r, [live(V2), live(V)]);
  const hook = kbackup(r, ['hook', 'postinst', V2]);
  expect(hook.code, hook.stderr).toBe(0);
  editenv(r, 'set', 'kbackup_trial=failed');
  booted(r, `vmlinuz-${V}`, V, 'boot-2');
  const rec = kbackup(r, ['boot-record']);
  expect(rec.code, rec.stderr).toBe(0);
  return r;
}

describe('after a failed trial', () => {
  it('apt keeps the fallback kernel (apt-config reads the file), the login, status, check --nagios and the metrics say so; trial accept ends it', () => {
    root = fellBack();
    // Before kbackup, the same apt-config sees no such entry: the test can tell the difference.
    expect(fs.statSync(root.file(APT_CONF)).mode & 0o777).toBe(0o444);
    if (have('apt-config')) {
      const dump = aptConfigDump(root);
      expect(dump.code, dump.stderr).toBe(0);
      expect(dump.stdout).toContain(`APT::NeverAutoRemove:: "^linux-image-6[.]1[.]0-18-amd64(-unsigned)?$";`);
    }
    expect(fs.readFileSync(root.file('var/lib/kbackup/motd'), 'utf8')).toBe(
      `kbackup: this machine runs the fallback kernel ${V} because the trial boot of /boot/vmlinuz-${V2} failed; ` +
        'run kbackup trial retry to try it again or kbackup trial accept to boot it without a trial.\n',
    );
    const status = kbackup(root, ['status']);
    expect(status.stdout).toMatch(/^fallback: this machine runs the fallback kernel 6\.1\.0-18-amd64 because the trial boot/m);
    expect(status.stdout).toContain(`autoremove: apt keeps the kernel package of ${V} (/etc/apt/apt.conf.d/50kbackup-fallback)`);

    const nagios = kbackup(root, ['check', '--nagios']);
    expect(nagios.code).toBe(2);
    expect(nagios.stdout).toMatch(/^KBACKUP CRITICAL - trial-failed.* \| fallback=1;;1;0;1 backup_sets=0;;;0; boot_free=\d+B;;;0; errors=1;;1;0; warnings=\d+;1;;0;\n$/);

    const textfile = fs.readFileSync(root.file(TEXTFILE), 'utf8');
    expect(textfile).toContain('kbackup_fallback_active{reason="trial-failed"} 1');
    expect(textfile).toContain('kbackup_trial_state{state="failed"} 1');
    expect(textfile).toContain('kbackup_last_trial_success 0');
    const prom = kbackup(root, ['status', '--format', 'prometheus']);
    expect(prom.code).toBe(0);
    // The same text but for the free space, which other writers on this machine move.
    const stable = (t: string) => t.replace(/^kbackup_boot_free_bytes \d+$/m, 'kbackup_boot_free_bytes N');
    expect(stable(prom.stdout)).toBe(stable(textfile));
    if (have('promtool')) {
      const linted = promtool(textfile);
      expect(linted.output).toBe('');
      expect(linted.code).toBe(0);
    }

    const accept = kbackup(root, ['trial', 'accept']);
    expect(accept.code, accept.stderr).toBe(0);
    expect(fs.existsSync(root.file('var/lib/kbackup/motd'))).toBe(false);
    expect(fs.readFileSync(root.file(TEXTFILE), 'utf8')).toContain('kbackup_fallback_active{reason="trial-failed"} 0');
    expect(kbackup(root, ['status']).stdout).not.toMatch(/^fallback:/m);
    const ok = kbackup(root, ['check', '--nagios']);
    expect(ok.stdout).not.toMatch(/fallback=1/);
  });

  it('check --nagios is UNKNOWN (3) when the check cannot run', () => {
    root = makeRoot();
    fs.rmSync(root.file('boot'), { recursive: true });
    fs.writeFileSync(root.file('boot'), 'not a directory');
    const out = kbackup(root, ['check', '--nagios']);
    expect(out.stdout).toMatch(/^KBACKUP UNKNOWN - .*\n$/);
    expect(out.code).toBe(3);
  });
});

describe('status --format prometheus', () => {
  it('passes promtool on a machine with no boot recorded yet', () => {
    if (!have('promtool')) return;
    root = makeRoot();
    installKernel(root, V, 1);
    const prom = kbackup(root, ['status', '--format', 'prometheus']);
    expect(prom.code, prom.stderr).toBe(0);
    expect(prom.stdout).toContain('kbackup_running_known_good 0');
    expect(promtool(prom.stdout)).toEqual({ code: 0, output: '' });
    expect(path.isAbsolute(root.dir)).toBe(true);
  });
});
