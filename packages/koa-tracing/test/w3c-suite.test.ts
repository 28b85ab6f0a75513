// The rules of the W3C Trace Context test suite (https://github.com/w3c/trace-context/tree/main/test,
// Level 2, strict), replayed through a real service: a harness sends headers to the service, the
// service calls the harness back, and the callback's headers are checked. The official suite
// cannot be fetched here (no network), so these are our own tests of the same rules.
import { request as httpRequest } from 'node:http';
import { startApp, type RunningServer } from '@koa-mesh/testkit';
import { w3cService } from './fixtures/w3c-service.js';

const TRACE = '12345678901234567890123456789012';
const PARENT = '1234567890123456';
const TP = (flags = '01', version = '00'): string => `${version}-${TRACE}-${PARENT}-${flags}`;

let harness: RunningServer;
let service: RunningServer;
const callbacks = new Map<string, string[]>();
let runs = 0;

beforeAll(async () => {
  harness = await startApp((req, res) => {
    // rawHeaders keeps every header line as sent: duplicates and all.
    callbacks.set(req.url ?? '', req.rawHeaders);
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  service = await startApp(w3cService());
});

afterAll(async () => {
  await service.close();
  await harness.close();
});

/** Sends `headers` (as raw lines) to the service and returns each callback's raw header lines. */
async function exchange(headers: Array<[string, string]>, count = 1): Promise<string[][]> {
  const run = ++runs;
  const urls = Array.from({ length: count }, (_, i) => `${harness.url}/${run}/${i}`);
  const body = JSON.stringify(urls.map((url) => ({ url, arguments: [] })));
  // With raw header lines Node adds no Host header of its own.
  const host = new URL(service.url).host;
  const flat = ['host', host, ...headers.flat(), 'content-type', 'application/json'];
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(`${service.url}/test`, { method: 'POST', headers: flat }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
  expect(status).toBe(200);
  return urls.map((url) => {
    const raw = callbacks.get(new URL(url).pathname);
    if (!raw) throw new Error(`the service did not call ${url}`);
    return raw;
  });
}

function values(raw: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}

interface Traceparent {
  traceId: string;
  parentId: string;
  flags: string;
}

/** Exactly one traceparent, in the version-00 format. */
function traceparentOf(raw: string[]): Traceparent {
  const all = values(raw, 'traceparent');
  expect(all).toHaveLength(1);
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(all[0]!);
  expect(m).not.toBeNull();
  expect(m![1]).not.toBe('0'.repeat(32));
  expect(m![2]).not.toBe('0'.repeat(16));
  return { traceId: m![1]!, parentId: m![2]!, flags: m![3]! };
}

/** The propagated tracestate as ordered [key, value] pairs. */
function tracestateOf(raw: string[]): Array<[string, string]> {
  return values(raw, 'tracestate')
    .join(',')
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '')
    .map((m) => {
      const eq = m.indexOf('=');
      return [m.slice(0, eq), m.slice(eq + 1)] as [string, string];
    });
}

async function single(headers: Array<[string, string]>) {
  const [raw] = await exchange(headers);
  return { traceparent: traceparentOf(raw!), tracestate: new Map(tracestateOf(raw!)), raw: raw! };
}

async function expectNewTrace(traceparent: string): Promise<void> {
  const { traceparent: out } = await single([['traceparent', traceparent]]);
  expect(out.traceId).not.toBe(TRACE);
}

async function expectContinued(headers: Array<[string, string]>) {
  const result = await single(headers);
  expect(result.traceparent.traceId).toBe(TRACE);
  return result;
}

describe('W3C Trace Context rules through a real service', () => {
  it('starts a valid trace when traceparent and tracestate are missing', async () => {
    const { traceparent } = await single([]);
    expect(traceparent.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('sets the Level 2 random flag on a trace it starts', async () => {
    const { traceparent } = await single([]);
    expect(parseInt(traceparent.flags, 16) & 0x02).toBe(0x02);
  });

  it('continues the trace with a new parent-id', async () => {
    const { traceparent } = await expectContinued([['traceparent', TP()]]);
    expect(traceparent.parentId).not.toBe(PARENT);
  });

  it('propagates the sampled flag as received', async () => {
    expect((await expectContinued([['traceparent', TP('01')]])).traceparent.flags).toBe('01');
    expect((await expectContinued([['traceparent', TP('00')]])).traceparent.flags).toBe('00');
  });

  it('zeroes unknown flags when propagating', async () => {
    expect((await expectContinued([['traceparent', TP('ff')]])).traceparent.flags).toBe('03');
  });

  it('starts a new trace when traceparent is duplicated', async () => {
    const { traceparent } = await single([
      ['traceparent', `00-${TRACE.slice(0, 31)}1-${PARENT}-01`],
      ['traceparent', TP()],
    ]);
    expect(traceparent.traceId).not.toBe(TRACE);
    expect(traceparent.traceId).not.toBe(`${TRACE.slice(0, 31)}1`);
  });

  it('ignores misspelled header names', async () => {
    for (const name of ['trace-parent', 'trace.parent']) {
      const { traceparent } = await single([[name, TP()]]);
      expect(traceparent.traceId).not.toBe(TRACE);
    }
  });

  it('reads the header names case-insensitively', async () => {
    for (const name of ['TraceParent', 'TrAcEpArEnT', 'TRACEPARENT'])
      await expectContinued([[name, TP()]]);
  });

  it('rejects version 00 with trailing data', async () => {
    await expectNewTrace(`${TP()}.`);
    await expectNewTrace(`${TP()}-what-the-future-will-be-like`);
  });

  it('accepts a future version (0xcc), with or without a `-` tail', async () => {
    await expectContinued([['traceparent', TP('01', 'cc')]]);
    await expectContinued([['traceparent', `${TP('01', 'cc')}-what-the-future-will-be-like`]]);
    await expectNewTrace(`${TP('01', 'cc')}.what-the-future-will-be-like`);
  });

  it('rejects version 0xff and malformed versions', async () => {
    for (const v of ['ff', '.0', '0.', '000', '0000', '0']) {
      await expectNewTrace(`${v}-${TRACE}-${PARENT}-01`);
    }
  });

  it('rejects malformed or all-zero trace-ids', async () => {
    for (const t of [
      '0'.repeat(32),
      `.${TRACE.slice(1)}`,
      `${TRACE.slice(0, 31)}.`,
      `${TRACE}3`,
      TRACE.slice(1),
    ]) {
      const { traceparent } = await single([['traceparent', `00-${t}-${PARENT}-01`]]);
      expect(traceparent.traceId).not.toBe(TRACE);
      expect(TRACE + '3').not.toContain(traceparent.traceId);
    }
  });

  it('rejects malformed or all-zero parent-ids', async () => {
    for (const p of [
      '0'.repeat(16),
      '.234567890123456',
      '123456789012345.',
      `${PARENT}7`,
      PARENT.slice(1),
    ]) {
      await expectNewTrace(`00-${TRACE}-${p}-01`);
    }
  });

  it('rejects malformed flags', async () => {
    for (const f of ['.0', '0.', '001', '1']) await expectNewTrace(`00-${TRACE}-${PARENT}-${f}`);
  });

  it('accepts optional whitespace around traceparent', async () => {
    for (const v of [` ${TP()}`, `\t${TP()}`, `${TP()} `, `${TP()}\t`, `\t ${TP()} \t`]) {
      await expectContinued([['traceparent', v]]);
    }
  });

  it('discards tracestate without traceparent', async () => {
    const a = await single([['tracestate', 'foo=1']]);
    const b = await single([['tracestate', 'foo=1,bar=2']]);
    expect(a.tracestate.size).toBe(0);
    expect(b.tracestate.size).toBe(0);
  });

  it('inherits tracestate with traceparent', async () => {
    const { tracestate } = await expectContinued([
      ['traceparent', TP('00')],
      ['tracestate', 'foo=1,bar=2'],
    ]);
    expect(tracestate.get('foo')).toBe('1');
    expect(tracestate.get('bar')).toBe('2');
  });

  it('ignores misspelled tracestate names and reads any casing', async () => {
    for (const name of ['trace-state', 'trace.state']) {
      const { tracestate } = await single([
        ['traceparent', TP('00')],
        [name, 'foo=1'],
      ]);
      expect(tracestate.has('foo')).toBe(false);
    }
    for (const name of ['TraceState', 'TrAcEsTaTe', 'TRACESTATE']) {
      const { tracestate } = await single([
        ['traceparent', TP('00')],
        [name, 'foo=1'],
      ]);
      expect(tracestate.get('foo')).toBe('1');
    }
  });

  it('handles an empty tracestate header alone and beside another', async () => {
    const alone = await expectContinued([
      ['traceparent', TP('00')],
      ['tracestate', ''],
    ]);
    expect(values(alone.raw, 'tracestate').every((v) => v !== '')).toBe(true);
    for (const pair of [
      ['foo=1', ''],
      ['', 'foo=1'],
    ]) {
      const { tracestate } = await expectContinued([
        ['traceparent', TP('00')],
        ['tracestate', pair[0]!],
        ['tracestate', pair[1]!],
      ]);
      expect(tracestate.get('foo')).toBe('1');
    }
  });

  it('combines several tracestate headers in order', async () => {
    const { raw } = await expectContinued([
      ['traceparent', TP('00')],
      ['tracestate', 'foo=1,bar=2'],
      ['tracestate', 'rojo=1,congo=2'],
      ['tracestate', 'baz=3'],
    ]);
    expect(tracestateOf(raw).map(([k]) => k)).toEqual(['foo', 'bar', 'rojo', 'congo', 'baz']);
  });

  it('discards tracestate with duplicated keys (in one header or across headers)', async () => {
    for (const headers of [
      ['foo=1,foo=1'],
      ['foo=1,foo=2'],
      ['foo=1', 'foo=1'],
      ['foo=1', 'foo=2'],
    ]) {
      const { tracestate } = await expectContinued([
        ['traceparent', TP('00')],
        ...headers.map((h): [string, string] => ['tracestate', h]),
      ]);
      expect(tracestate.has('foo')).toBe(false);
    }
  });

  it('inherits a tracestate made of every allowed character', async () => {
    const key = 'abcdefghijklmnopqrstuvwxyz0123456789_-*/';
    let value = '';
    for (const [a, b] of [
      [0x20, 0x2b],
      [0x2d, 0x3c],
      [0x3e, 0x7e],
    ] as const) {
      for (let c = a; c <= b; c++) value += String.fromCharCode(c);
    }
    for (const k of [key, `${key}@a-z0-9_-*/`]) {
      const { tracestate } = await single([
        ['traceparent', TP('00')],
        ['tracestate', `${k}=${value}`],
      ]);
      expect(tracestate.get(k)).toBe(value);
    }
  });

  it('accepts optional whitespace in tracestate', async () => {
    for (const v of ['foo=1 \t , \t bar=2, \t baz=3', 'foo=1\t \t,\t \tbar=2,\t \tbaz=3']) {
      const { tracestate } = await single([
        ['traceparent', TP('00')],
        ['tracestate', v],
      ]);
      expect([...tracestate]).toEqual([
        ['foo', '1'],
        ['bar', '2'],
        ['baz', '3'],
      ]);
    }
    for (const v of [' foo=1', '\tfoo=1', 'foo=1 ', 'foo=1\t', '\t foo=1 \t']) {
      const { tracestate } = await expectContinued([
        ['traceparent', TP('00')],
        ['tracestate', v],
      ]);
      expect(tracestate.get('foo')).toBe('1');
    }
  });

  it('discards tracestate with illegal keys or vendor formats', async () => {
    for (const v of [
      'foo =1',
      'FOO=1',
      'foo.bar=1',
      'foo@=1,bar=2',
      '@foo=1,bar=2',
      'foo@@bar=1,bar=2',
      'foo@bar@baz=1,bar=2',
    ]) {
      const { tracestate } = await single([
        ['traceparent', TP('00')],
        ['tracestate', v],
      ]);
      expect(tracestate.size).toBe(0);
    }
  });

  it('keeps 32 tracestate members and discards 33', async () => {
    const members = (from: number, to: number): string =>
      Array.from({ length: to - from + 1 }, (_, i) => {
        const n = String(from + i).padStart(2, '0');
        return `bar${n}=${n}`;
      }).join(',');
    const base: Array<[string, string]> = [
      ['traceparent', TP('00')],
      ['tracestate', members(1, 10)],
      ['tracestate', members(11, 20)],
      ['tracestate', members(21, 30)],
    ];
    const ok = await single([...base, ['tracestate', members(31, 32)]]);
    expect(ok.tracestate.get('bar01')).toBe('01');
    expect(ok.tracestate.size).toBe(32);
    const over = await single([...base, ['tracestate', members(31, 33)]]);
    expect(over.tracestate.has('bar01')).toBe(false);
  });

  it('enforces tracestate key length limits', async () => {
    const check = async (member: string, kept: boolean): Promise<void> => {
      const { tracestate } = await single([
        ['traceparent', TP('00')],
        ['tracestate', 'foo=1'],
        ['tracestate', member],
      ]);
      expect(tracestate.get('foo')).toBe(kept ? '1' : undefined);
    };
    await check(`${'z'.repeat(256)}=1`, true);
    await check(`${'z'.repeat(257)}=1`, false);
    await check(`${'t'.repeat(241)}@${'v'.repeat(14)}=1`, true);
    await check(`${'t'.repeat(242)}@v=1`, false);
    await check(`t@${'v'.repeat(15)}=1`, false);
  });

  it('discards tracestate with illegal values', async () => {
    for (const v of ['foo=bar=baz', 'foo=,bar=3']) {
      const { tracestate } = await single([
        ['traceparent', TP('00')],
        ['tracestate', v],
      ]);
      expect(tracestate.size).toBe(0);
    }
  });

  it('keeps the trace-id across several callbacks, each with its own parent-id', async () => {
    const parents = (await exchange([['traceparent', TP()]], 3)).map((r) => traceparentOf(r));
    expect(new Set(parents.map((p) => p.traceId))).toEqual(new Set([TRACE]));
    expect(new Set(parents.map((p) => p.parentId)).size).toBe(3);
  });

  it('gives each callback its own parent-id when it starts the trace', async () => {
    const parents = (await exchange([], 3)).map((r) => traceparentOf(r));
    expect(new Set(parents.map((p) => p.traceId)).size).toBe(1);
    expect(new Set(parents.map((p) => p.parentId)).size).toBe(3);
  });

  it('starts one new trace for several callbacks after an illegal traceparent', async () => {
    const parents = (await exchange([['traceparent', `00-${'0'.repeat(32)}-${PARENT}-01`]], 3)).map(
      (r) => traceparentOf(r),
    );
    const ids = new Set(parents.map((p) => p.traceId));
    expect(ids.has('0'.repeat(32))).toBe(false);
    expect(ids.size).toBe(1);
    expect(new Set(parents.map((p) => p.parentId)).size).toBe(3);
  });
});
