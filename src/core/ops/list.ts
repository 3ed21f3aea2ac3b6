// `kbackup list`: the backup sets as the scan, the boot model and the manifest see them.
import type { World } from '../world';
import { isComplete, setBytes, setsOf, type BackupSet } from '../model/boot-model';
import type { Config } from '../model/config';
import { bootTimes, knownGood, type BootRecord } from '../model/boots';
import { manifestHashes, type ManifestSet, type ManifestState } from '../model/manifest';
import { assertSafeVersion } from '../model/names';
import { matchesRecordCheaply } from '../model/verify';
import { readState } from './state';

export interface ListedFile {
  path: string;
  stem: string;
  size: number;
  sha256: string | null;
}

export interface ListedSet {
  id: string;
  version: string;
  created: string;
  files: ListedFile[];
  size: number;
  complete: boolean;
  legacy: boolean;
  /** Recorded in the manifest, and every file's size and mtime still match it (check compares sha256). */
  verified: boolean;
  origin: string | null;
  packageVersion: string | null;
  /** When these very files (same kernel image and initrd sha256) booted, as live files or as this set, oldest first. */
  booted: string[];
  /** Holds the known-good (the last kernel and initrd that booted): no prune removes it. */
  knownGood: boolean;
}

function describeSet(set: BackupSet, recorded: ManifestSet | undefined, boots: readonly BootRecord[], knownGoodIds: readonly string[]): ListedSet {
  const byName = new Map(recorded?.files.map((m) => [m.name, m]));
  const files = [...set.files.entries()].map(([stem, f]) => {
    const r = byName.get(f.name);
    return { path: `/boot/${f.name}`, stem, size: f.size, sha256: r?.sha256 ?? null };
  });
  return {
    id: set.id,
    version: set.version,
    created: set.created.toISOString(),
    files,
    size: setBytes(set),
    complete: isComplete(set),
    legacy: set.legacy,
    verified: matchesRecordCheaply(set, recorded),
    origin: recorded?.origin ?? null,
    packageVersion: recorded?.packageVersion ?? null,
    booted: recorded ? bootTimes(boots, manifestHashes(recorded)) : boots.filter((b) => b.setId === set.id).map((b) => b.time),
    knownGood: knownGoodIds.includes(set.id),
  };
}

export async function listSets(
  world: World,
  config: Config,
  version?: string,
): Promise<{ sets: ListedSet[]; manifestState: ManifestState; knownGood: BootRecord | null }> {
  if (version !== undefined) assertSafeVersion(version);
  const state = await readState(world, config);
  const sets = version ? setsOf(state.model, version) : state.model.sets;
  const recorded = new Map(state.manifest.sets.map((s) => [s.id, s]));
  return {
    sets: sets.map((set) => describeSet(set, recorded.get(set.id), state.boots, state.knownGoodIds)),
    manifestState: state.manifestState,
    knownGood: knownGood(state.boots) ?? null,
  };
}
