// Trial boots: `kbackup trial arm|cancel|accept|retry|status`, `kbackup status`, the hooks' arming,
// and `check`'s view. Reads GRUB's files, kbackup's records and the machine into a TrialFacts
// value; the state machine (model/trial.ts) decides; grubenv and trial.json are written last.
import * as path from 'node:path';
import { readBoots, readTrialRecord, removeTrialRecord, writeTrialRecord } from '../io/boots';
import { bootsProblemOf } from './state';
import { exists, readText, sha256File } from '../io/files';
import { probeGrubDir, readGrubenv, writeGrubenv, type GrubProbe } from '../io/grubenv';
import { detectGenerator } from '../io/initrd-context';
import { readManifest } from '../io/manifest';
import { runUpdateGrub } from '../io/update-grub';
import { pathsFor, type Paths } from '../io/paths';
import type { World } from '../world';
import { bootedSameFiles, knownGood, latestBoot, type BootRecord } from '../model/boots';
import type { Config } from '../model/config';
import { RefusedError } from '../model/errors';
import { parseGrubCfg, resolveDefaultEntry, grubPathBasename, type GrubMenu } from '../model/grub/grub-cfg';
import { findEntryFor, menuEntries } from '../model/grub/entries';
import { editGrubenv } from '../model/grub/grubenv';
import { manifestHashes, type Manifest } from '../model/manifest';
import {
  GRUBENV_TRIAL,
  grubenvChanges,
  grubenvUnwritableReason,
  trialArgs,
  trialStateOf,
  trialStep,
  type TrialRecord,
  type TrialRefusal,
  type TrialState,
} from '../model/trial';
import { COMMAND_LOCK_WAIT_MS, HOOK_LOCK_WAIT_MS, withLock } from './state';

/** Seconds a trial kernel waits after a panic before it reboots (panic=N). */
export const TRIAL_PANIC_SECONDS = 10;

export interface TrialFacts {
  paths: Paths;
  config: Config;
  state: TrialState;
  record?: TrialRecord;
  boots: BootRecord[];
  knownGood?: BootRecord;
  grubCfgText?: string;
  menu?: GrubMenu;
  grubenvText?: string;
  /** Why GRUB could not save its environment at boot, if it could not. */
  grubenvUnwritable?: string;
  manifest: Manifest;
  /** boots.json cannot be read (ops/state.ts bootsProblemOf). */
  bootsProblem?: string;
  /** The trial's kernel image is no longer in /boot (its package was removed after the trial failed). */
  trialImageGone?: boolean;
  /** trial.json says failed but grubenv has no trial: GRUB no longer falls back by itself. */
  grubenvLostFailure?: boolean;
}

export async function readTrialFacts(world: World, config: Config, options: { probe?: boolean } = {}): Promise<TrialFacts> {
  const paths = pathsFor(world.root);
  const grubenvFile = path.join(paths.grubDir, 'grubenv');
  const [boots, env, record, grubCfgText, manifest] = await Promise.all([
    readBoots(paths.boots),
    readGrubenv(grubenvFile),
    readTrialRecord(paths.trial),
    readText(path.join(paths.grubDir, 'grub.cfg')),
    readManifest(paths.manifest),
  ]);
  const facts: TrialFacts = { paths, config, state: trialStateOf(env.vars.get(GRUBENV_TRIAL)), boots: boots.boots, manifest: manifest.manifest };
  // kbackup's own record of a failed trial outlives a grubenv re-created by hand (grub-editenv
  // create, a restored /boot): it is reported until the admin retries, accepts or cancels it.
  if (facts.state === 'none' && record?.state === 'failed') {
    facts.state = 'failed';
    facts.grubenvLostFailure = true;
  }
  if (record) {
    facts.record = record;
    if (!(await exists(path.join(world.root, record.image)))) facts.trialImageGone = true;
  }
  const bootsProblem = bootsProblemOf(paths.boots, boots);
  if (bootsProblem) facts.bootsProblem = bootsProblem;
  const good = knownGood(boots.boots);
  if (good) facts.knownGood = good;
  if (grubCfgText !== undefined) {
    facts.grubCfgText = grubCfgText;
    facts.menu = parseGrubCfg(grubCfgText);
  }
  if (env.text !== undefined) facts.grubenvText = env.text;
  if (options.probe !== false && (await exists(paths.grubDir))) {
    const probe: GrubProbe | undefined = await probeGrubDir(world, paths.grubDir);
    const why = probe && grubenvUnwritableReason(probe);
    if (why) facts.grubenvUnwritable = why;
  }
  return facts;
}

