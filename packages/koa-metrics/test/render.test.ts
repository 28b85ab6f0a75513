import { render } from '../src/exposition.js';
import type { FamilyValue } from '../src/families.js';
import { parseExposition } from './helpers.js';

const counter: FamilyValue = {
  name: 'jobs',
  help: 'Jobs with "quotes" and a \\ backslash\nand a newline.',
  type: 'counter',
  aggregator: 'sum',
  values: [{ value: 2, labels: { queue: 'a"b\\c\nd' } }],
};
const gauge: FamilyValue = {
  name: 'temp',
  help: 'Odd values.',
  type: 'gauge',
  aggregator: 'sum',
  values: [
    { value: Infinity, labels: { k: 'inf' } },
    { value: -Infinity, labels: { k: 'neg' } },
    { value: NaN, labels: { k: 'nan' } },
  ],
};

describe('render', () => {
  it('escapes HELP per format and label values in both', () => {
    const text = render([counter], 'text');
    expect(text).toContain(
      '# HELP jobs Jobs with "quotes" and a \\\\ backslash\\nand a newline.\n',
    );
    expect(text).toContain('jobs{queue="a\\"b\\\\c\\nd"} 2\n');
    const om = render([counter], 'openmetrics');
    expect(om).toContain(
      '# HELP jobs Jobs with \\"quotes\\" and a \\\\ backslash\\nand a newline.\n',
    );
    const parsed = parseExposition(om, true);
    expect(parsed.samples[0]).toMatchObject({
      name: 'jobs_total',
      labels: { queue: 'a"b\\c\nd' },
      value: 2,
    });
  });

  it('spells +Inf, -Inf and NaN', () => {
    const values = parseExposition(render([gauge], 'text'), false).samples.map((s) => s.value);
    expect(values[0]).toBe(Infinity);
    expect(values[1]).toBe(-Infinity);
    expect(values[2]).toBeNaN();
  });

  it('gives OpenMetrics counters a family name without _total and samples with it', () => {
    const om = render([{ ...counter, name: 'jobs_total' }], 'openmetrics');
    expect(om).toContain('# TYPE jobs counter\n');
    expect(om).toContain('jobs_total{');
    expect(om.endsWith('# EOF\n')).toBe(true);
    expect(render([{ ...counter, name: 'jobs_total' }], 'text')).toContain(
      '# TYPE jobs_total counter\n',
    );
  });

  it('adds default labels, sample labels winning', () => {
    const text = render(
      [{ ...counter, values: [{ value: 1, labels: { service: 'mine' } }] }],
      'text',
      {
        service: 'default',
        region: 'eu',
      },
    );
    const [sample] = parseExposition(text, false).samples;
    expect(sample!.labels).toEqual({ service: 'mine', region: 'eu' });
  });

  it('writes exemplars only in OpenMetrics, timestamps in seconds', () => {
    const hist: FamilyValue = {
      name: 'd_seconds',
      help: 'd',
      type: 'histogram',
      aggregator: 'sum',
      values: [
        {
          value: 1,
          labels: { le: 0.5 },
          metricName: 'd_seconds_bucket',
          exemplar: { labelSet: { trace_id: 't' }, value: 0.25, timestamp: 1700000000.1234 },
        },
      ],
    };
    expect(render([hist], 'text')).not.toContain('#  {');
    expect(render([hist], 'text')).not.toContain('trace_id');
    expect(render([hist], 'openmetrics')).toContain(
      'd_seconds_bucket{le="0.5"} 1 # {trace_id="t"} 0.25 1700000000.123\n',
    );
  });

  it('writes le and quantile as canonical floats in OpenMetrics only', () => {
    const hist: FamilyValue = {
      name: 'h',
      help: 'h',
      type: 'histogram',
      aggregator: 'sum',
      values: [
        { value: 1, labels: { le: 1 }, metricName: 'h_bucket' },
        { value: 1, labels: { le: '10' }, metricName: 'h_bucket' },
        { value: 1, labels: { le: 0.25 }, metricName: 'h_bucket' },
        { value: 2, labels: { le: '+Inf' }, metricName: 'h_bucket' },
      ],
    };
    const om = render([hist], 'openmetrics');
    expect(om).toContain('h_bucket{le="1.0"} 1\n');
    expect(om).toContain('h_bucket{le="10.0"} 1\n');
    expect(om).toContain('h_bucket{le="0.25"} 1\n');
    expect(om).toContain('h_bucket{le="+Inf"} 2\n');
    expect(render([hist], 'text')).toContain('h_bucket{le="1"} 1\n');
  });
});
