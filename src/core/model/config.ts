// /etc/default/kbackup: shell-style KEY=value lines. The pure parser (io/config-file.ts reads it).
import { ConfigError } from './errors';
import { DEFAULT_STEMS } from './names';
import { didYouMean } from './spelling';

export const ON_ERROR_VALUES = ['warn', 'fail'] as const;
export const ON_PURGE_VALUES = ['keep', 'remove'] as const;
export const YES_NO = ['yes', 'no'] as const;
export const CONFIG_KEYS = ['ENABLED', 'KEEP', 'FILES', 'MIN_FREE_MB', 'ON_ERROR', 'ON_PURGE', 'TRIAL_BOOT', 'TRIAL_DEADLINE'] as const;

export type ConfigKey = (typeof CONFIG_KEYS)[number];

export interface Config {
  enabled: boolean;
  keep: number;
  /** Stems backed up together; the kernel image stem and initrd.img are always among them. */
  files: string[];
  /** Free MiB that must remain on /boot after a backup, or 'auto'. */
  minFreeMb: number | 'auto';
  onError: (typeof ON_ERROR_VALUES)[number];
  onPurge: (typeof ON_PURGE_VALUES)[number];
  /** TRIAL_BOOT=yes: the first start of a new default is a one-time trial (see model/trial.ts). */
  trialBoot: boolean;
  /**
   * TRIAL_DEADLINE: seconds from the trial kernel's start within which it must reach its verdict,
   * else it reboots (into the known-good, as GRUB then finds the trial unfinished).
   */
  trialDeadlineSeconds: number;
  /**
   * The lines a lenient reading could not use (a hook facing a broken file). While there are any,
   * kbackup deletes nothing: a typo must never cost the backups the admin asked to keep.
   */
  problems?: readonly string[];
}

export const DEFAULT_CONFIG: Readonly<Config> = Object.freeze({
  enabled: true,
  keep: 4,
  files: [...DEFAULT_STEMS],
  minFreeMb: 'auto',
  onError: 'warn',
  onPurge: 'keep',
  trialBoot: false,
  trialDeadlineSeconds: 600,
});

/**
 * The value kbackup uses for a key, written as the file would write it: what `kbackup config KEY`
 * prints, so that shell scripts (/etc/grub.d/08_kbackup) never parse the file a second way.
 */
export function configValue(config: Config, key: ConfigKey): string {
  switch (key) {
    case 'ENABLED':
      return config.enabled ? 'yes' : 'no';
    case 'KEEP':
      return String(config.keep);
    case 'FILES':
      return config.files.join(' ');
    case 'MIN_FREE_MB':
      return String(config.minFreeMb);
    case 'ON_ERROR':
      return config.onError;
    case 'ON_PURGE':
      return config.onPurge;
    case 'TRIAL_BOOT':
      return config.trialBoot ? 'yes' : 'no';
    case 'TRIAL_DEADLINE':
      return String(config.trialDeadlineSeconds);
    default: {
      const never: never = key;
      return never;
    }
  }
}

/**
 * TRIAL_DEADLINE's bounds: below 3 minutes a slow but healthy server (RAID assembly, a long fsck,
 * the verdict's own network wait) would be sent back; above a day nobody would call it a deadline.
 */
export const TRIAL_DEADLINE_MIN_SECONDS = 180;
export const TRIAL_DEADLINE_MAX_SECONDS = 86_400;

const STEM_RE = /^[A-Za-z][A-Za-z0-9._]*$/;

/** Whether a file stem is one FILES may name (a plain word, never the image backups' `kernel`). */
export function isValidStem(stem: string): boolean {
  return STEM_RE.test(stem) && stem !== 'kernel';
}

/** Removes one level of shell quoting, as `. /etc/default/kbackup` would for simple values. */
function unquote(raw: string): string | undefined {
  const v = raw.trim();
  if (v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))) {
    const inner = v.slice(1, -1);
    if (v.startsWith('"') && /[`$\\"]/.test(inner)) return undefined;
    return inner;
  }
  if (/[\s`$\\"';&|<>(){}]/.test(v)) return undefined;
  return v;
}

function stripComment(line: string): string {
  // A '#' starts a comment at the start of a line or after white space, as in sh.
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) {
      return line.slice(0, i);
    }
  }
  return line;
}

/** Parses the file's text; every error names the file, the line and what is accepted. */
export function parseConfig(text: string, file: string): Config {
  const { config, problems } = parseConfigLenient(text, file);
  if (problems.length > 0) throw problems[0]!;
  return config;
}

/**
 * Parses what can be read: every good line applies, every bad one becomes a problem (and its key
 * keeps its default, or its first good value). A hook uses this so that one typo does not throw
 * away KEEP=10 or ENABLED=no.
 */
