// What every job shares: the state of a root read into one value, the lock, and bringing the
// manifest in line with /boot before a change.
import * as path from 'node:path';
import { applyDeletes } from '../io/apply';
import { readBoots, type BootsRead } from '../io/boots';
import { readConfig, readConfigLenient, readConfigText } from '../io/config-file';
import { isDirectory, sha256File } from '../io/files';
import { acquireLock } from '../io/lock';
import { readManifest, setManifestAside, writeManifest } from '../io/manifest';
import { scanBoot } from '../io/scan';
import { pathsFor, type Paths } from '../io/paths';
import type { World } from '../world';
import { modelBoot, type BootModel, type BootScan } from '../model/boot-model';
import { knownGoodSetIds, namedByUnknown, type BootRecord } from '../model/boots';
import { isValidStem, saysOnErrorFail, type Config } from '../model/config';
import { emptyManifest, manifestHashes, withSet, withoutSets, type Manifest, type ManifestState } from '../model/manifest';
import { DEFAULT_STEMS, formatStamp } from '../model/names';
import type { DeleteSet } from '../model/plan';

/** Hooks wait longer for the lock: dpkg is not in a hurry, a person is. */
export const HOOK_LOCK_WAIT_MS = 60_000;
export const COMMAND_LOCK_WAIT_MS = 10_000;

export interface State {
  paths: Paths;
  config: Config;
  stems: string[];
  scan: BootScan;
  model: BootModel;
  manifest: Manifest;
  manifestState: ManifestState;
  /** Boot records, oldest first (boots.json); the newest is the known-good. */
  boots: BootRecord[];
  /** Backup sets holding the known-good's kernel image and initrd: no prune ever removes them. */
  knownGoodIds: string[];
  manifestProblem?: string;
  /**
   * Why the known-good is not known for sure: boots.json is unreadable, or an unreadable copy of it
   * was set aside and is still there. Then every set is kept from pruning (knownGoodIds holds them all).
   */
  bootsProblem?: string;
}

/** The configuration of this world: a missing default file means the defaults; a file named with --config must exist. */
export function loadConfig(world: World, options: { mustExist?: boolean } = {}): Promise<Config> {
  return readConfig(world.configPath, options);
}

/**
 * The settings every good line of the file gives, and its bad lines (each a ConfigError naming file
 * and line). A config with problems makes kbackup delete nothing (Config.problems).
 */
export function loadConfigLenient(world: World, options: { mustExist?: boolean } = {}) {
  return readConfigLenient(world.configPath, options);
}

/**
 * The stems whose backups kbackup recognises: FILES, the defaults, and every stem the manifest
 * recorded, so that removing a stem from FILES does not leave its old backups unseen and unpruned.
 */
export function stemsOf(config: Config, manifest?: Manifest): string[] {
  const recorded = (manifest?.sets ?? []).flatMap((s) => s.files.map((f) => f.stem)).filter((stem) => typeof stem === 'string' && isValidStem(stem));
  return [...new Set([...config.files, ...DEFAULT_STEMS, ...recorded])];
}

export async function readState(world: World, config: Config): Promise<State> {
  const paths = pathsFor(world.root);
  const [read, boots] = await Promise.all([readManifest(paths.manifest), readBoots(paths.boots)]);
  const stems = stemsOf(config, read.manifest);
  const scan = await scanBoot(paths.boot, stems);
  const model = modelBoot(scan);
  const recorded = new Map(read.manifest.sets.map((s) => [s.id, manifestHashes(s)]));
  const hashed = model.sets.map((s) => recorded.get(s.id) ?? { id: s.id });
  const bootsProblem = bootsProblemOf(paths.boots, boots);
  // Records this version does not understand may be the real known-good: the sets they name stay too.
  const foreign = namedByUnknown(boots.unknown);
  const knownGoodIds = bootsProblem
    ? model.sets.map((s) => s.id)
    : [
        ...new Set([
          ...knownGoodSetIds(boots.boots, hashed),
          ...hashed.filter((s) => foreign.ids.has(s.id) || (s.imageSha256 !== undefined && foreign.hashes.has(s.imageSha256))).map((s) => s.id),
        ]),
      ];
  const state: State = { paths, config, stems, scan, model, manifest: read.manifest, manifestState: read.state, boots: boots.boots, knownGoodIds };
  if (read.state === 'corrupt') state.manifestProblem = read.reason;
  if (bootsProblem) state.bootsProblem = bootsProblem;
  return state;
}

