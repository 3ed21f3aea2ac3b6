// `kbackup diff [ID]`: what changed between a live initrd and a backup set's initrd — module
// counts, modules added and removed, configuration files changed — plus the health problems check
// would report for the pair (root drivers are check's business, not diff's).
//
// ID is a set ID (`6.1.0-18-amd64~~backup202611222040`) or a kernel VERSION (its newest backup). With
// neither: the newest backup of the running kernel, or, if the running kernel has none and exactly one
// version has backups, that version's newest. Exit code: 0, or 1 when the comparison finds an error
// (as check does), 2 for an ID that names nothing (commands/diff.ts renders).
import * as path from 'node:path';
import { readInitrd } from '../io/initrd-image';
import { pathsFor } from '../io/paths';
import type { World } from '../world';
import { UsageError } from '../model/errors';
import { compareInitrd, diffInitrd, type InitrdSummary } from '../model/initrd-health';
import { versionProblem } from '../model/names';
import type { Problem } from '../model/problems';
import { listInitrdBackups, liveInitrdPath, type InitrdBackup } from './initrd';

/** `--json` output. Field names are stable. */
export interface DiffReport {
  ok: boolean;
  version: string;
  live: DiffSide;
  backup: DiffSide & { id: string };
  modules: { added: string[]; removed: string[] };
  configs: { changed: string[]; added: string[]; removed: string[] };
  problems: Problem[];
}

export interface DiffSide {
  /** As seen inside --root. */
  path: string;
  size: number | null;
  compression: string | null;
  kernelVersions: string[];
  moduleFiles: number;
  modules: number;
  /** Bytes of lib/modules/V/modules.dep per kernel version; null = missing. */
  modulesDep: Record<string, number | null>;
  error: string | null;
}

async function chooseBackup(world: World, id: string | undefined): Promise<InitrdBackup> {
  const boot = pathsFor(world.root).boot;
  if (id !== undefined) {
    const version = id.includes('~~') ? id.slice(0, id.indexOf('~~')) : id;
    const bad = versionProblem(version);
    if (bad) throw new UsageError(`refusing ${JSON.stringify(id)}: ${bad}`);
    const backups = await listInitrdBackups(world, version);
    const found = id.includes('~~') ? backups.find((b) => b.id === id) : backups[0];
    if (!found) {
      throw new UsageError(
        id.includes('~~')
          ? `no backup set ${id} with an initrd in ${boot}; kbackup list shows the sets`
          : `kernel ${version} has no backup initrd in ${boot}; kbackup list shows the sets`,
      );
    }
    return found;
  }
  const all = await listInitrdBackups(world);
  const running = world.uname();
  const mine = all.filter((b) => b.version === running);
  if (mine[0]) return mine[0];
  const versions = [...new Set(all.map((b) => b.version))];
  if (versions.length === 1) return all.find((b) => b.version === versions[0])!;
  if (versions.length === 0) throw new UsageError(`there is no backup initrd in ${boot} to compare with`);
  throw new UsageError(`the running kernel ${running} has no backup initrd, and ${versions.join(', ')} have; name one: kbackup diff VERSION or ID`);
}

function insideRoot(world: World, p: string): string {
  const rel = path.relative(world.root, p);
  return rel.startsWith('..') ? p : `/${rel}`;
}

function side(world: World, s: InitrdSummary): DiffSide {
  const modulesDep: Record<string, number | null> = {};
  for (const [v, size] of Object.entries(s.modulesDep)) modulesDep[v] = size ?? null;
  return {
    path: insideRoot(world, s.path),
    size: s.size ?? null,
    compression: s.compression ?? null,
    kernelVersions: s.kernelVersions,
    moduleFiles: s.moduleFiles,
    modules: s.modules.length,
    modulesDep,
    error: s.error ?? null,
  };
}

export async function diff(world: World, id: string | undefined): Promise<DiffReport> {
  const backup = await chooseBackup(world, id);
  const [live, previous] = await Promise.all([readInitrd(world, liveInitrdPath(world, backup.version)), readInitrd(world, backup.path)]);
  const problems = compareInitrd(live, previous);
  const readableBoth = live.error === undefined && previous.error === undefined;
  const d = readableBoth ? diffInitrd(live, previous) : undefined;
  return {
    ok: problems.every((p) => p.severity !== 'error'),
    version: backup.version,
    live: side(world, live),
    backup: { id: backup.id, ...side(world, previous) },
    modules: { added: d?.modulesAdded ?? [], removed: d?.modulesRemoved ?? [] },
    configs: { changed: d?.configsChanged ?? [], added: d?.configsAdded ?? [], removed: d?.configsRemoved ?? [] },
    problems,
  };
}
