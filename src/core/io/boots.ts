// Reads and writes kbackup's boot state: /var/lib/kbackup/boots.json (model/boots.ts) and
// trial.json (model/trial.ts), atomically like the manifest.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { emptyBoots, validateBoots, BOOTS_FORMAT, type BootRecord } from '../model/boots';
import { errnoOf, ioError } from '../model/errors';
import { validateTrialRecord, type TrialRecord } from '../model/trial';
import { writeFileDurably } from './copy';

export type BootsRead = { state: 'ok' | 'missing'; boots: BootRecord[] } | { state: 'corrupt'; boots: BootRecord[]; reason: string };

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

/** The boot records, oldest first. A corrupt file reads as none (the next boot record replaces it). */
export async function readBoots(file: string): Promise<BootsRead> {
  const read = await readJson(file);
  if (read.missing) return { state: 'missing', boots: emptyBoots().boots };
  if (read.error) return { state: 'corrupt', boots: [], reason: read.error };
  const checked = validateBoots(read.value);
  if ('reason' in checked) return { state: 'corrupt', boots: [], reason: checked.reason };
  return { state: 'ok', boots: checked.boots.boots };
}

export async function writeBoots(file: string, boots: readonly BootRecord[]): Promise<void> {
  await writeJson(file, { format: BOOTS_FORMAT, boots });
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
