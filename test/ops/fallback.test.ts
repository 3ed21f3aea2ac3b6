// The fallback kept and seen, in process on temp roots: what a boot record writes outside /boot
// (apt.conf.d through the real apt-config, the fallback record and login line, the textfile), when
// it goes away, that a file apt-config refuses never replaces the good one, the prerm hook's copy
// of the known-good, and check's view of it.
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { makeContext } from '../../src/commands/context';
import { runHook } from '../../src/commands/hook';
import { DEFAULT_CONFIG, type Config } from '../../src/core/model/config';
import { recordBoot } from '../../src/core/ops/boot-record';
import { check } from '../../src/core/ops/check';
import { refreshFallback } from '../../src/core/ops/fallback';
import { listSets } from '../../src/core/ops/list';
import type { World } from '../../src/core/world';
import { realExec } from '../../src/world';
import { installKernel, makeRoot, type TempRoot } from '../helpers/root';
import { booted, grubCfg, live } from '../helpers/trial';
import { testWorld } from '../helpers/world';

let root: TempRoot;
afterEach(() => root?.cleanup());

const OLD = '6.1.0-50-amd64';
const NEW = '6.1.0-51-amd64';
const APT_CONF = 'etc/apt/apt.conf.d/50kbackup-fallback';
const config = (over: Partial<Config> = {}): Config => ({ ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files], ...over });
const hasAptConfig = realExec('apt-config', ['--version']).then((r) => r.code === 0);

/** Only apt-config is a real program here; it reads the host's configuration plus the candidate (-c). */
const aptOnly: World['exec'] = (file, args, options) => (file === 'apt-config' ? realExec(file, args, options) : Promise.resolve({ code: 127, stdout: '', stderr: `${file}: ENOENT` }));

/** Two kernels installed, GRUB's default the newer one, the machine booted `bootedVersion`. */
function machine(bootedVersion: string, bootId: string): TempRoot {
  root ??= makeRoot();
  if (!fs.existsSync(root.file(`boot/vmlinuz-${OLD}`))) {
    installKernel(root, OLD, 1);
    installKernel(root, NEW, 2);
    for (const v of [OLD, NEW]) fs.mkdirSync(root.file(`lib/modules/${v}`), { recursive: true });
    fs.mkdirSync(root.file('etc/apt/apt.conf.d'), { recursive: true });
    fs.mkdirSync(root.file('var/lib/prometheus/node-exporter'), { recursive: true });
    grubCfg(root, [live(NEW), live(OLD)], false);
  }
  booted(root, `vmlinuz-${bootedVersion}`, bootedVersion, bootId);
  return root;
}

