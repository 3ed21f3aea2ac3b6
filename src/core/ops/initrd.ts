// Judging an initrd: the live image of a version against the newest backup of its own version and
// against the drivers `/` needs (read by io/, judged by model/initrd-health.ts).
import * as path from 'node:path';
import { readInitrd } from '../io/initrd-image';
import { rootDriverNeeds } from '../io/root-drivers';
import { scanBoot } from '../io/scan';
import { pathsFor } from '../io/paths';
import type { World } from '../world';
import { modelBoot, type BootModel } from '../model/boot-model';
import { compareInitrd, type InitrdSummary, type RootDriverNeeds } from '../model/initrd-health';
import { DEFAULT_STEMS } from '../model/names';
import type { Problem } from '../model/problems';

export interface InitrdBackup {
  /** The set ID: `V~~backupYYYYMMDDHHMM[.N]`. */
  id: string;
  version: string;
  stamp: string;
  seq: number;
  /** Host path of the backup initrd. */
  path: string;
}

/** The initrds of the backup sets of a boot model, newest first per version. */
export function initrdBackupsOf(model: BootModel, bootDir: string, version?: string): InitrdBackup[] {
  return model.sets.flatMap((set) => {
    const initrd = set.files.get('initrd.img');
    if (!initrd || (version !== undefined && set.version !== version)) return [];
    return [{ id: set.id, version: set.version, stamp: set.stamp, seq: set.seq, path: path.join(bootDir, initrd.name) }];
  });
}

/** Backup initrds in <root>/boot, newest first per version, read as the scan and boot model see them. */
export async function listInitrdBackups(world: World, version?: string): Promise<InitrdBackup[]> {
  const boot = pathsFor(world.root).boot;
  return initrdBackupsOf(modelBoot(await scanBoot(boot, DEFAULT_STEMS)), boot, version);
}

export function liveInitrdPath(world: World, version: string): string {
  return path.join(pathsFor(world.root).boot, `initrd.img-${version}`);
}

export interface InitrdFacts {
  version: string;
  live: InitrdSummary;
  /** The newest backup initrd of the same version, if any. */
  previous?: InitrdSummary;
  previousId?: string;
  needs?: RootDriverNeeds;
}

export interface InitrdAssessment extends InitrdFacts {
  problems: Problem[];
}

/**
 * Reads the live initrd of `version`, its newest backup (from `model`, the boot model already read)
 * and the drivers `/` needs. Root drivers are only read on the running system (not under --root).
 */
export async function readInitrdFacts(world: World, model: BootModel, version: string): Promise<InitrdFacts> {
  const [newest] = initrdBackupsOf(model, pathsFor(world.root).boot, version);
  const [live, previous, needs] = await Promise.all([
    readInitrd(world, liveInitrdPath(world, version)),
    newest ? readInitrd(world, newest.path) : Promise.resolve(undefined),
    rootDriverNeeds(world, { version }),
  ]);
  if (needs.note) world.log.debug(`root driver check for ${version}: ${needs.note}`);
  const facts: InitrdFacts = { version, live, needs };
  if (previous) facts.previous = previous;
  if (newest) facts.previousId = newest.id;
  return facts;
}

export function judgeInitrd(facts: InitrdFacts): Problem[] {
  return compareInitrd(facts.live, facts.previous, facts.needs);
}

/**
 * The live initrd of `version` judged against its newest backup and against the drivers `/` needs.
 * In the postinst hook that backup is the set preinst just made; in the initramfs hook, the one made
 * from INITRD.dpkg-bak.
 */
export async function assessInitrd(world: World, version: string): Promise<InitrdAssessment> {
  const model = modelBoot(await scanBoot(pathsFor(world.root).boot, DEFAULT_STEMS));
  const facts = await readInitrdFacts(world, model, version);
  return { ...facts, problems: judgeInitrd(facts) };
}