/** Why a trial cannot be armed on this machine at all, in one sentence; undefined when it can. */
export function trialUnavailable(facts: TrialFacts): string | undefined {
  if (!facts.grubCfgText) return 'there is no /boot/grub/grub.cfg, so this machine does not boot through GRUB and trial boot cannot work';
  // Judged from the last recorded boot, not from this process's /proc: arming may run in a chroot.
  if (facts.knownGood?.grub === false) {
    return 'the last recorded boot was not started by GRUB (no BOOT_IMAGE on its kernel command line), so trial boot cannot work';
  }
  if (facts.grubenvUnwritable) return `${facts.grubenvUnwritable}, so a failed trial could not fall back; trial boot is off`;
  if (!facts.grubCfgText.includes('kbackup_trial')) {
    return 'grub.cfg has no trial-boot logic yet: run update-grub (with TRIAL_BOOT=yes, /etc/grub.d/08_kbackup adds it)';
  }
  return undefined;
}

/** The files a grub.cfg entry boots, found in /boot by name. */
interface BootTarget {
  spec: string;
  imageName: string;
  initrdName: string | null;
}

/** What GRUB boots by default with no trial armed (the stock default: saved_entry, default=…). */
function stockDefault(facts: TrialFacts): BootTarget | undefined {
  if (!facts.menu) return undefined;
  const def = resolveDefaultEntry(facts.menu, facts.grubenvText, { ignoreTrial: true });
  const entry = def.entry;
  if (!entry?.linux) return undefined;
  const imageName = grubPathBasename(entry.linux);
  const initrd = entry.initrds.map(grubPathBasename).find((n) => n.startsWith('initrd.img-')) ?? entry.initrds.map(grubPathBasename).at(-1);
  const ref = findEntryFor(facts.menu, imageName, initrd ?? null) ?? menuEntries(facts.menu).find((r) => r.entry === entry);
  if (!ref) return undefined;
  return { spec: ref.spec, imageName, initrdName: initrd ?? null };
}

/** The menu entry whose files are the known-good's: its own live files, or a backup copy of them. */
async function goodTarget(facts: TrialFacts, good: BootRecord): Promise<BootTarget | { missing: string }> {
  if (!facts.menu) return { missing: 'there is no grub.cfg' };
  const names: { image: string; initrd: string | null }[] = [];
  names.push({ image: path.posix.basename(good.image), initrd: good.initrd ? path.posix.basename(good.initrd) : null });
  for (const set of facts.manifest.sets) {
    if (!bootedSameFiles(good, manifestHashes(set))) continue;
    const image = set.files.find((f) => f.stem === 'vmlinuz' || f.stem === 'vmlinux');
    const initrd = set.files.find((f) => f.stem === 'initrd.img');
    if (image) names.push({ image: image.name, initrd: initrd?.name ?? null });
  }
  for (const n of names) {
    const ref = findEntryFor(facts.menu, n.image, n.initrd);
    if (!ref) continue;
    const same = await sameFiles(facts.paths, n.image, n.initrd, good);
    if (same) return { spec: ref.spec, imageName: n.image, initrdName: n.initrd };
  }
  return {
    missing: `no grub.cfg entry boots the known-good ${good.image} as it booted at ${good.time} (its files were replaced and no copy is in the menu)`,
  };
}

async function hashes(paths: Paths, imageName: string, initrdName: string | null): Promise<{ imageSha256: string; initrdSha256: string | null } | undefined> {
  const image = path.join(paths.boot, imageName);
  if (!(await exists(image))) return undefined;
  const initrd = initrdName ? path.join(paths.boot, initrdName) : undefined;
  const [imageSha256, initrdSha256] = await Promise.all([sha256File(image), initrd && (await exists(initrd)) ? sha256File(initrd) : Promise.resolve(null)]);
  return { imageSha256, initrdSha256 };
}

async function sameFiles(paths: Paths, imageName: string, initrdName: string | null, good: BootRecord): Promise<boolean> {
  const h = await hashes(paths, imageName, initrdName);
  return !!h && bootedSameFiles(good, h);
}

