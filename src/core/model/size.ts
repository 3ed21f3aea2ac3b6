// The one way kbackup writes a size for people: as `df -h` does, so that the numbers match what
// an admin sees there.

/**
 * Powers of 1024 with K, M, G, T suffixes, one decimal below 10, rounded up as df rounds: a
 * 120 KiB initrd is "120K" (never "0.0 MiB"), 79284.4 MiB is "78G".
 */
export function humanSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  if (bytes < 1024) return `${Math.ceil(bytes)}B`;
  const units = ['K', 'M', 'G', 'T', 'P', 'E'] as const;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (value < 10) {
    const tenths = Math.ceil(value * 10) / 10;
    if (tenths < 10) return `${tenths.toFixed(1)}${units[unit]}`;
    value = tenths;
  }
  const whole = Math.ceil(value);
  if (whole >= 1024 && unit < units.length - 1) return `1.0${units[unit + 1]}`;
  return `${whole}${units[unit]}`;
}

export const MIB = 1024 * 1024;