describe('a boot of a kernel that is not GRUB default', () => {
  it('is kept from autoremove (apt-config parses the file), said at login and in the metrics, and ends with a boot of the default', async () => {
    if (!(await hasAptConfig)) return;
    machine(OLD, 'b1');
    const world = testWorld(root.dir, { exec: aptOnly });
    const outcome = await recordBoot(world, config());
    expect(outcome.fallback?.warnings).toEqual([]);
    expect(outcome.fallback?.newFallback).toBe(true);
    const conf = fs.readFileSync(root.file(APT_CONF), 'utf8');
    expect(conf).toContain('"^linux-image-6[.]1[.]0-50-amd64(-unsigned)?$";');
    expect(fs.statSync(root.file(APT_CONF)).mode & 0o777).toBe(0o444);
    const dump = await realExec('apt-config', ['-c', root.file(APT_CONF), 'dump']);
    expect(dump.code).toBe(0);
    expect(dump.stdout).toContain('APT::NeverAutoRemove:: "^linux-image-6[.]1[.]0-50-amd64(-unsigned)?$";');
    expect(fs.readFileSync(root.file('var/lib/kbackup/motd'), 'utf8')).toMatch(/^kbackup: this machine runs 6\.1\.0-50-amd64 .* not GRUB's default \/boot\/vmlinuz-6\.1\.0-51-amd64; reboot to start the default/);
    const prom = fs.readFileSync(root.file('var/lib/prometheus/node-exporter/kbackup.prom'), 'utf8');
    expect(prom).toContain('kbackup_fallback_active{reason="not-default"} 1');
    expect(prom).toContain('kbackup_fallback_kept_from_autoremove 1');
    expect(prom).toContain('kbackup_backup_sets 0');
    expect((await check(world, config())).problems.map((p) => p.code)).toContain('fallback-running');

    // A hook in between changes nothing: the fallback stays until the default boots.
    await refreshFallback(world, config());
    expect(fs.existsSync(root.file('var/lib/kbackup/motd'))).toBe(true);

    machine(NEW, 'b2');
    world.setNow('2026-11-23T08:00:00Z');
    const next = await recordBoot(world, config());
    expect(next.fallback?.fallback).toBeUndefined();
    expect(fs.existsSync(root.file('var/lib/kbackup/motd'))).toBe(false);
    expect(fs.readFileSync(root.file(APT_CONF), 'utf8')).toContain('"^linux-image-6[.]1[.]0-51-amd64(-unsigned)?$";');
    expect(fs.readFileSync(root.file('var/lib/prometheus/node-exporter/kbackup.prom'), 'utf8')).toContain('kbackup_fallback_active{reason="not-default"} 0');
    expect((await check(world, config())).problems.map((p) => p.code)).not.toContain('fallback-running');
  });
});

describe('the apt.conf.d file', () => {
  it('is never replaced by a text apt-config refuses, and an admin file of that name is never touched', async () => {
    machine(NEW, 'b1');
    const good = aptOnly;
    await recordBoot(testWorld(root.dir, { exec: good }), config());
    const before = fs.readFileSync(root.file(APT_CONF), 'utf8');
    // apt-config refuses the next text (as it would a syntax error): the old file stays, nothing is left beside it.
    const refusing: World['exec'] = async (file) =>
      file === 'apt-config' ? { code: 100, stdout: '', stderr: 'E: Syntax error /etc/apt/.50kbackup-fallback: Extra junk at end of file\n' } : { code: 127, stdout: '', stderr: '' };
    machine(OLD, 'b2');
    const world = testWorld(root.dir, { exec: refusing, now: '2026-11-23T08:00:00Z' });
    const outcome = await recordBoot(world, config());
    expect(outcome.fallback?.warnings.join('\n')).toMatch(/apt-config could not parse the new file \(E: Syntax error.*\), so the old one stays/);
    expect(fs.readFileSync(root.file(APT_CONF), 'utf8')).toBe(before);
    expect(fs.readdirSync(root.file('etc/apt')).sort()).toEqual(['apt.conf.d']);

    fs.chmodSync(root.file(APT_CONF), 0o644);
    fs.writeFileSync(root.file(APT_CONF), 'APT::NeverAutoRemove { "^mine$"; };\n');
    const mine = await refreshFallback(testWorld(root.dir, { exec: good }), config());
    expect(mine.apt).toMatchObject({ written: false, why: expect.stringContaining('was not written by kbackup') });
    expect(fs.readFileSync(root.file(APT_CONF), 'utf8')).toBe('APT::NeverAutoRemove { "^mine$"; };\n');
  });
});

describe('hook prerm of the known-good kernel', () => {
  it('keeps its files as a backup set before the package removes them; another kernel gets nothing', async () => {
    machine(OLD, 'b1');
    const world = testWorld(root.dir, { env: { DEB_MAINT_PARAMS: 'remove' } });
    await recordBoot(world, config());
    const ctx = makeContext(world, { out: () => undefined, interactive: false, ask: async () => '' });
    expect(await runHook(ctx, 'prerm', NEW, `/boot/vmlinuz-${NEW}`)).toBe(0);
    expect((await listSets(world, config())).sets).toEqual([]);
    expect(await runHook(ctx, 'prerm', OLD, `/boot/vmlinuz-${OLD}`)).toBe(0);
    const sets = (await listSets(world, config())).sets;
    expect(sets).toHaveLength(1);
    expect(sets[0]).toMatchObject({ version: OLD, knownGood: true, origin: 'known-good' });
    // Again (a failed removal retried): an identical set exists, nothing is copied twice.
    expect(await runHook(ctx, 'prerm', OLD, `/boot/vmlinuz-${OLD}`)).toBe(0);
    expect((await listSets(world, config())).sets).toHaveLength(1);
    // dpkg removes the files and the modules: check says the fallback has no modules left.
    for (const f of ['vmlinuz', 'initrd.img', 'config', 'System.map']) fs.rmSync(root.file(`boot/${f}-${OLD}`));
    fs.rmSync(root.file(`lib/modules/${OLD}`), { recursive: true });
    const problems = (await check(world, config())).problems;
    expect(problems.find((p) => p.code === 'known-good-modules-removed')?.message).toMatch(/reinstall it \(apt install linux-image-6\.1\.0-50-amd64\)/);
    // On an upgrade the preinst hook keeps the files; prerm does nothing.
    const upgrade = testWorld(root.dir, { env: { DEB_MAINT_PARAMS: 'upgrade 6.1.158-1' } });
    installKernel(root, OLD, 9);
    await runHook(makeContext(upgrade, { out: () => undefined, interactive: false, ask: async () => '' }), 'prerm', OLD, undefined);
    expect((await listSets(world, config())).sets).toHaveLength(1);
  });
});

describe('the journal entry', () => {
  it('is one structured message for logger --journald: MESSAGE_ID, PRIORITY and the reason as KBACKUP_REASON', async () => {
    const { sendJournal } = await import('../../src/core/io/fallback-files');
    let sent = '';
    const world = testWorld('/nonexistent', {
      exec: async (file, args) => {
        expect(file).toBe('logger');
        sent = fs.readFileSync(args[0]!.replace(/^--journald=/, ''), 'utf8');
        return { code: 0, stdout: '', stderr: '' };
      },
    });
    expect(await sendJournal(world, { MESSAGE: 'kbackup: a\nb', MESSAGE_ID: '7c2b4be0d37a4b0c9a1e5f3d8e6a2b41', KBACKUP_REASON: 'trial-failed' })).toBeUndefined();
    // One field per line, no newline inside a value (logger --journald would start a new field).
    expect(sent).toBe('MESSAGE=kbackup: a b\nMESSAGE_ID=7c2b4be0d37a4b0c9a1e5f3d8e6a2b41\nKBACKUP_REASON=trial-failed\n');
    const failing = testWorld('/nonexistent', { exec: async () => ({ code: 1, stdout: '', stderr: 'logger: socket /run/systemd/journal/socket: No such file or directory\n' }) });
    expect(await sendJournal(failing, { MESSAGE: 'x' })).toMatch(/^logger --journald failed: logger: socket/);
  });
});
