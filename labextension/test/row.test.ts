/**
 * What a version row shows, as a spec: the label, message, chips and chosen metric are the
 * visible parts; the CID is only in the tooltip.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { loadBar, remoteBadge, rowParts } from '../src/row';
import { version } from './fakes';

const CID = 'bafyreiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354';

test('a row leads with label, message, chips and the chosen metric; the CID is not visible', () => {
  const v = version(CID, 3, [], {
    message: 'third: lr 1e-3',
    metrics: { acc: 0.912345, loss: 0.3 },
    tags: ['best']
  });
  const parts = rowParts(v, {
    metric: 'acc',
    isCurrent: true,
    branches: ['main']
  });
  assert.equal(parts.label, 'v3');
  assert.equal(parts.message, 'third: lr 1e-3');
  assert.deepEqual(parts.chips, [
    { kind: 'branch', text: 'main' },
    { kind: 'tag', text: 'best' }
  ]);
  assert.equal(parts.metric, '0.9123');
  const visible = [
    parts.label,
    parts.message,
    ...parts.chips.map(c => c.text),
    parts.metric
  ].join(' ');
  assert.ok(!visible.includes(CID.slice(0, 8)), visible);
  assert.ok(parts.tooltip.startsWith(`v3 ${CID} (in the live model)\n`));
});

test('the tooltip holds the label, the full CID, the whole message and the metrics', () => {
  const v = version(CID, 1, [], {
    message: 'first\nwith a second line',
    metrics: { acc: 0.5 }
  });
  const parts = rowParts(v, { metric: null, isCurrent: false, branches: [] });
  assert.equal(parts.tooltip, `v1 ${CID}\nfirst\nwith a second line\nacc=0.5`);
  assert.equal(parts.message, 'first with a second line'); // one line in the row
  assert.equal(parts.metric, null);
  assert.deepEqual(parts.chips, []);
});

test('a version without the chosen metric shows none, and an empty message no line', () => {
  const v = version(CID, 2, [], { message: '', metrics: { loss: 0.1 } });
  const parts = rowParts(v, { metric: 'acc', isCurrent: false, branches: [] });
  assert.equal(parts.metric, null);
  assert.equal(parts.tooltip, `v2 ${CID}\nloss=0.1`);
});

test('a version on remotes gets one cloud badge naming each remote and its state', () => {
  const v = version(CID, 2, [], {
    message: 'pushed',
    remotes: [
      { name: 'lab', state: 'pinned' },
      { name: 'backup', state: 'pushed' }
    ]
  });
  const parts = rowParts(v, { metric: null, isCurrent: false, branches: [] });
  assert.deepEqual(parts.remotes, {
    state: 'pinned',
    title: 'On remotes: lab (pinned), backup (pushed)'
  });
  assert.equal(
    parts.tooltip,
    `v2 ${CID}\npushed\nOn remotes: lab (pinned), backup (pushed)`
  );
});

test('the badge takes the state that most needs attention: failed, then queued, pinned, pushed', () => {
  const state = (...states: string[]) =>
    remoteBadge(states.map((s, i) => ({ name: `r${i}`, state: s })))?.state;
  assert.equal(state('pushed'), 'pushed');
  assert.equal(state('pushed', 'pinned'), 'pinned');
  assert.equal(state('pinned', 'queued', 'pushed'), 'queued');
  assert.equal(state('queued', 'failed', 'pinned'), 'failed');
});

test('a version on no remote, or from a server that does not say, has no badge', () => {
  for (const remotes of [undefined, []]) {
    const v = version(CID, 1, [], { message: 'local', remotes });
    const parts = rowParts(v, { metric: null, isCurrent: false, branches: [] });
    assert.equal(parts.remotes, null);
    assert.equal(parts.tooltip, `v1 ${CID}\nlocal`);
  }
  assert.equal(remoteBadge(undefined), null);
});

test("a Load's bar on the version's row says in bytes how far the fetch got, and from where", () => {
  const total = 9 * 1024 ** 2 + 2048;
  const bar = loadBar({ done: 3.2 * 1024 ** 2, total, remote: 'lab' });
  assert.equal(bar.text, 'Loading 3.2 of 9.0 MiB from lab');
  assert.deepEqual([bar.now, bar.max], [3.2 * 1024 ** 2, total]); // aria-valuenow, aria-valuemax
  assert.ok(Math.abs(bar.fraction - (3.2 * 1024 ** 2) / total) < 1e-12);
  // A kernel that does not name the remote: the bytes alone.
  assert.equal(
    loadBar({ done: 1024, total: 4096 }).text,
    'Loading 1.0 of 4.0 KiB'
  );
});

test('the bar never reads past its end, nor divides by nothing', () => {
  const over = loadBar({ done: 5000, total: 4096 });
  assert.deepEqual([over.now, over.max, over.fraction], [4096, 4096, 1]);
  const empty = loadBar({ done: 0, total: 0 });
  assert.deepEqual([empty.now, empty.max, empty.fraction], [0, 0, 0]);
});
