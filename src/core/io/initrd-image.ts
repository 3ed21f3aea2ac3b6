// Reads initrd images for the initrd health check (the judging is pure, in model/initrd-health.ts).
//
// One pass per image: the file is read once, in large chunks, and every chunk is hashed (the sha256
// the summary cache keys on) and walked: the uncompressed archives at the front (early microcode) are
// parsed in-process, and the compressed main archive is piped through the distribution's own
// decompressor (gzip, zstd, xz, lz4, bzip2, by its magic), whose output is parsed as a newc stream
// (model/cpio-newc.ts) for names, modes and sizes, keeping only the few configuration files that are
// compared. Nothing is extracted to disk, and the image is never held in memory.
//
// An image this reader does not understand (an unknown compression, a main archive that is not
// newc) is listed with the distribution's tool instead (`lsinitramfs -l` from initramfs-tools-core,
// else dracut's `lsinitrd`), and --verbose says so. A missing program, a timeout or an unreadable
// image is a summary with `error` set, never an exception: check turns it into a problem.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { NewcParser } from '../model/cpio-newc';
import { errnoOf } from '../model/errors';
import { isConfigPath, parseListing, summarizeListing, type ConfigFileFact, type InitrdSummary, type InitrdTool, type ListingEntry } from '../model/initrd-health';
import { DECOMPRESSORS, InitrdLayoutScanner } from '../model/initrd-layout';
import { parseBootName } from '../model/names';
import type { World } from '../world';

/**
 * How long one program may run on one image. Decompressing a 256 MiB xz image takes seconds; a
 * program still running after this is stuck (a hung NFS read, a broken tool), and the kernel update
 * must go on: the hook's own bound on all its programs is in commands/hook.ts.
 */
export const READ_TIMEOUT_MS = 120_000;
/** Large reads: one read(2) per 4 MiB keeps the hashing and the pipe writes, not the calls, the cost. */
const CHUNK_BYTES = 4 * 1024 * 1024;

interface ListingResult {
  tool?: InitrdTool;
  text: string;
  error?: string;
  errorKind?: InitrdSummary['errorKind'];
}

// `env LC_ALL=C`: cpio prints month names in the locale, and the listing parser expects C's.
// env exits 127 when the program is not installed, which tells "no such tool" from "bad image" (2).
async function listImage(world: World, image: string): Promise<ListingResult> {
  const attempts: { tool: InitrdTool; args: string[] }[] = [
    { tool: 'lsinitramfs', args: ['-l', image] },
    { tool: 'lsinitrd', args: [image] },
  ];
  for (const { tool, args } of attempts) {
    const r = await world.exec('env', ['LC_ALL=C', tool, ...args], { timeoutMs: READ_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
    if (r.timedOut) return { tool, text: '', error: timedOutMessage(tool), errorKind: 'timeout' };
    if (r.code === 127 || r.code === 126) continue;
    if (r.code !== 0) {
      const why = lastLines(r.stderr) || `${tool} exited with status ${r.code}`;
      return { tool, text: r.stdout, error: `${tool} failed: ${why}`, errorKind: 'unreadable' };
    }
    return { tool, text: r.stdout };
  }
  return { text: '', error: 'neither lsinitramfs nor lsinitrd is installed; install initramfs-tools-core (lsinitramfs) or dracut (lsinitrd)', errorKind: 'tool-missing' };
}

function timedOutMessage(program: string): string {
  return `${program} was still reading it after ${Math.round(READ_TIMEOUT_MS / 1000)} s (or the hook's time ran out) and was stopped`;
}

function lastLines(text: string, n = 2): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(-n)
    .join('; ');
}

export function emptySummary(image: string): InitrdSummary {
  const summary: InitrdSummary = { path: image, entries: 0, kernelVersions: [], modules: [], moduleFiles: 0, modulesDep: {}, configs: {} };
  const parsed = parseBootName(path.basename(image), ['initrd.img']);
  if (parsed && parsed.stem === 'initrd.img') summary.nameVersion = parsed.version;
  return summary;
}


/** Reads a file front to back in large chunks, each read into a fresh buffer (it is handed to a pipe). */
class ChunkReader {
  private offset = 0;
  constructor(
    private readonly fh: fs.FileHandle,
    private readonly size: number,
  ) {}

  async next(): Promise<Buffer | undefined> {
    if (this.offset >= this.size) return undefined;
    const buf = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, this.size - this.offset));
    const { bytesRead } = await this.fh.read(buf, 0, buf.length, this.offset);
    if (bytesRead === 0) {
      this.offset = this.size;
      return undefined;
    }
    this.offset += bytesRead;
    return bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
  }
}

