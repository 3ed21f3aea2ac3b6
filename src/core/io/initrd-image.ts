// Reads initrd images and the running machine for the initrd health check (the judging is pure, in
// model/initrd-health.ts).
//
// Listing uses the distribution's own tool on the running system (`lsinitramfs -l` from
// initramfs-tools-core, else dracut's `lsinitrd`): it knows every compression the image may use and
// skips prepended early-microcode archives. The few configuration files whose content is compared
// are then extracted by name only: kbackup finds the main archive behind the early cpio archives by
// reading their headers (a few hundred bytes), and pipes `tail -c +N | <decompressor> | cpio -i NAMES`
// into a temporary directory, so neither the image nor its unpacked tree is ever held in memory and
// only the named files touch the disk. A missing tool or an unreadable image is a summary with
// `error` set, never an exception: check turns it into a problem.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { errnoOf } from '../model/errors';
import { parseListing, summarizeListing, type Compression, type ConfigFileFact, type InitrdSummary, type InitrdTool } from '../model/initrd-health';
import { parseBootName } from '../model/names';
import { sha256File } from './files';
import type { World } from '../world';

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
    const r = await world.exec('env', ['LC_ALL=C', tool, ...args], { timeoutMs: 300_000, maxBuffer: 64 * 1024 * 1024 });
    if (r.code === 127 || r.code === 126) continue;
    if (r.code !== 0) {
      const why = lastLines(r.stderr) || `${tool} exited with status ${r.code}`;
      return { tool, text: r.stdout, error: `${tool} failed: ${why}`, errorKind: 'unreadable' };
    }
    return { tool, text: r.stdout };
  }
  return { text: '', error: 'neither lsinitramfs nor lsinitrd is installed', errorKind: 'tool-missing' };
}

function lastLines(text: string, n = 2): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(-n)
    .join('; ');
}

export interface ImageLayout {
  /** Uncompressed cpio archives before the main one (early microcode, dracut's early_cpio). */
  earlyArchives: number;
  /** Byte offset of the main archive. */
  mainOffset: number;
  compression: Compression;
}

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

function compressionOf(head: Buffer): Compression {
  if (head.subarray(0, 6).toString('latin1').startsWith('07070')) return 'none';
  for (const { compression, bytes } of MAGICS) {
    if (bytes.every((b, i) => head[i] === b)) return compression;
  }
  return 'unknown';
}

/**
 * Where the main archive starts, found as the kernel (lib/earlycpio.c) and unmkinitramfs do: walk
 * the `newc` headers of uncompressed archives at the front, skip the zero padding after each
 * TRAILER!!!, and stop at the first thing that is not a cpio header. Reads only headers.
 */
