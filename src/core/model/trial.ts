// The trial boot state machine. Pure: every state × event gives the next state and what to write.
//
// The state lives in GRUB's environment block (kbackup_trial), because GRUB itself moves it on at
// boot, before any kernel runs: /etc/grub.d/08_kbackup turns `armed` into `booting` as it starts
// the trial entry, and a `booting` it finds at the next start (the trial never reached its boot
// record: panic, failed root mount, watchdog reset, power cut) into `failed`, booting the
// known-good entry instead. kbackup's own trial.json only adds what a person wants to read.

export const TRIAL_STATES = ['none', 'armed', 'booting', 'failed'] as const;
export type TrialState = (typeof TRIAL_STATES)[number];

/** The grubenv variables of a trial, as both sides of the interface name them. */
export const GRUBENV_TRIAL = 'kbackup_trial';
export const GRUBENV_TRIAL_ENTRY = 'kbackup_trial_entry';
export const GRUBENV_GOOD_ENTRY = 'kbackup_good_entry';
export const GRUBENV_TRIAL_ARGS = 'kbackup_trial_args';
export const GRUBENV_TRIAL_VARS = [GRUBENV_TRIAL, GRUBENV_TRIAL_ENTRY, GRUBENV_GOOD_ENTRY, GRUBENV_TRIAL_ARGS] as const;

export const TRIAL_EVENTS = ['arm', 'cancel', 'accept', 'retry', 'grub-start', 'record-trial', 'record-trial-unhealthy', 'record-other'] as const;
/**
 * arm: an admin or a hook arms a trial of GRUB's default · cancel / accept / retry: the admin's
 * commands · grub-start: GRUB's snippet runs at a start · record-trial / record-other: the boot
 * record of a boot that came up, of the trial's image or of another one · record-trial-unhealthy:
 * the trial's image came up but failed its verdict (model/verdict.ts: less healthy than the known-good).
 */
export type TrialEvent = (typeof TRIAL_EVENTS)[number];

/** What happens to the grubenv variables. */
export type GrubenvEffect =
  /** write kbackup_trial=armed and the entries and arguments */
  | 'arm'
  /** unset all four variables */
  | 'clear'
  /** kbackup_trial=booting (GRUB's save_env) */
  | 'booting'
  /** kbackup_trial=failed */
  | 'failed'
  | 'none';

export type TrialStep =
  | {
      ok: true;
      next: TrialState;
      grubenv: GrubenvEffect;
      /** The mark the boot record of this boot gets. */
      mark?: 'promoted' | 'fallback';
    }
  | { ok: false; refusal: TrialRefusal };

export type TrialRefusal = 'no-trial' | 'not-failed' | 'in-flight';

const ok = (next: TrialState, grubenv: GrubenvEffect, mark?: 'promoted' | 'fallback'): TrialStep =>
  mark ? { ok: true, next, grubenv, mark } : { ok: true, next, grubenv };
const refuse = (refusal: TrialRefusal): TrialStep => ({ ok: false, refusal });

/** The state machine. Every pair is decided here, and test/unit/trial.test.ts walks the whole table. */
export function trialStep(state: TrialState, event: TrialEvent): TrialStep {
  switch (state) {
    case 'none':
      switch (event) {
        case 'arm':
          return ok('armed', 'arm');
        case 'cancel':
        case 'accept':
          return refuse('no-trial');
        case 'retry':
          return refuse('not-failed');
        case 'grub-start':
        case 'record-trial':
        case 'record-trial-unhealthy':
        case 'record-other':
          return ok('none', 'none');
      }
      break;
    case 'armed':
      switch (event) {
        // Arming again replaces the entries: the default changed once more before the reboot.
        case 'arm':
          return ok('armed', 'arm');
        case 'cancel':
          return ok('none', 'clear');
        // Taking the unproven default as good before it ever ran: simply no trial.
        case 'accept':
          return ok('none', 'clear');
        case 'retry':
          return refuse('not-failed');
        case 'grub-start':
          return ok('booting', 'booting');
        // A boot that came up while armed never went through the snippet (grub.cfg without it, or
        // another boot loader): the trial is still to come.
        case 'record-trial':
        case 'record-trial-unhealthy':
        case 'record-other':
          return ok('armed', 'none');
      }
      break;
    case 'booting':
      switch (event) {
        // The trial's own boot record: it came up, so it is promoted.
        case 'record-trial':
          return ok('none', 'clear', 'promoted');
        // It came up, but without what the known-good had: failed, and boot-record reboots it so
        // that GRUB starts the known-good.
        case 'record-trial-unhealthy':
          return ok('failed', 'failed');
        // Someone picked another entry by hand: the trial did not prove itself, and GRUB must not
        // start it again unattended.
        case 'record-other':
          return ok('failed', 'failed');
        case 'grub-start':
          return ok('failed', 'failed');
        case 'arm':
          return ok('armed', 'arm');
        case 'cancel':
        case 'accept':
          return ok('none', 'clear');
        // Still in flight: there is nothing to retry until it has failed.
        case 'retry':
          return refuse('in-flight');
      }
      break;
    case 'failed':
      switch (event) {
        // GRUB keeps starting the known-good until the admin acts.
        case 'grub-start':
          return ok('failed', 'none');
        case 'record-trial':
        case 'record-other':
          return ok('failed', 'none', 'fallback');
        case 'record-trial-unhealthy':
          return ok('failed', 'none');
        case 'retry':
        case 'arm':
          return ok('armed', 'arm');
        // Both end the fallback: GRUB boots its own default again. accept says the default is
        // wanted; cancel just drops the trial (e.g. after the failed kernel was purged).
        case 'accept':
        case 'cancel':
          return ok('none', 'clear');
      }
      break;
  }
  throw new Error(`unreachable: ${state} × ${event}`);
}

