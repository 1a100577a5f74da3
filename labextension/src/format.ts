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

/** Bytes as B / KiB / MiB / GiB / TiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return i === 0 ? `${value} B` : `${value.toFixed(1)} ${units[i]}`;
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