export type ArmOutcome =
  | { armed: true; dryRun: boolean; record: TrialRecord; args: string }
  | { armed: false; why: string; unchanged?: boolean; noKnownGoodYet?: boolean };

export function refusalSentence(refusal: TrialRefusal, facts: TrialFacts): string {
  const what = facts.record ? facts.record.image : 'the trial';
  switch (refusal) {
    case 'no-trial':
      return 'no trial is armed or failed: nothing to do';
    case 'not-failed':
      return facts.state === 'armed' ? `the trial of ${what} is armed and has not failed: nothing to retry` : 'no trial has failed: nothing to retry';
    case 'in-flight':
      return `the trial of ${what} was started by GRUB and has not reached its boot record yet; wait for the boot to finish, or kbackup trial cancel`;
  }
}

/**
 * Arms a trial of what GRUB boots by default, against the known-good. `hook` mode (postinst and
 * initramfs hooks) arms only when the default differs from the known-good and from a trial already
 * armed or failed with the same files, and never throws for a refusal.
 */
export async function armTrial(world: World, config: Config, options: { dryRun?: boolean; hook?: boolean; retry?: boolean } = {}): Promise<ArmOutcome> {
  const refuse = (why: string): ArmOutcome => {
    if (options.hook) return { armed: false, why };
    throw new RefusedError(why);
  };
  if (!config.trialBoot) return refuse('TRIAL_BOOT=no in /etc/default/kbackup: set TRIAL_BOOT=yes and run update-grub to use trial boots');
  return withLock(world, 'trial arm', options.hook ? HOOK_LOCK_WAIT_MS : COMMAND_LOCK_WAIT_MS, async () => {
    const facts = await readTrialFacts(world, config);
    const unavailable = trialUnavailable(facts);
    if (unavailable) return refuse(unavailable);
    const step = trialStep(facts.state, options.retry ? 'retry' : 'arm');
    if (!step.ok) return refuse(refusalSentence(step.refusal, facts));
    const good = facts.knownGood;
    if (!good) {
      const why = 'no boot has been recorded yet, so there is no known-good to fall back to (kbackup-boot-record.service records each successful boot)';
      // Right after kbackup is installed, until the first reboot: expected, and nothing to fix.
      if (options.hook) return { armed: false, why, noKnownGoodYet: true };
      return refuse(why);
    }
    let target: BootTarget | undefined;
    let targetHashes: { imageSha256: string; initrdSha256: string | null } | undefined;
    if (options.retry && facts.record) {
      // The files as they are now: the admin may have rebuilt the failed initrd before retrying.
      target = { spec: facts.record.entry, imageName: path.posix.basename(facts.record.image), initrdName: facts.record.initrd && path.posix.basename(facts.record.initrd) };
      targetHashes = await hashes(facts.paths, target.imageName, target.initrdName);
      if (!targetHashes) return refuse(`${facts.record.image}, the failed trial's kernel, is no longer there; kbackup trial cancel ends the trial`);
    } else {
      target = stockDefault(facts);
      if (!target) return refuse("GRUB's default entry boots no kernel kbackup can find in grub.cfg; kbackup check says why");
      targetHashes = await hashes(facts.paths, target.imageName, target.initrdName);
      if (!targetHashes) return refuse(`GRUB's default entry boots /boot/${target.imageName}, which is not there; run update-grub`);
    }
    if (bootedSameFiles(good, targetHashes)) {
      return { armed: false, unchanged: true, why: `GRUB's default /boot/${target.imageName} is the known-good (booted ${good.time}): nothing to try` };
    }
    if (options.hook && facts.record && bootedSameFiles(facts.record, targetHashes)) {
      return { armed: false, unchanged: true, why: `the trial of ${facts.record.image} is already ${facts.record.state === 'booting' ? facts.state : facts.record.state}` };
    }
    const goodRef = await goodTarget(facts, good);
    if ('missing' in goodRef) return refuse(`${goodRef.missing}; run update-grub, then kbackup trial arm`);
    const args = trialArgs(TRIAL_PANIC_SECONDS, await detectGenerator(world.root), config.trialDeadlineSeconds);
    const record: TrialRecord = {
      state: 'armed',
      version: target.imageName.replace(/^[^-]*-/, ''),
      image: `/boot/${target.imageName}`,
      initrd: target.initrdName ? `/boot/${target.initrdName}` : null,
      imageSha256: targetHashes.imageSha256,
      initrdSha256: targetHashes.initrdSha256,
      entry: target.spec,
      goodEntry: goodRef.spec,
      goodImage: `/boot/${goodRef.imageName}`,
      armedAt: world.now().toISOString(),
    };
    if (options.dryRun) return { armed: true, dryRun: true, record, args };
    const changes = grubenvChanges('arm', { trialEntry: record.entry, goodEntry: record.goodEntry, args });
    const grubenvFile = path.join(facts.paths.grubDir, 'grubenv');
    // GRUB reads grubenv, kbackup reads trial.json: grubenv is written first, so trial.json never
    // says "armed" for a trial GRUB will not start, and it is put back if trial.json cannot be written.
    await writeGrubenvOrRefuse(grubenvFile, editedGrubenvOrRefuse(facts.grubenvText, changes, grubenvFile));
    try {
      await writeTrialRecord(facts.paths.trial, record);
    } catch (err) {
      if (facts.grubenvText !== undefined) await writeGrubenv(grubenvFile, facts.grubenvText).catch(() => undefined);
      throw err;
    }
    return { armed: true, dryRun: false, record, args };
  });
}

