/**
 * Unknown option keys, refused at construction: a misspelt option (`timeoutMS`, `intervalMS`) would
 * otherwise be ignored and the service run without it, a mistake that only shows in production.
 * Run once per constructor, never per call.
 */

const PKG = '@koa-mesh/health';

/** The names of `T`'s options, listed once: a key missing from or foreign to `T` fails to compile. */
export type OptionNames<T> = Record<keyof T, true>;

/**
 * Throws a TypeError naming the first key of `bag` that is not in `accepted` (by its full path,
 * `prefix` + key) with the accepted names, and the nearest accepted name when one is within two
 * edits. A key whose value is `undefined` is ignored: spreading a partial config carries them.
 */
export function rejectUnknownKeys(
  prefix: string,
  bag: object,
  accepted: Readonly<Record<string, true>>,
): void {
  for (const key of Object.keys(bag)) {
    if (Object.hasOwn(accepted, key) || (bag as Record<string, unknown>)[key] === undefined)
      continue;
    const names = Object.keys(accepted);
    const near = nearest(key, names);
    const hint = near === undefined ? '' : ` (did you mean \`${prefix}${near}\`?)`;
    throw new TypeError(
      `${PKG}: unknown option \`${prefix}${key}\`${hint}; expected one of ${names.map((n) => `\`${n}\``).join(', ')}`,
    );
  }
}

/**
 * The accepted name closest to `key` (case-insensitive) within two edits. None on a tie: a guess
 * between two equally near names would point at the wrong one half the time.
 */
function nearest(key: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  let tie = false;
  const k = key.toLowerCase();
  for (const name of names) {
    const d = distance(k, name.toLowerCase());
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
      tie = false;
    } else if (d === bestDistance) tie = true;
  }
  return tie ? undefined : best;
}

/** Edit distance counting an adjacent transposition as one edit (`timoeutMs` for `timeoutMs`). */
function distance(a: string, b: string): number {
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
  return rows[a.length]![b.length]!;
}
