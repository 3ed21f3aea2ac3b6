// The newc stream parser and the image layout scanner, in memory: whatever the chunk sizes the bytes
// come in, the same entries, kept files and layout; damaged bytes are an error, never a throw.
import { describe, expect, it } from 'vitest';
import { NewcParser } from '../../src/core/model/cpio-newc';
import { InitrdLayoutScanner } from '../../src/core/model/initrd-layout';
import { isConfigPath } from '../../src/core/model/initrd-health';
import { cpioNewc } from '../helpers/root';

const archive = cpioNewc([
  { name: '.' },
  { name: 'conf' },
  { name: 'conf/initramfs.conf', data: 'MODULES=most\n' },
  { name: 'lib', data: 'usr/lib', mode: 0o120777 },
  { name: 'usr/bin/su', data: 'x'.repeat(5), mode: 0o104755 },
  { name: 'etc/mdadm/mdadm.conf', data: 'ARRAY /dev/md0\n', mode: 0o100600 },
  { name: 'big', data: Buffer.alloc(100_003, 1) },
]);

function feed<T>(bytes: Uint8Array, size: number, push: (chunk: Uint8Array) => T): T[] {
  const out: T[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    // A reused buffer, as a reader with one read buffer would pass: what is kept must be copied.
    const chunk = Buffer.from(bytes.subarray(at, at + size));
    out.push(push(chunk));
    chunk.fill(0xee);
  }
  return out;
}

describe('NewcParser', () => {
  for (const size of [1, 3, 110, 111, 4096, archive.length]) {
    it(`reads the same entries fed ${size} byte(s) at a time`, () => {
      const p = new NewcParser(isConfigPath);
      feed(archive, size, (c) => p.push(c));
      expect(p.finish()).toBeUndefined();
      expect(p.entries.map((e) => [e.path, e.type, e.mode.toString(8), e.size, e.linkTarget])).toEqual([
        ['conf', 'dir', '755', 0, undefined],
        ['conf/initramfs.conf', 'file', '644', 13, undefined],
        ['lib', 'symlink', '777', 7, 'usr/lib'],
        ['usr/bin/su', 'file', '4755', 5, undefined],
        ['etc/mdadm/mdadm.conf', 'file', '600', 15, undefined],
        ['big', 'file', '644', 100_003, undefined],
      ]);
      expect(Buffer.from(p.kept.get('etc/mdadm/mdadm.conf')!).toString()).toBe('ARRAY /dev/md0\n');
      expect([...p.kept.keys()].sort()).toEqual(['conf/initramfs.conf', 'etc/mdadm/mdadm.conf']);
    });
  }

  it('stops at the trailer and says how much of the chunk was its own', () => {
    const p = new NewcParser();
    const after = Buffer.concat([archive, Buffer.from('more')]);
    expect(p.push(after)).toBe(archive.length);
    expect(p.ended).toBe(true);
  });

  it('a truncated archive and a damaged header are errors, not throws', () => {
    const cut = new NewcParser();
    cut.push(archive.subarray(0, 300));
    expect(cut.finish()).toMatch(/truncated/);
    const damaged = Buffer.from(archive);
    damaged.write('0x0701', 112 + 4, 'latin1'); // the second header's magic, after '.'
    const bad = new NewcParser();
    bad.push(damaged);
    expect(bad.failed).toBe(true);
    expect(bad.finish()).toMatch(/damaged|not hex|not a newc/);
    const huge = Buffer.from(archive);
    huge.write('ffffffff', 94, 'latin1'); // namesize of the first entry
    const p = new NewcParser();
    p.push(huge);
    expect(p.finish()).toMatch(/name size/);
  });
});

describe('InitrdLayoutScanner', () => {
  const early = cpioNewc([{ name: 'kernel/x86/microcode/GenuineIntel.bin', data: 'ucode' }]);
  const padded = Buffer.concat([early, Buffer.alloc(512 - (early.length % 512))]);
  const gzipMain = Buffer.from([0x1f, 0x8b, 0x08, 0, 1, 2, 3, 4, 5, 6, 7, 8]);

  for (const size of [1, 5, 7, 512, 100_000]) {
    it(`finds the main archive behind an early one, fed ${size} byte(s) at a time`, () => {
      const s = new InitrdLayoutScanner(isConfigPath);
      const image = Buffer.concat([padded, gzipMain]);
      // The main archive's bytes are the caller's to use at once (they may be a view of the chunk).
      const main = Buffer.concat(
        feed(image, size, (c) => {
          const m = s.push(c);
          return m && Buffer.from(m);
        }).filter((m) => m !== undefined) as Buffer[],
      );
      expect(s.compression).toBe('gzip');
      expect(s.mainOffset).toBe(padded.length);
      expect(main.equals(gzipMain)).toBe(true);
      const done = s.finish();
      expect(done).toMatchObject({ earlyArchives: 1, compression: 'gzip' });
      expect('entries' in done && done.entries.map((e) => e.path)).toEqual(['kernel/x86/microcode/GenuineIntel.bin']);
    });
  }

  it('an image of uncompressed archives only: the last is the main one', () => {
    const s = new InitrdLayoutScanner(isConfigPath);
    feed(Buffer.concat([padded, archive, Buffer.alloc(300)]), 64, (c) => s.push(c));
    expect(s.finish()).toMatchObject({ earlyArchives: 1, compression: 'none' });
  });

  it('unknown bytes after the early archive, and an image cut inside it, are errors', () => {
    const s = new InitrdLayoutScanner(isConfigPath);
    s.push(Buffer.concat([padded, Buffer.from('garbage!')]));
    expect(s.finish()).toEqual({ error: expect.stringMatching(/neither a cpio archive nor a known compression/) });
    const cut = new InitrdLayoutScanner(isConfigPath);
    cut.push(early.subarray(0, 50));
    expect(cut.finish()).toEqual({ error: expect.stringMatching(/truncated/) });
  });
});
