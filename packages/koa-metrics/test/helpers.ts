import { spawnSync } from 'node:child_process';
import { findBinary } from '@koa-mesh/testkit';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  exemplar?: { labels: Record<string, string>; value: number; timestamp?: number };
}

export interface Parsed {
  samples: Sample[];
  /** `# TYPE` per family name. */
  types: Map<string, string>;
  helps: Map<string, string>;
  eof: boolean;
}

function parseLabels(s: string, at: number): [Record<string, string>, number] {
  // s[at] === '{'
  const labels: Record<string, string> = {};
  let i = at + 1;
  while (s[i] !== '}') {
    const eq = s.indexOf('=', i);
    const name = s.slice(i, eq);
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw new Error(`bad label name ${name} in ${s}`);
    if (s[eq + 1] !== '"') throw new Error(`unquoted label value in ${s}`);
    let j = eq + 2;
    let value = '';
    while (s[j] !== '"') {
      if (j >= s.length) throw new Error(`unterminated label value in ${s}`);
      if (s[j] === '\\') {
        const c = s[j + 1];
        value += c === 'n' ? '\n' : c;
        j += 2;
      } else value += s[j++];
    }
    if (name in labels) throw new Error(`duplicate label ${name} in ${s}`);
    labels[name] = value;
    i = j + 1;
    if (s[i] === ',') i++;
  }
  return [labels, i + 1];
}

function parseNumber(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  const n = Number(s);
  if (s === '' || Number.isNaN(n)) throw new Error(`bad number ${JSON.stringify(s)}`);
  return n;
}

/**
 * A strict parser for both exposition formats, enough to assert on: every sample line must have a
 * valid name, well-formed labels and a number; exemplars (` # {...} value [ts]`) are accepted only
 * when `openMetrics`; an OpenMetrics body must end with `# EOF` and have nothing after it.
 */
export function parseExposition(text: string, openMetrics: boolean): Parsed {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  let eof = false;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    if (eof) throw new Error(`content after # EOF: ${line}`);
    if (line === '') {
      if (openMetrics) throw new Error('empty line in OpenMetrics');
      continue;
    }
    if (line === '# EOF') {
      if (!openMetrics) throw new Error('# EOF in text format');
      eof = true;
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      if (types.has(name!)) throw new Error(`duplicate family ${name}`);
      types.set(name!, type!);
      continue;
    }
    if (line.startsWith('# HELP ')) {
      const rest = line.slice(7);
      const sp = rest.indexOf(' ');
      helps.set(rest.slice(0, sp), rest.slice(sp + 1));
      continue;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment ${line}`);
    const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!m) throw new Error(`bad sample line ${line}`);
    const name = m[0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i);
    if (line[i] !== ' ') throw new Error(`expected space in ${line}`);
    const rest = line.slice(i + 1);
    const hash = rest.indexOf(' # ');
    const valuePart = hash < 0 ? rest : rest.slice(0, hash);
    const sample: Sample = { name, labels, value: parseNumber(valuePart.split(' ')[0]!) };
    if (hash >= 0) {
      if (!openMetrics) throw new Error(`exemplar in text format: ${line}`);
      const ex = rest.slice(hash + 3);
      const [exLabels, end] = parseLabels(ex, 0);
      const parts = ex.slice(end).trim().split(' ');
      sample.exemplar = {
        labels: exLabels,
        value: parseNumber(parts[0]!),
        ...(parts[1] !== undefined ? { timestamp: parseNumber(parts[1]) } : {}),
      };
      const runes = Object.entries(exLabels).reduce((n, [k, v]) => n + k.length + v.length, 0);
      if (runes > 128) throw new Error(`exemplar label set over 128 characters: ${line}`);
    }
    samples.push(sample);
  }
  if (openMetrics && !eof) throw new Error('OpenMetrics body without # EOF');
  return { samples, types, helps, eof };
}

/** Samples named `name` whose labels include `match`. */
export function find(parsed: Parsed, name: string, match: Record<string, string> = {}): Sample[] {
  return parsed.samples.filter(
    (s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v),
  );
}

/** The value of the one sample named `name` matching `match` (0 when absent). */
export function value(parsed: Parsed, name: string, match: Record<string, string> = {}): number {
  const found = find(parsed, name, match);
  if (found.length > 1)
    throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(match)}`);
  return found[0]?.value ?? 0;
}

/** Runs `promtool check metrics` on `text`; returns its exit status and output. */
export function promtoolCheckMetrics(text: string): { status: number | null; output: string } {
  const r = spawnSync(findBinary('promtool')!, ['check', 'metrics'], {
    input: text,
    encoding: 'utf8',
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

export function promtool(args: string[]): { status: number | null; output: string } {
  const r = spawnSync(findBinary('promtool')!, args, { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
