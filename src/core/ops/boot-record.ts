// `kbackup boot-record`: run by kbackup-boot-record.service once a boot has come up. Judges the
// boot against the known-good (model/verdict.ts), records which kernel image and initrd booted with
// its health and verdict, moves a trial on (promoted, or failed and rebooted), and on dracut
// systems keeps a copy of the known-good's files (read → decide → write, under the lock).
import * as path from 'node:path';
import { readBoots, readTrialRecord, removeTrialRecord, setBootsAside, writeBoots, writeTrialRecord } from '../io/boots';
import { exists, linkTargetName, readText, sha256File } from '../io/files';
import { readGrubenv, writeGrubenv } from '../io/grubenv';
import { detectGenerator } from '../io/initrd-context';
import { pathsFor } from '../io/paths';
import type { World } from '../world';
import { observeBoot, readAllInterfaces, recordedHealth } from '../io/boot-health';
import { bootedSameFiles, bootImageFromCmdline, bootImageName, initrdNameForImage, knownGood, withBoot, type BootRecord, type RecordedVerdict, isKernelImageName } from '../model/boots';
import { judgeBoot, networkProblems, NETWORK_POLL_SECONDS, NETWORK_WAIT_SECONDS, verdictSentence, type BootObservation, type VerdictBaseline } from '../model/verdict';
import type { Config } from '../model/config';
import { IoError } from '../model/errors';
import { editGrubenv } from '../model/grub/grubenv';
import { manifestHashes } from '../model/manifest';
import { formatStamp, parseBootName, setId } from '../model/names';
import { menuEntries } from '../model/grub/entries';
import { grubPathBasename, parseGrubCfg } from '../model/grub/grub-cfg';
import { grubenvChanges, trialStateOf, trialStep, GRUBENV_TRIAL, GRUBENV_TRIAL_ENTRY, type TrialState } from '../model/trial';
import type { BackupPlan } from '../model/plan';
import { backupVersion } from './backup';
import { refreshFallback, type FallbackRefresh } from './fallback';
import { HOOK_LOCK_WAIT_MS, readState, withLock } from './state';

/**
 * Where the boot's /proc is: the running machine's, or under --root DIR, DIR/proc (a root whose
 * boot is being recorded from outside, as the tests do with a fake /proc).
 */
export function bootProcDir(world: World): string {
  return world.root === '/' ? world.machine.proc : path.join(world.root, 'proc');
}

export interface BootFacts {
  /** BOOT_IMAGE as GRUB passed it, or undefined when the kernel was not started by GRUB. */
  bootImage?: string;
  bootId: string;
  version: string;
}

export async function readBootFacts(world: World): Promise<BootFacts> {
  const proc = bootProcDir(world);
  const read = async (rel: string) => {
    const text = await readText(path.join(proc, rel)).catch(() => undefined);
    if (text === undefined) throw new IoError(`cannot read ${path.join(proc, rel)}: the boot cannot be recorded without it`);
    return text.trim();
  };
  const [cmdline, bootId] = await Promise.all([read('cmdline'), read('sys/kernel/random/boot_id')]);
  const version = world.root === '/' ? world.uname() : await read('sys/kernel/osrelease');
  const bootImage = bootImageFromCmdline(cmdline);
  return bootImage === undefined ? { bootId, version } : { bootImage, bootId, version };
}

export interface BootRecordOutcome {
  record: BootRecord;
  /** The trial state before and after this boot's record; `newlyFailed` when this record is the first to see the failure. */
  trial: { before: TrialState; after: TrialState; newlyFailed: boolean };
  /** The copy of the known-good kept on a dracut system (no hook keeps the previous initrd there). */
  kept?: BackupPlan;
  /** Set when the booted image could not be told from BOOT_IMAGE (another boot loader). */
  guessed?: string;
  /** The fallback files brought up to date after the record (ops/fallback.ts). */
  fallback?: FallbackRefresh;
  /** The boot's verdict: a boot that is not good is recorded, but never becomes the known-good. */
  verdict: RecordedVerdict;
  /** The known-good it was judged against, if any. */
  against?: BootRecord;
  /** Set when this boot was a trial that failed its verdict: the reboot that sends it back to the known-good. */
  reboot?: { code: number; stderr: string } | 'skipped';
  /** Seconds spent waiting for a missing network address. */
  waitedSeconds?: number;
}

