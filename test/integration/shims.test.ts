// The hook shims in hooks/ are what dpkg and update-initramfs actually run. They must never break a
// kernel update when kbackup is removed but not purged, must hand their arguments to
// `kbackup hook KIND`, must clear every NODE_* variable and must keep dpkg's stdout clean.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const repo = path.resolve(__dirname, '../..');

// `params`: a DEB_MAINT_PARAMS under which the shim hands over to kbackup (postrm: only on removal).
const SHIMS = [
  { source: 'hooks/kernel/preinst.d/00-kbackup', installed: '/etc/kernel/preinst.d/00-kbackup', kind: 'preinst', params: 'upgrade 6.1.76-1' },
  { source: 'hooks/kernel/postinst.d/zzz-kbackup', installed: '/etc/kernel/postinst.d/zzz-kbackup', kind: 'postinst', params: 'configure 6.1.76-1' },
  { source: 'hooks/kernel/prerm.d/kbackup', installed: '/etc/kernel/prerm.d/kbackup', kind: 'prerm', params: 'remove' },
  { source: 'hooks/kernel/postrm.d/kbackup', installed: '/etc/kernel/postrm.d/kbackup', kind: 'postrm', params: 'purge' },
  { source: 'hooks/initramfs/post-update.d/kbackup', installed: '/etc/initramfs/post-update.d/kbackup', kind: 'initramfs', params: 'configure 6.1.76-1' },
] as const;

const INSTALLED_BIN = '/usr/sbin/kbackup';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kbackup-shims-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A copy of the shim that calls `bin` instead of /usr/sbin/kbackup. */
function shimCalling(source: string, bin: string): string {
  const text = fs.readFileSync(path.join(repo, source), 'utf8');
  expect(text).toContain(INSTALLED_BIN);
  const copy = path.join(tmp, path.basename(source));
  fs.writeFileSync(copy, text.split(INSTALLED_BIN).join(bin), { mode: 0o755 });
  return copy;
}

