/**
 * Unknown option keys, refused at construction: a misspelt option (`timeoutMS` for `timeoutMs`)
 * would otherwise be ignored and its default kept without a word, a mistake that only shows in
 * production. Each options bag is checked once, when its factory or constructor runs, never per
 * request. Only option bags go through here: maps keyed by the user's own names (headers, arms,
 * services) and the user's own objects (a breaker, a resolver, a client) are not checked.
 *
 * The koa-mesh packages share no runtime code: each keeps its own copy of this file, identical in
 * every package but the `PKG` line.
 */

const PKG = '@koa-mesh/canary-router';

/**
 * The option names of `T`, spelt out once per key (`optionNames<T>({ a: true, b: true })`) and
 * listed once, at module load: a key of `T` left out, or a name `T` lacks, fails to compile.
 */
export function optionNames<T>(names: {
  readonly [K in keyof T]-?: true;
}): readonly (keyof T & string)[] {
  return Object.freeze(Object.keys(names) as (keyof T & string)[]);
}

/**
 * Throws a TypeError naming the first key of the options bag `bag` (found at the dotted `path`,
 * `''` for the top level) that is not one of `known`, by its full path, with the accepted names
 * and the nearest of them when one is close. A key set to `undefined` is ignored: a spread of a
 * partial config often carries some, and they would change nothing anyway.
 */
export function rejectUnknownKeys(path: string, bag: object, known: readonly string[]): void {
  for (const key of Object.keys(bag)) {
    if (known.includes(key) || (bag as Record<string, unknown>)[key] === undefined) continue;
    const prefix = path === '' ? '' : `${path}.`;
    const near = nearest(key, known);
    const hint = near === undefined ? '' : ` (did you mean \`${prefix}${near}\`?)`;
    throw new TypeError(
      `${PKG}: unknown option \`${prefix}${key}\`${hint}; expected one of ${known.map((k) => `\`${k}\``).join(', ')}`,
    );
  }
}

/**
 * The name of `known` closest to `key` (case-insensitive) within two edits. None when two are
 * equally close: a guess between them would point at the wrong one half the time.
 */
function nearest(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  let tied = false;
  for (const name of known) {
    const d = editDistance(k, name.toLowerCase());
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
      tied = false;
    } else if (d === bestDistance) tied = true;
  }
  return tied ? undefined : best;
}

/**
 * Optimal string alignment distance: insertions, deletions, substitutions and a swap of two
 * neighbours (`timoeutMs` for `timeoutMs`) count one edit each. Anything past two edits is 3.
 */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
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
  return Math.min(rows[a.length]![b.length]!, 3);
}
