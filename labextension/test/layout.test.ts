/**
 * The version-graph layout, as a spec: `jlpm test` (tsc, then Node's built-in test runner).
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import {
  firstParentChain,
  GrowingLayout,
  ILayoutNode,
  layoutGraph,
  lineageDepths,
  metricSeries,
  topologicalOrder,
  visibleRange
} from '../src/layout';

const v = (cid: string, ...parents: string[]): ILayoutNode => ({
  cid,
  parents
});

test('a linear chain stays in one lane with one line between neighbours', () => {
  const { rows, width } = layoutGraph([v('c', 'b'), v('b', 'a'), v('a')]);
  assert.equal(width, 1);
  assert.deepEqual(
    rows.map(r => r.node.cid),
    ['c', 'b', 'a']
  );
  assert.deepEqual(
    rows.map(r => r.lane),
    [0, 0, 0]
  );
  // The head has nothing above it, the root nothing below it.
  assert.deepEqual(rows[0].top, []);
  assert.deepEqual(
    rows[0].bottom.map(s => [s.from, s.to]),
    [[0, 0]]
  );
  assert.deepEqual(
    rows[1].top.map(s => [s.from, s.to]),
    [[0, 0]]
  );
  assert.deepEqual(rows[2].bottom, []);
  // One line of descent, one colour.
  assert.equal(new Set(rows.map(r => r.color)).size, 1);
});

test('a branch: two children of one parent get different lanes and meet at the parent', () => {
  // a <- b <- c (main), a <- x (branch from a)
  const { rows, width } = layoutGraph([
    v('c', 'b'),
    v('x', 'a'),
    v('b', 'a'),
    v('a')
  ]);
  const byCid = new Map(rows.map(r => [r.node.cid, r]));
  assert.equal(width, 2);
  assert.notEqual(byCid.get('x')!.lane, byCid.get('b')!.lane);
  assert.notEqual(byCid.get('x')!.color, byCid.get('b')!.color);
  // The main line passes straight through the branch's row.
  const xRow = byCid.get('x')!;
  assert.ok(xRow.top.some(s => s.from === 0 && s.to === 0));
  assert.ok(xRow.bottom.some(s => s.from === 0 && s.to === 0));
  // Both lanes converge into the parent's lane.
  const aRow = byCid.get('a')!;
  assert.equal(aRow.lane, 0);
  assert.deepEqual(aRow.top.map(s => [s.from, s.to]).sort(), [
    [0, 0],
    [1, 0]
  ]);
  assert.deepEqual(aRow.bottom, []);
});

test('a merge: a version with two parents draws a line to each parent lane', () => {
  // a <- b, a <- c, m = merge(b, c)
  const { rows } = layoutGraph([
    v('m', 'b', 'c'),
    v('c', 'a'),
    v('b', 'a'),
    v('a')
  ]);
  const byCid = new Map(rows.map(r => [r.node.cid, r]));
  const m = byCid.get('m')!;
  assert.equal(m.lane, 0);
  assert.deepEqual(m.bottom.map(s => [s.from, s.to]).sort(), [
    [0, 0],
    [0, 1]
  ]);
  assert.equal(byCid.get('b')!.lane, 0);
  assert.equal(byCid.get('c')!.lane, 1);
  // b's row carries c's lane straight through; both meet again at a.
  assert.ok(byCid.get('b')!.top.some(s => s.from === 1 && s.to === 1));
  assert.equal(byCid.get('a')!.top.length, 2);
});

test('children are put before parents even when the input order is off', () => {
  const order = topologicalOrder([v('a'), v('c', 'b'), v('b', 'a')]).map(
    n => n.cid
  );
  assert.deepEqual(order, ['c', 'b', 'a']);
  // Duplicates are dropped, missing parents ignored.
  const { rows } = layoutGraph([v('b', 'a', 'zz'), v('b', 'a'), v('a')]);
  assert.deepEqual(
    rows.map(r => r.node.cid),
    ['b', 'a']
  );
  assert.deepEqual(
    rows[0].bottom.map(s => [s.from, s.to]),
    [[0, 0]]
  );
});

test('10,000 versions with a side branch every 50 lay out as 10,000 rows in at most three lanes', () => {
  const nodes: ILayoutNode[] = [];
  // Build oldest first, then reverse: a main line with a short side branch every 50 versions.
  const chrono: ILayoutNode[] = [v('n0')];
  let head = 'n0';
  for (let i = 1; chrono.length < 10_000; i++) {
    const cid = `n${i}`;
    chrono.push(v(cid, head));
    if (i % 50 === 0) {
      chrono.push(v(`b${i}`, head));
    }
    head = cid;
  }
  nodes.push(...chrono.reverse());
  const { rows, width } = layoutGraph(nodes);
  assert.equal(rows.length, 10_000);
  assert.ok(width >= 2 && width <= 3, `width ${width}`);
  // Newest first, the main line in lane 0, each side branch beside it.
  assert.equal(rows[0].node.cid, nodes[0].cid);
  assert.deepEqual(
    rows.map(r => r.index),
    rows.map((_, i) => i)
  );
  assert.ok(
    rows.filter(r => r.node.cid.startsWith('n')).every(r => r.lane === 0)
  );
  assert.ok(
    rows.filter(r => r.node.cid.startsWith('b')).every(r => r.lane > 0)
  );
});

test('lineage and metric series follow first parents, oldest first', () => {
  type V = ILayoutNode & { seq: number; metrics: { [name: string]: number } };
  const versions: V[] = [
    { cid: 'c', parents: ['b'], seq: 3, metrics: { acc: 0.9 } },
    { cid: 'x', parents: ['a'], seq: 4, metrics: { acc: 0.7 } },
    { cid: 'b', parents: ['a'], seq: 2, metrics: {} },
    { cid: 'a', parents: [], seq: 1, metrics: { acc: 0.5 } }
  ];
  const byCid = new Map(versions.map(x => [x.cid, x]));
  assert.deepEqual(
    firstParentChain(byCid, 'c').map(x => x.cid),
    ['c', 'b', 'a']
  );
  const series = metricSeries(byCid, { main: 'c', 'from-v1': 'x' }, 'acc');
  assert.deepEqual(
    series.map(s => [s.name, s.points.map(p => p.x)]),
    [
      ['main', [1, 3]],
      ['from-v1', [1, 4]]
    ]
  );
});

test('the virtual window covers the viewport plus overscan and no more', () => {
  assert.deepEqual(visibleRange(0, 280, 28, 10_000, 5), { start: 0, end: 15 });
  assert.deepEqual(visibleRange(28 * 5000, 280, 28, 10_000, 5), {
    start: 4995,
    end: 5015
  });
  assert.deepEqual(visibleRange(28 * 9999, 280, 28, 10_000, 5), {
    start: 9994,
    end: 10_000
  });
});

test('lineage depths count each version and its first parents', () => {
  const byCid = new Map(
    [
      v('c', 'b'),
      v('b', 'a'),
      v('x', 'a', 'c'),
      v('a'),
      v('orphan', 'gone')
    ].map(n => [n.cid, n])
  );
  const depths = lineageDepths(byCid);
  assert.deepEqual(
    ['a', 'b', 'c', 'x', 'orphan'].map(cid => depths.get(cid)),
    [1, 2, 3, 2, 1]
  );
});

test('branches sharing a trunk draw each version once, and meet where they fork', () => {
  // A trunk of 1,000 versions with a branch off every 10th: lineages in full would be
  // 100 lines of up to 1,000 points; drawn once, there is one point per version plus a
  // join point per branch.
  type V = ILayoutNode & { seq: number; metrics: { [name: string]: number } };
  const byCid = new Map<string, V>();
  const heads: { [name: string]: string } = {};
  for (let i = 1; i <= 1000; i++) {
    const parents = i > 1 ? [`t${i - 1}`] : [];
    byCid.set(`t${i}`, { cid: `t${i}`, parents, seq: i, metrics: { acc: i } });
    if (i % 10 === 0) {
      const b = `b${i}`;
      byCid.set(b, {
        cid: b,
        parents: [`t${i}`],
        seq: 1000 + i,
        metrics: { acc: -i }
      });
      heads[b] = b;
    }
  }
  heads.main = 't1000';
  // b1000's lineage is the longest, but main's head is the live model's version: main goes whole.
  const series = metricSeries(byCid, heads, 'acc', new Set(), 't1000');
  assert.equal(series.length, 101);
  const points = series.reduce((n, s) => n + s.points.length, 0);
  assert.equal(points, byCid.size + 100);
  // Main is drawn whole; a branch from its fork point to its head.
  const main = series.find(s => s.name === 'main')!;
  assert.deepEqual(main.points.length, 1000);
  assert.deepEqual(
    series.find(s => s.name === 'b500')!.points.map(p => p.cid),
    ['t500', 'b500']
  );
  // Order and names stay as the branches were given.
  assert.deepEqual(
    series.map(s => s.name),
    Object.keys(heads)
  );
});

test('without a live version on a branch head, the longest lineage is drawn whole', () => {
  type V = ILayoutNode & { seq: number; metrics: { [name: string]: number } };
  const versions: V[] = [
    { cid: 'a', parents: [], seq: 1, metrics: { acc: 1 } },
    { cid: 'b', parents: ['a'], seq: 2, metrics: { acc: 2 } },
    { cid: 'c', parents: ['b'], seq: 3, metrics: { acc: 3 } },
    { cid: 'x', parents: ['a'], seq: 4, metrics: { acc: 4 } }
  ];
  const byCid = new Map(versions.map(x => [x.cid, x]));
  assert.deepEqual(
    metricSeries(byCid, { short: 'x', long: 'c' }, 'acc').map(s => [
      s.name,
      s.points.map(p => p.cid)
    ]),
    [
      ['short', ['a', 'x']],
      ['long', ['a', 'b', 'c']]
    ]
  );
});

/** A DAG like a training history: a main line, side branches, merges; newest first. */
function history(n: number, seed: number): ILayoutNode[] {
  let x = seed;
  const random = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
  const nodes: ILayoutNode[] = [];
  const tips: string[] = [];
  for (let i = 0; i < n; i++) {
    const parents: string[] = [];
    if (tips.length > 0) {
      const k = Math.floor(random() * tips.length);
      parents.push(tips[k]);
      if (random() < 0.1 && tips.length > 1) {
        parents.push(tips[(k + 1) % tips.length]); // a merge
      }
      if (random() < 0.8) {
        tips.splice(k, 1); // the line goes on; else it branches
      }
    }
    tips.push(`n${i}`);
    nodes.push(v(`n${i}`, ...parents));
  }
  return nodes.reverse();
}

