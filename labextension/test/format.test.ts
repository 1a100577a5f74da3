/**
 * How the panel writes numbers, sizes, shapes, times and CIDs, as a spec.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import {
  formatBytes,
  formatBytesOf,
  formatNumber,
  formatShape,
  formatTime,
  shortCid
} from '../src/format';

test('numbers keep at most four significant digits', () => {
  assert.equal(formatNumber(0.912345), '0.9123');
  assert.equal(formatNumber(1234.5678), '1235');
  assert.equal(formatNumber(-0.5), '-0.5');
  assert.equal(formatNumber(3), '3');
  assert.equal(formatNumber(0), '0');
});

test('tiny and huge numbers are written with an exponent', () => {
  assert.equal(formatNumber(0.000123), '1.23e-4');
  assert.equal(formatNumber(123456), '1.23e+5');
  assert.equal(formatNumber(-2e-7), '-2.00e-7');
  // The edges: 1e-3 and just under 1e5 are still plain.
  assert.equal(formatNumber(0.001), '0.001');
  assert.equal(formatNumber(99990), '99990');
});

test('a missing number is blank and a non-finite one is written as it is', () => {
  assert.equal(formatNumber(null), '');
  assert.equal(formatNumber(undefined), '');
  assert.equal(formatNumber(NaN), 'NaN');
  assert.equal(formatNumber(Infinity), 'Infinity');
});

test('sizes are bytes below 1 KiB, else one decimal in the largest binary unit', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.0 KiB');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(5 * 1024 ** 2), '5.0 MiB');
  assert.equal(formatBytes(3 * 1024 ** 3), '3.0 GiB');
  // TiB is the largest unit: beyond it the number grows.
  assert.equal(formatBytes(2048 * 1024 ** 4), '2048.0 TiB');
});

test("a part of a size is written in the whole's unit, so the two read side by side", () => {
  const total = 9 * 1024 ** 2 + 2048;
  assert.equal(formatBytesOf(3.2 * 1024 ** 2, total), '3.2 of 9.0 MiB');
  assert.equal(formatBytesOf(512, total), '0.0 of 9.0 MiB');
  assert.equal(formatBytesOf(total, total), '9.0 of 9.0 MiB');
  assert.equal(formatBytesOf(100, 1000), '100 of 1000 B');
});

test('a shape is its dimensions joined by ×, and a 0-d tensor is a scalar', () => {
  assert.equal(formatShape([4, 3]), '4×3');
  assert.equal(formatShape([10]), '10');
  assert.equal(formatShape([]), 'scalar');
  assert.equal(formatShape(undefined), 'scalar');
});

test('a time that does not parse is shown as it came, a valid one in the locale', () => {
  assert.equal(formatTime('not a time'), 'not a time');
  const iso = '2024-05-01T12:30:00Z';
  assert.equal(formatTime(iso), new Date(iso).toLocaleString());
});

test('a short CID is its first 16 characters', () => {
  const cid = 'bafkr4ihkr4ld3m4gqkjf4reryxsy2s5tkbxprqkow6fin2iiyvreuzzab4';
  assert.equal(shortCid(cid), 'bafkr4ihkr4ld3m4');
  assert.equal(shortCid('short'), 'short');
});
