/**
 * Rejects the keys of an options bag that are not options, so that a misspelt option
 * (`timeoutMS`, `breakr`) fails the factory instead of silently keeping its default. Run once per
 * bag at construction, never per request. Keys whose value is `undefined` pass: a spread of a
 * partial config often carries them, and they would change nothing anyway.
 *
 * Only option bags go through here: maps keyed by the user's names (headers, attributes) and the
 * user's own objects (a tracer provider, a sampler, an exporter) are not checked.
 *
 * The koa-mesh packages share no runtime code: each keeps its own copy of this file.
 */
export function checkUnknownOptions(
  pkg: string,
  path: string,
  bag: object,
  accepted: readonly string[],
): void {
  for (const key of Object.keys(bag)) {
    if (accepted.includes(key) || (bag as Record<string, unknown>)[key] === undefined) continue;
    const near = closest(key, accepted);
    const prefix = path === '' ? '' : `${path}.`;
    const hint = near === undefined ? '' : ` (did you mean \`${prefix}${near}\`?)`;
    throw new TypeError(
      `${pkg}: unknown option \`${path === '' ? key : `${path}.${key}`}\`${hint}; expected one of ${accepted.map((a) => `\`${a}\``).join(', ')}`,
    );
  }
}

/**
 * The accepted name nearest to `key` within 2 edits, ignoring case; none when two are equally
 * near (a wrong guess misleads more than none), as in the other koa-mesh packages.
 */
function closest(key: string, accepted: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  let tied = false;
  for (const name of accepted) {
    const d = editDistance(k, name.toLowerCase());
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
      tied = false;
    } else if (d === bestDistance) {
      tied = true;
    }
  }
  return tied ? undefined : best;
}

/** Levenshtein distance (insertions, deletions, substitutions), one row at a time. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length]!;
}
