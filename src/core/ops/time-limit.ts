// A bound on the total time a hook's programs may take. Each program already has its own timeout;
// a hook runs several (one decompressor per initrd, a fallback lister, dpkg-query, update-grub), and a
// kernel update must not wait for the sum of their worst cases. Past the deadline every program is
// stopped at once (with everything it started: see World.exec), and reported as timed out.
import type { World } from '../world';

export function withTimeLimit(world: World, limitMs: number, clock: () => number = Date.now): World {
  const deadline = clock() + limitMs;
  return {
    ...world,
    exec: (file, args, options = {}) => {
      const left = Math.max(1, deadline - clock());
      return world.exec(file, args, { ...options, timeoutMs: Math.min(options.timeoutMs ?? left, left) });
    },
  };
}