export interface InitrdReading {
  summary: InitrdSummary;
  /** sha256 of the whole file, from the same read; absent when the file could not be read through. */
  sha256?: string;
  /** Every entry of every archive, as `lsinitramfs -l` lists them (for the differential test). */
  entries?: ListingEntry[];
}

function configFacts(kept: ReadonlyMap<string, Uint8Array>): Map<string, ConfigFileFact> {
  return new Map([...kept].map(([p, content]) => [p, { size: content.length, sha256: createHash('sha256').update(content).digest('hex') }]));
}

function summaryFrom(summary: InitrdSummary, entries: readonly ListingEntry[], configs: ReadonlyMap<string, ConfigFileFact>, tool: InitrdTool): InitrdSummary {
  if (entries.length === 0) return { ...summary, error: `${tool === 'kbackup' ? 'the image' : tool} listed no files`, errorKind: 'unreadable' };
  const facts = summarizeListing(entries);
  const sizes = new Map(entries.filter((e) => e.type === 'file').map((e) => [e.path, e.size] as const));
  return {
    ...summary,
    tool,
    entries: facts.entries,
    kernelVersions: facts.kernelVersions,
    modules: facts.modules,
    moduleFiles: facts.moduleFiles,
    modulesDep: facts.modulesDep,
    // The listing says which configuration files the image holds; the reading, what they contain.
    configs: Object.fromEntries(facts.configPaths.map((p) => [p, configs.get(p) ?? { size: sizes.get(p) ?? 0 }])),
  };
}

/**
 * Reads an initrd in one pass (see the top of this file) and hashes it from the same reads. Never
 * throws for a missing program or a bad image: the summary then has `error` and `errorKind` set.
 */
