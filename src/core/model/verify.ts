// What "verified" means: a backup set's files against what the manifest recorded when kbackup
// made them. One definition, read three ways: `list` (cheap: size and mtime), `check` and `restore`
// (sha256 of every file).
import type { BackupSet } from './boot-model';
import type { ManifestSet } from './manifest';

export type FileFindingKind = 'missing' | 'unrecorded' | 'unreadable' | 'changed';

export interface FileFinding {
  name: string;
  kind: FileFindingKind;
}

export const FINDING_TEXT: Record<FileFindingKind, string> = {
  missing: 'is recorded in the manifest but missing',
  unrecorded: 'is not recorded in the manifest',
  unreadable: 'cannot be read',
  changed: 'no longer matches its recorded sha256',
};

/** `list`'s verified: recorded, and every file is a regular file whose size and mtime still match. */
export function matchesRecordCheaply(set: BackupSet, recorded: ManifestSet | undefined): boolean {
  if (!recorded) return false;
  const byName = new Map(recorded.files.map((m) => [m.name, m]));
  return [...set.files.values()].every((f) => {
    const r = byName.get(f.name);
    return !!r && r.size === f.size && Math.abs(Date.parse(r.mtime) - f.mtimeMs) < 1000 && f.type === 'file';
  });
}

/**
 * Every way a set's files differ from their record, given the sha256 of the files on disk
 * (undefined: could not be read). Recorded files first (in the record's order), then unrecorded ones.
 */
export function compareWithRecord(set: BackupSet, recorded: ManifestSet, hashes: ReadonlyMap<string, string | undefined>): FileFinding[] {
  const onDisk = new Set([...set.files.values()].map((f) => f.name));
  const findings: FileFinding[] = [];
  for (const r of recorded.files) {
    if (!onDisk.has(r.name)) findings.push({ name: r.name, kind: 'missing' });
    else if (hashes.get(r.name) === undefined) findings.push({ name: r.name, kind: 'unreadable' });
    else if (hashes.get(r.name) !== r.sha256) findings.push({ name: r.name, kind: 'changed' });
  }
  const recordedNames = new Set(recorded.files.map((r) => r.name));
  for (const name of onDisk) if (!recordedNames.has(name)) findings.push({ name, kind: 'unrecorded' });
  return findings;
}
