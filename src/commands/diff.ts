// `kbackup diff [ID] [--json]`: what changed between a live initrd and a backup set's initrd — module
// counts, modules added and removed, configuration files changed — plus the health problems check
// would report for the pair (root drivers are check's business, not diff's).
//
// ID is a set ID (`6.1.0-18-amd64~~backup202611222040`) or a kernel VERSION (its newest backup). With
// neither: the newest backup of the running kernel, or, if the running kernel has none and exactly one
// version has backups, that version's newest. Exit code: 0, or 1 when the comparison finds an error
// (as check does), 2 for an ID that names nothing.
import * as path from 'node:path';
import { UsageError } from '../core/errors';
import { listInitrdBackups, liveInitrdPath, readInitrd, type InitrdBackup } from '../core/initrd';
import { compareInitrd, diffInitrd, type InitrdSummary } from '../core/initrd-health';
import { versionProblem } from '../core/names';
import type { Problem } from '../core/problems';
import { pathsFor, type World } from '../core/world';

export interface DiffDeps {
  readInitrd: (world: World, image: string) => Promise<InitrdSummary>;
  listInitrdBackups: (world: World, version?: string) => Promise<InitrdBackup[]>;
}

export const defaultDiffDeps: DiffDeps = { readInitrd, listInitrdBackups };

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

const HUMAN_LIST_MAX = 20;

async function chooseBackup(world: World, id: string | undefined, deps: DiffDeps): Promise<InitrdBackup> {
  const boot = pathsFor(world.root).boot;
  if (id !== undefined) {
    const version = id.includes('~~') ? id.slice(0, id.indexOf('~~')) : id;
    const bad = versionProblem(version);
    if (bad) throw new UsageError(`refusing ${JSON.stringify(id)}: ${bad}`);
    const backups = await deps.listInitrdBackups(world, version);
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
  const all = await deps.listInitrdBackups(world);
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

export async function buildDiffReport(world: World, id: string | undefined, deps: DiffDeps = defaultDiffDeps): Promise<DiffReport> {
  const backup = await chooseBackup(world, id, deps);
  const [live, previous] = await Promise.all([deps.readInitrd(world, liveInitrdPath(world, backup.version)), deps.readInitrd(world, backup.path)]);
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

function names(list: readonly string[]): string {
  if (list.length <= HUMAN_LIST_MAX) return list.join(', ');
  return `${list.slice(0, HUMAN_LIST_MAX).join(', ')} … and ${list.length - HUMAN_LIST_MAX} more (--json lists all)`;
}

function mib(bytes: number | null): string {
  return bytes === null ? '?' : `${(bytes / 1048576).toFixed(1)} MiB`;
}

function depText(s: DiffSide): string {
  const sizes = Object.values(s.modulesDep);
  if (sizes.length === 0) return 'no lib/modules';
  return sizes.map((b) => (b === null ? 'modules.dep missing' : `modules.dep ${b} bytes`)).join(', ');
}

export function renderDiff(r: DiffReport): string {
  const lines: string[] = [];
  lines.push(`live:   ${r.live.path}`);
  lines.push(`backup: ${r.backup.path} (${r.backup.id})`);
  for (const [label, s] of [
    ['live', r.live],
    ['backup', r.backup],
  ] as const) {
    lines.push(
      s.error !== null
        ? `  ${label}: unreadable: ${s.error}`
        : `  ${label}: ${s.moduleFiles} module files, ${depText(s)}, ${mib(s.size)} ${s.compression ?? ''}`.trimEnd(),
    );
  }
  if (r.live.error === null && r.backup.error === null) {
    const delta = r.live.moduleFiles - r.backup.moduleFiles;
    lines.push(`modules: ${r.backup.moduleFiles} → ${r.live.moduleFiles} (${delta >= 0 ? '+' : ''}${delta})`);
    if (r.modules.added.length > 0) lines.push(`  added (${r.modules.added.length}): ${names(r.modules.added)}`);
    if (r.modules.removed.length > 0) lines.push(`  removed (${r.modules.removed.length}): ${names(r.modules.removed)}`);
    const configChanges = r.configs.changed.length + r.configs.added.length + r.configs.removed.length;
    lines.push(configChanges === 0 ? 'config files: unchanged' : 'config files:');
    for (const p of r.configs.changed) lines.push(`  changed: ${p}`);
    for (const p of r.configs.added) lines.push(`  added:   ${p}`);
    for (const p of r.configs.removed) lines.push(`  removed: ${p}`);
  }
  for (const p of r.problems) lines.push(`${p.severity}: ${p.code}: ${p.message}`);
  return `${lines.join('\n')}\n`;
}

/**
 * What `kbackup diff [ID] [--json]` runs. Throws UsageError for an ID that names no backup; otherwise
 * returns the text for stdout and the exit code (1 when the pair has an error-severity problem).
 */
export async function runDiff(world: World, args: { id?: string; json: boolean }, deps: DiffDeps = defaultDiffDeps): Promise<{ exitCode: number; output: string }> {
  const report = await buildDiffReport(world, args.id, deps);
  return { exitCode: report.ok ? 0 : 1, output: args.json ? `${JSON.stringify(report, null, 2)}\n` : renderDiff(report) };
}