export async function imageLayout(image: string): Promise<ImageLayout> {
  const fh = await fs.open(image, 'r');
  try {
    const { size } = await fh.stat();
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
      if (buf.length > 0) await fh.read(buf, 0, buf.length, offset);
      return buf;
    };
    let offset = 0;
    let archiveStart = 0;
    let earlyArchives = 0;
    let inArchive = false;
    for (let guard = 0; guard < 1_000_000 && offset < size; guard++) {
      const header = await read(offset, 110);
      const magic = header.subarray(0, 6).toString('latin1');
      if (magic === '070701' || magic === '070702') {
        if (!inArchive) {
          inArchive = true;
          archiveStart = offset;
        }
        const fileSize = parseInt(header.subarray(54, 62).toString('latin1'), 16);
        const nameSize = parseInt(header.subarray(94, 102).toString('latin1'), 16);
        if (!Number.isFinite(fileSize) || !Number.isFinite(nameSize)) break;
        const name = (await read(offset + 110, Math.min(nameSize, 4096))).toString('latin1').replace(/\0.*$/s, '');
        offset = align4(align4(offset + 110 + nameSize) + fileSize);
        if (name === 'TRAILER!!!') {
          inArchive = false;
          earlyArchives++;
          offset = await skipZeros(read, offset, size);
        }
        continue;
      }
      break;
    }
    // Cut off inside an uncompressed archive: nothing after it can be trusted.
    if (inArchive) return { earlyArchives, mainOffset: archiveStart, compression: 'unknown' };
    if (offset >= size) {
      // The whole image is uncompressed cpio: its last archive is the main one.
      return { earlyArchives: Math.max(0, earlyArchives - 1), mainOffset: archiveStart, compression: 'none' };
    }
    return { earlyArchives, mainOffset: offset, compression: compressionOf(await read(offset, 8)) };
  } finally {
    await fh.close();
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

async function skipZeros(read: (offset: number, length: number) => Promise<Buffer>, offset: number, size: number): Promise<number> {
  let at = offset;
  while (at < size) {
    const chunk = await read(at, 4096);
    const nonZero = chunk.findIndex((b) => b !== 0);
    if (nonZero >= 0) return at + (nonZero & ~3);
    at += chunk.length;
  }
  return at;
}

// The decompressor is chosen by name inside the script, so no caller-supplied word is ever run.
const EXTRACT_SCRIPT = `set -e
image=$1; offset=$2; compression=$3; dir=$4; shift 4
case "$compression" in
  none) dec="cat" ;;
  gzip) dec="gzip -dc" ;;
  zstd) dec="zstd -dcq" ;;
  xz|lzma) dec="xz -dc" ;;
  lz4) dec="lz4 -dc" ;;
  bzip2) dec="bzip2 -dc" ;;
  lzo) dec="lzop -dc" ;;
  *) echo "unknown compression $compression" >&2; exit 2 ;;
esac
tail -c +"$offset" -- "$image" | $dec | (cd "$dir" && cpio -i -d --quiet --no-absolute-filenames --no-preserve-owner -- "$@")
`;

/** cpio treats its arguments as shell patterns: match the names literally. */
function literalPattern(name: string): string {
  return name.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

async function extractConfigs(world: World, image: string, layout: ImageLayout, names: readonly string[], sizes: Map<string, number>): Promise<Record<string, ConfigFileFact>> {
  const configs: Record<string, ConfigFileFact> = {};
  for (const n of names) configs[n] = { size: sizes.get(n) ?? 0 };
  if (names.length === 0 || layout.compression === 'unknown') return configs;
  const dir = await fs.mkdtemp(path.join(world.tmpdir, 'kbackup-initrd-'));
  try {
    const r = await world.exec(
      'sh',
      ['-c', EXTRACT_SCRIPT, 'kbackup-extract', image, String(layout.mainOffset + 1), layout.compression, dir, ...names.map(literalPattern)],
      { timeoutMs: 300_000, maxBuffer: 4 * 1024 * 1024 },
    );
    if (r.code !== 0) world.log.debug(`extracting configuration files from ${image}: ${lastLines(r.stderr) || `status ${r.code}`}`);
    for (const n of names) {
      const file = path.join(dir, n);
      try {
        const st = await fs.lstat(file);
        if (!st.isFile()) continue;
        configs[n] = { size: st.size, sha256: await sha256File(file) };
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') world.log.debug(`hashing ${n} from ${image}: ${String(err)}`);
      }
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  return configs;
}

function emptySummary(image: string): InitrdSummary {
  const summary: InitrdSummary = { path: image, entries: 0, kernelVersions: [], modules: [], moduleFiles: 0, modulesDep: {}, configs: {} };
  const parsed = parseBootName(path.basename(image), ['initrd.img']);
  if (parsed && parsed.stem === 'initrd.img') summary.nameVersion = parsed.version;
  return summary;
}

/**
 * Lists an initrd with the distribution's tool and hashes its configuration files. Never throws for a
 * missing tool or a bad image: the summary then has `error` (and `errorKind`) set.
 */
export async function readInitrd(world: World, image: string): Promise<InitrdSummary> {
  const summary = emptySummary(image);
  let st;
  try {
    st = await fs.stat(image);
  } catch (err) {
    return { ...summary, error: errnoOf(err) === 'ENOENT' ? 'no such file' : String((err as Error).message ?? err), errorKind: 'unreadable' };
  }
  if (!st.isFile()) return { ...summary, error: 'not a regular file', errorKind: 'unreadable' };
  summary.size = st.size;
  if (st.size === 0) return { ...summary, error: 'the file is empty', errorKind: 'unreadable' };

  let layout: ImageLayout;
  try {
    layout = await imageLayout(image);
  } catch (err) {
    world.log.debug(`reading the archive headers of ${image}: ${String(err)}`);
    layout = { earlyArchives: 0, mainOffset: 0, compression: 'unknown' };
  }

  const listing = await listImage(world, image);
  if (listing.tool) summary.tool = listing.tool;
  // unmkinitramfs takes every uncompressed archive for an early one and then fails on the empty
  // "main" archive after them; the kernel boots such an image, and the listing is complete.
  const wholeImageListed = layout.compression === 'none' && listing.errorKind === 'unreadable' && listing.tool === 'lsinitramfs';
  if (listing.error !== undefined && !wholeImageListed) {
    return { ...summary, error: listing.error, ...(listing.errorKind ? { errorKind: listing.errorKind } : {}) };
  }

  const entries = parseListing(listing.text);
  if (entries.length === 0) return { ...summary, error: listing.error ?? `${listing.tool} listed no files`, errorKind: 'unreadable' };
  const facts = summarizeListing(entries);
  Object.assign(summary, {
    entries: facts.entries,
    kernelVersions: facts.kernelVersions,
    modules: facts.modules,
    moduleFiles: facts.moduleFiles,
    modulesDep: facts.modulesDep,
  });

  summary.compression = layout.compression;
  summary.earlyArchives = layout.earlyArchives;
  const sizes = new Map(entries.filter((e) => e.type === 'file').map((e) => [e.path, e.size] as const));
  summary.configs = await extractConfigs(world, image, layout, facts.configPaths, sizes);
  return summary;
}