/** The state as GRUB left it in grubenv; anything kbackup did not write counts as no trial. */
export function trialStateOf(grubenvValue: string | undefined): TrialState {
  return grubenvValue === 'armed' || grubenvValue === 'booting' || grubenvValue === 'failed' ? grubenvValue : 'none';
}

/** The grubenv changes of an effect (undefined = unset). Other variables (saved_entry, next_entry…) are not touched. */
export function grubenvChanges(effect: GrubenvEffect, arm?: { trialEntry: string; goodEntry: string; args: string }): Map<string, string | undefined> {
  switch (effect) {
    case 'none':
      return new Map();
    case 'clear':
      return new Map(GRUBENV_TRIAL_VARS.map((v) => [v, undefined]));
    case 'booting':
    case 'failed':
      return new Map([[GRUBENV_TRIAL, effect]]);
    case 'arm':
      if (!arm) throw new Error('arming needs the entries');
      return new Map([
        [GRUBENV_TRIAL, 'armed'],
        [GRUBENV_TRIAL_ENTRY, arm.trialEntry],
        [GRUBENV_GOOD_ENTRY, arm.goodEntry],
        [GRUBENV_TRIAL_ARGS, arm.args],
      ]);
  }
}

/** The kernel argument that marks a trial boot and carries its deadline in seconds (read by kbackup-trial-generator). */
export const TRIAL_CMDLINE_KEY = 'kbackup.trial';

/** Kernel arguments for the trial boot only: a failure must end in a reboot, never a prompt. */
export function trialArgs(panicSeconds: number, initramfs: 'initramfs-tools' | 'dracut', deadlineSeconds?: number): string {
  // Debian kernels are built with CONFIG_PANIC_TIMEOUT=0 (a panic hangs forever); initramfs-tools'
  // panic() honours panic=N instead of opening a shell. dracut needs its own two switches.
  // kbackup.trial=N: systemd's side (the generator's deadline, emergency and rescue mode reboot).
  const args = [`panic=${panicSeconds}`];
  if (deadlineSeconds !== undefined) args.push(`${TRIAL_CMDLINE_KEY}=${deadlineSeconds}`);
  if (initramfs === 'dracut') args.push('rd.shell=0', 'rd.emergency=reboot');
  return args.join(' ');
}

/**
 * /var/lib/kbackup/trial.json: what a person wants to know about an armed or failed trial. After
 * `trial accept` or `trial cancel` it stays, marked so, until the next boot record: a hook that runs
 * meanwhile must not arm the very files the admin just decided about.
 */
export interface TrialRecord {
  state: Exclude<TrialState, 'none'> | 'accepted' | 'cancelled';
  version: string;
  /** The trial's kernel image and initrd, paths inside the root. */
  image: string;
  initrd: string | null;
  imageSha256: string;
  initrdSha256: string | null;
  /** grub.cfg entry ids, as GRUB's `default` takes them. */
  entry: string;
  goodEntry: string;
  /** The known-good's image, for messages. */
  goodImage?: string;
  armedAt: string;
  failedAt?: string;
  /** Why it failed, when its boot record could tell (the verdict's sentence). */
  failure?: string;
  /** When the admin accepted or cancelled it. */
  decidedAt?: string;
}

export function validateTrialRecord(value: unknown): TrialRecord | undefined {
  const v = value as Partial<TrialRecord> | null;
  if (!v || typeof v !== 'object') return undefined;
  if (!['armed', 'booting', 'failed', 'accepted', 'cancelled'].includes(String(v.state))) return undefined;
  for (const k of ['version', 'image', 'imageSha256', 'entry', 'goodEntry', 'armedAt'] as const) {
    if (typeof v[k] !== 'string') return undefined;
  }
  return v as TrialRecord;
}

export const TRIAL_REFUSALS = [
  'trial-boot-off',
  'no-known-good',
  'no-grub-cfg',
  'no-trial-logic',
  'grubenv-not-writable',
  'not-grub',
  'no-good-entry',
  'no-trial-entry',
] as const;
export type TrialPrecondition = (typeof TRIAL_REFUSALS)[number];

/** GRUB cannot save_env here (grub-reboot's test, grub-probe on /boot/grub). */
export function grubenvUnwritableReason(probe: { fs?: string; abstractions?: readonly string[] }): string | undefined {
  const abs = (probe.abstractions ?? []).find((a) => a === 'lvm' || a === 'diskfilter' || a.startsWith('mdraid') || a === 'raid');
  if (abs) return `/boot/grub is on ${abs === 'lvm' ? 'LVM' : 'software RAID'} (${abs}), where GRUB cannot write its environment block`;
  if (probe.fs === 'btrfs' || probe.fs === 'zfs') return `/boot/grub is on ${probe.fs}, where GRUB cannot write its environment block`;
  return undefined;
}
