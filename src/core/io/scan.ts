// Reads <root>/boot into a plain value. Everything that decides works on this value (see
// model/boot-model.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BootFile, BootScan, FileType } from '../model/boot-model';
import { errnoOf, ioError } from '../model/errors';
import { parseBootName, TEMP_PREFIX, type ParsedBootName } from '../model/names';
import type { SourceFile } from '../model/plan';

function typeOf(st: { isFile(): boolean; isSymbolicLink(): boolean; isDirectory(): boolean }): FileType {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  return 'other';
}

export async function scanBoot(bootDir: string, stems: readonly string[]): Promise<BootScan> {
  let names: string[];
  try {
    names = fs.readdirSync(bootDir);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return { bootDir, files: [], temps: [] };
    throw ioError(`cannot read ${bootDir}`, err);
  }
  const temps = names.filter((n) => n.startsWith(TEMP_PREFIX)).sort();
  const interesting = names.flatMap((name) => {
    const parsed = parseBootName(name, stems);
    return parsed ? [{ name, parsed }] : [];
  });
  // Synchronous stats: a /boot with hundreds of sets is thousands of lstat calls, and a promise and
  // a thread-pool round trip for each cost more than the calls themselves (bench: list of 500 sets).
  const files = interesting.map(({ name, parsed }) => statBootFile(bootDir, name, parsed));
  return { bootDir, files: files.filter((f): f is BootFile => f !== undefined).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), temps };
}

function statBootFile(bootDir: string, name: string, parsed: ParsedBootName): BootFile | undefined {
  const full = `${bootDir}/${name}`;
  let st;
  try {
    st = fs.lstatSync(full);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined; // removed while we looked
    throw ioError(`cannot stat ${full}`, err);
  }
  const file: BootFile = {
    name,
    type: typeOf(st),
    size: st.size,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtimeMs: st.mtimeMs,
    parsed,
  };
  if (file.type === 'symlink') {
    try {
      const target = fs.statSync(full);
      file.targetType = typeOf(target);
      file.size = target.size;
      file.mode = target.mode & 0o7777;
      file.uid = target.uid;
      file.gid = target.gid;
      file.mtimeMs = target.mtimeMs;
    } catch {
      file.targetType = undefined; // dangling
    }
  }
  return file;
}

/** Stats a file in the boot directory as a backup source (the initramfs hook's INITRD.dpkg-bak). */
export async function statSource(bootDir: string, stem: string, name: string): Promise<SourceFile | undefined> {
  try {
    const st = await fs.promises.stat(path.join(bootDir, name));
    if (!st.isFile()) return undefined;
    return {
      stem,
      name,
      file: { name, type: 'file', size: st.size, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs },
    };
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw ioError(`cannot stat ${path.join(bootDir, name)}`, err);
  }
}
