import { defineConfig } from 'vitest/config';

// bench/run.sh's real-update measure: one file, one fork, the e2e tier's timeouts.
export default defineConfig({
  test: {
    include: ['bench/hook-cost.run.ts'],
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
    testTimeout: 1_800_000,
    hookTimeout: 1_800_000,
  },
});
