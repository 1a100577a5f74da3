/**
 * How the panel writes numbers, sizes, times and CIDs. Pure functions, unit-tested in Node.
 */

/** A number in at most 4 significant digits, exponent form when tiny or huge. */
export function formatNumber(x: number | null | undefined): string {
  if (typeof x !== 'number' || !isFinite(x)) {
    return x === null || x === undefined ? '' : String(x);
  }
  if (x === 0) {
    return '0';
  }
  const abs = Math.abs(x);
  return abs >= 1e5 || abs < 1e-3
    ? x.toExponential(2)
    : String(Number(x.toPrecision(4)));
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** The unit `n` bytes are written in: the largest that leaves a value of at least 1. */
function byteUnit(n: number): number {
  let i = 0;
  while (n >= 1024 && i < BYTE_UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return i;
}

/** `n` bytes in unit `i` (bytes whole, the others to one decimal), without the unit. */
function bytesIn(n: number, i: number): string {
  return i === 0 ? String(n) : (n / 1024 ** i).toFixed(1);
}

/** Bytes as B / KiB / MiB / GiB / TiB. */
export function formatBytes(n: number): string {
  const i = byteUnit(n);
  return `${bytesIn(n, i)} ${BYTE_UNITS[i]}`;
}

/** A part of a whole, both in the whole's unit: `3.2 of 9.0 MiB`. */
export function formatBytesOf(done: number, total: number): string {
  const i = byteUnit(total);
  return `${bytesIn(done, i)} of ${bytesIn(total, i)} ${BYTE_UNITS[i]}`;
}

/** An ISO time in the browser's locale; anything unparsable as it is. */
export function formatTime(iso: string): string {
  const t = Date.parse(iso);
  return isNaN(t) ? iso : new Date(t).toLocaleString();
}

/** A tensor's shape as `4×3`, `scalar` for a 0-d tensor. */
export function formatShape(
  shape: readonly number[] | null | undefined
): string {
  return (shape ?? []).join('×') || 'scalar';
}

/** The first 16 characters of a CID: what the panel shows where space is short. */
export function shortCid(cid: string): string {
  return cid.slice(0, 16);
}