export interface RecordBootOptions {
  /** How long a missing address is waited for (default NETWORK_WAIT_SECONDS) and how often it is looked at again. */
  networkWaitSeconds?: number;
  networkPollSeconds?: number;
  sleep?: (ms: number) => Promise<void>;
  /**
   * Whether a trial that failed its verdict is rebooted (`systemctl reboot`). Default: only on the
   * running machine (root /), never for a root seen from outside (--root on a rescue system).
   */
  reboot?: boolean;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The current boot as its verdict sees it. A missing address is waited for (DHCP, a bridge's
 * STP) up to the bound, reading only the interfaces again; everything else is read once.
 */
async function observeWithNetworkWait(
  world: World,
  baseline: VerdictBaseline | undefined,
  options: RecordBootOptions,
): Promise<{ observation: BootObservation; waitedSeconds: number }> {
  const observation = await observeBoot(world);
  const waitMs = (options.networkWaitSeconds ?? NETWORK_WAIT_SECONDS) * 1000;
  const pollMs = (options.networkPollSeconds ?? NETWORK_POLL_SECONDS) * 1000;
  const sleep = options.sleep ?? realSleep;
  const start = world.now().getTime();
  let waited = 0;
  while (networkProblems(baseline, observation.health).length > 0 && waited < waitMs) {
    await sleep(pollMs);
    waited = Math.max(world.now().getTime() - start, waited + pollMs);
    const interfaces = await readAllInterfaces(world);
    if (interfaces) observation.health.interfaces = interfaces;
  }
  if (waited > 0) world.log.debug(`waited ${Math.round(waited / 1000)} s for the network the known-good had`);
  return { observation, waitedSeconds: Math.round(waited / 1000) };
}

export async function recordBoot(world: World, config: Config, options: RecordBootOptions = {}): Promise<BootRecordOutcome> {
  const paths = pathsFor(world.root);
  const facts = await readBootFacts(world);
  let imageName = facts.bootImage ? bootImageName(facts.bootImage) : `vmlinuz-${facts.version}`;
  let guessed: string | undefined;
  if (!facts.bootImage) guessed = `the kernel command line has no BOOT_IMAGE (not started by GRUB); recorded /boot/${imageName} as the image of ${facts.version}`;
  // An entry written against linux-base's link (BOOT_IMAGE=/vmlinuz): the image is the link's target.
  if (facts.bootImage && /^vmlinu[xz](\.old)?$/.test(imageName)) {
    imageName = (await linkTargetName(path.join(paths.boot, imageName))) ?? (await linkTargetName(path.join(world.root, imageName))) ?? imageName;
  }
  // BOOT_IMAGE is whatever the entry said: `/`, an initrd's name… Only a kernel image by kbackup's
  // naming rules is recorded as one; else the running kernel's live image, with a warning.
  if (facts.bootImage && !isKernelImageName(imageName)) {
    const fallbackName = `vmlinuz-${facts.version}`;
    guessed = `BOOT_IMAGE=${facts.bootImage} names no kernel image in /boot; recorded /boot/${fallbackName} as the image of ${facts.version} (check the GRUB entry's linux line)`;
    imageName = fallbackName;
  }
  if (!(await exists(path.join(paths.boot, imageName)))) {
    throw new IoError(`the booted kernel image /boot/${imageName} is not in ${paths.boot}; nothing to record`);
  }
  const initrdName = initrdNameForImage(imageName);
  const hasInitrd = initrdName !== undefined && (await exists(path.join(paths.boot, initrdName)));
  const [imageSha256, initrdSha256] = await Promise.all([
    sha256File(path.join(paths.boot, imageName)),
    hasInitrd ? sha256File(path.join(paths.boot, initrdName)) : Promise.resolve(null),
  ]);
  const parsed = parseBootName(imageName);
  const record: BootRecord = {
    time: world.now().toISOString(),
    bootId: facts.bootId,
    version: facts.version,
    image: `/boot/${imageName}`,
    initrd: hasInitrd ? `/boot/${initrdName}` : null,
    imageSha256,
    initrdSha256,
    setId: parsed && parsed.kind !== 'live' && parsed.suffix ? setId(parsed.version, parsed.suffix) : null,
    trial: null,
    grub: facts.bootImage !== undefined,
  };

  // Judged before the lock: the network wait must not hold up a kernel update's hooks.
  const baselineOf = (records: readonly BootRecord[]) => knownGood(records.filter((r) => r.bootId !== record.bootId));
  const against = baselineOf((await readBoots(paths.boots)).boots);
  const { observation, waitedSeconds } = await observeWithNetworkWait(world, against, options);
  const verdict = judgeBoot(against, observation);
  record.health = recordedHealth(observation);
  record.verdict = verdict;

  const outcome = await withLock(world, 'boot-record', HOOK_LOCK_WAIT_MS, async () => {
    const grubenvFile = path.join(paths.grubDir, 'grubenv');
    const [boots, env, trial] = await Promise.all([readBoots(paths.boots), readGrubenv(grubenvFile), readTrialRecord(paths.trial)]);
    const before = trialStateOf(env.vars.get(GRUBENV_TRIAL));
    const bootedTrial = trial ? bootedSameFiles(trial, record) : await bootedTrialEntry(paths.grubDir, env.vars.get(GRUBENV_TRIAL_ENTRY), imageName);
    const step = trialStep(before, bootedTrial ? (verdict.good ? 'record-trial' : 'record-trial-unhealthy') : 'record-other');
    let after = before;
    let newlyFailed = false;
    if (step.ok) {
      after = step.next;
      const changes = grubenvChanges(step.grubenv);
      if (changes.size > 0) await writeGrubenv(grubenvFile, editGrubenv(env.text, changes));
      if (step.mark) record.trial = step.mark;
      if (after === 'none' && trial) await removeTrialRecord(paths.trial);
      newlyFailed = after === 'failed' && (before !== 'failed' || trial?.state !== 'failed');
      if (after === 'failed' && trial && trial.state !== 'failed') {
        const failed = { ...trial, state: 'failed' as const, failedAt: trial.failedAt ?? record.time };
        if (bootedTrial && !verdict.good) failed.failure = verdictSentence(verdict);
        await writeTrialRecord(paths.trial, failed);
      }
    }
    if (boots.state === 'corrupt') {
      // Never overwritten: the records in it may name the known-good. Kept aside, and until the
      // admin removes that copy, no prune deletes a set (ops/state.ts).
      const kept = await setBootsAside(paths.boots, formatStamp(world.now()));
      world.log.warn(`${paths.boots} was unreadable (${boots.reason}); kept it as ${kept} and started a new one. kbackup prunes no backup set until you have looked at ${kept} and removed it`);
    }
    await writeBoots(paths.boots, withBoot(boots.boots, record), boots.unknown);
    const outcome: BootRecordOutcome = { record, trial: { before, after, newlyFailed }, verdict };
    if (against) outcome.against = against;
    if (waitedSeconds > 0) outcome.waitedSeconds = waitedSeconds;
    if (guessed) outcome.guessed = guessed;
    const kept = verdict.good ? await keepKnownGoodForDracut(world, config, record) : undefined;
    if (kept) outcome.kept = kept;
    outcome.fallback = await refreshFallback(world, config, { boot: { record, trialAfter: after } });
    return outcome;
  });
  // A trial that came up less healthy than the known-good goes back to it now, not at the next
  // power cut: grubenv says failed, so GRUB starts the known-good. Only a trial is ever rebooted.
  if (outcome.trial.before === 'booting' && outcome.trial.after === 'failed' && !verdict.good && outcome.trial.newlyFailed) {
    if (options.reboot ?? world.root === '/') {
      // Said before the reboot starts: once it runs, the journal may not reach the console.
      world.log.error(`the trial of ${record.image} failed its verdict: rebooting, and GRUB starts the known-good from now on; kbackup status says how to retry or accept it`);
      const r = await world.exec('systemctl', ['--no-block', 'reboot'], { timeoutMs: 60_000 });
      outcome.reboot = { code: r.code, stderr: r.stderr };
    } else {
      outcome.reboot = 'skipped';
    }
  }
  return outcome;
}

/** Without trial.json (removed by hand), whether the booted image is the one grub.cfg's trial entry boots. */
async function bootedTrialEntry(grubDir: string, spec: string | undefined, imageName: string): Promise<boolean> {
  const text = spec ? await readText(path.join(grubDir, 'grub.cfg')) : undefined;
  if (!text || !spec) return false;
  const ref = menuEntries(parseGrubCfg(text)).find((e) => e.spec === spec);
  return ref?.entry.linux !== undefined && grubPathBasename(ref.entry.linux) === imageName;
}

/**
 * dracut rebuilds an initrd in place (`dracut -f`, a kernel hook) with no `.dpkg-bak` and no
 * hook kbackup could run before it, so the known-good's initrd would be lost with nobody noticing.
 * On such a system the boot record keeps a copy of the live set that just booted, unless an
 * identical set exists, KEEP=0, or /boot lacks the room (planBackup's MIN_FREE_MB rule).
 * initramfs-tools systems need no copy here: the preinst and initramfs hooks keep the previous
 * files at the moment they are replaced.
 */
async function keepKnownGoodForDracut(world: World, config: Config, record: BootRecord): Promise<BackupPlan | undefined> {
  if (!config.enabled || record.setId !== null) return undefined;
  if ((await detectGenerator(world.root)) !== 'dracut') return undefined;
  const parsed = parseBootName(path.posix.basename(record.image));
  if (!parsed || parsed.kind !== 'live') return undefined;
  const state = await readState(world, config);
  const copyExists = state.manifest.sets.some((s) => s.version === parsed.version && bootedSameFiles(record, manifestHashes(s)));
  if (copyExists) return undefined;
  return backupVersion(world, state, { version: parsed.version, origin: 'known-good', });
}
