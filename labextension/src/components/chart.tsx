/**
 * The metric chart: the chosen metric along each branch's lineage (x = version number), the
 * live model's lineage in bold. Which lines and where their points go is `chart.ts`.
 */
import * as React from 'react';

import { chartScale, chartSeries, IChartScale, svgPoints } from '../chart';
import { formatNumber } from '../format';
import { ICidMap, IVersion } from '../protocol';
import { colorClass } from './colors';

const WIDTH = 300;
const HEIGHT = 70;
/** At most this many lines are named under the chart (a history may have hundreds of branches). */
const LEGEND_ITEMS = 12;

export interface IMetricChartProps {
  byCid: ReadonlyMap<string, IVersion>;
  metric: string;
  branches: ICidMap;
  current: string | null;
}

export function MetricChart({
  byCid,
  metric,
  branches,
  current
}: IMetricChartProps): JSX.Element {
  const series = React.useMemo(
    () => chartSeries(byCid, branches, current, metric),
    [byCid, branches, current, metric]
  );
  const scale = chartScale(series, WIDTH, HEIGHT);
  if (scale.range === null) {
    return (
      <div className="jp-nbversion-chart jp-nbversion-chart-empty">
        No version of this model records “{metric}”.
      </div>
    );
  }
  return (
    <div className="jp-nbversion-chart" data-testid="nbversion-chart">
      <div className="jp-nbversion-chart-head">
        <span>{metric}</span>
        <span className="jp-nbversion-chart-range">
          {formatNumber(scale.range.min)} … {formatNumber(scale.range.max)}
        </span>
      </div>
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        preserveAspectRatio="none"
        width="100%"
        height={HEIGHT}
        role="img"
      >
        <title>{`${metric} along each branch`}</title>
        <ChartLines scale={scale} current={current} />
      </svg>
      <div className="jp-nbversion-legend">
        {scale.lines.slice(0, LEGEND_ITEMS).map((line, k) => (
          <span
            key={line.name}
            className={`jp-nbversion-legend-item ${colorClass(k)}`}
          >
            {line.name}
          </span>
        ))}
        {scale.lines.length > LEGEND_ITEMS && (
          <span
            className="jp-nbversion-legend-more"
            title={scale.lines
              .slice(LEGEND_ITEMS)
              .map(line => line.name)
              .join(', ')}
          >
            and {scale.lines.length - LEGEND_ITEMS} more
          </span>
        )}
      </div>
    </div>
  );
}

/** One polyline per series (bold when it passes the live model's version), and a marker there. */
function ChartLines({
  scale,
  current
}: {
  scale: IChartScale;
  current: string | null;
}): JSX.Element {
  const currentPoint = scale.lines
    .flatMap(line => line.points)
    .find(p => p.cid === current);
  return (
    <>
      {scale.lines.map((line, k) => {
        const onCurrent =
          current !== null && line.points.some(p => p.cid === current);
        return (
          <polyline
            key={line.name}
            points={svgPoints(line.points)}
            className={
              `jp-nbversion-series ${colorClass(k)}` +
              (onCurrent ? ' jp-mod-current' : '')
            }
            vectorEffect="non-scaling-stroke"
          >
            <title>{line.name}</title>
          </polyline>
        );
      })}
      {currentPoint && (
        <line
          x1={currentPoint.x}
          x2={currentPoint.x}
          y1={0}
          y2={HEIGHT}
          className="jp-nbversion-chart-current"
          vectorEffect="non-scaling-stroke"
        />
      )}
    </>
  );
}
