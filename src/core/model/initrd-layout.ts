// How an initrd image is laid out, read as a stream of its bytes: uncompressed newc archives at the
// front (early microcode, dracut's early_cpio), each followed by zero padding, then the main archive,
// compressed (or, in an image with no compression, the last uncompressed archive). The kernel
// (init/initramfs.c) and unmkinitramfs walk it the same way. Pure: io/initrd-image.ts feeds it the
// file and starts the decompressor its answer names.
import { copyOf, isNewcMagic, NewcParser, type CpioEntry } from './cpio-newc';
import type { Compression } from './initrd-health';

const MAGICS: { compression: Compression; bytes: number[] }[] = [
  { compression: 'gzip', bytes: [0x1f, 0x8b] },
  { compression: 'zstd', bytes: [0x28, 0xb5, 0x2f, 0xfd] },
  { compression: 'xz', bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { compression: 'lz4', bytes: [0x02, 0x21, 0x4c, 0x18] }, // legacy frame, what mkinitramfs writes
  { compression: 'lz4', bytes: [0x04, 0x22, 0x4d, 0x18] },
  { compression: 'bzip2', bytes: [0x42, 0x5a, 0x68] },
  { compression: 'lzo', bytes: [0x89, 0x4c, 0x5a, 0x4f] },
  { compression: 'lzma', bytes: [0x5d, 0x00, 0x00] },
];
const SNIFF_BYTES = 6;

export function compressionOf(head: Uint8Array): Compression {
  if (isNewcMagic(head.subarray(0, 6)) && head.length >= 6) return 'none';
  for (const { compression, bytes } of MAGICS) {
    if (bytes.every((b, i) => head[i] === b)) return compression;
  }
  return 'unknown';
}

/** The decompressor each compression needs, as Debian ships it: program and arguments to stdout. */
export const DECOMPRESSORS: Partial<Record<Compression, { program: string; args: string[]; package: string }>> = {
  gzip: { program: 'gzip', args: ['-dc'], package: 'gzip' },
  zstd: { program: 'zstd', args: ['-dcq'], package: 'zstd' },
  xz: { program: 'xz', args: ['-dc'], package: 'xz-utils' },
  lzma: { program: 'xz', args: ['-dc', '--format=lzma'], package: 'xz-utils' },
  lz4: { program: 'lz4', args: ['-dc'], package: 'lz4' },
  bzip2: { program: 'bzip2', args: ['-dc'], package: 'bzip2' },
  lzo: { program: 'lzop', args: ['-dc'], package: 'lzop' },
};

type Phase =
  | { kind: 'archive'; parser: NewcParser }
  /** After a trailer: zero padding, then another archive or the compressed main archive. */
  | { kind: 'between'; sniff: Uint8Array[] }
  | { kind: 'main' }
  | { kind: 'bad'; why: string };

/**
 * Walks the uncompressed front of an image. `push` returns the bytes that belong to the compressed
 * main archive (once `compression` is known, every later byte does), for the caller to decompress
 * at once: they may be a view of the chunk it was given.
 */
export class InitrdLayoutScanner {
  /** Uncompressed archives read completely, in order (their entries are the image's too). */
  readonly archives: NewcParser[] = [];
  compression?: Compression;
  private phase: Phase;
  private offset = 0;
  /** Where the main archive starts in the file. */
  mainOffset?: number;

  constructor(private readonly keep: (path: string) => boolean) {
    this.phase = { kind: 'between', sniff: [] };
  }

  /** Why the image cannot be read this way, once known. */
  get error(): string | undefined {
    return this.phase.kind === 'bad' ? this.phase.why : undefined;
  }

  push(chunk: Uint8Array): Uint8Array | undefined {
    let at = 0;
    while (at < chunk.length) {
      const p = this.phase;
      if (p.kind === 'main') return this.mainFrom(chunk, at);
      if (p.kind === 'bad') return undefined;
      if (p.kind === 'archive') {
        const used = p.parser.push(chunk.subarray(at));
        at += used;
        this.offset += used;
        if (p.parser.failed) {
          this.phase = { kind: 'bad', why: p.parser.error ?? 'a damaged cpio archive' };
          return undefined;
        }
        if (p.parser.ended) {
          this.archives.push(p.parser);
          this.phase = { kind: 'between', sniff: [] };
        }
        continue;
      }
      // Between archives: the kernel skips zeros four bytes at a time.
      if (p.sniff.length === 0) {
        let i = at;
        while (i < chunk.length && chunk[i] === 0) i++;
        const skipped = ((this.offset + (i - at)) & ~3) - this.offset;
        if (i === chunk.length) {
          this.offset += i - at;
          return undefined;
        }
        // A non-zero byte: what starts at the last 4-byte boundary decides.
        const start = at + Math.max(0, skipped);
        this.offset += start - at;
        at = start;
      }
      const have = p.sniff.reduce((n, b) => n + b.length, 0);
      const take = Math.min(SNIFF_BYTES - have, chunk.length - at);
      p.sniff.push(copyOf(chunk, at, at + take));
      if (have + take < SNIFF_BYTES) return undefined;
      const head = new Uint8Array(SNIFF_BYTES);
      let k = 0;
      for (const b of p.sniff) {
        head.set(b, k);
        k += b.length;
      }
      const compression = compressionOf(head);
      if (compression === 'none') {
        // Re-read the sniffed bytes as the start of the next archive (from `at`, nothing consumed yet
        // but what came from earlier chunks).
        const parser = new NewcParser(this.keep);
        this.phase = { kind: 'archive', parser };
        const earlier = head.subarray(0, have);
        if (earlier.length > 0) {
          parser.push(earlier);
          this.offset += earlier.length;
        }
        continue;
      }
      if (compression === 'unknown') {
        this.phase = { kind: 'bad', why: this.archives.length === 0 ? 'it starts with neither a cpio archive nor a known compression' : `what follows its ${this.archives.length} uncompressed archive(s) is neither a cpio archive nor a known compression` };
        return undefined;
      }
      this.compression = compression;
      this.mainOffset = this.offset;
      this.phase = { kind: 'main' };
      // The sniffed bytes from earlier chunks are the main archive's first bytes too.
      const earlier = head.subarray(0, have);
      const rest = chunk.subarray(at);
      this.offset += have;
      const main = new Uint8Array(earlier.length + rest.length);
      main.set(earlier, 0);
      main.set(rest, earlier.length);
      this.offset += rest.length;
      return main;
    }
    return undefined;
  }

  private mainFrom(chunk: Uint8Array, at: number): Uint8Array {
    this.offset += chunk.length - at;
    return at === 0 ? chunk : chunk.subarray(at);
  }

  /**
   * At the end of the file: the layout, or why it is unreadable. An image with no compressed part is
   * read whole here: its last archive is the main one.
   */
  finish(): { earlyArchives: number; compression: Compression; entries: CpioEntry[]; kept: Map<string, Uint8Array> } | { error: string } {
    const p = this.phase;
    if (p.kind === 'bad') return { error: p.why };
    if (p.kind === 'archive') return { error: p.parser.finish() ?? 'the archive ends early' };
    if (p.kind === 'between' && p.sniff.length > 0) return { error: 'it ends with a few bytes that are neither padding nor an archive' };
    if (this.archives.length === 0 && p.kind !== 'main') return { error: 'the file holds only zeros' };
    const entries = this.archives.flatMap((a) => a.entries);
    const kept = new Map(this.archives.flatMap((a) => [...a.kept]));
    if (p.kind === 'main') return { earlyArchives: this.archives.length, compression: this.compression!, entries, kept };
    return { earlyArchives: this.archives.length - 1, compression: 'none', entries, kept };
  }
}
