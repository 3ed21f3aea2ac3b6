// Hashes a set's files and compares them with the manifest (the rules: model/verify.ts).
import * as path from 'node:path';
import { sha256File } from '../io/files';
import type { BackupSet } from '../model/boot-model';
import { manifestSet, type ManifestSet } from '../model/manifest';
import { compareWithRecord, FINDING_TEXT, type FileFinding } from '../model/verify';
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
  for (const set of state.model.sets) {
    if (version && set.version !== version) continue;
    const recorded = manifestSet(state.manifest, set.id);
    if (!recorded) continue;
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
  const findings = await verifySet(state, set, recorded, 'throw');
  // restore reads the set's files: a recorded file that is gone (a stem dropped from FILES) is not its concern.
  return findings.filter((f) => f.kind !== 'missing').map((f) => `${f.name} ${FINDING_TEXT[f.kind]}`);
}