export async function readInitrdImage(world: World, image: string): Promise<InitrdReading> {
  const summary = emptySummary(image);
  let fh: fs.FileHandle;
  let size: number;
  try {
    fh = await fs.open(image, 'r');
  } catch (err) {
    return { summary: { ...summary, error: errnoOf(err) === 'ENOENT' ? 'no such file' : String((err as Error).message ?? err), errorKind: 'unreadable' } };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { summary: { ...summary, error: 'not a regular file', errorKind: 'unreadable' } };
    size = st.size;
    summary.size = size;
    const hash = createHash('sha256');
    if (size === 0) return { summary: { ...summary, error: 'the file is empty', errorKind: 'unreadable' }, sha256: hash.digest('hex') };
    const reader = new ChunkReader(fh, size);
    const nextHashed = async () => {
      const chunk = await reader.next();
      if (chunk) hash.update(chunk);
      return chunk;
    };
    const drain = async () => {
      while (await nextHashed());
    };

    const scanner = new InitrdLayoutScanner(isConfigPath);
    let main: Uint8Array | undefined;
    for (let chunk = await nextHashed(); chunk && !main && scanner.error === undefined; chunk = main || scanner.error !== undefined ? undefined : await nextHashed()) {
      main = scanner.push(chunk);
    }
    if (scanner.error !== undefined) {
      await drain();
      return { summary: await fallBack(world, image, summary, scanner.error), sha256: hash.digest('hex') };
    }
    if (!main) {
      // No compressed part: the whole image was read here.
      const done = scanner.finish();
      const sha256 = hash.digest('hex');
      if ('error' in done) return { summary: { ...summary, error: `the image is truncated or damaged: ${done.error}`, errorKind: 'unreadable' }, sha256 };
      return { summary: { ...summaryFrom(summary, done.entries, configFacts(done.kept), 'kbackup'), compression: 'none', earlyArchives: done.earlyArchives }, sha256, entries: done.entries };
    }

    const compression = scanner.compression!;
    const early = scanner.finish();
    const earlyEntries = 'error' in early ? [] : early.entries;
    const earlyKept = 'error' in early ? new Map<string, Uint8Array>() : early.kept;
    const decompressor = DECOMPRESSORS[compression];
    if (!decompressor) {
      await drain();
      return { summary: await fallBack(world, image, summary, `it has no decompressor for ${compression}`), sha256: hash.digest('hex') };
    }
    const parser = new NewcParser(isConfigPath);
    const first = main;
    const r = await world.exec(decompressor.program, decompressor.args, {
      timeoutMs: READ_TIMEOUT_MS,
      input: async (write) => {
        await write(first);
        for (let chunk = await nextHashed(); chunk; chunk = await nextHashed()) await write(chunk);
      },
      // cpio stops at the main archive's trailer too; what the decompressor still gives is not listed.
      onStdout: (chunk) => {
        if (!parser.ended && !parser.failed) parser.push(chunk);
      },
    });
    // A decompressor that never started or ended early left the rest unread: it is hashed all the same.
    await drain();
    const sha256 = hash.digest('hex');
    const base = { ...summary, compression, earlyArchives: scanner.archives.length };
    if (r.timedOut) return { summary: { ...base, error: timedOutMessage(decompressor.program), errorKind: 'timeout' }, sha256 };
    if (r.code === 127 || r.code === 126) {
      return {
        summary: { ...base, error: `${decompressor.program} is not installed, and this image is ${compression}-compressed; install ${decompressor.package}`, errorKind: 'tool-missing' },
        sha256,
      };
    }
    if (parser.failed && parser.entries.length === 0 && r.code === 0) {
      return { summary: await fallBack(world, image, summary, `its ${compression}-compressed archive is not a newc cpio archive`), sha256 };
    }
    if (r.code !== 0) {
      return { summary: { ...base, error: `the image is truncated or damaged: ${decompressor.program} failed: ${lastLines(r.stderr) || `status ${r.code}`}`, errorKind: 'unreadable' }, sha256 };
    }
    const incomplete = parser.finish();
    if (incomplete !== undefined) return { summary: { ...base, error: `the image is truncated or damaged: ${incomplete}`, errorKind: 'unreadable' }, sha256 };
    const configs = configFacts(new Map([...earlyKept, ...parser.kept]));
    const entries = [...earlyEntries, ...parser.entries];
    return { summary: summaryFrom(base, entries, configs, 'kbackup'), sha256, entries };
  } finally {
    await fh.close();
  }
}

/** The distribution's tool, for an image kbackup's reader does not understand (`why`). */
async function fallBack(world: World, image: string, summary: InitrdSummary, why: string): Promise<InitrdSummary> {
  world.log.debug(`${image}: kbackup's reader does not understand it (${why}): listing it with lsinitramfs or lsinitrd instead`);
  const listing = await listImage(world, image);
  if (listing.error !== undefined) {
    // The tool could not read it either: say what kbackup saw, and what the tool said.
    const error = listing.errorKind === 'unreadable' ? `${why}; ${listing.error}` : listing.error;
    return { ...summary, ...(listing.tool ? { tool: listing.tool } : {}), error, ...(listing.errorKind ? { errorKind: listing.errorKind } : {}) };
  }
  const entries = parseListing(listing.text);
  // The configuration files are compared by size only: their content is not extracted.
  return { ...summaryFrom(summary, entries, new Map(), listing.tool!), compression: 'unknown' };
}

/** An initrd's summary (readInitrdImage without the hash). */
export async function readInitrd(world: World, image: string): Promise<InitrdSummary> {
  return (await readInitrdImage(world, image)).summary;
}
