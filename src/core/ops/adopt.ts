// `kbackup adopt`: the original script's `vmlinuz-V~~backup…` sets get kbackup's names and a record
// in the manifest.
import * as path from 'node:path';
import { applyAdopt } from '../io/apply';
import { copyDurably } from '../io/copy';
import type { BootFile } from '../model/boot-model';
import { sha256File } from '../io/files';
import { writeManifest } from '../io/manifest';
import type { World } from '../world';
import type { Config } from '../model/config';
import { withSet } from '../model/manifest';
import { planAdopt, type AdoptPlan } from '../model/plan';
import { COMMAND_LOCK_WAIT_MS, readState, reconcileManifest, withLock } from './state';

/** Plans (and unless dryRun carries out) the renames; conflicts are left for the admin. */
export async function adopt(world: World, config: Config, dryRun: boolean): Promise<AdoptPlan> {
  const act = async () => {
    const state = await readState(world, config);
    const plan = planAdopt(state.model, new Set(state.scan.files.map((f) => f.name)), state.manifest);
    if (dryRun) return plan;
    let manifest = await reconcileManifest(world, state);
    // Copies first (initrd first), so that the renamed image is never in GRUB's menu without its initrd.
    for (const c of plan.copies) await copyDurably(path.join(state.paths.boot, c.from), path.join(state.paths.boot, c.to));
    await applyAdopt(state.paths.boot, plan.renames, state.stems);
    const record = async (stem: string, name: string, f: BootFile) => ({
      stem,
      name,
      size: f.size,
      mode: f.mode,
      uid: f.uid,
      gid: f.gid,
      mtime: new Date(f.mtimeMs).toISOString(),
      sha256: await sha256File(path.join(state.paths.boot, name)),
    });
    for (const rename of plan.renames) {
      const old = state.model.sets.find((s) => s.legacyImage?.name === rename.from)!;
      const files = [];
      if (old.id === rename.id) {
        for (const [stem, f] of old.files) files.push(await record(stem, f.name === rename.from ? rename.to : f.name, f));
      } else {
        // The legacy image moved to a set of its own (.N), with copies of the files it was paired with.
        files.push(await record('vmlinuz', rename.to, old.legacyImage!));
        for (const c of plan.copies.filter((x) => x.id === rename.id)) files.push(await record(c.stem, c.to, old.files.get(c.stem)!));
      }
      manifest = withSet(manifest, { id: rename.id, version: old.version, created: old.created.toISOString(), origin: 'adopt', files });
    }
    await writeManifest(state.paths.manifest, manifest);
    return plan;
  };
  return dryRun ? act() : withLock(world, 'adopt', COMMAND_LOCK_WAIT_MS, act);
}
