// The built CLI against temp roots: what an administrator reads must say what to do (issue 9,
// "Messages an admin can act on" and "Help"). Asserted on content, not only on exit codes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_OPTIONS, GLOBAL_OPTIONS } from '../../src/cli-errors';
import { bytes, fakeInitrd, fakeSet, installKernel, kbackup, makeRoot, REPO, requireBuiltCli, V, type TempRoot } from '../helpers/root';

let root: TempRoot;
beforeAll(() => {
  requireBuiltCli();
});
afterEach(() => {
  root?.cleanup();
});

interface Report {
  ok: boolean;
  problems: { code: string; message: string; severity: string }[];
}

function report(r: TempRoot): Report {
  return JSON.parse(kbackup(r, ['check', '--json']).stdout) as Report;
}

/** The one message line kbackup printed (stderr), without the program name. */
function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter(Boolean);
  expect(lines, stderr).toHaveLength(1);
  return lines[0]!.replace(/^kbackup: /, '');
}

const PARSER_WORDING = /NaN|Unknown argument|non-option|Invalid values|Argument:|Given:|Choices:|dryRun/;

describe('usage errors', () => {
  it('say what to type, in one sentence, without the parser wording', () => {
    root = makeRoot();
    installKernel(root);
    const cases: { args: string[]; says: RegExp }[] = [
      { args: ['prune', '--keep', 'abc'], says: /--keep takes a whole number from 0 to 99, not "?abc"?/ },
      { args: ['check', '--dry-run'], says: /check has no --dry-run option.*kbackup check --help/ },
      { args: ['restore'], says: /restore needs the ID of a backup set.*kbackup list/ },
      { args: ['list', '--jsn'], says: /did you mean --json\?/ },
      { args: ['prune', '--dryrun'], says: /did you mean --dry-run\?/ },
    ];
    for (const c of cases) {
      const r = kbackup(root, c.args);
      expect(r.code, c.args.join(' ')).toBe(2);
      const line = oneLine(r.stderr);
      expect(line, c.args.join(' ')).toMatch(c.says);
      expect(line, c.args.join(' ')).not.toMatch(PARSER_WORDING);
    }
  });

  it('a misspelt hook kind gets one line with "did you mean", and the update goes on', () => {
    root = makeRoot();
    installKernel(root);
    const r = kbackup(root, ['hook', 'preinstall', V]);
    expect(r.code).toBe(0);
    const line = oneLine(r.stderr);
    expect(line).toMatch(/did you mean preinst\?/);
    expect(line).not.toMatch(PARSER_WORDING);
  });
});

describe('system errors', () => {
  it('say what could not be done and what to do, without raw errno text', () => {
    root = makeRoot();
    installKernel(root);
    fs.rmSync(root.boot, { recursive: true });
    const r = kbackup(root, ['snapshot', V]);
    expect(r.code).not.toBe(0);
    const line = oneLine(r.stderr);
    expect(line).not.toMatch(/ENOENT|statfs|EROFS|errno/);
    expect(line).toContain('/boot');
    expect(line).not.toContain(root.dir);
  });
});

