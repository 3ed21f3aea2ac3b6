import * as path from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Rough minutes of each real-Debian file on the 2-core CI machine (warm cache). The e2e tier runs in
 * two forks; starting the longest files first keeps the two forks' shares even. Files not listed
 * (new ones) count as medium.
 */
const E2E_MINUTES: Record<string, number> = {
  'kernel-update.bookworm.test.ts': 9,
  'trial-boot.bookworm.test.ts': 10,
  'trial-boot.trixie.test.ts': 8,
  'trial-boot-systemd.bookworm.test.ts': 12,
  'new-abi.bookworm.test.ts': 6,
  'new-abi.trixie.test.ts': 6,
  'kernel-update.trixie.test.ts': 5,
  'initrd-health.bookworm.test.ts': 4.5,
  'dracut.trixie.test.ts': 4,
  'initrd-health.trixie.test.ts': 2.5,
  'package-cycle.bookworm.test.ts': 2.4,
  'package-cycle.trixie.test.ts': 2.4,
  'fallback.trixie.test.ts': 0.9,
  'fallback.bookworm.test.ts': 0.7,
  'initrd-differential.bookworm.test.ts': 2,
  'initrd-differential.trixie.test.ts': 2,
};

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const minutes = (f: TestSpecification) => (f.moduleId.includes('/test/e2e/') ? (E2E_MINUTES[path.basename(f.moduleId)] ?? 5) : 0);
    return [...sorted].sort((a, b) => minutes(b) - minutes(a));
  }
}

// Two projects: the fast tiers run in parallel; the real-Debian tier (chroots, dpkg, qemu) runs two
// files at a time (the machine has 2 cores; most of a file's time is single-threaded dpkg, depmod
// and compression) with long timeouts. Files share one cache (.cache/e2e, its creation is locked)
// and at most one qemu VM runs at a time (harness/qemu.ts takes a lock).
export default defineConfig({
  test: {
    sequence: { sequencer: LongestFirst },
    // Two test files at a time across both projects (KBACKUP_TEST_WORKERS=1 runs one at a time).
    maxWorkers: Number(process.env.KBACKUP_TEST_WORKERS ?? 2),
    minWorkers: 1,
    projects: [
      {
        test: {
          name: 'fast',
          include: ['test/unit/**/*.test.ts', 'test/ops/**/*.test.ts', 'test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          pool: 'forks',
          poolOptions: { forks: { singleFork: false } },
          testTimeout: 1_200_000,
          hookTimeout: 1_800_000,
        },
      },
    ],
  },
});
