/**
 * Data versions in the panel, as a spec: which names are data sets and how the selector groups
 * them, a data version's items and label counts in a few words, a model version's data links,
 * and the one-line summaries of its recorded code and environment.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import {
  classLines,
  codeLine,
  dataLinks,
  dataNames,
  environmentLine,
  isData,
  itemText,
  nameGroups
} from '../src/data';
import { rowParts } from '../src/row';
import { version } from './fakes';

const DIGITS = version('cid-d1', 1, [], {
  model: 'digits',
  kind: 'data',
  framework: 'data'
});
const MODEL = version('cid-m1', 1, [], {
  kind: 'weights',
  data: { train: 'cid-d1', eval: 'cid-x' }
});

test('the names whose versions are data versions are data sets; the selector lists models, then data sets', () => {
  const older = version('cid-0', 1, []); // a server from before data versions sends no kind: weights
  assert.deepEqual([...dataNames([MODEL, DIGITS, older])], ['digits']);
  assert.equal(isData(DIGITS), true);
  assert.equal(isData(MODEL), false);
  assert.equal(isData(older), false);
  assert.deepEqual(
    nameGroups(['model', 'digits', 'encoder'], new Set(['digits'])),
    {
      models: ['encoder', 'model'],
      data: ['digits']
    }
  );
});

test("a data version's row is marked as data and says so in its tooltip, not that a live model holds it", () => {
  const parts = rowParts(DIGITS, {
    metric: null,
    isCurrent: true,
    branches: []
  });
  assert.equal(parts.isData, true);
  assert.ok(
    parts.tooltip.startsWith('v1 cid-d1 (data version)\n'),
    parts.tooltip
  );
  assert.equal(
    rowParts(MODEL, { metric: null, isCurrent: true, branches: [] }).isData,
    false
  );
});

test("items are written as `%nbversion show` writes them; the server's words win", () => {
  const y = {
    name: 'y',
    type: 'array',
    size: 480,
    dtype: 'int64',
    shape: [60],
    summary: { classes: { 0: 20, 1: 20, 2: 20 } }
  };
  assert.equal(itemText(y), 'y int64[60] (3 classes)');
  assert.equal(
    itemText({ ...y, text: 'y int64[60] (3 classes, said the server)' }),
    'y int64[60] (3 classes, said the server)'
  );
  assert.equal(
    itemText({
      name: 'frame',
      type: 'table',
      size: 9,
      rows: 1000,
      columns: ['a', 'b']
    }),
    'frame (1,000 rows x 2 cols)'
  );
  assert.equal(
    itemText({ name: 'images', type: 'folder', size: 3072, files: 12 }),
    'images/ (12 files, 3.0 KiB)'
  );
  assert.equal(
    itemText({ name: 'notes.txt', type: 'file', size: 10 }),
    'notes.txt (10 B)'
  );
});

test('label counts: one line for an array or a series, one per labelled column of a table, none without labels', () => {
  const y = {
    name: 'y',
    type: 'array',
    size: 480,
    summary: { classes: { 0: 20, 1: 1500, 2: 20 } }
  };
  assert.deepEqual(classLines(y), ['0: 20, 1: 1,500, 2: 20']);
  const table = {
    name: 't',
    type: 'table',
    size: 1,
    summary: { classes: { species: { a: 50, b: 50 }, ok: { true: 3 } } }
  };
  assert.deepEqual(classLines(table), [
    'species — a: 50, b: 50',
    'ok — true: 3'
  ]);
  assert.deepEqual(
    classLines({ name: 'X', type: 'array', size: 1, summary: { shape: [2] } }),
    []
  );
  const many = Object.fromEntries(
    Array.from({ length: 15 }, (_, i) => [String(i), 1])
  );
  assert.ok(
    classLines({
      name: 'y',
      type: 'array',
      size: 1,
      summary: { classes: many }
    })[0].endsWith('11: 1, and 3 more')
  );
});

test("a model version's data links: by role, named from the listing, else the server's names, else the CID", () => {
  const byCid = new Map([[DIGITS.cid, DIGITS]]);
  assert.deepEqual(dataLinks(MODEL, byCid), [
    { role: 'eval', cid: 'cid-x', text: 'cid-x', listed: false },
    { role: 'train', cid: 'cid-d1', text: 'digits v1', listed: true }
  ]);
  assert.equal(
    dataLinks(MODEL, new Map(), { 'cid-x': 'holdout v2' })[0].text,
    'holdout v2'
  );
  assert.deepEqual(dataLinks(DIGITS, byCid), []);
});

test('code and environment in one line each, or "not recorded"', () => {
  assert.equal(codeLine(null), 'not recorded');
  assert.equal(codeLine(undefined), 'not recorded');
  assert.equal(
    codeLine({ cid: 'c', notebook: 'work/train.ipynb', cell: 'a1b2' }),
    'work/train.ipynb, cell a1b2'
  );
  assert.equal(
    codeLine({ cid: 'c', notebook: null, cell: 'a1b2' }),
    '(no notebook file), cell a1b2'
  );
  assert.equal(environmentLine(null), 'not recorded');
  const env = {
    cid: 'e',
    python: '3.11.7',
    platform: 'Linux 6.1 x86_64',
    packages: 172,
    key_packages: { numpy: '2.1.0', keras: '3.6.0' }
  };
  assert.equal(
    environmentLine(env),
    'Python 3.11.7, Linux 6.1 x86_64; numpy 2.1.0, keras 3.6.0 (172 packages)'
  );
  assert.ok(
    environmentLine({ cid: 'e', error: 'block missing' }).includes(
      'block missing'
    )
  );
});
