// The files that make the fallback kernel kept and seen, outside /boot: the apt.conf.d file, the
// fallback record and its login line in /var/lib/kbackup, node_exporter's textfile, the journal.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { World } from '../world';
import { errnoOf, ioError, IoError } from '../model/errors';
import { APT_CONF_NAME, aptConfText, isKbackupAptConf, kernelPackagePatterns, TEXTFILE_DIR, TEXTFILE_NAME, validateFallback, type FallbackRecord } from '../model/fallback';
import { fsyncDir, replaceFile } from './copy';
import { isDirectory, readText } from './files';

export interface FallbackPaths {
  aptConf: string;
  record: string;
  motd: string;
  textfileDir: string;
  textfile: string;
}

export function fallbackPaths(root: string): FallbackPaths {
  const textfileDir = path.join(root, TEXTFILE_DIR);
  return {
    aptConf: path.join(root, 'etc/apt/apt.conf.d', APT_CONF_NAME),
    record: path.join(root, 'var/lib/kbackup/fallback.json'),
    motd: path.join(root, 'var/lib/kbackup/motd'),
    textfileDir,
    textfile: path.join(textfileDir, TEXTFILE_NAME),
  };
}

export async function readFallbackRecord(file: string): Promise<FallbackRecord | undefined> {
  const text = await readText(file).catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return validateFallback(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** Writes (or, with undefined, removes) the fallback record and the login line the motd script prints. */
export async function writeFallbackRecord(paths: FallbackPaths, record: FallbackRecord | undefined, motd: string): Promise<void> {
  if (record) {
    await fs.mkdir(path.dirname(paths.record), { recursive: true, mode: 0o755 }).catch(() => undefined);
    await replaceFile(paths.record, `${JSON.stringify(record, null, 2)}\n`, 0o644, { durable: true });
    await replaceFile(paths.motd, motd, 0o644, { durable: false });
    return;
  }
  for (const f of [paths.motd, paths.record]) await fs.rm(f, { force: true }).catch((err) => Promise.reject(ioError(`cannot remove ${f}`, err)));
}

export type AptConfOutcome =
  | { written: true; file: string; releases: string[] }
  | { written: false; file: string; why: string; releases: string[] };

/**
 * Replaces the apt.conf.d file with the entries of `releases`, read-only (0444), atomically: the
 * new text is written beside /etc/apt/apt.conf.d (a name apt never reads), checked with the real
 * `apt-config -c FILE dump` where apt is installed (it must parse, and keep every entry), and only
 * then renamed into place. A text that does not pass is removed and the old file stays: a broken
 * apt.conf.d file would stop every apt command. An admin's file of the same name is never touched.
 */
export async function writeAptConf(world: World, file: string, releases: readonly string[]): Promise<AptConfOutcome> {
  const rel = [...releases];
  const dir = path.dirname(file);
  if (!(await isDirectory(dir))) return { written: false, file, why: `${dir} does not exist (apt is not installed)`, releases: rel };
  const current = await readText(file).catch(() => undefined);
  const text = aptConfText(rel);
  if (current !== undefined && !isKbackupAptConf(current)) return { written: false, file, why: `${file} was not written by kbackup; it is left alone`, releases: rel };
  if (current === text) return { written: true, file, releases: rel };
  const tmp = path.join(path.dirname(dir), `.${APT_CONF_NAME}.${process.pid}.kbackup-new`);
  try {
    const handle = await fs.open(tmp, 'wx', 0o444);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    const why = await aptConfRefused(world, tmp, rel);
    if (why) {
      await fs.rm(tmp, { force: true });
      return { written: false, file, why, releases: rel };
    }
    await fs.rename(tmp, file);
    await fsyncDir(dir);
    return { written: true, file, releases: rel };
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw ioError(`cannot write ${file}`, err);
  }
}

/** Why apt-config refuses a candidate file (or loses an entry of it); undefined when it parses, or when apt-config is not installed. */
async function aptConfRefused(world: World, candidate: string, releases: readonly string[]): Promise<string | undefined> {
  const r = await world.exec('apt-config', ['-c', candidate, 'dump'], { timeoutMs: 20_000 });
  if (r.code === 127) return undefined;
  if (r.code !== 0) return `apt-config could not parse the new file (${r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`}), so the old one stays`;
  const missing = releases.flatMap(kernelPackagePatterns).find((p) => !r.stdout.includes(`"${p}"`));
  return missing ? `apt-config dump did not show ${missing} from the new file, so the old one stays` : undefined;
}

/** Whether the apt.conf.d file kbackup wrote names this release's package. */
export async function aptConfKeeps(file: string, release: string): Promise<boolean> {
  const text = await readText(file).catch(() => undefined);
  const first = kernelPackagePatterns(release)[0];
  return text !== undefined && isKbackupAptConf(text) && first !== undefined && text.includes(`"${first}"`);
}

/** Writes node_exporter's textfile when its directory exists (the temporary name does not end in .prom, so the collector never reads half a file). */
export async function writeTextfile(paths: FallbackPaths, text: string): Promise<boolean> {
  if (!(await isDirectory(paths.textfileDir))) return false;
  await replaceFile(paths.textfile, text, 0o644, { durable: false });
  return true;
}

/**
 * One structured journal entry (`logger --journald` reads the fields from a file): MESSAGE,
 * MESSAGE_ID, PRIORITY and kbackup's own KBACKUP_* fields. Returns why it could not be sent.
 */
export async function sendJournal(world: World, fields: Record<string, string>): Promise<string | undefined> {
  const file = path.join(world.tmpdir, `kbackup-journal-${process.pid}-${Date.now()}`);
  const text = Object.entries(fields)
    .map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`)
    .join('\n');
  try {
    await fs.writeFile(file, `${text}\n`, { mode: 0o600 });
    const r = await world.exec('logger', [`--journald=${file}`], { timeoutMs: 10_000 });
    return r.code === 0 ? undefined : `logger --journald failed: ${r.stderr.trim() || `exit ${r.code}`}`;
  } catch (err) {
    if (err instanceof IoError) return err.message;
    return `cannot write ${file}: ${errnoOf(err) ?? String(err)}`;
  } finally {
    await fs.rm(file, { force: true }).catch(() => undefined);
  }
}
