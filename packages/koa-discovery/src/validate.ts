/** Builds the TypeError every option check throws. */
export function optionError(option: string, expected: string, got: unknown): TypeError {
  let shown: string;
  try {
    shown = typeof got === 'string' ? JSON.stringify(got) : String(got);
    if (typeof got === 'object' && got !== null) shown = JSON.stringify(got) ?? String(got);
  } catch {
    shown = Object.prototype.toString.call(got);
  }
  return new TypeError(
    `@koa-mesh/discovery: expected \`${option}\` to be ${expected}, got ${shown}`,
  );
}

export function isPlainObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An optional integer >= min. */
export function intOption(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  expected = min === 0
    ? 'a non-negative integer'
    : min === 1
      ? 'a positive integer'
      : `an integer >= ${min}`,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw optionError(name, expected, value);
  }
  return value;
}

/** An optional number in [min, max]. */
export function numberOption(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw optionError(name, `a number between ${min} and ${max}`, value);
  }
  return value;
}

export function stringOption(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '')
    throw optionError(name, 'a non-empty string', value);
  return value;
}

export function functionOption<T>(name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw optionError(name, 'a function', value);
  return value as T;
}

export function stringArrayOption(name: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) {
    throw optionError(name, 'an array of non-empty strings', value);
  }
  return [...(value as string[])];
}

export function stringRecordOption(
  name: string,
  value: unknown,
): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value) || Object.values(value as object).some((v) => typeof v !== 'string')) {
    throw optionError(name, 'an object of string values', value);
  }
  return { ...(value as Record<string, string>) };
}
