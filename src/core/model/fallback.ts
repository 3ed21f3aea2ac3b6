// The fallback kernel: which kernel packages apt must never autoremove (the known-good's, and the
// one a failed trial went back to), whether the machine runs a fallback, and the outputs that make
// it seen (the apt.conf.d file, the login line, the journal entry, node_exporter's textfile,
// a Nagios line). Pure: no fs.
import type { BootRecord } from './boots';
import type { TrialState } from './trial';

/** The file kbackup owns in /etc/apt/apt.conf.d (read-only, regenerated whenever the fallback changes). */
export const APT_CONF_NAME = '50kbackup-fallback';
/** node_exporter's textfile collector directory (Debian's prometheus-node-exporter) and kbackup's file in it. */
export const TEXTFILE_DIR = 'var/lib/prometheus/node-exporter';
export const TEXTFILE_NAME = 'kbackup.prom';
/** The journal's MESSAGE_ID of "this machine runs a fallback kernel" (one fixed 128-bit id, as sd-id128 makes them). */
export const FALLBACK_MESSAGE_ID = '7c2b4be0d37a4b0c9a1e5f3d8e6a2b41';

export const FALLBACK_REASONS = ['trial-failed', 'not-default'] as const;
export type FallbackReason = (typeof FALLBACK_REASONS)[number];

/**
 * /var/lib/kbackup/fallback.json: the fallback this machine runs, set by a boot record and kept
 * until the admin accepts, retries or cancels the trial, or a boot of GRUB's default (a promoted
 * newer kernel) is recorded.
 */
export interface FallbackRecord {
  reason: FallbackReason;
  /** The boot that fell back. */
  bootId: string;
  time: string;
  /** What runs: the booted image and its `uname -r`. */
  image: string;
  version: string;
  /** What GRUB would have booted by default (the failed trial's image, or the default entry's). */
  defaultImage: string | null;
}

export function validateFallback(value: unknown): FallbackRecord | undefined {
  const v = value as Partial<FallbackRecord> | null;
  if (!v || typeof v !== 'object') return undefined;
  if (!(FALLBACK_REASONS as readonly string[]).includes(String(v.reason))) return undefined;
  for (const k of ['bootId', 'time', 'image', 'version'] as const) if (typeof v[k] !== 'string') return undefined;
  return { ...(v as FallbackRecord), defaultImage: typeof v.defaultImage === 'string' ? v.defaultImage : null };
}

/**
 * The fallback a boot record makes: after a failed trial (the state once recorded), or whenever the
 * booted image is not what GRUB boots by default (picked by hand, next_entry, another loader).
 * Undefined means the boot was GRUB's own default: any earlier fallback is over.
 */
export function fallbackOfBoot(record: BootRecord, trialAfter: TrialState, trialImage: string | null, defaultImageName: string | null): FallbackRecord | undefined {
  const base = { bootId: record.bootId, time: record.time, image: record.image, version: record.version };
  if (trialAfter === 'failed') return { reason: 'trial-failed', ...base, defaultImage: trialImage };
  const booted = record.image.slice(record.image.lastIndexOf('/') + 1);
  if (defaultImageName !== null && booted !== defaultImageName) return { reason: 'not-default', ...base, defaultImage: `/boot/${defaultImageName}` };
  return undefined;
}

/** One sentence for the login line, `status` and `check`, saying what to do. */
export function fallbackSentence(f: FallbackRecord, options: { trialImageGone?: boolean } = {}): string {
  if (f.reason === 'trial-failed') {
    return (
      `this machine runs the fallback kernel ${f.version} because the trial boot of ${f.defaultImage ?? 'the new kernel'} failed; ` +
      (options.trialImageGone
        ? 'that kernel has since been removed: run kbackup trial cancel to clear the failed trial'
        : 'run kbackup trial retry to try it again or kbackup trial accept to boot it without a trial')
    );
  }
  return (
    `this machine runs ${f.version} (${f.image}), not GRUB's default ${f.defaultImage ?? 'entry'}; ` +
    'reboot to start the default, or run kbackup status for the boots recorded'
  );
}

