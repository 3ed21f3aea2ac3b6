// "Did you mean": the nearest of the words kbackup knows, for a mistyped option, hook kind,
// configuration key or backup ID.

/** Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The known words nearest to `wanted`, nearest first. */
export function nearest(known: readonly string[], wanted: string, count = 3): string[] {
  return [...known].sort((x, y) => editDistance(x, wanted) - editDistance(y, wanted) || (x < y ? -1 : 1)).slice(0, count);
}

/** The one known word close enough to be what was meant (two letters, or a third of a long word, may differ), if any. */
export function didYouMean(known: readonly string[], wanted: string): string | undefined {
  const best = nearest(known, wanted, 1)[0];
  if (best === undefined) return undefined;
  const d = editDistance(best.toLowerCase(), wanted.toLowerCase());
  const longest = Math.max(best.length, wanted.length);
  return d <= (longest >= 4 ? Math.max(2, Math.floor(longest / 3)) : 1) ? best : undefined;
}
