// Judging an initrd: the live image of a version against a previous image (the newest backup of its
// own version, else another kernel's: model/initrd-baseline.ts) and against the drivers `/` needs
// (read by io/, judged by model/initrd-health.ts).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { sha256File } from '../io/files';
import { readGrubScripts } from '../io/grub-files';
import { InitrdSummaryCache } from '../io/initrd-cache';
import { builtinModulesUnder, detectGenerator, readKnownGoodInitrd, type KnownGoodInitrd } from '../io/initrd-context';
import { readManifest } from '../io/manifest';
import { rootDriverNeeds } from '../io/root-drivers';
import { scanBoot } from '../io/scan';
import { pathsFor } from '../io/paths';
import type { World } from '../world';
import { modelBoot, type BootModel } from '../model/boot-model';
import type { GrubKernel } from '../model/grub/menu-order';
import type { Generator } from '../model/advice';
import { chooseBaseline, type Baseline } from '../model/initrd-baseline';
import { compareInitrd, type InitrdSummary, type RootDriverNeeds } from '../model/initrd-health';
import { emptyManifest, type Manifest } from '../model/manifest';
import { DEFAULT_STEMS, parseBootName } from '../model/names';
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
  /** The image it is judged against (initrd-baseline.ts), if any. */
  previous?: InitrdSummary;
  /** Which image that is: a backup of the same version, the known-good's, the running or previous kernel's. */
  baseline?: Baseline;
  /** The newest backup's set ID, when the baseline is one. */
  previousId?: string;
  needs?: RootDriverNeeds;
  generator: Generator;
  /** Drivers the live kernel builds in, read when the baseline is another kernel's image. */
  builtin?: Set<string>;
}

export interface InitrdAssessment extends InitrdFacts {
  problems: Problem[];
}

/** What every initrd of one run is judged with; read once per check. */
export interface InitrdContext {
  /** Live kernels with an initrd, in GRUB's predicted order (default first). */
  liveOrder: readonly string[];
  generator: Generator;
  /** Whether any boot is recorded, and the newest one's initrd. */
  knownGood: { recorded: boolean; initrd?: KnownGoodInitrd };
  cache: InitrdSummaryCache;
  /** sha256 the manifest recorded, by backup file name (with the size and mtime they were for). */
  recordedHashes: Map<string, { size: number; mtimeMs: number; sha256: string }>;
}

/** Live kernels with an initrd, in the order GRUB's menu will list them (first = default). */
export function liveKernelOrder(predicted: readonly GrubKernel[], model: BootModel): string[] {
  const out: string[] = [];
  for (const k of predicted) {
    const parsed = parseBootName(path.posix.basename(k.image), DEFAULT_STEMS);
    if (parsed?.kind !== 'live' || out.includes(parsed.version)) continue;
    if (model.live.get(parsed.version)?.files.has('initrd.img')) out.push(parsed.version);
  }
  return out;
}

export async function readInitrdContext(world: World, predicted: readonly GrubKernel[], model: BootModel, manifest: Manifest): Promise<InitrdContext> {
  const [generator, knownGood, cache] = await Promise.all([detectGenerator(world.root), readKnownGoodInitrd(world.root), InitrdSummaryCache.load(world)]);
  const recordedHashes = new Map<string, { size: number; mtimeMs: number; sha256: string }>();
  for (const set of manifest.sets) for (const f of set.files) recordedHashes.set(f.name, { size: f.size, mtimeMs: Date.parse(f.mtime), sha256: f.sha256 });
  const context: InitrdContext = { liveOrder: liveKernelOrder(predicted, model), generator, knownGood: { recorded: knownGood.recorded }, cache, recordedHashes };
  const booted = knownGood.initrd ? await bootedInitrd(world, knownGood.initrd, manifest, context) : undefined;
  if (booted) context.knownGood.initrd = booted;
  return context;
}

/**
 * The file that holds the initrd the known-good boot loaded: the recorded path while its content is
 * still the one that booted, else a backup with that sha256 (a copy kept when the live file was
 * replaced), else none: a rebuilt image is not known to be good.
 */