describe('sizes and space', () => {
  it('are written as df -h writes them, and the reserve is called the MIN_FREE_MB reserve', () => {
    root = makeRoot();
    installKernel(root, V, 1, { vmlinuz: 64 * 1024, initrd: 120 * 1024 });
    const r = kbackup(root, ['snapshot', V]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/\d MiB/);
    expect(r.stderr).toMatch(/\(1[89]\dK\b/); // the set: 64 KiB + 120 KiB initrd + config + System.map
    expect(r.stderr).toMatch(/\b\d+(\.\d)?[KMGT] free\b/);
    expect(r.stderr).toContain('the MIN_FREE_MB reserve');
  });

  it('a MIN_FREE_MB larger than the whole boot filesystem names the real limit', () => {
    root = makeRoot();
    installKernel(root);
    root.config('MIN_FREE_MB=9999999\n');
    const r = kbackup(root, ['snapshot', V]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/MIN_FREE_MB=9999999 .*larger than the whole filesystem of \/boot \(\d+(\.\d)?[KMGT]\)/);
  });
});

describe('paths', () => {
  it('are shown as seen inside --root, in human and JSON output', () => {
    root = makeRoot();
    installKernel(root);
    root.config('KEEP=x\n');
    const outputs = [kbackup(root, ['hook', 'preinst', V]), kbackup(root, ['list'])];
    root.config('');
    fs.rmSync(root.file(`boot/initrd.img-${V}`));
    fakeSet(root, '202601010000');
    outputs.push(kbackup(root, ['check']), kbackup(root, ['check', '--json']), kbackup(root, ['snapshot', V]), kbackup(root, ['snapshot', '9.9.9-nope']));
    for (const o of outputs) {
      expect(o.stdout + o.stderr).not.toContain(root.dir);
    }
    expect(outputs[0]!.stderr).toContain('/etc/default/kbackup:1');
  });
});

describe('check codes', () => {
  it('each carry their next step with exact commands', () => {
    root = makeRoot();
    installKernel(root);
    // backup-is-default: the backups of a removed newer kernel.
    fakeSet(root, '202601010000', '6.10.0-1-amd64');
    // backup-unrecorded: copied by hand into a machine that has a manifest.
    expect(kbackup(root, ['snapshot', V]).code).toBe(0);
    // backup-missing-initrd: a kernel backup whose initrd is gone (made after the snapshot, which
    // would have pruned it as incomplete).
    fakeSet(root, '202602010000', V, 8, ['kernel', 'config']);
    const unrecorded = fakeSet(root, '202603010000', V, 9);
    // manifest-mismatch: a recorded file that changed.
    const recorded = (JSON.parse(kbackup(root, ['list', '--json']).stdout) as { id: string; origin: string | null }[]).find((s) => s.origin === 'snapshot')!.id;
    root.write(`boot/config-${recorded}`, 'changed\n');
    // link-dangling.
    fs.symlinkSync(`boot/vmlinuz-6.1.0-9-amd64`, root.file('vmlinuz.old'));
    const problems = report(root).problems;
    const message = (code: string) => {
      const p = problems.find((x) => x.code === code);
      expect(p, `${code} in ${JSON.stringify(problems)}`).toBeDefined();
      return p!.message;
    };
    expect(message('backup-is-default')).toMatch(/kbackup prune --keep 0 6\.10\.0-1-amd64|reinstall/);
    expect(message('backup-missing-initrd')).toMatch(/kbackup prune|kbackup restore/);
    expect(message('backup-unrecorded')).toContain(unrecorded);
    expect(message('backup-unrecorded')).toMatch(/kbackup prune|remove/);
    expect(message('manifest-mismatch')).toMatch(/do not restore|kbackup prune|remove/);
    expect(message('link-dangling')).toMatch(/linux-update-symlinks|ln -sf/);
  });

  it('the summary never counts the live kernel as a backup below the first entry', () => {
    root = makeRoot();
    installKernel(root);
    fakeSet(root, '202601010000', '6.10.0-1-amd64');
    const r = kbackup(root, ['check']);
    const summary = r.stdout.split('\n')[0]!;
    expect(summary).toContain('/boot/kernel-6.10.0-1-amd64~~backup202601010000 first');
    expect(summary).not.toMatch(/1 backup\(s\) below it$/);
    expect(summary).toMatch(/below it.*6\.1\.0-18-amd64|1 live kernel/);
  });

  it('the postinst hook labels every line as check does', () => {
    root = makeRoot();
    installKernel(root);
    root.write(`boot/vmlinuz-${V}~~backup202601010000`, bytes(1000, 3)); // legacy-backup: an error
    root.write(`boot/initrd.img-${V}~~backup202601010000`, fakeInitrd(2000, 3));
    root.write(`boot/initrd.img-${V}~~backup202602010000`, fakeInitrd(2000, 4)); // backup-missing-kernel: a warning
    const checkOut = kbackup(root, ['check']).stdout;
    expect(checkOut).toMatch(/^error: legacy-backup: /m);
    expect(checkOut).toMatch(/^warning: backup-missing-kernel: /m);
    const hook = kbackup(root, ['hook', 'postinst', V]);
    expect(hook.code).toBe(0);
    expect(hook.stderr).toMatch(/^kbackup: error: legacy-backup: /m);
    expect(hook.stderr).toMatch(/^kbackup: warning: backup-missing-kernel: /m);
  });
});

describe('a broken configuration', () => {
  it('check --json still prints JSON with ok:false and a config problem', () => {
    root = makeRoot();
    installKernel(root);
    root.config('KEEP=many\n');
    const r = kbackup(root, ['check', '--json']);
    expect(r.code).not.toBe(0);
    const rep = JSON.parse(r.stdout) as Report;
    expect(rep.ok).toBe(false);
    const p = rep.problems.find((x) => x.code === 'config-invalid');
    expect(p?.message).toContain('/etc/default/kbackup:1');
  });

  it('list still lists, with a warning', () => {
    root = makeRoot();
    installKernel(root);
    const id = fakeSet(root, '202601010000');
    root.config('KEEP=many\n');
    const r = kbackup(root, ['list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(id);
    expect(r.stderr).toContain('/etc/default/kbackup:1');
  });
});

describe('help', () => {
  it('"did you mean" knows exactly the options each command declares', () => {
    root = makeRoot();
    for (const [command, options] of Object.entries(COMMAND_OPTIONS)) {
      const help = kbackup(root, [command, '--help']).stdout;
      const declared = new Set([...help.matchAll(/^ +(?:-[a-z], )?--([a-z][a-z-]*)/gm)].map((m) => m[1]!));
      if (help.includes('--update-grub')) declared.add('no-update-grub');
      expect([...declared].sort(), command).toEqual([...new Set([...options, ...GLOBAL_OPTIONS])].sort());
    }
  });


  it('describes completion, --json, the VERSION arguments, --root DIR and restore --no-update-grub', () => {
    root = makeRoot();
    const completion = kbackup(root, ['completion', '--help']);
    expect(completion.code).toBe(0);
    expect(completion.stdout).not.toContain('###-begin-kbackup-completions-###');
    expect(completion.stdout).toMatch(/bash completion/);
    const list = kbackup(root, ['list', '--help']).stdout;
    expect(list).toMatch(/--json\s+\S.*JSON/);
    expect(list).toMatch(/kernel-version\s+\S.*kernel version/i);
    const snapshot = kbackup(root, ['snapshot', '--help']).stdout;
    expect(snapshot).toMatch(/kernel-version\s+\S.*running kernel/i);
    const top = kbackup(root, ['--help']).stdout;
    expect(top).toMatch(/--root DIR/);
    const restore = kbackup(root, ['restore', '--help']).stdout;
    expect(restore).toContain('--no-update-grub');
  });

  it('restore --dry-run says whether update-grub would run', () => {
    root = makeRoot();
    installKernel(root);
    expect(kbackup(root, ['snapshot', V]).code).toBe(0);
    const id = (JSON.parse(kbackup(root, ['list', '--json']).stdout) as { id: string }[])[0]!.id;
    root.write(`boot/vmlinuz-${V}`, bytes(64 * 1024, 5));
    expect(kbackup(root, ['restore', '--dry-run', id]).stdout).toMatch(/would not run update-grub/);
    expect(kbackup(root, ['restore', '--dry-run', '--update-grub', id]).stdout).toMatch(/would run update-grub/);
  });

  it('snapshot of an unknown version points at the installed kernels', () => {
    root = makeRoot();
    installKernel(root);
    installKernel(root, '6.1.0-17-amd64', 2);
    const r = kbackup(root, ['snapshot', '6.1.0-99-amd64']);
    expect(r.code).toBe(2);
    const line = oneLine(r.stderr);
    expect(line).toContain(`installed kernels: 6.1.0-17-amd64, ${V}`);
    expect(line).not.toContain('kbackup list');
  });
});

describe('README', () => {
  it('sets up as root without sudo (minimal Debian installs have none)', () => {
    const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
    const commands = readme.split('\n').filter((l) => /^ {4}\S/.test(l));
    expect(commands.some((c) => c.includes('packaging/setup.sh'))).toBe(true);
    for (const c of commands) expect(c).not.toMatch(/\bsudo\b/);
  });
});

// Issue 15: a --json command that fails still prints JSON on stdout, for the script that parses it.
describe('--json on failure', () => {
  it.each([
    [['list', '--json'], 'usage', /--root was given 2 times; give it once/, (r: string) => ['--root', `${r}/other`]],
    [['diff', 'nope', '--json'], 'usage', /has no backup/, () => []],
    [['status', '--json'], 'config', /unknown key/, () => []],
    [['trial', 'arm', '--json'], 'refused', /TRIAL_BOOT/, () => []],
  ] as const)('kbackup %j prints {ok:false, error:{code, message}} and the usual exit code', (args, code, message, extra) => {
    root = makeRoot();
    if (code === 'config') root.config('KEPE=2\n');
    const r = kbackup(root, [...extra(root.dir), ...args]);
    expect(r.code).not.toBe(0);
    const parsed = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } };
    expect(parsed.ok).toBe(false);
    expect(parsed.error.code).toBe(code);
    expect(parsed.error.message).toMatch(message);
  });
});
