// `kbackup check` and the postinst hook's check: reads /boot, GRUB's files, the manifest's files and
// the live initrds once into facts, then the rules (model/check.ts, model/initrd-health.ts) decide.
import { readGrubCfg, readGrubScripts, readLinks } from '../io/grub-files';
import { freeBytes } from '../io/space';
import type { World } from '../world';
import { evaluateCheck, type CheckFacts, type CheckOptions } from '../model/check';
import type { Config } from '../model/config';
import type { Problem } from '../model/problems';
import { unkeptRebuildProblem } from '../model/initrd-health';
import { judgeInitrd, readInitrdContext, readInitrdFacts, type InitrdFacts } from './initrd';
import { readState } from './state';
import { describeTrial, readTrialFacts } from './trial';
import { fallbackProblems } from './fallback';
import { manifestMismatches } from './verify';

export interface CheckReport {
  ok: boolean;
  /** The ordering the installed 10_linux uses; "dpkg" (Debian 12's) when it is absent or not recognised. */
  flavour: 'dpkg' | 'sort-v';
  predictedOrder: string[];
  defaultEntry: string | null;
  problems: Problem[];
  /** For `check --nagios`'s perfdata. */
  backupSets: number;
  bootFreeBytes: number | null;
}

export async function check(world: World, config: Config, options: CheckOptions = {}): Promise<CheckReport> {
  const state = await readState(world, config);
  const { flavour, found, predicted } = await readGrubScripts(state.paths);
  const facts: CheckFacts = {
    flavour,
    grubScriptsFound: found,
    predicted,
    links: await readLinks(state.paths.root),
    mismatches: await manifestMismatches(state, options.version),
    freeBytes: await freeBytes(state.paths.boot).catch(() => undefined),
  };
  const grubCfg = await readGrubCfg(state.paths);
  if (grubCfg) facts.grubCfg = grubCfg;
  const trial = describeTrial(await readTrialFacts(world, config, { probe: config.trialBoot }));
  if (trial.state !== 'none' || trial.unavailable) facts.trial = { state: trial.state, sentence: trial.sentence, unavailable: trial.unavailable };
  const versions = [...state.model.live.values()]
    .filter((live) => live.files.has('initrd.img') && (!options.version || live.version === options.version))
    .map((live) => live.version)
    .sort();
  const initrds: InitrdFacts[] = [];
  const context = await readInitrdContext(world, predicted, state.model, state.manifest);
  // One at a time: each image is decompressed, and check should not take both cores from dpkg.
  for (const version of versions) initrds.push(await readInitrdFacts(world, state.model, version, context));
  await context.cache.save(world);
  // The postinst hook (one version) leaves this to check: it would repeat on every kernel update.
  const unkept = options.version ? undefined : unkeptRebuildProblem(context.generator, context.knownGood.recorded);

  const problems = [...evaluateCheck(state, config, facts), ...(await fallbackProblems(world, state.boots)), ...initrds.flatMap(judgeInitrd), ...(unkept ? [unkept] : [])];
  return {
    ok: problems.every((p) => p.severity !== 'error'),
    flavour: facts.flavour ?? 'dpkg',
    predictedOrder: facts.predicted.map((k) => k.image),
    defaultEntry: facts.grubCfg?.defaultLinux ?? facts.predicted[0]?.image ?? null,
    problems,
    backupSets: state.model.sets.length,
    bootFreeBytes: facts.freeBytes ?? null,
  };
}
