/**
 * The metric chart's data and scaling, as a spec: which metric, which lines, where the points go.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import {
  chartScale,
  chartSeries,
  effectiveMetric,
  metricNames,
  svgPoints
} from '../src/chart';
import { ISeries } from '../src/layout';
import { IVersion } from '../src/protocol';

const W = 300;
const H = 70;
const PAD = 4;

/** A series with values ys at x = 1, 2, 3, ... */
const line = (name: string, ...ys: number[]): ISeries => ({
  name,
  points: ys.map((y, i) => ({ x: i + 1, y, cid: `${name}${i + 1}` }))
});

const version = (
  cid: string,
  seq: number,
  parents: string[],
  metrics: { [name: string]: number } = {}
): IVersion => ({
  cid,
  seq,
  parents,
  metrics,
  model: 'model',
  label: `v${seq}`,
  message: '',
  time: '',
  author: '',
  framework: 'numpy',
  tags: [],
  context: {}
});

test('the lowest x is at the left edge, the highest at the right, inside the padding', () => {
  const { lines } = chartScale([line('main', 0.5, 0.7, 0.9)], W, H);
  assert.deepEqual(
    lines[0].points.map(p => p.x),
    [PAD, W / 2, W - PAD]
  );
});

test('the highest value is at the top and the lowest at the bottom (SVG y grows down)', () => {
  const { lines, range } = chartScale([line('main', 0.5, 0.7, 0.9)], W, H);
  const ys = lines[0].points.map(p => p.y);
  assert.equal(ys[0], H - PAD);
  assert.equal(ys[2], PAD);
  assert.ok(Math.abs(ys[1] - H / 2) < 1e-9);
  assert.deepEqual(range, { min: 0.5, max: 0.9 });
});

test('points keep their CIDs and their series, in order', () => {
  const { lines } = chartScale([line('main', 1, 2), line('exp', 3)], W, H);
  assert.deepEqual(
    lines.map(l => [l.name, l.points.map(p => p.cid)]),
    [
      ['main', ['main1', 'main2']],
      ['exp', ['exp1']]
    ]
  );
});

test('all series share one scale: the range spans every series', () => {
  const { lines, range } = chartScale(
    [line('main', 0.2, 0.4), line('exp', 0.8)],
    W,
    H
  );
  assert.deepEqual(range, { min: 0.2, max: 0.8 });
  assert.equal(lines[0].points[0].y, H - PAD);
  assert.equal(lines[1].points[0].y, PAD);
  // exp's one point is at x = 1, the left edge of the shared x axis.
  assert.equal(lines[1].points[0].x, PAD);
});

test('a single point sits in the middle of the box', () => {
  const { lines, range } = chartScale([line('main', 0.42)], W, H);
  assert.deepEqual(lines[0].points, [{ x: W / 2, y: H / 2, cid: 'main1' }]);
  assert.deepEqual(range, { min: 0.42, max: 0.42 });
});

test('equal values draw a flat line at mid-height, still spread along x', () => {
  const { lines, range } = chartScale([line('main', 3, 3, 3)], W, H);
  assert.deepEqual(
    lines[0].points.map(p => p.y),
    [H / 2, H / 2, H / 2]
  );
  assert.deepEqual(
    lines[0].points.map(p => p.x),
    [PAD, W / 2, W - PAD]
  );
  assert.deepEqual(range, { min: 3, max: 3 });
});

test('negative values scale like any others: the most negative is at the bottom', () => {
  const { lines, range } = chartScale([line('loss', -2, 0, 2)], W, H);
  assert.deepEqual(range, { min: -2, max: 2 });
  assert.deepEqual(
    lines[0].points.map(p => p.y),
    [H - PAD, H / 2, PAD]
  );
  const allNegative = chartScale([line('loss', -3, -1)], W, H);
  assert.deepEqual(
    allNegative.lines[0].points.map(p => p.y),
    [H - PAD, PAD]
  );
});