// apt.conf's syntax has no escapes it documents for regexes (a backslash in a value is refused by
// some readers, and kbackup's own parser would have to agree with apt's): every regex
// metacharacter a kernel release may hold is written as a one-character class instead.
const RELEASE_CHARS = /^[A-Za-z0-9._+~-]+$/;

/** A kernel release as an anchored-free regex fragment with classes for metacharacters; undefined when it holds anything else. */
export function releaseRegex(release: string): string | undefined {
  if (!RELEASE_CHARS.test(release)) return undefined;
  return release.replace(/[.+]/g, (c) => `[${c}]`);
}

/**
 * The package names of a kernel release, as regexes: Debian's linux-image-V (and its -unsigned
 * twin), and linux-modules-V (Ubuntu and derivatives split the modules out).
 */
export function kernelPackagePatterns(release: string): string[] {
  const r = releaseRegex(release);
  if (!r) return [];
  return [`^linux-image-${r}(-unsigned)?$`, `^linux-modules-${r}$`];
}

/** The kernel releases apt must keep: the known-good's, and the failed trial's fallback while it lasts. */
export function keptReleases(knownGood: BootRecord | undefined, fallback: FallbackRecord | undefined): string[] {
  const out = new Set<string>();
  if (knownGood) out.add(knownGood.version);
  if (fallback) out.add(fallback.version);
  return [...out].filter((r) => releaseRegex(r) !== undefined).sort();
}

/** The apt.conf.d file: a comment that says who writes it, and one APT::NeverAutoRemove list. */
export function aptConfText(releases: readonly string[]): string {
  const lines = [
    '// Written by kbackup: the kernels it falls back to. Do not edit: it is rewritten whenever the',
    '// known-good boot changes, and removed when kbackup is purged (kbackup(8)).',
    'APT::NeverAutoRemove',
    '{',
  ];
  for (const r of releases) for (const p of kernelPackagePatterns(r)) lines.push(`   "${p}";`);
  lines.push('};', '');
  return lines.join('\n');
}

/** Whether a text is one kbackup wrote (never replace or remove an admin's file of the same name). */
export function isKbackupAptConf(text: string): boolean {
  return text.startsWith('// Written by kbackup');
}

// --- node_exporter's textfile format -----------------------------------------------------------

export interface MetricsFacts {
  runningRelease: string;
  knownGood?: BootRecord;
  trialState: TrialState;
  /** The newest boot record with a trial mark: promoted (succeeded) or fallback (failed). */
  lastTrial?: { result: 'promoted' | 'fallback'; time: string };
  fallback?: FallbackRecord;
  /** Whether the apt.conf.d file names the known-good's package. */
  keptFromAutoremove: boolean;
  backupSets: number;
  bootFreeBytes?: number;
}