/** The new block, or a refusal in one sentence when kbackup's variables do not fit in it. */
function editedGrubenvOrRefuse(text: string | undefined, changes: ReadonlyMap<string, string | undefined>, file: string): string {
  try {
    return editGrubenv(text, changes);
  } catch (err) {
    throw new RefusedError(
      `${file} has no room for kbackup's trial variables (${(err as Error).message}); no trial was armed. ` +
        'Remove variables you no longer need with grub-editenv (grub-editenv list shows them), then run kbackup trial arm',
    );
  }
}

/** Writes grubenv; a block that cannot be written (read-only, chattr +i) is a refusal, not a crash. */
async function writeGrubenvOrRefuse(file: string, text: string): Promise<void> {
  try {
    await writeGrubenv(file, text);
  } catch (err) {
    throw new RefusedError(`cannot write ${file} (${err instanceof Error ? err.message : String(err)}); the trial state was left as it was. Make it writable (lsattr shows an immutable flag), then try again`);
  }
}

export type TrialCommand = 'cancel' | 'accept';

/** cancel / accept: both clear the trial from grubenv and trial.json; refusals in one sentence. */
export async function endTrial(world: World, config: Config, command: TrialCommand, dryRun: boolean): Promise<{ before: TrialState; record?: TrialRecord }> {
  return withLock(world, `trial ${command}`, COMMAND_LOCK_WAIT_MS, async () => {
    const facts = await readTrialFacts(world, config);
    const step = trialStep(facts.state, command);
    if (!step.ok) throw new RefusedError(refusalSentence(step.refusal, facts));
    const out: { before: TrialState; record?: TrialRecord } = { before: facts.state };
    if (facts.record) out.record = facts.record;
    if (dryRun) return out;
    const changes = grubenvChanges(step.grubenv);
    const grubenvFile = path.join(facts.paths.grubDir, 'grubenv');
    if (changes.size > 0) await writeGrubenvOrRefuse(grubenvFile, editedGrubenvOrRefuse(facts.grubenvText, changes, grubenvFile));
    if (facts.record) {
      await writeTrialRecord(facts.paths.trial, { ...facts.record, state: command === 'accept' ? 'accepted' : 'cancelled', decidedAt: world.now().toISOString() });
    } else {
      await removeTrialRecord(facts.paths.trial);
    }
    return out;
  });
}

export interface TrialView {
  state: TrialState;
  trial: TrialRecord | null;
  knownGood: BootRecord | null;
  /** The image of the newest boot record: what the machine runs now. */
  running: string | null;
  /** Why trial boot cannot work here, when TRIAL_BOOT=yes but it cannot. */
  unavailable: string | null;
  trialBoot: boolean;
  sentence: string;
  /** The newest boot, when it failed its verdict (it is not the known-good): what it lacked, in one sentence. */
  unhealthy: { image: string; version: string; time: string; problems: string[]; sentence: string } | null;
}

