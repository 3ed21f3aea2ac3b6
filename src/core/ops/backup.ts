// Making backup sets: `hook preinst`, `snapshot`, `hook initramfs`, and the live files' backup
// before a restore. Each reads the state, asks planBackup, and carries the plan out.
import * as path from 'node:path';
import { applyBackupCopies, applyDeletes, removeTemps } from '../io/apply';
import { installedPackageVersion } from '../io/dpkg';
import { sha256File } from '../io/files';
import { writeManifest } from '../io/manifest';
import { statSource } from '../io/scan';
import { bootSpace } from '../io/space';
import type { World } from '../world';
import { setsOf } from '../model/boot-model';
import { knownGood } from '../model/boots';
import type { Config } from '../model/config';
import { UsageError } from '../model/errors';
import { compareDebianVersions } from '../model/version';
import { manifestSet, withSet, withoutSets, type Manifest, type ManifestSet, type Origin } from '../model/manifest';
import { assertSafeVersion, formatStamp, liveFileName } from '../model/names';
import { backupSources, planBackup, type BackupPlan, type SourceFile } from '../model/plan';
import { assessInitrd, type InitrdAssessment } from './initrd';
import { COMMAND_LOCK_WAIT_MS, HOOK_LOCK_WAIT_MS, readState, reconcileManifest, withLock, type State } from './state';

/** `upgrade 6.1.76-1` -> the version of the package being replaced, whose files we back up. */
export function packageVersionFromMaintParams(params: string | undefined): string | undefined {
  const words = (params ?? '').trim().split(/\s+/);
  if ((words[0] === 'upgrade' || words[0] === 'install') && words[1] && /^[A-Za-z0-9.+~:-]+$/.test(words[1])) return words[1];
  return undefined;
}

/**
 * The backup set of `version` that already holds these bytes, if any: every set is compared, not
 * only the newest (after a restore the live files are an older set's). All stems, or only `stems`
 * (the initramfs hook asks about the initrd alone). Sizes are compared first; files are hashed only
 * when all sizes match (a retried preinst, a reinstall, a restore), and each source at most once,
 * so the normal update path reads nothing twice.
 */
async function identicalSet(
  state: State,
  manifest: Manifest,
  version: string,
  sources: SourceFile[],
  options: { knownHashes?: Map<string, string> | undefined; stems?: readonly string[] | undefined } = {},
): Promise<string | undefined> {
  const compared = options.stems ? sources.filter((s) => options.stems!.includes(s.stem)) : sources;
  if (compared.length === 0) return undefined;
  const sourceHashes = new Map(options.knownHashes);
  const sourceHash = async (s: SourceFile) => {
    let h = sourceHashes.get(s.stem);
    if (h === undefined) {
      h = await sha256File(path.join(state.paths.boot, s.name));
      sourceHashes.set(s.stem, h);
    }
    return h;
  };
  for (const set of setsOf(state.model, version)) {
    if (!options.stems && set.files.size !== sources.length) continue;
    if (!compared.every((s) => set.files.get(s.stem)?.size === s.file.size)) continue;
    const recorded = manifestSet(manifest, set.id);
    let same = true;
    for (const s of compared) {
      const b = set.files.get(s.stem)!;
      const backupHash = recorded?.files.find((f) => f.name === b.name)?.sha256 ?? (await sha256File(path.join(state.paths.boot, b.name)).catch(() => undefined));
      if (backupHash !== (await sourceHash(s))) {
        same = false;
        break;
      }
    }
    if (same) return set.id;
  }
  return undefined;
}

export interface BackupRequest {
  version: string;
  origin: Origin;
  packageVersion?: string | undefined;
  /** Sources other than the live files (the initramfs hook's previous initrd). */
  overrides?: SourceFile[];
  knownHashes?: Map<string, string>;
  /** Stems whose identity with a backup of the version means "already kept" (default: all). */
  dedupeStems?: readonly string[];
  protectedIds?: readonly string[];
  dryRun?: boolean;
}

/** Plans and (unless dryRun) makes one backup set; returns the plan it carried out. Call with the lock held. */
export async function backupVersion(world: World, state: State, request: BackupRequest): Promise<BackupPlan> {
  const { config, model, paths } = state;
  const removedTemps = request.dryRun ? [] : await removeTemps(paths.boot, state.scan.temps);
  if (removedTemps.length > 0) world.log.info(`removed ${removedTemps.length} temporary file(s) left by an interrupted run: ${removedTemps.join(', ')}`);
  let manifest = request.dryRun ? state.manifest : await reconcileManifest(world, state);
  const sources = backupSources(model, config, request.version, request.overrides);
  const now = world.now();
  const space = await bootSpace(paths.boot);
  const plan = planBackup({
    model,
    config,
    manifest,
    version: request.version,
    stamp: formatStamp(now),
    sources,
    freeBytes: space.free,
    totalBytes: space.total,
    blockSize: space.blockSize,
    liveIsKnownGood: liveIsKnownGood(state, request.version),
    identicalTo: await identicalSet(state, manifest, request.version, sources, { knownHashes: request.knownHashes, stems: request.dedupeStems }),
    // The known-good's sets survive every keep and space rule.
    protectedIds: [...(request.protectedIds ?? []), ...state.knownGoodIds],
  });
  if (request.dryRun) return plan;
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
  return plan;
}

/**
 * Whether the live files of `version` are what the known-good boot booted: its record names the
 * live image, not a backup set's. (When a set already holds the same bytes, planBackup copies
 * nothing: the identical-set test runs first.)
 */