export function parseConfigLenient(text: string, file: string): { config: Config; problems: ConfigError[] } {
  const config: Config = { ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files] };
  const problems: ConfigError[] = [];
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  lines.forEach((rawLine, index) => {
    try {
      parseLine(rawLine, index + 1);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err);
    }
  });
  return { config, problems };

  function parseLine(rawLine: string, lineNo: number): void {
    const at = `${file}:${lineNo}`;
    const line = stripComment(rawLine).trim();
    if (line === '') return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw new ConfigError(`${at}: expected KEY=value, got ${JSON.stringify(rawLine.trim())}`);
    const key = m[1]!;
    if (/^\s/.test(m[2]!)) {
      // `KEEP= 3` is, to sh, an empty KEEP for a command named 3: refuse rather than guess.
      throw new ConfigError(`${at}: no space is allowed after ${key}= (write ${key}=${m[2]!.trim()})`);
    }
    const value = unquote(m[2]!);
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      const meant = didYouMean(CONFIG_KEYS, key);
      throw new ConfigError(`${at}: unknown key ${key}${meant ? ` (did you mean ${meant}?)` : ''} (known keys: ${CONFIG_KEYS.join(', ')})`);
    }
    if (value === undefined) {
      throw new ConfigError(`${at}: ${key} has a value kbackup cannot read without a shell; use a plain or quoted literal`);
    }
    if (seen.has(key)) {
      throw new ConfigError(`${at}: ${key} is already set on line ${seen.get(key)}`);
    }
    applyKey(config, key as ConfigKey, value, at);
    seen.set(key, lineNo);
  }
}

function oneOf<T extends string>(values: readonly T[], value: string, key: string, at: string): T {
  if ((values as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(`${at}: ${key}=${JSON.stringify(value)} is not valid (accepted: ${values.join(', ')})`);
}

function applyKey(config: Config, key: ConfigKey, value: string, at: string): void {
  switch (key) {
    case 'ENABLED':
      config.enabled = oneOf(YES_NO, value, key, at) === 'yes';
      return;
    case 'KEEP': {
      if (!/^\d{1,2}$/.test(value)) {
        throw new ConfigError(`${at}: KEEP=${JSON.stringify(value)} is not valid (accepted: a whole number from 0 to 99)`);
      }
      config.keep = Number(value);
      return;
    }
    case 'FILES': {
      const stems = value.split(/\s+/).filter(Boolean);
      const bad = stems.find((s) => !isValidStem(s));
      if (bad !== undefined) {
        throw new ConfigError(`${at}: FILES entry ${JSON.stringify(bad)} is not valid (accepted: file stems such as vmlinuz initrd.img config System.map)`);
      }
      if (!stems.includes('vmlinuz') && !stems.includes('vmlinux')) {
        throw new ConfigError(`${at}: FILES must include the kernel image (vmlinuz), or no backup could boot`);
      }
      if (!stems.includes('initrd.img')) {
        throw new ConfigError(`${at}: FILES must include initrd.img: a kernel backup is never kept without its initrd`);
      }
      config.files = [...new Set(stems)];
      return;
    }
    case 'MIN_FREE_MB': {
      if (value === 'auto') {
        config.minFreeMb = 'auto';
        return;
      }
      if (!/^\d{1,7}$/.test(value)) {
        throw new ConfigError(`${at}: MIN_FREE_MB=${JSON.stringify(value)} is not valid (accepted: auto, or a whole number of MiB)`);
      }
      config.minFreeMb = Number(value);
      return;
    }
    case 'ON_ERROR':
      config.onError = oneOf(ON_ERROR_VALUES, value, key, at);
      return;
    case 'ON_PURGE':
      config.onPurge = oneOf(ON_PURGE_VALUES, value, key, at);
      return;
    case 'TRIAL_BOOT':
      config.trialBoot = oneOf(YES_NO, value, key, at) === 'yes';
      return;
    case 'TRIAL_DEADLINE': {
      const m = /^(\d{1,5})(s|min)?$/.exec(value);
      const seconds = m ? Number(m[1]) * (m[2] === 'min' ? 60 : 1) : NaN;
      if (!(seconds >= TRIAL_DEADLINE_MIN_SECONDS && seconds <= TRIAL_DEADLINE_MAX_SECONDS)) {
        throw new ConfigError(
          `${at}: TRIAL_DEADLINE=${JSON.stringify(value)} is not valid (accepted: seconds from ${TRIAL_DEADLINE_MIN_SECONDS} to ${TRIAL_DEADLINE_MAX_SECONDS}, e.g. 600 or 10min)`,
        );
      }
      config.trialDeadlineSeconds = seconds;
      return;
    }
  }
}

/** The MIN_FREE_MB in bytes for a given live set: 'auto' = 1.2 × (vmlinuz + initrd) + 16 MiB. */
export function minFreeBytes(config: Config, liveImageAndInitrdBytes: number): number {
  if (config.minFreeMb === 'auto') return Math.ceil(1.2 * liveImageAndInitrdBytes) + 16 * 1024 * 1024;
  return config.minFreeMb * 1024 * 1024;
}

/**
 * ON_ERROR=fail as far as a broken file still says it: a plain `ON_ERROR=fail` line. An admin who
 * asked for failure gets it even when another line of the file is bad.
 */
export function saysOnErrorFail(text: string): boolean {
  return /^\s*ON_ERROR=["']?fail["']?\s*(#.*)?$/m.test(text);
}