function runSh(script: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync('sh', [script, ...args], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', ...env } });
}

/** A stand-in for kbackup that records its argv and every NODE_* variable and writes to both streams. */
function fakeKbackup(exitCode: number): { bin: string; argvFile: string; envFile: string } {
  const bin = path.join(tmp, 'fake-kbackup');
  const argvFile = path.join(tmp, 'argv');
  const envFile = path.join(tmp, 'node-options');
  fs.writeFileSync(
    bin,
    [
      '#!/bin/sh',
      `for a in "$@"; do printf '%s\\n' "$a"; done > '${argvFile}'`,
      `env | grep '^NODE_' | sort > '${envFile}' || true`,
      'echo "fake kbackup on stdout"',
      'echo "fake kbackup on stderr" >&2',
      `exit ${exitCode}`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return { bin, argvFile, envFile };
}

describe.each(SHIMS)('$installed', ({ source, installed, kind, params }) => {
  it('has a name run-parts accepts and is executable', () => {
    expect(path.basename(installed)).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(path.basename(source)).toBe(path.basename(installed));
    expect(fs.statSync(path.join(repo, source)).mode & 0o777).toBe(0o755);

    // run-parts itself decides: --test lists what it would run.
    const dir = path.join(tmp, 'hooks.d');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(repo, source), path.join(dir, path.basename(source)));
    fs.chmodSync(path.join(dir, path.basename(source)), 0o755);
    const listed = spawnSync('run-parts', ['--test', dir], { encoding: 'utf8' });
    expect(listed.status).toBe(0);
    expect(listed.stdout.trim()).toBe(path.join(dir, path.basename(source)));
  });

  it('is a POSIX sh script that dash accepts', () => {
    const text = fs.readFileSync(path.join(repo, source), 'utf8');
    expect(text.split('\n')[0]).toBe('#!/bin/sh');
    const dash = spawnSync('dash', ['-n', path.join(repo, source)], { encoding: 'utf8' });
    expect(dash.stderr).toBe('');
    expect(dash.status).toBe(0);
  });

  it('exits 0 silently when kbackup is removed but not purged', () => {
    const shim = shimCalling(source, path.join(tmp, 'usr/sbin/kbackup'));
    const result = runSh(shim, ['6.1.0-18-amd64', '/boot/vmlinuz-6.1.0-18-amd64']);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('');
  });

  it('exits 0 when the program is present but not executable', () => {
    const bin = path.join(tmp, 'kbackup-not-executable');
    fs.writeFileSync(bin, '#!/bin/sh\nexit 9\n', { mode: 0o644 });
    const result = runSh(shimCalling(source, bin), ['6.1.0-18-amd64']);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('');
  });

  it(`runs "kbackup hook ${kind}" with its arguments, without any NODE_* variable, output on stderr only`, () => {
    const fake = fakeKbackup(0);
    const args = ['6.1.0-18-amd64', '/boot/vmlinuz-6.1.0-18-amd64', 'an argument with  spaces', ''];
    const result = runSh(shimCalling(source, fake.bin), args, {
      NODE_OPTIONS: '--require /nonexistent/hijack.js',
      // A Node single executable reads these at startup and prints "Warning: Ignoring extra certs"
      // into dpkg's output when the file is missing.
      NODE_EXTRA_CA_CERTS: '/nonexistent/ca.pem',
      NODE_DEBUG: 'fs',
      NODE_PATH: '/nonexistent',
      NODEJS_KEEP: 'not a NODE_ variable',
      DEB_MAINT_PARAMS: params,
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('fake kbackup on stdout');
    expect(result.stderr).toContain('fake kbackup on stderr');
    expect(fs.readFileSync(fake.argvFile, 'utf8')).toBe(['hook', kind, ...args].map((a) => `${a}\n`).join(''));
    expect(fs.readFileSync(fake.envFile, 'utf8')).toBe('');
  });

  it('keeps Node\'s own startup warnings out of dpkg\'s output (the real executable, NODE_EXTRA_CA_CERTS set)', () => {
    const cli = path.join(repo, 'dist/kbackup');
    expect(fs.existsSync(cli), 'run "npm run build" first').toBe(true);
    const rootDir = path.join(tmp, 'root');
    fs.mkdirSync(path.join(rootDir, 'boot'), { recursive: true });
    const env = { NODE_EXTRA_CA_CERTS: '/nonexistent/ca.pem', DEB_MAINT_PARAMS: params };
    // The scenario reproduces: the executable itself prints the warning when run directly.
    const direct = spawnSync(cli, ['--version'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', ...env } });
    expect(direct.stderr).toContain('Ignoring extra certs');
    const shim = shimCalling(source, cli);
    fs.writeFileSync(shim, fs.readFileSync(shim, 'utf8').replace(`exec ${cli} `, `exec ${cli} --root ${rootDir} `));
    expect(fs.readFileSync(shim, 'utf8')).toContain(`--root ${rootDir}`);
    const result = runSh(shim, ['6.1.0-18-amd64', '/boot/vmlinuz-6.1.0-18-amd64'], env);
    expect(result.status).toBe(0);
    expect(result.stderr).not.toContain('Ignoring extra certs');
    expect(result.stderr).not.toMatch(/Warning/);
  });

  it("passes kbackup's exit status through, so ON_ERROR=fail can stop the update", () => {
    const fake = fakeKbackup(3);
    const result = runSh(shimCalling(source, fake.bin), ['6.1.0-18-amd64'], { DEB_MAINT_PARAMS: params });
    expect(result.status).toBe(3);
  });
});

describe('the postrm shim', () => {
  const source = 'hooks/kernel/postrm.d/kbackup';

  // On an upgrade the kernel package's postrm runs postrm.d too: kbackup would start only to do nothing.
  it.each([['upgrade 6.1.76-1'], ['failed-upgrade 6.1.76-1'], ['abort-install'], ['disappear'], [''], ['removed'], ['*']])(
    'does not start kbackup when DEB_MAINT_PARAMS is %j',
    (params) => {
      const fake = fakeKbackup(3);
      const result = runSh(shimCalling(source, fake.bin), ['6.1.0-18-amd64', '/boot/vmlinuz-6.1.0-18-amd64'], { DEB_MAINT_PARAMS: params });
      expect(result.status).toBe(0);
      expect(result.stdout + result.stderr).toBe('');
      expect(fs.existsSync(fake.argvFile)).toBe(false);
    },
  );

  it('does not start kbackup when DEB_MAINT_PARAMS is unset (run by hand, or by an old kernel package)', () => {
    const fake = fakeKbackup(3);
    const result = runSh(shimCalling(source, fake.bin), ['6.1.0-18-amd64']);
    expect(result.status).toBe(0);
    expect(fs.existsSync(fake.argvFile)).toBe(false);
  });

  it.each([['remove'], ['purge'], ['  purge  '], ['remove\tsomething']])('starts kbackup when DEB_MAINT_PARAMS is %j', (params) => {
    const fake = fakeKbackup(0);
    const result = runSh(shimCalling(source, fake.bin), ['6.1.0-18-amd64', '/boot/vmlinuz-6.1.0-18-amd64'], { DEB_MAINT_PARAMS: params });
    expect(result.status).toBe(0);
    expect(fs.readFileSync(fake.argvFile, 'utf8')).toBe('hook\npostrm\n6.1.0-18-amd64\n/boot/vmlinuz-6.1.0-18-amd64\n');
  });
});

describe('the prerm shim', () => {
  const source = 'hooks/kernel/prerm.d/kbackup';

  // A kernel package's prerm runs prerm.d on an upgrade too, when the preinst hook has already kept the files.
  it.each([['upgrade 6.1.76-1'], ['deconfigure in-favour linux-image-6.1.0-50-amd64 6.1.158-1'], ['failed-upgrade 6.1.76-1']])(
    'does not start kbackup when DEB_MAINT_PARAMS is %j',
    (params) => {
      const fake = fakeKbackup(3);
      const result = runSh(shimCalling(source, fake.bin), ['6.1.0-18-amd64', '/boot/vmlinuz-6.1.0-18-amd64'], { DEB_MAINT_PARAMS: params });
      expect(result.status).toBe(0);
      expect(result.stdout + result.stderr).toBe('');
      expect(fs.existsSync(fake.argvFile)).toBe(false);
    },
  );

  // Decided from the files, not from DEB_MAINT_PARAMS alone: a kernel package that passes nothing still gets its copy.
  it.each([['remove'], ['']])('starts kbackup when DEB_MAINT_PARAMS is %j', (params) => {
    const fake = fakeKbackup(0);
    const result = runSh(shimCalling(source, fake.bin), ['6.1.0-18-amd64', '/boot/vmlinuz-6.1.0-18-amd64'], { DEB_MAINT_PARAMS: params });
    expect(result.status).toBe(0);
    expect(fs.readFileSync(fake.argvFile, 'utf8')).toBe('hook\nprerm\n6.1.0-18-amd64\n/boot/vmlinuz-6.1.0-18-amd64\n');
  });
});

describe('hook order', () => {
  function runPartsOrder(names: string[], ours: string, source: string): string[] {
    const dir = path.join(tmp, 'order.d');
    fs.mkdirSync(dir);
    for (const name of names) fs.writeFileSync(path.join(dir, name), '#!/bin/sh\n', { mode: 0o755 });
    fs.copyFileSync(path.join(repo, source), path.join(dir, ours));
    fs.chmodSync(path.join(dir, ours), 0o755);
    const listed = spawnSync('run-parts', ['--test', dir], { encoding: 'utf8' });
    expect(listed.status).toBe(0);
    return listed.stdout.trim().split('\n').map((p) => path.basename(p));
  }

  it('the preinst shim runs before every other kernel preinst hook', () => {
    const order = runPartsOrder(['01-early', 'dkms', 'intel-microcode', 'Zfoo'], '00-kbackup', 'hooks/kernel/preinst.d/00-kbackup');
    expect(order[0]).toBe('00-kbackup');
  });

  it('the postinst shim runs after zz-update-grub', () => {
    const order = runPartsOrder(
      ['apt-auto-removal', 'dkms', 'initramfs-tools', 'unattended-upgrades', 'zz-update-grub'],
      'zzz-kbackup',
      'hooks/kernel/postinst.d/zzz-kbackup',
    );
    expect(order.at(-1)).toBe('zzz-kbackup');
    expect(order.indexOf('zz-update-grub')).toBe(order.length - 2);
  });
});
