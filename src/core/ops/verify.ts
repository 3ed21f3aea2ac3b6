// Hashes a set's files and compares them with the manifest (the rules: model/verify.ts).
import * as path from 'node:path';
import { sha256File } from '../io/files';
import type { BackupSet } from '../model/boot-model';
import { manifestSet, type ManifestSet } from '../model/manifest';
import { compareWithRecord, FINDING_TEXT, matchesRecordCheaply, type FileFinding } from '../model/verify';
import type { State } from './state';

async function verifySet(state: State, set: BackupSet, recorded: ManifestSet, unreadable: 'report' | 'throw'): Promise<FileFinding[]> {
  const hashes = new Map<string, string | undefined>();
  for (const f of set.files.values()) {
    if (!recorded.files.some((r) => r.name === f.name)) continue;
    const hash = sha256File(path.join(state.paths.boot, f.name));
    hashes.set(f.name, unreadable === 'throw' ? await hash : await hash.catch(() => undefined));
  }
  return compareWithRecord(set, recorded, hashes);
}

/** check's manifest-mismatch facts: recorded files that are missing, unreadable or changed. */
export async function manifestMismatches(state: State, version?: string): Promise<{ id: string; name: string; why: string }[]> {
  const out: { id: string; name: string; why: string }[] = [];
  // The postinst hook (one version) looks only at the set its preinst just made, the newest of that
  // version, and as list does (size and mtime; hashed only if they differ): the copy was hashed as
  // it was made, and hashing it again moments later would read the page cache the copy just filled,
  // which proves nothing about the disk. check verifies every set's sha256.
  const newestOfVersion = version ? state.model.sets.find((s) => s.version === version) : undefined;
  for (const set of state.model.sets) {
    if (version && set !== newestOfVersion) continue;
    const recorded = manifestSet(state.manifest, set.id);
    if (!recorded) continue;
    if (version && matchesRecordCheaply(set, recorded)) continue;
    for (const f of await verifySet(state, set, recorded, 'report')) {
      if (f.kind !== 'unrecorded') out.push({ id: set.id, name: f.name, why: FINDING_TEXT[f.kind] });
    }
  }
  return out;
}

/** Why a set is not what kbackup recorded, before it becomes the live kernel (restore). */
export async function restoreVerification(state: State, set: BackupSet): Promise<string[]> {
  const recorded = manifestSet(state.manifest, set.id);
  if (!recorded) return [`${set.id} is not recorded in the manifest, so its checksums cannot be verified`];
  // The same definition as list and check: a recorded file that is gone makes the set unverified.
  const findings = await verifySet(state, set, recorded, 'throw');
  return findings.map((f) => `${f.name} ${FINDING_TEXT[f.kind]}`);
}
