/**
 * What the metric chart draws, as pure functions on plain data (unit-tested in Node): which
 * metric, which lines (one per branch's lineage, plus the live model's when it is off every
 * branch), and where their points go in the chart's box.
 */
import { ISeries, metricSeries } from './layout';
import { ICidMap, IVersion } from './protocol';

/** Every metric name the versions record, sorted. */
export function metricNames(versions: readonly IVersion[]): string[] {
  const names = new Set<string>();
  for (const v of versions) {
    for (const name of Object.keys(v.metrics ?? {})) {
      names.add(name);
    }
  }
  return [...names].sort();
}

/** The metric the panel shows: the user's pick, else the setting, else the first recorded. */
export function effectiveMetric(
  choice: string | null,
  setting: string | null,
  names: readonly string[]
): string | null {
  for (const candidate of [choice, setting]) {
    if (candidate && names.includes(candidate)) {
      return candidate;
    }
  }
  return names[0] ?? null;
}

/**
 * The chart's lines: `metric` along each branch's first-parent lineage, oldest first. The live
 * model's version (`current`) gets a line of its own, named "current", only when it is off
 * every branch's lineage. Each line starts where it leaves the lines before it
 * (`metricSeries`), so a history with many branches draws each version once.
 */
export function chartSeries(
  byCid: ReadonlyMap<string, IVersion>,
  branches: ICidMap,
  current: string | null,
  metric: string
): ISeries[] {
  const onBranches = new Set<string>();
  const out = metricSeries(byCid, branches, metric, onBranches, current);
  if (current && !onBranches.has(current)) {
    out.push(...metricSeries(byCid, { current }, metric, onBranches));
  }
  return out;
}

/** A point of the chart, in pixels of its box (y grows downwards, as in SVG). */
export interface IChartPoint {
  x: number;
  y: number;
  cid: string;
}

export interface IChartLine {
  name: string;
  points: IChartPoint[];
}

export interface IChartScale {
  /** The series in the same order, their points in pixels. */
  lines: IChartLine[];
  /** The smallest and largest value drawn (the chart's axis labels); null when nothing is. */
  range: { min: number; max: number } | null;
}

/**
 * Where the series' points go in a `width` × `height` box, keeping `pad` pixels free at each
 * edge: the lowest version number at the left, the highest value at the top. When every point
 * has the same x (or the same value) there is nothing to stretch, so they sit in the middle.
 * Points that are not finite numbers are left out.
 */
export function chartScale(
  series: readonly ISeries[],
  width: number,
  height: number,
  pad = 4
): IChartScale {
  const finite = series.map(s => ({
    name: s.name,
    points: s.points.filter(p => isFinite(p.x) && isFinite(p.y))
  }));
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (const s of finite) {
    for (const p of s.points) {
      xMin = Math.min(xMin, p.x);
      xMax = Math.max(xMax, p.x);
      yMin = Math.min(yMin, p.y);
      yMax = Math.max(yMax, p.y);
    }
  }
  const sx = (x: number) =>
    xMax === xMin
      ? width / 2
      : ((x - xMin) / (xMax - xMin)) * (width - 2 * pad) + pad;
  const sy = (y: number) =>
    yMax === yMin
      ? height / 2
      : height - pad - ((y - yMin) / (yMax - yMin)) * (height - 2 * pad);
  return {
    lines: finite.map(s => ({
      name: s.name,
      points: s.points.map(p => ({ x: sx(p.x), y: sy(p.y), cid: p.cid }))
    })),
    range: yMin <= yMax ? { min: yMin, max: yMax } : null
  };
}

/** A line's points as an SVG `points` attribute, to a tenth of a pixel. */
export function svgPoints(points: readonly IChartPoint[]): string {
  return points.map(p => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
}