function liveIsKnownGood(state: State, version: string): boolean {
  const good = knownGood(state.boots);
  return good !== undefined && good.setId === null && good.version === version && path.basename(good.image) === liveFileName('vmlinuz', version);
}

/** Reads the state under the lock and makes one backup set. */
async function backupLocked(world: World, config: Config, request: BackupRequest, lockWaitMs: number): Promise<BackupPlan> {
  return withLock(world, `${request.origin} ${request.version}`, lockWaitMs, async () => backupVersion(world, await readState(world, config), request));
}

/** `hook preinst VERSION`: the files dpkg is about to overwrite become a backup set. Undefined when ENABLED=no. */
export async function backupBeforeUpdate(world: World, config: Config, version: string): Promise<BackupPlan | undefined> {
  assertSafeVersion(version);
  if (!config.enabled) {
    world.log.debug('ENABLED=no: nothing to do');
    return undefined;
  }
  return backupLocked(
    world,
    config,
    { version, origin: 'preinst', packageVersion: packageVersionFromMaintParams(world.env.DEB_MAINT_PARAMS) },
    HOOK_LOCK_WAIT_MS,
  );
}

/** `snapshot [VERSION]`: back up a kernel now (default: the running one). */
export async function snapshot(world: World, config: Config, versionArg: string | undefined, dryRun: boolean): Promise<BackupPlan> {
  const version = assertSafeVersion(versionArg ?? world.uname());
  // Refused before the lock, so that a mistyped version leaves nothing behind (not even /var/lib/kbackup).
  const { model } = await readState(world, config);
  if (!model.live.has(version)) {
    const installed = [...model.live.keys()].sort(compareDebianVersions);
    throw new UsageError(
      `there is no kernel ${version} in /boot` +
        (installed.length > 0 ? ` (installed kernels: ${installed.join(', ')})` : ' (no kernels are installed there)') +
        (versionArg === undefined ? `; ${version} is the running kernel: name the kernel to back up, e.g. kbackup snapshot ${installed.at(-1) ?? 'VERSION'}` : ''),
    );
  }
  const plan = await backupLocked(
    world,
    config,
    { version, origin: 'snapshot', packageVersion: await installedPackageVersion(world, version), dryRun },
    COMMAND_LOCK_WAIT_MS,
  );
  return plan;
}

export type InitramfsOutcome =
  | /** Nothing to keep; `why` is a detail for --verbose. The new image may still have been judged. */
  { kept: false; why: string; health?: InitrdAssessment }
  /** The previous initrd was kept (or already was: plan.skip.reason 'identical'), and the new one judged. */
  | { kept: true; plan: BackupPlan; health?: InitrdAssessment };

/**
 * `update-initramfs -u` keeps the previous image as INITRD.dpkg-bak while its post-update hooks
 * run. If that differs from the new image and from the newest backup, it becomes a backup set
 * with the live kernel image, config and System.map.
 *
 * Inside a kernel package's maintainer script the postinst hook, last of /etc/kernel/postinst.d,
 * judges the new image after update-grub: it is not judged here (that would read it twice per
 * update).
 */
export async function keepPreviousInitrd(world: World, config: Config, version: string, initrdArg: string): Promise<InitramfsOutcome> {
  assertSafeVersion(version);
  if (!config.enabled) return { kept: false, why: 'ENABLED=no: nothing to do' };
  const bootDir = path.join(world.root, 'boot');
  const initrd = initrdArg.startsWith(`${world.root}/`) || world.root === '/' ? initrdArg : path.join(world.root, initrdArg);
  if (path.dirname(path.resolve(initrd)) !== path.resolve(bootDir) || path.basename(initrd) !== liveFileName('initrd.img', version)) {
    return { kept: false, why: `${initrdArg} is not ${liveFileName('initrd.img', version)} in ${bootDir}: not kept` };
  }
  const inKernelUpdate = /^linux-image-/.test(world.env.DPKG_MAINTSCRIPT_PACKAGE ?? '');
  return keepOrJudge(world, config, version, bootDir, initrd, inKernelUpdate);
}

async function keepOrJudge(world: World, config: Config, version: string, bootDir: string, initrd: string, inKernelUpdate: boolean): Promise<InitramfsOutcome> {
  const previousName = `${path.basename(initrd)}.dpkg-bak`;
  const previous = await statSource(bootDir, 'initrd.img', previousName);
  if (!previous) {
    // dracut keeps no .dpkg-bak: its rebuilds (dracut -f, its triggers) leave nothing to keep, but
    // the new image can still be judged against a previous one.
    const why = `no ${previousName}: nothing to keep`;
    return inKernelUpdate ? { kept: false, why } : { kept: false, why, health: await assessInitrd(world, version) };
  }
  const [prevHash, newHash] = await Promise.all([sha256File(path.join(bootDir, previousName)), sha256File(initrd)]);
  if (prevHash === newHash) return { kept: false, why: `${path.basename(initrd)} was rebuilt identically: nothing to keep` };
  const plan = await backupLocked(
    world,
    config,
    {
      version,
      origin: 'initramfs',
      overrides: [previous],
      knownHashes: new Map([['initrd.img', prevHash]]),
      // During a kernel upgrade the preinst hook already kept the old initrd with the old kernel;
      // pairing it again with the new kernel image would only waste space.
      dedupeStems: ['initrd.img'],
    },
    HOOK_LOCK_WAIT_MS,
  );
  // A wanted backup that could not be made is the answer; else the rebuilt image is judged against
  // the previous one, while the previous one is still at hand.
  if (plan.skip?.warn || inKernelUpdate) return { kept: true, plan };
  return { kept: true, plan, health: await assessInitrd(world, version) };
}