/** One sentence for an unreadable boots.json, or a copy of one still set aside; undefined when all is well. */
export function bootsProblemOf(file: string, boots: BootsRead): string | undefined {
  if (boots.state === 'corrupt') {
    return `${file} is unreadable (${boots.reason}), so the known-good boot is not known: kbackup prunes no backup set until it is fixed or removed (the next boot record keeps it aside and starts a new one)`;
  }
  if (boots.asideFiles.length > 0) {
    return `${boots.asideFiles.join(', ')} ${boots.asideFiles.length === 1 ? 'holds' : 'hold'} boot records kbackup could not read, so the known-good may be older than the records say: kbackup prunes no backup set until you have looked at ${boots.asideFiles.length === 1 ? 'it' : 'them'} and removed ${boots.asideFiles.length === 1 ? 'it' : 'them'}`;
  }
  return undefined;
}

/** Runs `fn` holding the lock of this root. */
export async function withLock<T>(world: World, command: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(pathsFor(world.root).lock, command, {
    waitMs,
    now: () => world.now(),
    onStale: (h) =>
      world.log.warn(`took over ${pathsFor(world.root).lock}: it names pid ${h.pid} ("${h.command}", since ${h.since}), which is not a kbackup running in this boot (left by a crash or a reboot)`),
  });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/**
 * Brings the manifest in line with /boot before a change: sets no longer on disk are dropped, and
 * a missing (with backups present) or corrupt manifest is rebuilt from the files, with a warning.
 * A corrupt one is kept beside it for the admin. Call with the lock held.
 */
export async function reconcileManifest(world: World, state: State): Promise<Manifest> {
  const onDisk = new Set(state.model.sets.map((s) => s.id));
  const stale = state.manifest.sets.filter((s) => !onDisk.has(s.id)).map((s) => s.id);
  let manifest = stale.length > 0 ? withoutSets(state.manifest, stale) : state.manifest;
  const rebuild = state.manifestState === 'corrupt' || (state.manifestState === 'missing' && state.model.sets.length > 0);
  if (!rebuild) return manifest;
  if (state.manifestState === 'corrupt') {
    const kept = `${state.paths.manifest}.corrupt-${formatStamp(world.now())}`;
    await setManifestAside(state.paths.manifest, kept);
    world.log.warn(`${state.paths.manifest} was unreadable (${state.manifestProblem}); kept it as ${kept} and rebuilt it from ${state.paths.boot}`);
  } else {
    world.log.warn(`${state.paths.manifest} is missing; rebuilding it from the backups in ${state.paths.boot}`);
  }
  manifest = emptyManifest();
  for (const set of state.model.sets) {
    const files = [];
    for (const [stem, f] of set.files) {
      const sha256 = await sha256File(path.join(state.paths.boot, f.name)).catch(() => undefined);
      if (!sha256) continue;
      files.push({ stem, name: f.name, size: f.size, mode: f.mode, uid: f.uid, gid: f.gid, mtime: new Date(f.mtimeMs).toISOString(), sha256 });
    }
    manifest = withSet(manifest, { id: set.id, version: set.version, created: set.created.toISOString(), origin: 'rebuilt', files });
  }
  return manifest;
}

/** Deletes whole sets and records it. Call with the lock held. */
export async function deleteSets(world: World, state: State, deletes: DeleteSet[]): Promise<Manifest> {
  let manifest = await reconcileManifest(world, state);
  await applyDeletes(state.paths.boot, deletes, state.stems, { deleted: (n) => world.log.debug(`removed ${n}`) });
  manifest = withoutSets(manifest, deletes.map((d) => d.id));
  await writeManifest(state.paths.manifest, manifest);
  return manifest;
}

/**
 * The ON_ERROR policy, in one place: whether a hook that failed should fail the kernel update.
 * From the configuration when it reads, else from a plain `ON_ERROR=fail` line in the file.
 */
export async function hookShouldFail(world: Pick<World, 'configPath'>, config?: () => Promise<Config>): Promise<boolean> {
  if (config) {
    try {
      return (await config()).onError === 'fail';
    } catch {
      // a broken file: an admin who asked for failure still gets it (saysOnErrorFail)
    }
  }
  return saysOnErrorFail(await readConfigText(world.configPath));
}

/** Acting on a root that is not there would only create one. */
export function rootIsDirectory(world: World): Promise<boolean> {
  return isDirectory(world.root);
}