/** The newest boot record that ended a trial. */
export function lastTrialResult(boots: readonly BootRecord[]): MetricsFacts['lastTrial'] {
  for (let i = boots.length - 1; i >= 0; i--) {
    const b = boots[i]!;
    if (b.trial) return { result: b.trial, time: b.time };
  }
  return undefined;
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** `kbackup status --format prometheus`: node_exporter's textfile collector format (promtool check metrics clean). */
export function prometheusText(f: MetricsFacts): string {
  const out: string[] = [];
  const metric = (name: string, type: 'gauge', help: string, samples: [Record<string, string>, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
      out.push(`${name}${l.length ? `{${l.join(',')}}` : ''} ${value}`);
    }
  };
  const good = f.knownGood;
  metric('kbackup_running_known_good', 'gauge', 'Whether the running kernel release is the known-good one (1) or not (0).', [
    [{}, good && good.version === f.runningRelease ? 1 : 0],
  ]);
  metric('kbackup_known_good_info', 'gauge', 'The known-good boot: kernel release and image (always 1).', good ? [[{ release: good.version, image: good.image }, 1]] : []);
  metric('kbackup_known_good_boot_timestamp_seconds', 'gauge', 'When the known-good boot was recorded, in seconds since the epoch.', good ? [[{}, seconds(good.time)]] : []);
  metric(
    'kbackup_trial_state',
    'gauge',
    'The trial boot state: 1 for the current state, 0 for the others.',
    (['none', 'armed', 'booting', 'failed'] as const).map((s) => [{ state: s }, s === f.trialState ? 1 : 0]),
  );
  metric(
    'kbackup_last_trial_success',
    'gauge',
    'Whether the last trial boot succeeded (1, promoted) or failed (0, fell back); absent when none was recorded.',
    f.lastTrial ? [[{}, f.lastTrial.result === 'promoted' ? 1 : 0]] : [],
  );
  metric('kbackup_last_trial_timestamp_seconds', 'gauge', 'When the last trial boot ended, in seconds since the epoch.', f.lastTrial ? [[{}, seconds(f.lastTrial.time)]] : []);
  metric(
    'kbackup_fallback_active',
    'gauge',
    'Whether the machine runs a fallback kernel (after a failed trial, or not GRUB default), by reason.',
    FALLBACK_REASONS.map((r) => [{ reason: r }, f.fallback?.reason === r ? 1 : 0]),
  );
  metric('kbackup_fallback_kept_from_autoremove', 'gauge', 'Whether apt is told never to autoremove the kernel package kbackup falls back to.', [[{}, f.keptFromAutoremove ? 1 : 0]]);
  metric('kbackup_backup_sets', 'gauge', 'Backup sets in /boot.', [[{}, f.backupSets]]);
  metric('kbackup_boot_free_bytes', 'gauge', 'Free bytes on the filesystem holding /boot.', f.bootFreeBytes === undefined ? [] : [[{}, f.bootFreeBytes]]);
  return `${out.join('\n')}\n`;
}

// --- Nagios / needrestart -p ------------------------------------------------------------------

export const NAGIOS_EXIT = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;

/** `kbackup check --nagios`: one line, `STATE - text | perfdata`, and the plugin's exit code. */
export function nagiosLine(
  problems: readonly { code: string; severity: 'error' | 'warning' }[],
  perf: { backupSets: number; bootFreeBytes?: number; fallback: boolean },
): { line: string; code: number } {
  const errors = problems.filter((p) => p.severity === 'error');
  const warnings = problems.filter((p) => p.severity === 'warning');
  const state = errors.length > 0 ? 'CRITICAL' : warnings.length > 0 ? 'WARNING' : 'OK';
  const code = errors.length > 0 ? NAGIOS_EXIT.critical : warnings.length > 0 ? NAGIOS_EXIT.warning : NAGIOS_EXIT.ok;
  const codes = [...new Set([...errors, ...warnings].map((p) => p.code))];
  const text = codes.length > 0 ? `${codes.join(', ')} (kbackup check says what to do)` : 'GRUB boots the known-good or better; backups verified';
  const perfdata = [`fallback=${perf.fallback ? 1 : 0};;1;0;1`, `backup_sets=${perf.backupSets};;;0;`];
  if (perf.bootFreeBytes !== undefined) perfdata.push(`boot_free=${perf.bootFreeBytes}B;;;0;`);
  perfdata.push(`errors=${errors.length};;1;0;`, `warnings=${warnings.length};1;;0;`);
  return { line: `KBACKUP ${state} - ${text} | ${perfdata.join(' ')}`, code };
}

/** The login line (/etc/update-motd.d), or the empty string when nothing needs saying. */
export function motdText(f: FallbackRecord | undefined): string {
  return f ? `kbackup: ${fallbackSentence(f)}.\n` : '';
}
