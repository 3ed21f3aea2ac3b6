// /var/lib/kbackup/manifest.json: what kbackup wrote, with checksums, so `check` can tell a backup
// that rotted or was replaced from one that is as it was made. The format and its pure edits; reading
// and writing the file is io/manifest.ts.

export const MANIFEST_FORMAT = 1;
export const ORIGINS = ['preinst', 'initramfs', 'snapshot', 'restore', 'adopt', 'rebuilt', 'known-good'] as const;
export type Origin = (typeof ORIGINS)[number];

export interface ManifestFile {
  stem: string;
  name: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** ISO 8601 mtime of the backup (= the source's, which is preserved). */
  mtime: string;
  sha256: string;
}

export interface ManifestSet {
  id: string;
  version: string;
  created: string;
  origin: Origin;
  /** The kernel package's version the files came from, when dpkg told us. */
  packageVersion?: string;
  files: ManifestFile[];
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  sets: ManifestSet[];
}

/** Whether the manifest file was read, absent, or unreadable. */
export type ManifestState = 'ok' | 'missing' | 'corrupt';

export type ManifestRead =
  | { state: 'ok'; manifest: Manifest }
  | { state: 'missing'; manifest: Manifest }
  | { state: 'corrupt'; manifest: Manifest; reason: string };

export function emptyManifest(): Manifest {
  return { format: MANIFEST_FORMAT, sets: [] };
}

/** Validates parsed JSON; returns a reason when it is not a manifest this version understands. */
export function validateManifest(value: unknown): { manifest: Manifest } | { reason: string } {
  if (!value || typeof value !== 'object') return { reason: 'not a JSON object' };
  const v = value as Partial<Manifest>;
  if (v.format !== MANIFEST_FORMAT) return { reason: `unknown format ${JSON.stringify(v.format)}` };
  if (!Array.isArray(v.sets)) return { reason: '"sets" is not an array' };
  for (const s of v.sets) {
    if (!s || typeof s.id !== 'string' || typeof s.version !== 'string' || !Array.isArray(s.files)) {
      return { reason: 'a set lacks id, version or files' };
    }
    for (const f of s.files) {
      if (!f || typeof f.name !== 'string' || typeof f.sha256 !== 'string' || typeof f.size !== 'number') {
        return { reason: `set ${s.id} has a file without name, size or sha256` };
      }
    }
  }
  return { manifest: v as Manifest };
}

/** The recorded sha256 of a set's kernel image and initrd, to compare with a boot record. */
export function manifestHashes(set: ManifestSet): { id: string; imageSha256?: string; initrdSha256?: string } {
  const image = set.files.find((f) => f.stem === 'vmlinuz' || f.stem === 'vmlinux');
  const initrd = set.files.find((f) => f.stem === 'initrd.img');
  const out: { id: string; imageSha256?: string; initrdSha256?: string } = { id: set.id };
  if (image) out.imageSha256 = image.sha256;
  if (initrd) out.initrdSha256 = initrd.sha256;
  return out;
}

export function manifestSet(manifest: Manifest, id: string): ManifestSet | undefined {
  return manifest.sets.find((s) => s.id === id);
}

/** Returns a manifest with `set` added or replaced (by id). */
export function withSet(manifest: Manifest, set: ManifestSet): Manifest {
  return { format: MANIFEST_FORMAT, sets: [...manifest.sets.filter((s) => s.id !== set.id), set] };
}

export function withoutSets(manifest: Manifest, ids: Iterable<string>): Manifest {
  const drop = new Set(ids);
  if (drop.size === 0) return manifest;
  return { format: MANIFEST_FORMAT, sets: manifest.sets.filter((s) => !drop.has(s.id)) };
}