/** The newest boot when it failed its verdict, said so with what to do. */
function unhealthyBoot(facts: TrialFacts): TrialView['unhealthy'] {
  const last = latestBoot(facts.boots);
  if (!last?.verdict || last.verdict.good) return null;
  const good = facts.knownGood;
  const sentence =
    `the boot of ${last.image} (${last.version}) at ${last.time} is less healthy than the known-good: ${last.verdict.problems.join('; ')}; ` +
    (good ? `it was not recorded as known-good, so GRUB's fallback stays ${good.image}; ` : 'it was not recorded as known-good; ') +
    'fix what is missing and reboot, or boot the known-good';
  return { image: last.image, version: last.version, time: last.time, problems: last.verdict.problems, sentence };
}

export function describeTrial(facts: TrialFacts): TrialView {
  const good = facts.knownGood ?? null;
  const running = good?.image ?? null;
  const t = facts.state === 'none' ? undefined : facts.record;
  const x = t?.image ?? 'the new default';
  const unavailable = facts.config.trialBoot ? (trialUnavailable(facts) ?? null) : null;
  let sentence: string;
  switch (facts.state) {
    case 'failed':
      sentence =
        `the trial of ${x} failed${t?.failedAt ? ` at ${t.failedAt}` : ''} ` +
        `(${t?.failure ? `its verdict: ${t.failure}` : 'it never reached its verdict: a panic, a hang past TRIAL_DEADLINE, an emergency shell or a reset'}) ` +
        `and the machine runs ${running ?? 'the known-good'}; ` +
        (facts.grubenvLostFailure
          ? `but /boot/grub/grubenv no longer holds the failed state (it was re-created), so GRUB boots ${x} by default again; `
          : '') +
        (facts.trialImageGone
          ? `${x} has since been removed, so there is nothing to retry or accept: kbackup trial cancel clears the failed trial, and GRUB boots its default again`
          : `kbackup trial retry tries ${x} once more, kbackup trial accept boots it again without a trial`);
      break;
    case 'armed':
      sentence = `a trial of ${x} is armed: the next boot starts it once, and if it does not come up GRUB starts ${t?.goodImage ?? 'the known-good'} (kbackup trial cancel disarms it)`;
      break;
    case 'booting':
      sentence = `GRUB started the trial of ${x}, which has not reached its boot record yet; if it never does, the next boot starts ${t?.goodImage ?? 'the known-good'}`;
      break;
    case 'none':
      sentence = good ? `no trial is armed; the known-good is ${good.image} (booted ${good.time})` : 'no trial is armed and no boot has been recorded yet';
      if (unavailable) sentence += `; ${unavailable}`;
      else if (!facts.config.trialBoot) sentence += ' (TRIAL_BOOT=no)';
      break;
  }
  return { state: facts.state, trial: t ?? null, knownGood: good, running, unavailable, trialBoot: facts.config.trialBoot, sentence, unhealthy: unhealthyBoot(facts) };
}

export async function trialStatus(world: World, config: Config): Promise<TrialView & { boots: BootRecord[]; bootsProblem?: string }> {
  const facts = await readTrialFacts(world, config);
  return { ...describeTrial(facts), boots: facts.boots, ...(facts.bootsProblem ? { bootsProblem: facts.bootsProblem } : {}) };
}

export type HookArmOutcome = { skipped: string } | (ArmOutcome & { updateGrub?: { code: number; stderr: string } });

/**
 * The initramfs hook after `update-initramfs -u` (or a trigger) rebuilt an initrd and kept the
 * previous one: the kept set enters GRUB's menu only with update-grub, and the trial needs it there
 * as the known-good entry. Inside a kernel package's postinst (update-initramfs -c/-u run by
 * /etc/kernel/postinst.d/initramfs-tools) nothing is done here: zz-update-grub follows, and the
 * postinst hook arms after it.
 */
export async function armAfterInitrdRebuild(world: World, config: Config): Promise<HookArmOutcome> {
  if (!config.trialBoot) return { skipped: 'TRIAL_BOOT=no' };
  const pkg = world.env.DPKG_MAINTSCRIPT_PACKAGE ?? '';
  if (pkg.startsWith('linux-image-')) return { skipped: `inside ${pkg}'s postinst: the postinst hook arms after update-grub` };
  const ran = await runUpdateGrub(world);
  if (ran && ran.code !== 0) return { armed: false, why: `update-grub failed (${ran.stderr.trim().split('\n').at(-1) ?? `exit ${ran.code}`}), so no trial was armed`, updateGrub: ran };
  const outcome = await armTrial(world, config, { hook: true });
  return ran ? { ...outcome, updateGrub: { code: ran.code, stderr: ran.stderr } } : outcome;
}
