// Reads and writes /var/lib/kbackup/manifest.json (the format is model/manifest.ts).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { errnoOf, ioError } from '../model/errors';
import { emptyManifest, MANIFEST_FORMAT, validateManifest, type Manifest, type ManifestRead } from '../model/manifest';
import { writeFileDurably } from './copy';

export async function readManifest(file: string): Promise<ManifestRead> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return { state: 'missing', manifest: emptyManifest() };
    throw ioError(`cannot read ${file}`, err);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { state: 'corrupt', manifest: emptyManifest(), reason: `not valid JSON (${(err as Error).message})` };
  }
  const checked = validateManifest(parsed);
  if ('reason' in checked) return { state: 'corrupt', manifest: emptyManifest(), reason: checked.reason };
  return { state: 'ok', manifest: checked.manifest };
}

export async function writeManifest(file: string, manifest: Manifest): Promise<void> {
  const sorted: Manifest = { format: MANIFEST_FORMAT, sets: [...manifest.sets].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
  try {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  } catch (err) {
    throw ioError(`cannot create ${path.dirname(file)}`, err);
  }
  await writeFileDurably(file, `${JSON.stringify(sorted, null, 2)}\n`, 0o644);
}

/** Keeps an unreadable manifest for the admin under another name (best effort: it is being rebuilt). */
export async function setManifestAside(file: string, kept: string): Promise<void> {
  await fs.rename(file, kept).catch(() => undefined);
}
