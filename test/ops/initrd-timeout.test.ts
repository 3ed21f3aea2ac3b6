// A hung initrd reader (issue 15, item 8): a lister or decompressor that never ends, and forks a
// child that would hold dpkg's pipes. The hook's time limit stops it with everything it started, the
// update goes on, and the report says "timed out", not "broken initrd".
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { withTimeLimit } from '../../src/core/ops/time-limit';
import { DEFAULT_CONFIG } from '../../src/core/model/config';
import { check } from '../../src/core/ops/check';
import { realExec } from '../../src/world';
import { bytes, installKernel, makeRoot, processesTagged, killLeftovers, V, type TempRoot } from '../helpers/root';
import { testWorld } from '../helpers/world';

let root: TempRoot;
afterEach(() => root?.cleanup());

const defaults = () => ({ ...DEFAULT_CONFIG, files: [...DEFAULT_CONFIG.files] });

/**
 * A bin directory whose `name` starts a child that sleeps (its pid written to `<bin>/child.pid`),
 * then sleeps itself: neither ever ends on its own.
 */
function hangingProgram(name: string): string {
  const bin = root.file('fake-bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, name), `#!/bin/sh\nsleep 600 &\necho $! > '${bin}/child.pid'\nsleep 600\n`, { mode: 0o755 });
  return bin;
}

/** The world's programs run with `bin` first on PATH and a tag every process they start inherits. */
function worldWith(bin: string, tag: string) {
  return testWorld(root.dir, {
    exec: (file, args, options) => realExec('/usr/bin/env', [`PATH=${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, `KBACKUP_TEST_RUN=${tag}`, file, ...args], options),
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('a hung initrd reader', () => {
  for (const { program, image } of [
    // An image the reader does not understand goes to lsinitramfs.
    { program: 'lsinitramfs', image: () => Buffer.concat([Buffer.from('not an initramfs'), bytes(4096, 3)]) },
    // A zstd image goes to zstd.
    {
      program: 'zstd',
      image: () => spawnSync('zstd', ['-q', '-c'], { input: Buffer.from('070701'), maxBuffer: 1 << 20 }).stdout,
    },
  ]) {
    it(`${program}: stopped with its child at the time limit, and reported as a timeout`, async () => {
      root = makeRoot();
      installKernel(root);
      root.write(`boot/initrd.img-${V}`, image(), 0o600);
      const bin = hangingProgram(program);
      const tag = randomBytes(8).toString('hex');
      const world = withTimeLimit(worldWith(bin, tag), 1500);
      const t0 = Date.now();
      const pending = check(world, defaults(), { version: V });
      // The program ran and forked its child: the scenario the limit must clean up.
      for (let i = 0; i < 100 && !fs.existsSync(path.join(bin, 'child.pid')); i++) await new Promise((r) => setTimeout(r, 20));
      const child = Number(fs.readFileSync(path.join(bin, 'child.pid'), 'utf8'));
      expect(alive(child)).toBe(true);
      const report = await pending;
      const waited = Date.now() - t0;
      const left = processesTagged(tag);
      if (left.length > 0) killLeftovers(left);
      expect(left, 'processes left after the time limit').toEqual([]);
      expect(waited).toBeLessThan(10_000);
      const initrd = report.problems.filter((p) => p.code.startsWith('initrd-'));
      expect(initrd.map((p) => [p.code, p.severity])).toEqual([['initrd-read-timeout', 'warning']]);
      expect(initrd[0]!.message).toContain(`${program} was still reading it`);
      expect(initrd[0]!.message).toContain('the image may be fine');
    });
  }
});
