// The `newc` cpio format (cpio -H newc, the only one the kernel unpacks into an initramfs), read as a
// stream: fed the bytes as they come, in chunks of any size, it gives each entry's name, mode and
// size and keeps the content of the few files a caller asks for. Pure: no I/O, no node: import; the
// io layer feeds it from a file or a decompressor's stdout.
//
// A header is 110 ASCII bytes: "070701" (or "070702", with checksums), then thirteen 8-digit hex
// fields (ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor,
// namesize, check). The name (namesize bytes with its NUL) follows; header + name, then the data,
// are each padded to a multiple of 4. The entry named TRAILER!!! ends the archive.
import type { EntryType, ListingEntry } from './initrd-health';

export const NEWC_HEADER_SIZE = 110;
const TRAILER = 'TRAILER!!!';
/** No initrd path comes near this; a larger namesize is a corrupt header, not a name to buffer. */
const MAX_NAME = 64 * 1024;
/** A kept file larger than this is not a configuration file: its content is not kept. */
const MAX_KEPT = 16 * 1024 * 1024;

const S_IFMT = 0o170000;

export function entryTypeOf(mode: number): EntryType {
  switch (mode & S_IFMT) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    default:
      return 'other';
  }
}

/** One entry, as `cpio -tv` would list it: mode is the permission bits (with setuid, setgid, sticky). */
export interface CpioEntry extends ListingEntry {
  mode: number;
}

/** Whether `bytes` start with a newc magic (as far as they go). */
export function isNewcMagic(bytes: Uint8Array): boolean {
  const magic = '070701';
  for (let i = 0; i < Math.min(6, bytes.length); i++) {
    if (i === 5 ? bytes[i] !== 0x31 && bytes[i] !== 0x32 : bytes[i] !== magic.charCodeAt(i)) return false;
  }
  return true;
}

function hexField(header: Uint8Array, at: number): number {
  let n = 0;
  for (let i = at; i < at + 8; i++) {
    const c = header[i]!;
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (digit < 0) return -1;
    n = n * 16 + digit;
  }
  return n;
}

const align4 = (n: number) => (n + 3) & ~3;

/**
 * A copy of part of a chunk, kept after the caller may reuse it. Not `chunk.slice`: on a Node Buffer
 * (what the io layer passes) slice is a view of the same memory.
 */
export function copyOf(chunk: Uint8Array, start: number, end: number): Uint8Array {
  return Uint8Array.prototype.slice.call(chunk, start, end);
}

type State =
  | { kind: 'header' }
  | { kind: 'name'; mode: number; size: number; nameSize: number; padded: number }
  | { kind: 'data'; entry?: CpioEntry; left: number; pad: number; keep?: Uint8Array[] }
  | { kind: 'ended' }
  | { kind: 'failed' };

/**
 * One newc archive, up to and including its TRAILER!!!. `push` returns how many bytes of the chunk
 * belonged to the archive: all of them until the trailer, then fewer (the rest is what follows the
 * archive: padding, another archive, a compressed one).
 */
export class NewcParser {
  readonly entries: CpioEntry[] = [];
  /** Content of the files `keep` chose (regular files, at most MAX_KEPT bytes each), by path. */
  readonly kept = new Map<string, Uint8Array>();
  /** Set when the bytes are not a newc archive; nothing more is read. */
  error?: string;
  private state: State = { kind: 'header' };
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private readonly decoder = new TextDecoder('utf-8');

  constructor(private readonly keep: (path: string) => boolean = () => false) {}

  get ended(): boolean {
    return this.state.kind === 'ended';
  }

  get failed(): boolean {
    return this.state.kind === 'failed';
  }

  /** Why the archive is incomplete at the end of the input, or undefined when it ended with its trailer. */
  finish(): string | undefined {
    if (this.state.kind === 'ended') return undefined;
    if (this.state.kind === 'failed') return this.error;
    return 'the archive ends before its TRAILER!!! entry (truncated)';
  }

