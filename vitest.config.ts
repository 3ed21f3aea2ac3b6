import { defineConfig } from 'vitest/config';

// Two projects: the fast tiers run in parallel; the real-Debian tier (chroots, dpkg, qemu) runs one
// file at a time with long timeouts, because every file shares the machine's 2 cores and one cache.
export default defineConfig({
  test: {
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
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 1_200_000,
          hookTimeout: 1_800_000,
        },
      },
    ],
  },
});
