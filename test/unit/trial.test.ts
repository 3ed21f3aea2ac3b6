import { describe, expect, it } from 'vitest';
import {
  GRUBENV_TRIAL_VARS,
  TRIAL_EVENTS,
  TRIAL_STATES,
  grubenvChanges,
  grubenvUnwritableReason,
  trialArgs,
  trialStateOf,
  trialStep,
  type TrialEvent,
  type TrialState,
} from '../../src/core/model/trial';

// Every state × event, written out: next state, grubenv effect, boot record mark — or the refusal.
const TABLE: Record<TrialState, Record<TrialEvent, string>> = {
  none: {
    arm: 'armed arm',
    cancel: 'refused no-trial',
    accept: 'refused no-trial',
    retry: 'refused not-failed',
    'grub-start': 'none none',
    'record-trial': 'none none',
    'record-trial-unhealthy': 'none none',
    'record-other': 'none none',
  },
  armed: {
    arm: 'armed arm',
    cancel: 'none clear',
    accept: 'none clear',
    retry: 'refused not-failed',
    'grub-start': 'booting booting',
    'record-trial': 'armed none',
    'record-trial-unhealthy': 'armed none',
    'record-other': 'armed none',
  },
  booting: {
    arm: 'armed arm',
    cancel: 'none clear',
    accept: 'none clear',
    retry: 'refused in-flight',
    'grub-start': 'failed failed',
    'record-trial': 'none clear promoted',
    'record-trial-unhealthy': 'failed failed',
    'record-other': 'failed failed',
  },
  failed: {
    arm: 'armed arm',
    cancel: 'none clear',
    accept: 'none clear',
    retry: 'armed arm',
    'grub-start': 'failed none',
    'record-trial': 'failed none fallback',
    'record-trial-unhealthy': 'failed none',
    'record-other': 'failed none fallback',
  },
};

describe('trial state machine', () => {
  for (const state of TRIAL_STATES) {
    for (const event of TRIAL_EVENTS) {
      it(`${state} × ${event} → ${TABLE[state][event]}`, () => {
        const step = trialStep(state, event);
        const got = step.ok ? [step.next, step.grubenv, step.mark].filter(Boolean).join(' ') : `refused ${step.refusal}`;
        expect(got).toBe(TABLE[state][event]);
      });
    }
  }

  it('a failed trial is never started again by GRUB alone: any run of boots stays on the known-good', () => {
    let state: TrialState = 'failed';
    for (const event of ['grub-start', 'record-other', 'grub-start', 'record-trial'] as const) {
      const step = trialStep(state, event);
      expect(step.ok).toBe(true);
      if (step.ok) state = step.next;
    }
    expect(state).toBe('failed');
  });

  it('armed → GRUB starts the trial → it never records → next start falls back and stays failed', () => {
    const path: TrialState[] = ['armed'];
    for (const event of ['grub-start', 'grub-start', 'record-other'] as const) {
      const step = trialStep(path.at(-1)!, event);
      if (!step.ok) throw new Error('refused');
      path.push(step.next);
    }
    expect(path).toEqual(['armed', 'booting', 'failed', 'failed']);
  });

  it('reads only the values kbackup and the GRUB snippet write', () => {
    expect(trialStateOf(undefined)).toBe('none');
    expect(trialStateOf('')).toBe('none');
    expect(trialStateOf('armed')).toBe('armed');
    expect(trialStateOf('booting')).toBe('booting');
    expect(trialStateOf('failed')).toBe('failed');
    expect(trialStateOf('FAILED')).toBe('none');
  });

  it('grubenv changes: arm sets the four variables, clear unsets them, GRUB states set one', () => {
    expect(grubenvChanges('none').size).toBe(0);
    expect([...grubenvChanges('clear')]).toEqual(GRUBENV_TRIAL_VARS.map((v) => [v, undefined]));
    expect([...grubenvChanges('failed')]).toEqual([['kbackup_trial', 'failed']]);
    expect(Object.fromEntries(grubenvChanges('arm', { trialEntry: 'a>b', goodEntry: 'a>c', args: 'panic=10' }))).toEqual({
      kbackup_trial: 'armed',
      kbackup_trial_entry: 'a>b',
      kbackup_good_entry: 'a>c',
      kbackup_trial_args: 'panic=10',
    });
    expect(() => grubenvChanges('arm')).toThrow();
  });

  it('trial arguments: panic=N always, and dracut’s own switches on dracut', () => {
    expect(trialArgs(10, 'initramfs-tools')).toBe('panic=10');
    expect(trialArgs(5, 'dracut')).toBe('panic=5 rd.shell=0 rd.emergency=reboot');
    // The deadline rides on the command line, where the systemd generator reads it before any unit starts.
    expect(trialArgs(10, 'initramfs-tools', 600)).toBe('panic=10 kbackup.trial=600');
    expect(trialArgs(10, 'dracut', 900)).toBe('panic=10 kbackup.trial=900 rd.shell=0 rd.emergency=reboot');
  });

  it('refuses where grub-reboot warns: LVM, RAID, btrfs, ZFS under /boot/grub', () => {
    expect(grubenvUnwritableReason({ fs: 'ext2', abstractions: [] })).toBeUndefined();
    expect(grubenvUnwritableReason({ fs: 'fat', abstractions: ['part_gpt'] })).toBeUndefined();
    expect(grubenvUnwritableReason({ fs: 'ext2', abstractions: ['lvm'] })).toMatch(/LVM/);
    expect(grubenvUnwritableReason({ fs: 'ext2', abstractions: ['diskfilter', 'mdraid1x'] })).toMatch(/RAID/);
    expect(grubenvUnwritableReason({ fs: 'btrfs', abstractions: [] })).toMatch(/btrfs/);
    expect(grubenvUnwritableReason({ fs: 'zfs', abstractions: [] })).toMatch(/zfs/);
  });
});
