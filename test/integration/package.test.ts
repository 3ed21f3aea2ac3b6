// The .deb as dpkg sees it: what it installs, with which modes, which conffiles, which control
// fields, and that lintian finds nothing left unexplained. Needs `npm run deb` first (CI runs it
// before `npm test`); a missing .deb fails every test here instead of skipping them.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { version } from '../../package.json';
import { CHECK_CODES } from '../../src/core/model/check';
import { INITRD_PROBLEM_CODES } from '../../src/core/model/initrd-health';
import { CONFIG_KEYS, DEFAULT_CONFIG, parseConfig } from '../../src/core/model/config';

const repo = path.resolve(__dirname, '../..');
const deb = path.join(repo, 'dist', `kbackup_${version}_amd64.deb`);

const SHIMS = [
  '/etc/kernel/preinst.d/00-kbackup',
  '/etc/kernel/postinst.d/zzz-kbackup',
  '/etc/kernel/prerm.d/kbackup',
  '/etc/kernel/postrm.d/kbackup',
  '/etc/initramfs/post-update.d/kbackup',
];
/** Issue 16: the login line while a fallback kernel runs (a conffile like the shims). */
const MOTD_SCRIPT = '/etc/update-motd.d/90-kbackup';
/** Files kbackup generates outside /boot and /var/lib/kbackup: the man page must name each. */
const GENERATED_OUTSIDE = ['/etc/apt/apt.conf.d/50kbackup-fallback', '/var/lib/prometheus/node-exporter/kbackup.prom'];
/** Trial boot (issue 11): the grub.d snippet, its /etc/default/grub.d fragment, the boot-record unit. */
const GRUB_SNIPPET = '/etc/grub.d/08_kbackup';
const GRUB_DEFAULT_FRAGMENT = '/etc/default/grub.d/kbackup.cfg';
const BOOT_RECORD_UNIT = '/lib/systemd/system/kbackup-boot-record.service';
/** systemd's side of a trial boot: the deadline and the emergency-mode reboot (issue 19). */
const TRIAL_GENERATOR = '/lib/systemd/system-generators/kbackup-trial-generator';
/** What the postinst makes /etc/default/kbackup from on a new installation (with debconf's TRIAL_BOOT). */
const DEFAULT_TEMPLATE = '/usr/share/kbackup/kbackup.default';
const MAN_PAGE = '/usr/share/man/man8/kbackup.8.gz';
const COMPLETION = '/usr/share/bash-completion/completions/kbackup';

/** Every regular file the package ships, with its mode. */
const EXPECTED_FILES: Record<string, string> = {
  '/usr/sbin/kbackup': '-rwxr-xr-x',
  ...Object.fromEntries(SHIMS.map((s) => [s, '-rwxr-xr-x'])),
  [MOTD_SCRIPT]: '-rwxr-xr-x',
  [DEFAULT_TEMPLATE]: '-rw-r--r--',
  [TRIAL_GENERATOR]: '-rwxr-xr-x',
  [GRUB_SNIPPET]: '-rwxr-xr-x',
  [GRUB_DEFAULT_FRAGMENT]: '-rw-r--r--',
  [BOOT_RECORD_UNIT]: '-rw-r--r--',
  [MAN_PAGE]: '-rw-r--r--',
  [COMPLETION]: '-rw-r--r--',
  '/usr/share/doc/kbackup/copyright': '-rw-r--r--',
  '/usr/share/doc/kbackup/changelog.gz': '-rw-r--r--',
  '/usr/share/doc/kbackup/LICENSE.nodejs.gz': '-rw-r--r--',
  '/usr/share/lintian/overrides/kbackup': '-rw-r--r--',
};

