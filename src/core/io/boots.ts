// Reads and writes kbackup's boot state: /var/lib/kbackup/boots.json (model/boots.ts) and
// trial.json (model/trial.ts), atomically like the manifest.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { validateBoots, type BootRecord } from '../model/boots';
import { errnoOf, ioError } from '../model/errors';
import { validateTrialRecord, type TrialRecord } from '../model/trial';
import { writeFileDurably } from './copy';

/**
 * `unknown`: records this version does not understand, kept as they are. `asideFiles`: copies of an
 * unreadable boots.json set aside (boots.json.corrupt-STAMP) that the admin has not dealt with yet:
 * while one is there, the known-good is not known for sure.
 */
export type BootsRead = ({ state: 'ok' | 'missing' } | { state: 'corrupt'; reason: string }) & {
  boots: BootRecord[];
  unknown: unknown[];
  asideFiles: string[];
};

async function readJson(file: string): Promise<{ missing: true } | { missing: false; value?: unknown; error?: string }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return { missing: true };
    throw ioError(`cannot read ${file}`, err);
  }
  try {
    return { missing: false, value: JSON.parse(text) };
  } catch (err) {
    return { missing: false, error: `not valid JSON (${(err as Error).message})` };
  }
}

async function writeJson(file: string, value: unknown): Promise<void> {
  try {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  } catch (err) {
    throw ioError(`cannot create ${path.dirname(file)}`, err);
  }
  await writeFileDurably(file, `${JSON.stringify(value, null, 2)}\n`, 0o644);
}

/** Copies of an unreadable boots.json kept beside it (see setBootsAside). */
async function bootsAsideFiles(file: string): Promise<string[]> {
  const prefix = `${path.basename(file)}.corrupt-`;
  try {
    return (await fs.readdir(path.dirname(file))).filter((n) => n.startsWith(prefix)).sort().map((n) => path.join(path.dirname(file), n));
  } catch {
    return [];
  }
}

/**
 * The boot records, oldest first (in the order they were made). A file that is not JSON, or not
 * an array, is 'corrupt': no record can be trusted, and nothing that might be the known-good may be
 * deleted (ops/state.ts).
 */
export async function readBoots(file: string): Promise<BootsRead> {
  const [read, asideFiles] = await Promise.all([readJson(file), bootsAsideFiles(file)]);
  if (read.missing) return { state: 'missing', boots: [], unknown: [], asideFiles };
  if (read.error) return { state: 'corrupt', boots: [], unknown: [], asideFiles, reason: read.error };
  const checked = validateBoots(read.value);
  if ('reason' in checked) return { state: 'corrupt', boots: [], unknown: [], asideFiles, reason: checked.reason };
  return { state: 'ok', boots: checked.boots, unknown: checked.unknown, asideFiles };
}

/** Writes the records, with those this version does not understand kept first, as they were. */
export async function writeBoots(file: string, boots: readonly BootRecord[], unknown: readonly unknown[] = []): Promise<void> {
  await writeJson(file, [...unknown, ...boots]);
}

/** Renames an unreadable boots.json to `boots.json.corrupt-STAMP` and returns that name. */
export async function setBootsAside(file: string, stamp: string): Promise<string> {
  const kept = `${file}.corrupt-${stamp}`;
  try {
    await fs.rename(file, kept);
  } catch (err) {
    throw ioError(`cannot keep the unreadable ${file} aside as ${kept}`, err);
  }
  return kept;
}

export async function readTrialRecord(file: string): Promise<TrialRecord | undefined> {
  const read = await readJson(file);
  if (read.missing || read.error) return undefined;
  return validateTrialRecord(read.value);
}

export async function writeTrialRecord(file: string, record: TrialRecord): Promise<void> {
  await writeJson(file, record);
}

export async function removeTrialRecord(file: string): Promise<void> {
  try {
    await fs.rm(file, { force: true });
  } catch (err) {
    throw ioError(`cannot remove ${file}`, err);
  }
}