test('an empty chart has no range and no points', () => {
  assert.deepEqual(chartScale([], W, H), { lines: [], range: null });
  assert.deepEqual(chartScale([{ name: 'main', points: [] }], W, H), {
    lines: [{ name: 'main', points: [] }],
    range: null
  });
});

test('points that are not finite numbers are left out of the scale and the lines', () => {
  const series: ISeries = {
    name: 'main',
    points: [
      { x: 1, y: 0, cid: 'a' },
      { x: 2, y: NaN, cid: 'b' },
      { x: 3, y: Infinity, cid: 'c' },
      { x: 4, y: 1, cid: 'd' }
    ]
  };
  const { lines, range } = chartScale([series], W, H);
  assert.deepEqual(range, { min: 0, max: 1 });
  assert.deepEqual(
    lines[0].points.map(p => p.cid),
    ['a', 'd']
  );
});

test('the padding is a parameter', () => {
  const { lines } = chartScale([line('main', 0, 1)], 100, 50, 0);
  assert.deepEqual(
    lines[0].points.map(p => [p.x, p.y]),
    [
      [0, 50],
      [100, 0]
    ]
  );
});

test('an SVG points attribute has one x,y pair per point, to a tenth of a pixel', () => {
  assert.equal(
    svgPoints([
      { x: 4, y: 66, cid: 'a' },
      { x: 150.04, y: 35.06, cid: 'b' }
    ]),
    '4.0,66.0 150.0,35.1'
  );
  assert.equal(svgPoints([]), '');
});

test('metric names are every name any version records, sorted, once each', () => {
  const versions = [
    version('a', 1, [], { loss: 1, acc: 0.5 }),
    version('b', 2, ['a'], { acc: 0.6, f1: 0.1 }),
    version('c', 3, ['b'])
  ];
  assert.deepEqual(metricNames(versions), ['acc', 'f1', 'loss']);
  assert.deepEqual(metricNames([]), []);
});

test("the chart shows the user's pick, else the setting, else the first recorded metric", () => {
  const names = ['acc', 'f1', 'loss'];
  assert.equal(effectiveMetric('loss', 'f1', names), 'loss');
  assert.equal(effectiveMetric(null, 'f1', names), 'f1');
  assert.equal(effectiveMetric(null, '', names), 'acc');
  // A pick or setting that this model does not record is passed over.
  assert.equal(effectiveMetric('bleu', 'rouge', names), 'acc');
  assert.equal(effectiveMetric('acc', 'f1', []), null);
});

test('one line per branch along its first parents, oldest first', () => {
  // a <- b <- c (main), a <- x (exp)
  const byCid = new Map(
    [
      version('a', 1, [], { acc: 0.5 }),
      version('b', 2, ['a'], { acc: 0.6 }),
      version('c', 3, ['b'], { acc: 0.7 }),
      version('x', 4, ['a'], { acc: 0.9 })
    ].map(v => [v.cid, v])
  );
  const series = chartSeries(byCid, { main: 'c', exp: 'x' }, 'c', 'acc');
  assert.deepEqual(
    series.map(s => [s.name, s.points.map(p => p.cid)]),
    [
      ['main', ['a', 'b', 'c']],
      ['exp', ['a', 'x']]
    ]
  );
});

test('the live version gets a line of its own only when it is off every branch', () => {
  // a <- b (main); a <- d, a detached version the live model holds
  const byCid = new Map(
    [
      version('a', 1, [], { acc: 0.5 }),
      version('b', 2, ['a'], { acc: 0.6 }),
      version('d', 3, ['a'], { acc: 0.4 })
    ].map(v => [v.cid, v])
  );
  assert.deepEqual(
    chartSeries(byCid, { main: 'b' }, 'd', 'acc').map(s => s.name),
    ['main', 'current']
  );
  // On a branch's lineage (even not at its head): no extra line.
  assert.deepEqual(
    chartSeries(byCid, { main: 'b' }, 'a', 'acc').map(s => s.name),
    ['main']
  );
  assert.deepEqual(
    chartSeries(byCid, { main: 'b' }, null, 'acc').map(s => s.name),
    ['main']
  );
});
