// The fallback kernel kept and seen: after each boot record and each hook, the apt.conf.d file that
// keeps the fallback's package from autoremove, the fallback record and its login line, the
// journal entry of a new fallback, and node_exporter's textfile; and the prerm hook's copy of the
// known-good before its package removes the files. Read → decide (model/fallback.ts) → write.
import * as path from 'node:path';
import { exists } from '../io/files';
import { aptConfKeeps, fallbackPaths, readFallbackRecord, sendJournal, writeAptConf, writeFallbackRecord, writeTextfile, type AptConfOutcome } from '../io/fallback-files';
import { freeBytes } from '../io/space';
import type { World } from '../world';
import { knownGood, type BootRecord } from '../model/boots';
import type { Config } from '../model/config';
import { KbackupError } from '../model/errors';
import {
  FALLBACK_MESSAGE_ID,
  fallbackOfBoot,
  fallbackSentence,
  keptReleases,
  lastTrialResult,
  motdText,
  prometheusText,
  releaseRegex,
  type FallbackRecord,
  type MetricsFacts,
} from '../model/fallback';
import { grubPathBasename, resolveDefaultEntry } from '../model/grub/grub-cfg';
import { assertSafeVersion } from '../model/names';
import { problem, type Problem } from '../model/problems';
import type { BackupPlan } from '../model/plan';
import type { TrialState } from '../model/trial';
import { backupVersion } from './backup';
import { HOOK_LOCK_WAIT_MS, readState, withLock } from './state';
import { readTrialFacts, type TrialFacts } from './trial';

/** What GRUB boots by default with no trial (the image's file name), or null without a grub.cfg. */
function stockDefaultImage(facts: TrialFacts): string | null {
  if (!facts.menu) return null;
  const linux = resolveDefaultEntry(facts.menu, facts.grubenvText, { ignoreTrial: true }).entry?.linux;
  return linux ? grubPathBasename(linux) : null;
}

export interface FallbackRefresh {
  fallback?: FallbackRecord;
  /** Set when this refresh found a fallback the previous one did not (the boot that fell back). */
  newFallback?: boolean;
  apt?: AptConfOutcome;
  textfile: boolean;
  /** Why the journal entry could not be sent. */
  journal?: string;
  /** Things that went wrong without stopping the caller. */
  warnings: string[];
}

export interface RefreshRequest {
  /** The boot record just written and the trial state after it. */
  boot?: { record: BootRecord; trialAfter: TrialState };
  /** The admin accepted, retried or cancelled the trial: the fallback is acted on. */
  acknowledged?: boolean;
}

/**
 * Brings every file outside /boot that follows the fallback up to date. Never throws for an I/O
 * problem: a boot record or a kernel update must not fail because of apt's file or a textfile;
 * what went wrong comes back in `warnings`.
 */
export async function refreshFallback(world: World, config: Config, request: RefreshRequest = {}): Promise<FallbackRefresh> {
  const out: FallbackRefresh = { textfile: false, warnings: [] };
  const paths = fallbackPaths(world.root);
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof KbackupError) && !(err instanceof Error && 'code' in err)) throw err;
      out.warnings.push(`${what}: ${(err as Error).message}`);
      return undefined;
    }
  };
  const facts = await readTrialFacts(world, config, { probe: false });
  const previous = await readFallbackRecord(paths.record);
  let fallback = previous;
  if (request.boot) {
    const { record, trialAfter } = request.boot;
    const trialImage = facts.record?.image ?? null;
    fallback = record.grub === false && trialAfter !== 'failed' ? undefined : fallbackOfBoot(record, trialAfter, trialImage, stockDefaultImage(facts));
  } else if (request.acknowledged) {
    fallback = undefined;
  } else if (fallback?.reason === 'not-default' && stockDefaultImage(facts) === path.posix.basename(fallback.image)) {
    // The admin made the running kernel GRUB's default: it is no fallback any more.
    fallback = undefined;
  }
  if (fallback) out.fallback = fallback;
  if (JSON.stringify(fallback) !== JSON.stringify(previous)) {
    await step('the fallback record', () => writeFallbackRecord(paths, fallback, motdText(fallback)));
  }
  if (fallback && previous?.bootId !== fallback.bootId) {
    out.newFallback = true;
    if (world.root === '/') {
      const why = await sendJournal(world, {
        MESSAGE: `kbackup: ${fallbackSentence(fallback)}`,
        MESSAGE_ID: FALLBACK_MESSAGE_ID,
        PRIORITY: '4',
        SYSLOG_IDENTIFIER: 'kbackup',
        KBACKUP_REASON: fallback.reason,
        KBACKUP_RUNNING: fallback.version,
        KBACKUP_IMAGE: fallback.image,
        KBACKUP_DEFAULT: fallback.defaultImage ?? '',
      });
      if (why) out.journal = why;
    }
  }
  const releases = keptReleases(facts.knownGood, fallback);
  if (releases.length > 0) {
    const apt = await step('the apt configuration', () => writeAptConf(world, paths.aptConf, releases));
    if (apt) {
      out.apt = apt;
      if (!apt.written && !apt.why.includes('does not exist')) out.warnings.push(apt.why);
    }
  }
  if (await exists(paths.textfileDir)) {
    const text = prometheusText(await metricsFacts(world, config, facts, fallback));
    out.textfile = (await step('the metrics textfile', () => writeTextfile(paths, text))) ?? false;
  }
  return out;
}