function run(file: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const result = spawnSync(file, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (result.error) throw result.error;
  return result;
}

function ok(file: string, args: string[]): string {
  const result = run(file, args);
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

let extracted: string;
let control: string;

beforeAll(() => {
  if (!fs.existsSync(deb)) throw new Error(`${deb} does not exist: run npm run deb first`);
  extracted = fs.mkdtempSync(path.join(os.tmpdir(), 'kbackup-deb-'));
  ok('dpkg-deb', ['-x', deb, path.join(extracted, 'root')]);
  ok('dpkg-deb', ['-e', deb, path.join(extracted, 'DEBIAN')]);
  control = path.join(extracted, 'DEBIAN');
}, 300_000);

afterAll(() => {
  if (extracted) fs.rmSync(extracted, { recursive: true, force: true });
});

const inRoot = (p: string) => path.join(extracted, 'root', p);

describe('contents', () => {
  function listing(): Map<string, { mode: string; owner: string }> {
    const entries = new Map<string, { mode: string; owner: string }>();
    for (const line of ok('dpkg-deb', ['-c', deb]).trim().split('\n')) {
      const [mode, owner, , , , ...rest] = line.split(/\s+/);
      const name = rest.join(' ').replace(/^\./, '').replace(/\/$/, '') || '/';
      entries.set(name, { mode: mode!, owner: owner! });
    }
    return entries;
  }

  it('ships exactly the expected files, with their modes, owned by root', () => {
    const entries = listing();
    const files = Object.fromEntries([...entries].filter(([, e]) => !e.mode.startsWith('d')).map(([p, e]) => [p, e.mode]));
    expect(files).toEqual(EXPECTED_FILES);
    for (const [name, entry] of entries) expect(entry.owner, name).toBe('root/root');
  });

  it('creates the state directory and nothing in /boot', () => {
    const entries = listing();
    expect(entries.get('/var/lib/kbackup')?.mode).toBe('drwxr-xr-x');
    expect([...entries.keys()].filter((p) => p === '/boot' || p.startsWith('/boot/'))).toEqual([]);
  });

  it('ships shims whose names run-parts accepts, identical to hooks/', () => {
    for (const shim of SHIMS) {
      expect(path.basename(shim)).toMatch(/^[A-Za-z0-9_-]+$/);
      const source = path.join(repo, 'hooks', shim.replace(/^\/etc\//, ''));
      expect(fs.readFileSync(inRoot(shim), 'utf8'), shim).toBe(fs.readFileSync(source, 'utf8'));
    }
  });

  it('ships an executable that still runs after packaging (not stripped again), with no Node.js and an empty environment', () => {
    const result = run(inRoot('/usr/sbin/kbackup'), ['--version'], { env: {} });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(version);
    expect(result.status).toBe(0);
  });
});

describe('control', () => {
  const field = (name: string) => ok('dpkg-deb', ['-f', deb, name]).trim();

  it('names the package, its version (package.json) and architecture', () => {
    expect(field('Package')).toBe('kbackup');
    expect(field('Version')).toBe(version);
    expect(field('Architecture')).toBe('amd64');
    expect(field('Section')).toBe('admin');
    expect(field('Priority')).toBe('optional');
  });

  it('depends on the C libraries the executable links, and needs neither node nor grub', () => {
    const depends = field('Depends')
      .split(',')
      .map((d) => d.trim().split(/[\s(]/)[0]);
    expect(depends).toContain('libc6');
    expect(depends).toContain('libstdc++6');
    expect(depends.filter((d) => /node|grub/.test(d!))).toEqual([]);
    expect(field('Pre-Depends')).toBe('');
  });

  it('lists exactly the shims and the GRUB trial-boot files as conffiles (/etc/default/kbackup is the postinst’s, for debconf)', () => {
    const conffiles = fs.readFileSync(path.join(control, 'conffiles'), 'utf8').trim().split('\n').sort();
    expect(conffiles).toEqual([...SHIMS, MOTD_SCRIPT, GRUB_SNIPPET, GRUB_DEFAULT_FRAGMENT].sort());
  });

  it('enables the boot-record unit without starting it at install time', () => {
    const postinst = fs.readFileSync(path.join(control, 'postinst'), 'utf8');
    expect(postinst).toContain("deb-systemd-helper enable 'kbackup-boot-record.service'");
    // Started now, it would record whatever is running, whose files may already have been replaced.
    expect(postinst).not.toMatch(/deb-systemd-invoke .*(start|restart).*kbackup-boot-record/);
  });

  it('purge removes the state and never touches /boot', () => {
    const postrm = fs.readFileSync(path.join(control, 'postrm'), 'utf8');
    expect(postrm).toMatch(/^\s*rm -rf \/var\/lib\/kbackup$/m);
    const code = postrm.split('\n').filter((l) => !/^\s*#/.test(l));
    const bootLines = code.filter((l) => l.includes('/boot'));
    expect(bootLines.length).toBeGreaterThan(0); // it tells the administrator the backups are kept
    for (const line of bootLines) expect(line, line).toMatch(/^\s*(echo|")/);
    const dash = run('dash', ['-n', path.join(control, 'postrm')]);
    expect(dash.status).toBe(0);
  });
});

describe('trial-boot files', () => {
  it('ships the GRUB snippet and fragment identical to packaging/grub.d/, and the unit to packaging/', () => {
    expect(fs.readFileSync(inRoot(GRUB_SNIPPET), 'utf8')).toBe(fs.readFileSync(path.join(repo, 'packaging/grub.d/08_kbackup'), 'utf8'));
    expect(fs.readFileSync(inRoot(GRUB_DEFAULT_FRAGMENT), 'utf8')).toBe(fs.readFileSync(path.join(repo, 'packaging/grub.d/kbackup.cfg'), 'utf8'));
    expect(fs.readFileSync(inRoot(BOOT_RECORD_UNIT), 'utf8')).toBe(fs.readFileSync(path.join(repo, 'packaging/kbackup-boot-record.service'), 'utf8'));
    expect(run('dash', ['-n', inRoot(GRUB_SNIPPET)]).status).toBe(0);
    expect(run('dash', ['-n', inRoot(GRUB_DEFAULT_FRAGMENT)]).status).toBe(0);
  });

  it('the unit runs kbackup boot-record once per boot, ordered like systemd-bless-boot', () => {
    const unit = fs.readFileSync(inRoot(BOOT_RECORD_UNIT), 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/sbin\/kbackup boot-record$/m);
    expect(unit).toMatch(/^Type=oneshot$/m);
    // Wants=, not Requires=: a failed admin check must not stop the verdict that names it.
    expect(unit).toMatch(/^Wants=boot-complete\.target$/m);
    expect(unit).not.toMatch(/^Requires=/m);
    expect(unit).toMatch(/^After=.*\bboot-complete\.target\b/m);
    expect(unit).toMatch(/^After=.*\bmulti-user\.target\b/m);
    expect(unit).toMatch(/^WantedBy=multi-user\.target$/m);
  });
});

describe('/etc/default/kbackup, as the postinst creates it from the template', () => {
  const text = () => fs.readFileSync(inRoot(DEFAULT_TEMPLATE), 'utf8');

  it('is all comments, so the defaults apply until the administrator edits it', () => {
    expect(parseConfig(text(), '/etc/default/kbackup')).toEqual(DEFAULT_CONFIG);
  });

  it('documents every key with its default: uncommented, it parses to the defaults', () => {
    const settings = text()
      .split('\n')
      .filter((l) => /^#[A-Z_]+=/.test(l));
    expect(settings.map((l) => l.slice(1).split('=')[0]).sort()).toEqual([...CONFIG_KEYS].sort());
    const uncommented = settings.map((l) => l.slice(1)).join('\n');
    expect(parseConfig(uncommented, '/etc/default/kbackup')).toEqual(DEFAULT_CONFIG);
  });
});

describe('debconf: TRIAL_BOOT on a new installation (kbackup/trial_boot)', () => {
  it('asks at priority low, default yes, only on a new installation or dpkg-reconfigure', () => {
    const templates = fs.readFileSync(path.join(control, 'templates'), 'utf8');
    expect(templates).toMatch(/^Template: kbackup\/trial_boot\nType: boolean\nDefault: true\n/m);
    const config = fs.readFileSync(path.join(control, 'config'), 'utf8');
    expect(config).toContain('db_input low kbackup/trial_boot');
    expect(fs.readFileSync(path.join(control, 'control'), 'utf8')).toMatch(/^Depends: .*debconf/m);
  });

  /**
   * The package's postinst with its paths moved into a temp dir and a stand-in for debconf's
   * confmodule whose db_get answers $ANSWER: what it does to /etc/default/kbackup.
   */
  function postinst(dir: string, args: string[], answer: 'true' | 'false', env: Record<string, string> = {}) {
    const confmodule = path.join(dir, 'confmodule');
    fs.writeFileSync(confmodule, 'db_get() { RET=$ANSWER; }\ndb_stop() { :; }\n');
    const script = fs
      .readFileSync(path.join(control, 'postinst'), 'utf8')
      .replace('/usr/share/debconf/confmodule', confmodule)
      .replace('conf=/etc/default/kbackup', `conf=${dir}/kbackup`)
      .replace('template=/usr/share/kbackup/kbackup.default', `template=${inRoot(DEFAULT_TEMPLATE)}`)
      // Only kbackup's own part: the debhelper snippets after it act on the real system.
      .replace(/# Automatically added by dh_installsystemd[\s\S]*?# End automatically added section\n/g, '');
    const r = run('sh', ['-s', '--', ...args], { input: script, env: { PATH: process.env.PATH, ANSWER: answer, ...env } });
    expect(r.status, r.stderr).toBe(0);
    const file = path.join(dir, 'kbackup');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
  }

  it('a new installation creates the file from the template with TRIAL_BOOT as answered; an upgrade keeps the admin’s file; dpkg-reconfigure changes only that line', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kbackup-postinst-'));
    try {
      const fresh = postinst(dir, ['configure', ''], 'true')!;
      expect(parseConfig(fresh, 'f')).toEqual({ ...DEFAULT_CONFIG, trialBoot: true });
      expect(fresh.match(/^TRIAL_BOOT=/gm)).toHaveLength(1);
      expect(fresh.replace(/^TRIAL_BOOT=yes$/m, '#TRIAL_BOOT=no')).toBe(fs.readFileSync(inRoot(DEFAULT_TEMPLATE), 'utf8'));
      fs.rmSync(path.join(dir, 'kbackup'));
      expect(parseConfig(postinst(dir, ['configure', ''], 'false')!, 'f').trialBoot).toBe(false);
      // An upgrade, whatever debconf holds: the file stays byte for byte (also one without TRIAL_BOOT).
      fs.writeFileSync(path.join(dir, 'kbackup'), 'KEEP=9\n');
      expect(postinst(dir, ['configure', '0.0.9'], 'true')).toBe('KEEP=9\n');
      // A file an admin put there before the first installation is kept too.
      expect(postinst(dir, ['configure', ''], 'true')).toBe('KEEP=9\n');
      // dpkg-reconfigure kbackup: the answer is written, the rest stays.
      expect(postinst(dir, ['configure', '0.1.0'], 'true', { DEBCONF_RECONFIGURE: '1' })).toBe('KEEP=9\nTRIAL_BOOT=yes\n');
      expect(postinst(dir, ['configure', '0.1.0'], 'false', { DEBCONF_RECONFIGURE: '1' })).toBe('KEEP=9\nTRIAL_BOOT=no\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kbackup(8)', () => {
  const page = () => ok('sh', ['-c', `zcat '${inRoot(MAN_PAGE)}'`]);
  const rendered = () =>
    run('man', ['-l', '-Tutf8', inRoot(MAN_PAGE)], { env: { ...process.env, MANWIDTH: '200', LC_ALL: 'C.UTF-8' } }).stdout.replace(
      /.\x08/g,
      '',
    );

  it('renders without groff warnings', () => {
    const result = run('man', ['--warnings', '-E', 'UTF-8', '-l', '-Tutf8', '-Z', inRoot(MAN_PAGE)], {
      env: { ...process.env, LC_ALL: 'C.UTF-8', MANROFFSEQ: '', MANWIDTH: '80' },
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(page()).toMatch(/^\.TH KBACKUP 8 /m);
  });

  /** The commands, hook kinds and options the packaged program's own --help declares. */
  function cliSurface() {
    const bin = inRoot('/usr/sbin/kbackup');
    const help = (args: string[]) => {
      const result = run(bin, [...args, '--help'], { env: {} });
      expect(result.status, args.join(' ')).toBe(0);
      return result.stdout;
    };
    const top = help([]);
    const commands = [...top.matchAll(/^ {2}kbackup ([a-z][a-z-]*)/gm)].map((m) => m[1]!);
    const hookKinds = [...(/choices: ([^\]]+)\]/.exec(help(['hook']))?.[1] ?? '').matchAll(/"([a-z]+)"/g)].map((m) => m[1]!);
    const options = new Set<string>();
    for (const text of [top, ...commands.map((c) => help([c]))]) {
      for (const m of text.matchAll(/^ +(-[a-z], )?(--[a-z][a-z-]*)/gm)) options.add(`${m[1] ?? ''}${m[2]}`);
    }
    return { commands, hookKinds, options: [...options] };
  }

  it('documents every command and option the program declares', () => {
    const { commands, hookKinds, options } = cliSurface();
    expect(commands).toEqual(expect.arrayContaining(['hook', 'snapshot', 'list', 'prune', 'restore', 'adopt', 'check', 'completion']));
    expect(hookKinds).toEqual(['preinst', 'postinst', 'prerm', 'postrm', 'initramfs']);
    expect(options).toEqual(expect.arrayContaining(['--root', '--config', '-q, --quiet', '-v, --verbose', '--json', '--keep', '--dry-run']));
    const text = rendered();
    const commandsSection = text.slice(text.indexOf('\nCOMMANDS\n'), text.indexOf('\nCONFIGURATION\n'));
    for (const command of commands.filter((c) => c !== 'hook')) expect(commandsSection, command).toMatch(new RegExp(`^ {7}${command}( |$)`, 'm'));
    for (const kind of hookKinds) expect(commandsSection, kind).toMatch(new RegExp(`^ {7}hook ${kind} `, 'm'));
    const flowing = text.replace(/\s+/g, ' ');
    for (const option of options) expect(flowing, option).toContain(option);
  });

  it('documents every exit code, configuration key and installed file', () => {
    const text = rendered();
    for (const code of ['0', '1', '2', '3']) expect(text).toMatch(new RegExp(`^ {7}${code} {6}\\S`, 'm'));
    for (const key of CONFIG_KEYS) expect(text, key).toContain(`${key}=`);
    for (const file of Object.keys(EXPECTED_FILES).filter((f) => !f.startsWith('/usr/share/'))) expect(text, file).toContain(file);
    for (const file of GENERATED_OUTSIDE) expect(text, file).toContain(file);
    expect(text).toContain('/var/lib/kbackup');
  });

  it('documents every stable problem code check and the hooks can report', () => {
    const text = rendered();
    const section = text.slice(text.indexOf('\nPROBLEM CODES\n'), text.indexOf('\nENVIRONMENT\n'));
    for (const code of [...CHECK_CODES, ...INITRD_PROBLEM_CODES]) expect(section, code).toMatch(new RegExp(`^ {7}${code} \\((error|warning)\\)$`, 'm'));
  });

  it('explains the kernel- naming and that purging never removes the backups in /boot', () => {
    const text = rendered().replace(/\s+/g, ' ');
    expect(text).toContain('/boot/kernel-V~~backupYYYYMMDDHHMM');
    expect(text).toMatch(/linux-base .* scans only \/boot\/vmlinu\[xz\]-\*/);
    expect(text).toMatch(/Purging the package removes \/var\/lib\/kbackup and \/etc\/default\/kbackup and never touches \/boot/);
  });
});

describe('bash completion', () => {
  it('is yargs’ script for kbackup, calling the installed program', () => {
    const script = fs.readFileSync(inRoot(COMPLETION), 'utf8');
    expect(script).toContain('complete -o bashdefault -o default -F _kbackup_yargs_completions kbackup');
    expect(script).toContain('type_list=$(/usr/sbin/kbackup --get-yargs-completions "${args[@]}")');
    expect(run('bash', ['-n', inRoot(COMPLETION)]).status).toBe(0);
  });

  it('completes the commands when bash asks the packaged program', () => {
    // Point the script at the extracted program and let bash run the completion function.
    const script = fs.readFileSync(inRoot(COMPLETION), 'utf8').split('/usr/sbin/kbackup').join(inRoot('/usr/sbin/kbackup'));
    const bash = [
      script,
      'COMP_WORDS=(kbackup "")',
      'COMP_CWORD=1',
      '_kbackup_yargs_completions',
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join('\n');
    const result = run('bash', ['-c', bash], { env: { PATH: '/usr/bin:/bin' } });
    expect(result.status).toBe(0);
    const words = result.stdout.trim().split('\n');
    for (const command of ['hook', 'snapshot', 'list', 'prune', 'restore', 'adopt', 'check']) expect(words).toContain(command);
  });
});

describe('lintian', () => {
  it(
    'reports no error and no warning that is not overridden with a reason',
    () => {
      const result = run('lintian', ['--no-tag-display-limit', deb]);
      const tags = result.stdout.split('\n').filter((l) => /^[EW]: /.test(l));
      expect(tags).toEqual([]);
      expect(result.status).toBe(0);
    },
    600_000,
  );

  it('every override carries a one-line reason', () => {
    const lines = fs.readFileSync(path.join(repo, 'debian/kbackup.lintian-overrides'), 'utf8').trim().split('\n');
    lines.forEach((line, i) => {
      if (!line.startsWith('#')) expect(lines[i - 1], `reason for: ${line}`).toMatch(/^# \S.{10,}/);
    });
    expect(lines.filter((l) => !l.startsWith('#')).length).toBeGreaterThan(0);
  });
});
