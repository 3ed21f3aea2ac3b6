// Read → plan → apply for the commands that change /boot. Each function reads what it needs into
// values, asks a planner, and carries the plan out (unless dryRun), returning what it did.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { applyBackupCopies, applyDeletes, removeTemps } from './apply';
import { modelBoot, setsOf, type BootModel } from './boot-model';
import { isValidStem, type Config } from './config';
import { sha256File } from './copy';
import { errnoOf, ioError } from './errors';
import { acquireLock } from './lock';
import {
  emptyManifest,
  manifestSet,
  readManifest,
  withSet,
  withoutSets,
  writeManifest,
  type Manifest,
  type ManifestSet,
  type Origin,
} from './manifest';
import { DEFAULT_STEMS, formatStamp } from './names';
import { backupSources, planBackup, type BackupPlan, type DeleteSet, type SourceFile } from './plan';
import { scanBoot, type BootScan } from './scan';
import { freeBytes } from './space';
import { pathsFor, type Paths, type World } from './world';

export interface State {
  paths: Paths;
  config: Config;
  stems: string[];
  scan: BootScan;
  model: BootModel;
  manifest: Manifest;
  manifestState: 'ok' | 'missing' | 'corrupt';
  manifestProblem?: string;
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
  const read = await readManifest(paths.manifest);
  const stems = stemsOf(config, read.manifest);
  const scan = await scanBoot(paths.boot, stems);
  const state: State = { paths, config, stems, scan, model: modelBoot(scan), manifest: read.manifest, manifestState: read.state };
  if (read.state === 'corrupt') state.manifestProblem = read.reason;
  return state;
}

/** Runs `fn` holding the lock of this root. Hooks wait longer: dpkg is not in a hurry, a person is. */
export async function withLock<T>(world: World, command: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(pathsFor(world.root).lock, command, { waitMs, now: () => world.now() });
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
    await fs.rename(state.paths.manifest, kept).catch(() => undefined);
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

/**
 * True when the sources are byte-identical to the same stems of the newest backup of `version`
 * (all stems, or only `stems`: the initramfs hook asks about the initrd alone). Sizes are compared
 * first; files are hashed only when all sizes match (a retried preinst, a reinstall), so the
 * normal update path reads nothing twice.
 */
export async function identicalToNewest(
  state: State,
  manifest: Manifest,
  version: string,
  sources: SourceFile[],
  options: { knownHashes?: Map<string, string>; stems?: readonly string[] } = {},
): Promise<boolean> {
  const newest = setsOf(state.model, version)[0];
  const compared = options.stems ? sources.filter((s) => options.stems!.includes(s.stem)) : sources;
  if (!newest || compared.length === 0) return false;
  if (!options.stems && newest.files.size !== sources.length) return false;
  for (const s of compared) {
    const b = newest.files.get(s.stem);
    if (!b || b.size !== s.file.size) return false;
  }
  const recorded = manifestSet(manifest, newest.id);
  for (const s of compared) {
    const b = newest.files.get(s.stem)!;
    const backupHash = recorded?.files.find((f) => f.name === b.name)?.sha256 ?? (await sha256File(path.join(state.paths.boot, b.name)));
    const sourceHash = options.knownHashes?.get(s.stem) ?? (await sha256File(path.join(state.paths.boot, s.name)));
    if (backupHash !== sourceHash) return false;
  }
  return true;
}

export interface BackupRequest {
  version: string;
  origin: Origin;
  packageVersion?: string;
  /** Sources other than the live files (the initramfs hook's previous initrd). */
  overrides?: SourceFile[];
  knownHashes?: Map<string, string>;
  /** Stems whose identity with the newest backup means "already kept" (default: all). */
  dedupeStems?: readonly string[];
  protectedIds?: readonly string[];
  dryRun?: boolean;
}

export interface BackupOutcome {
  plan: BackupPlan;
  applied: boolean;
  set?: ManifestSet;
  manifest: Manifest;
}

/** Plans and (unless dryRun) makes one backup set. Call with the lock held. */
export async function backupVersion(world: World, state: State, request: BackupRequest): Promise<BackupOutcome> {
  const { config, model, paths } = state;
  const removedTemps = request.dryRun ? [] : await removeTemps(paths.boot, state.scan.temps);
  if (removedTemps.length > 0) world.log.info(`removed ${removedTemps.length} temporary file(s) left by an interrupted run: ${removedTemps.join(', ')}`);
  let manifest = request.dryRun ? state.manifest : await reconcileManifest(world, state);
  const sources = backupSources(model, config, request.version, request.overrides);
  const now = world.now();
  const plan = planBackup({
    model,
    config,
    manifest,
    version: request.version,
    stamp: formatStamp(now),
    sources,
    freeBytes: await freeBytes(paths.boot),
    identicalToNewest: await identicalToNewest(state, manifest, request.version, sources, { knownHashes: request.knownHashes, stems: request.dedupeStems }),
    protectedIds: request.protectedIds,
  });
  if (request.dryRun) return { plan, applied: false, manifest };
  const deleted = (n: string) => world.log.debug(`removed ${n}`);
  const before = plan.deletes.filter((d) => d.phase === 'before');
  const after = plan.deletes.filter((d) => d.phase === 'after');
  await applyDeletes(paths.boot, before, state.stems, { deleted });
  manifest = withoutSets(manifest, before.map((d) => d.id));
  let set: ManifestSet | undefined;
  if (plan.id) {
    try {
      set = await applyBackupCopies(paths.boot, plan, { origin: request.origin, created: now, packageVersion: request.packageVersion }, state.stems, {
        copied: (s) => world.log.debug(`copied ${s.from} -> ${s.to}`),
      });
    } finally {
      // Deletions made for space already happened: record them even when the copy failed.
      if (!set && before.length > 0) await writeManifest(paths.manifest, manifest);
    }
    manifest = withSet(manifest, set);
  }
  // Only now that the new set is published do the keep policy's deletions happen.
  await applyDeletes(paths.boot, after, state.stems, { deleted });
  manifest = withoutSets(manifest, after.map((d) => d.id));
  // A no-op (a fresh ABI, an identical set) writes nothing, not even the manifest.
  if (plan.id || plan.deletes.length > 0 || manifest !== state.manifest) await writeManifest(paths.manifest, manifest);
  return { plan, applied: true, set, manifest };
}

/** Deletes whole sets and records it. Call with the lock held. */
export async function deleteSets(world: World, state: State, deletes: DeleteSet[]): Promise<Manifest> {
  let manifest = await reconcileManifest(world, state);
  await applyDeletes(state.paths.boot, deletes, state.stems, { deleted: (n) => world.log.debug(`removed ${n}`) });
  manifest = withoutSets(manifest, deletes.map((d) => d.id));
  await writeManifest(state.paths.manifest, manifest);
  return manifest;
}

/** Stats a file in the boot directory as a SourceFile (the initramfs hook's INITRD.dpkg-bak). */
export async function statSource(bootDir: string, stem: string, name: string): Promise<SourceFile | undefined> {
  try {
    const st = await fs.stat(path.join(bootDir, name));
    if (!st.isFile()) return undefined;
    return {
      stem,
      name,
      file: { name, type: 'file', size: st.size, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs },
    };
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw ioError(`cannot stat ${path.join(bootDir, name)}`, err);
  }
}
