// /var/lib/kbackup/initrd-summaries.json: an initrd's summary kept between runs, keyed by the image's
// size, mtime and sha256 (and, for the very file it was read from, its inode and ctime). Decompressing an image is the costly part of judging it, and the image a
// new one is judged against (its backup, the previous kernel's) was the live one at the last update:
// with this, the postinst hook decompresses only the new image.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { InitrdSummary } from '../model/initrd-health';
import type { World } from '../world';
import { replaceFile } from './copy';
import { sha256File } from './files';
import { emptySummary, readInitrd, readInitrdImage } from './initrd-image';
import { pathsFor } from './paths';

const FORMAT = 1;
/** Images remembered, most recently used first: a few kernels with a few backups each. */
const MAX_ENTRIES = 16;

interface Entry {
  size: number;
  mtimeMs: number;
  sha256: string;
  /** The file it was read from: the same inode, size, mtime and ctime is the same content, unhashed. */
  ino?: number;
  ctimeMs?: number;
  usedAt: string;
  summary: Omit<InitrdSummary, 'path' | 'nameVersion'>;
}

/**
 * A lookup hashes the image only when its size and mtime match an entry, or takes a sha256 the caller
 * already trusts (the manifest's, for a backup whose size and mtime are unchanged). The file an entry
 * was read from is known without hashing while its inode, size, mtime and ctime are unchanged: any
 * write to it moves the ctime, which no program can set back (the postinst hook finds the image the
 * background reader read that way). It is only a cache: unreadable, lost or stale, the images are
 * read again; a failed read is never remembered.
 */
export class InitrdSummaryCache {
  private dirty = false;

  private constructor(
    private readonly file: string,
    private entries: Entry[],
  ) {}

  static async load(world: World): Promise<InitrdSummaryCache> {
    const file = path.join(pathsFor(world.root).state, 'initrd-summaries.json');
    let entries: Entry[] = [];
    try {
      const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as { format?: unknown; entries?: unknown };
      if (parsed.format === FORMAT && Array.isArray(parsed.entries)) {
        entries = (parsed.entries as Entry[]).filter(
          (e) =>
            typeof e?.size === 'number' &&
            typeof e.mtimeMs === 'number' &&
            typeof e.sha256 === 'string' &&
            typeof e.usedAt === 'string' &&
            Array.isArray(e.summary?.modules) &&
            Array.isArray(e.summary.kernelVersions),
        );
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException)?.code !== 'ENOENT') world.log.debug(`ignoring ${file}: ${String(err)}`);
    }
    return new InitrdSummaryCache(file, entries);
  }

  /** The summary of `image`: from the cache when size, mtime and sha256 match, else read and remembered. */
  async summarize(world: World, image: string, trustedSha256?: string): Promise<InitrdSummary> {
    const st = await fs.stat(image).catch(() => undefined);
    if (!st?.isFile()) return readInitrd(world, image);
    const candidates = this.entries.filter((e) => e.size === st.size && e.mtimeMs === st.mtimeMs);
    let sha = trustedSha256 ?? candidates.find((e) => e.ino === st.ino && e.ctimeMs === st.ctimeMs)?.sha256;
    if (candidates.length > 0) {
      sha ??= await sha256File(image);
      const hit = candidates.find((e) => e.sha256 === sha);
      if (hit) {
        hit.usedAt = world.now().toISOString();
        this.dirty = true;
        world.log.debug(`${image}: summary kept from an earlier reading`);
        return { ...emptySummary(image), ...hit.summary };
      }
    }
    // One read of the file gives both the summary and its sha256.
    const { summary, sha256 } = await readInitrdImage(world, image);
    const digest = sha ?? sha256;
    if (summary.error === undefined && digest !== undefined) {
      const { path: _path, nameVersion: _nameVersion, ...rest } = summary;
      this.entries = this.entries.filter((e) => !(e.size === st.size && e.mtimeMs === st.mtimeMs && e.sha256 === digest));
      this.entries.push({ size: st.size, mtimeMs: st.mtimeMs, sha256: digest, ino: st.ino, ctimeMs: st.ctimeMs, usedAt: world.now().toISOString(), summary: rest });
      this.dirty = true;
    }
    return summary;
  }

  /** Writes the cache if it changed; never throws (a read-only /var only costs the next run a reading). */
  async save(world: World): Promise<void> {
    if (!this.dirty) return;
    const kept = [...this.entries].sort((a, b) => (a.usedAt < b.usedAt ? 1 : a.usedAt > b.usedAt ? -1 : 0)).slice(0, MAX_ENTRIES);
    try {
      await fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o755 });
      await replaceFile(this.file, `${JSON.stringify({ format: FORMAT, entries: kept })}\n`, 0o644, { durable: false });
      this.dirty = false;
    } catch (err) {
      world.log.debug(String((err as Error)?.message ?? err));
    }
  }
}