/** Everything `status --format prometheus` and the textfile say. */
async function metricsFacts(world: World, config: Config, facts: TrialFacts, fallback: FallbackRecord | undefined): Promise<MetricsFacts> {
  const paths = fallbackPaths(world.root);
  const state = await readState(world, config);
  const good = facts.knownGood;
  const m: MetricsFacts = {
    runningRelease: world.root === '/' ? world.uname() : (good?.version ?? world.uname()),
    trialState: facts.state,
    keptFromAutoremove: good ? await aptConfKeeps(paths.aptConf, good.version) : false,
    backupSets: state.model.sets.length,
  };
  if (good) m.knownGood = good;
  const last = lastTrialResult(facts.boots);
  if (last) m.lastTrial = last;
  if (fallback) m.fallback = fallback;
  const free = await freeBytes(state.paths.boot).catch(() => undefined);
  if (free !== undefined) m.bootFreeBytes = free;
  return m;
}

export interface FallbackStatus {
  fallback: FallbackRecord | null;
  sentence: string | null;
  /** The releases apt.conf.d keeps from autoremove, when kbackup's file names the known-good's. */
  keptFromAutoremove: boolean;
  aptConf: string;
}

/** `kbackup status`: the fallback and whether the known-good's package (status has read it) is kept from autoremove. */
export async function fallbackStatus(world: World, knownGoodRelease: string | null): Promise<FallbackStatus & { knownGoodRelease: string | null }> {
  const paths = fallbackPaths(world.root);
  const fallback = (await readFallbackRecord(paths.record)) ?? null;
  const trialImageGone = fallback?.reason === 'trial-failed' && !!fallback.defaultImage && !(await exists(path.join(world.root, fallback.defaultImage)));
  return {
    fallback,
    sentence: fallback ? fallbackSentence(fallback, { trialImageGone }) : null,
    keptFromAutoremove: knownGoodRelease ? await aptConfKeeps(paths.aptConf, knownGoodRelease) : false,
    aptConf: `/etc/apt/apt.conf.d/${path.basename(paths.aptConf)}`,
    knownGoodRelease,
  };
}

/** `kbackup status --format prometheus`. */
export async function prometheusStatus(world: World, config: Config): Promise<string> {
  const facts = await readTrialFacts(world, config, { probe: false });
  const fallback = await readFallbackRecord(fallbackPaths(world.root).record);
  return prometheusText(await metricsFacts(world, config, facts, fallback));
}

/**
 * `check`'s view: a fallback that is not a failed trial (which `trial-failed` already reports), and
 * the known-good's modules gone with its package (a backup set of it still boots, with only what
 * its initrd carries).
 */
export async function fallbackProblems(world: World, boots: readonly BootRecord[]): Promise<Problem[]> {
  const problems: Problem[] = [];
  const fallback = await readFallbackRecord(fallbackPaths(world.root).record);
  if (fallback?.reason === 'not-default') problems.push(problem('fallback-running', fallbackSentence(fallback)));
  const good = knownGood(boots);
  if (good && releaseRegex(good.version)) {
    const dirs = ['lib/modules', 'usr/lib/modules'].map((d) => path.join(world.root, d, good.version));
    const found = await Promise.all(dirs.map(exists));
    if (!found.some(Boolean)) {
      problems.push(
        problem(
          'known-good-modules-removed',
          `the known-good kernel ${good.version} has no /lib/modules/${good.version}: its package was removed, so its backup set boots with only what its initrd holds; ` +
            `reinstall it (apt install linux-image-${good.version}) to keep a complete fallback`,
          'warning',
        ),
      );
    }
  }
  return problems;
}

/**
 * `hook prerm VERSION`: the kernel package of the known-good (or of the failed trial's fallback) is
 * being removed. Its files become a backup set first, unless an identical set exists, so GRUB still
 * lists it after update-grub. Undefined when VERSION is neither, or ENABLED=no.
 */
export async function keepBeforeRemoval(world: World, config: Config, version: string): Promise<BackupPlan | undefined> {
  assertSafeVersion(version);
  if (!config.enabled) return undefined;
  const action = (world.env.DEB_MAINT_PARAMS ?? '').trim().split(/\s+/)[0];
  if (action && action !== 'remove') return undefined;
  const facts = await readTrialFacts(world, config, { probe: false });
  const fallback = await readFallbackRecord(fallbackPaths(world.root).record);
  if (!keptReleases(facts.knownGood, fallback).includes(version) && facts.knownGood?.version !== version) return undefined;
  return withLock(world, `prerm ${version}`, HOOK_LOCK_WAIT_MS, async () => backupVersion(world, await readState(world, config), { version, origin: 'known-good' }));
}
