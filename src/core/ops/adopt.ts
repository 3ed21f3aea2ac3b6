// `kbackup adopt`: the original script's `vmlinuz-V~~backup…` sets get kbackup's names and a record
// in the manifest.
import * as path from 'node:path';
import { applyAdopt } from '../io/apply';
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
    const plan = planAdopt(state.model, new Set(state.scan.files.map((f) => f.name)));
    if (dryRun) return plan;
    let manifest = await reconcileManifest(world, state);
    await applyAdopt(state.paths.boot, plan.renames, state.stems);
    for (const id of new Set(plan.renames.map((r) => r.id))) {
      const set = state.model.sets.find((s) => s.id === id)!;
      const files = [];
      for (const [stem, f] of set.files) {
        const name = plan.renames.find((r) => r.from === f.name)?.to ?? f.name;
        const sha256 = await sha256File(path.join(state.paths.boot, name));
        files.push({ stem, name, size: f.size, mode: f.mode, uid: f.uid, gid: f.gid, mtime: new Date(f.mtimeMs).toISOString(), sha256 });
      }
      manifest = withSet(manifest, { id, version: set.version, created: set.created.toISOString(), origin: 'adopt', files });
    }
    await writeManifest(state.paths.manifest, manifest);
    return plan;
  };
  return dryRun ? act() : withLock(world, 'adopt', COMMAND_LOCK_WAIT_MS, act);
}