  push(chunk: Uint8Array): number {
    let at = 0;
    while (at < chunk.length) {
      const s = this.state;
      if (s.kind === 'ended' || s.kind === 'failed') return at;
      if (s.kind === 'header') {
        const got = this.collect(chunk, at, NEWC_HEADER_SIZE);
        at += got.used;
        if (!got.bytes) continue;
        this.startEntry(got.bytes);
      } else if (s.kind === 'name') {
        const got = this.collect(chunk, at, s.padded);
        at += got.used;
        if (!got.bytes) continue;
        this.nameRead(s, got.bytes);
      } else {
        // Data and its padding: skipped, or copied only for a kept file.
        if (s.left > 0) {
          const n = Math.min(s.left, chunk.length - at);
          if (s.keep) s.keep.push(copyOf(chunk, at, at + n));
          s.left -= n;
          at += n;
          if (s.left > 0) continue;
        }
        const n = Math.min(s.pad, chunk.length - at);
        s.pad -= n;
        at += n;
        if (s.pad === 0) this.entryDone(s);
      }
    }
    // A header or name that ended exactly at the chunk's end.
    return at;
  }

  /** Gathers `size` bytes across chunks; `bytes` once complete. */
  private collect(chunk: Uint8Array, at: number, size: number): { used: number; bytes?: Uint8Array } {
    const need = size - this.pendingBytes;
    const n = Math.min(need, chunk.length - at);
    if (this.pendingBytes === 0 && n === size) return { used: n, bytes: chunk.subarray(at, at + n) };
    this.pending.push(copyOf(chunk, at, at + n));
    this.pendingBytes += n;
    if (this.pendingBytes < size) return { used: n };
    const bytes = concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return { used: n, bytes };
  }

  private fail(why: string): void {
    this.error = why;
    this.state = { kind: 'failed' };
  }

  private startEntry(header: Uint8Array): void {
    if (!isNewcMagic(header)) return this.fail(this.entries.length === 0 ? 'not a newc cpio archive' : `a cpio header after ${this.entries.length} entries is damaged`);
    const mode = hexField(header, 14);
    const size = hexField(header, 54);
    const nameSize = hexField(header, 94);
    if (mode < 0 || size < 0 || nameSize < 0) return this.fail(`a cpio header after ${this.entries.length} entries has a field that is not hex`);
    if (nameSize < 1 || nameSize > MAX_NAME) return this.fail(`a cpio header after ${this.entries.length} entries has a name size of ${nameSize}`);
    // The name is padded so that header + name is a multiple of 4.
    this.state = { kind: 'name', mode, size, nameSize, padded: align4(NEWC_HEADER_SIZE + nameSize) - NEWC_HEADER_SIZE };
  }

  private nameRead(s: Extract<State, { kind: 'name' }>, bytes: Uint8Array): void {
    const raw = bytes.subarray(0, s.nameSize);
    const nul = raw.indexOf(0);
    const name = this.decoder.decode(nul >= 0 ? raw.subarray(0, nul) : raw);
    if (name === TRAILER) {
      this.state = { kind: 'ended' };
      return;
    }
    const type = entryTypeOf(s.mode);
    const path = name.replace(/^(?:\.\/|\/)+/, '');
    const pad = align4(s.size) - s.size;
    const entry: CpioEntry | undefined = path === '' || path === '.' ? undefined : { type, size: s.size, path, mode: s.mode & 0o7777 };
    const keep = entry !== undefined && s.size <= MAX_KEPT && (type === 'symlink' || (type === 'file' && this.keep(path)));
    this.state = { kind: 'data', ...(entry ? { entry } : {}), left: s.size, pad, ...(keep ? { keep: [] } : {}) };
    if (s.size === 0 && pad === 0) this.entryDone(this.state);
  }

  private entryDone(s: Extract<State, { kind: 'data' }>): void {
    const e = s.entry;
    if (e) {
      if (s.keep) {
        const content = concat(s.keep, e.size);
        if (e.type === 'symlink') e.linkTarget = this.decoder.decode(content);
        else this.kept.set(e.path, content);
      }
      this.entries.push(e);
    }
    this.state = { kind: 'header' };
  }
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0]!.length === total) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