/** `nodes` in pages of the given sizes (the last takes the rest), as the model appends them. */
function grown(
  nodes: ILayoutNode[],
  sizes: number[]
): { layouts: ReturnType<typeof layoutGraph>[]; prefixes: ILayoutNode[][] } {
  const growing = new GrowingLayout<ILayoutNode>();
  const layouts = [];
  const prefixes = [];
  let shown: ILayoutNode[] = [];
  let at = 0;
  for (let k = 0; k <= sizes.length; k++) {
    const size = k < sizes.length ? sizes[k] : nodes.length - at;
    shown = shown.concat(nodes.slice(at, at + size));
    at += size;
    layouts.push(growing.layoutOf(shown, k === sizes.length));
    prefixes.push(shown);
  }
  return { layouts, prefixes };
}

test('a history laid out page by page ends as the whole history laid out at once', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const nodes = history(300, seed);
    const { layouts } = grown(nodes, [20, 100, 7, 50]);
    assert.deepEqual(layouts[layouts.length - 1], layoutGraph(nodes));
    // grown, not laid out again: every layout holds the same (growing) rows
    assert.ok(layouts.every(l => l.rows === layouts[0].rows));
  }
});

test('while pages are missing, the rows shown are the first rows of the whole layout', () => {
  const nodes = history(200, 7);
  const whole = layoutGraph(nodes);
  const { layouts, prefixes } = grown(nodes, [30, 60]);
  for (let k = 0; k < layouts.length - 1; k++) {
    assert.deepEqual(
      layouts[k].rows.slice(0, prefixes[k].length),
      whole.rows.slice(0, prefixes[k].length)
    );
  }
});

test('a parent that never comes, a duplicate, a page out of order: the whole is laid out again', () => {
  const partial = [v('c', 'b'), v('b', 'gone'), v('x', 'c')]; // x: a child below its parent
  for (const nodes of [
    [v('c', 'b'), v('b', 'gone')],
    [v('c', 'b'), v('b', 'a'), v('b', 'a'), v('a')],
    partial
  ]) {
    const { layouts } = grown(nodes, [1]);
    assert.deepEqual(layouts[layouts.length - 1], layoutGraph(nodes));
  }
});

test('another list (another model) is laid out afresh', () => {
  const growing = new GrowingLayout<ILayoutNode>();
  const a = history(50, 1);
  const b = history(40, 2).map(n => ({ ...n }));
  growing.layoutOf(a.slice(0, 10), false);
  assert.deepEqual(growing.layoutOf(b, true), layoutGraph(b));
  assert.deepEqual(growing.layoutOf(a, true), layoutGraph(a));
});