async function bootedInitrd(world: World, known: KnownGoodInitrd, manifest: Manifest, context: InitrdContext): Promise<KnownGoodInitrd | undefined> {
  const isFile = await fs.stat(known.path).then(
    (st) => st.isFile(),
    () => false,
  );
  if (known.sha256 === undefined) return isFile ? known : undefined;
  if (isFile && ((await trustedHash(context, known.path)) ?? (await sha256File(known.path).catch(() => undefined))) === known.sha256) return known;
  for (const set of manifest.sets) {
    const copy = set.files.find((f) => f.stem === 'initrd.img' && f.sha256 === known.sha256);
    if (copy) {
      const file = path.join(pathsFor(world.root).boot, copy.name);
      if ((await trustedHash(context, file)) === known.sha256) return { ...known, path: file, setId: set.id };
    }
  }
  world.log.debug(`the known-good initrd ${known.path} was replaced and no copy of it is kept: not a baseline`);
  return undefined;
}

/** The manifest's sha256 of a backup file whose size and mtime are still the recorded ones. */
async function trustedHash(context: InitrdContext, image: string): Promise<string | undefined> {
  const recorded = context.recordedHashes.get(path.basename(image));
  if (!recorded) return undefined;
  const st = await fs.stat(image).catch(() => undefined);
  // The manifest keeps mtimes in whole milliseconds (ISO 8601); the file system keeps more.
  return st && st.size === recorded.size && Math.abs(st.mtimeMs - recorded.mtimeMs) < 1 ? recorded.sha256 : undefined;
}

/**
 * Reads the live initrd of `version`, the image it is judged against (its newest backup from `model`,
 * else the known-good boot's, the running kernel's or the previous default's: initrd-baseline.ts) and
 * the drivers `/` needs. Root drivers and the running kernel count only on the running system (not
 * under --root). Each image at most once per run, and only when the cache lacks it.
 */
export async function readInitrdFacts(world: World, model: BootModel, version: string, context: InitrdContext): Promise<InitrdFacts> {
  const livePath = liveInitrdPath(world, version);
  const [newest] = initrdBackupsOf(model, pathsFor(world.root).boot, version);
  const underRoot = path.resolve(world.root) !== '/';
  const known = context.knownGood.initrd;
  const baseline = chooseBaseline({
    version,
    livePath,
    ...(newest ? { newestBackup: { id: newest.id, path: newest.path } } : {}),
    ...(known ? { knownGood: known } : {}),
    ...(underRoot ? {} : { running: world.uname() }),
    liveVersions: context.liveOrder,
    initrdOf: (v) => liveInitrdPath(world, v),
  });
  // Both images at once: each waits mostly on its own decompressor, which runs on its own core.
  const [live, previous] = await Promise.all([
    trustedHash(context, livePath).then((sha) => context.cache.summarize(world, livePath, sha)),
    baseline ? trustedHash(context, baseline.path).then((sha) => context.cache.summarize(world, baseline.path, sha)) : Promise.resolve(undefined),
  ]);
  const [needs, builtin] = await Promise.all([
    rootDriverNeeds(world, { version }),
    baseline && baseline.version !== version ? builtinModulesUnder(world.root, version) : Promise.resolve(undefined),
  ]);
  if (needs.note) world.log.debug(`root driver check for ${version}: ${needs.note}`);
  if (baseline) world.log.debug(`initrd of ${version} judged against ${baseline.path} (${baseline.role})`);
  const facts: InitrdFacts = { version, live, needs, generator: context.generator };
  if (previous) facts.previous = previous;
  if (baseline) facts.baseline = baseline;
  if (newest) facts.previousId = newest.id;
  if (builtin) facts.builtin = builtin;
  return facts;
}

export function judgeInitrd(facts: InitrdFacts): Problem[] {
  return compareInitrd(facts.live, facts.previous, facts.needs, {
    generator: facts.generator,
    ...(facts.baseline ? { role: facts.baseline.role } : {}),
    ...(facts.builtin ? { builtin: facts.builtin } : {}),
  });
}

/**
 * The live initrd of `version` judged on its own (the initramfs hook): against its newest backup (the
 * set made from INITRD.dpkg-bak), or, with none, another kernel's image as check would choose it.
 */
export async function assessInitrd(world: World, version: string): Promise<InitrdAssessment> {
  const paths = pathsFor(world.root);
  const model = modelBoot(await scanBoot(paths.boot, DEFAULT_STEMS));
  const [{ predicted }, manifest] = await Promise.all([readGrubScripts(paths), readManifest(paths.manifest).then((r) => r.manifest, () => emptyManifest())]);
  const context = await readInitrdContext(world, predicted, model, manifest);
  const facts = await readInitrdFacts(world, model, version, context);
  await context.cache.save(world);
  return { ...facts, problems: judgeInitrd(facts) };
}
