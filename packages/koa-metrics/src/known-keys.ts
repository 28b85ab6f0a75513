// A misspelt option is silently ignored by a `??` default (`bucket` keeps the default buckets),
// so every options bag is checked against its accepted names once, at construction. The packages
// share no runtime code: each has its own copy of this helper.

const PKG = '@koa-mesh/metrics';

/** Optimal string alignment distance (a transposition counts as one edit), capped at `max + 1`. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/**
 * The accepted name closest to `key` (case-insensitive) within 2 edits; none when two are equally
 * close (`ttl` is as near `http` as `ttlMs`), since a wrong guess misleads more than no guess.
 */
function suggestion(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  let tied = false;
  for (const name of known) {
    const d = editDistance(lower, name.toLowerCase(), 2);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
      tied = false;
    } else if (d === bestDistance) tied = true;
  }
  return tied ? undefined : best;
}

/**
 * Throws a TypeError naming the first key of the options bag `bag` (found at `path`, `''` for the
 * top level) that is not one of `known`, with the accepted names and a "did you mean" when one is
 * close. A key set to `undefined` is ignored: a spread of a partial config often carries some.
 */
export function rejectUnknownKeys(path: string, bag: object, known: readonly string[]): void {
  for (const key of Object.keys(bag)) {
    if (known.includes(key) || (bag as Record<string, unknown>)[key] === undefined) continue;
    const prefix = path === '' ? '' : `${path}.`;
    const close = suggestion(key, known);
    const hint = close === undefined ? '' : ` (did you mean \`${prefix}${close}\`?)`;
    const where = path === '' ? 'options' : `\`${path}\` options`;
    throw new TypeError(
      `${PKG}: unknown option \`${prefix}${key}\`${hint}; expected one of the ${where} ${known.map((k) => `\`${k}\``).join(', ')}`,
    );
  }
}
