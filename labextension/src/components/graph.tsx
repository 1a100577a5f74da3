/**
 * The version list: one row per version with its piece of the git-style graph, virtualised
 * (only the rows in view, plus a few, are in the DOM). The layout itself is `layout.ts`.
 *
 * Scrolling re-renders the list only when the first row in view changes, and rows are memoised
 * (`React.memo`) and keyed by their slot in the window: a row that stays in view is not drawn
 * again, and one that comes into view takes over the DOM of one that left, so a scroll step
 * costs updating the rows that come into view.
 *
 * While a Load fetches a version from a remote, that version's row (when in view, also one that
 * scrolls into view mid-load) draws a slim progress bar: the list follows the Load's progress
 * and hands it to that row alone, so a progress event draws one row again.
 */
import * as React from 'react';

import { IGraphLayout, IRow, ISegment, visibleRange } from '../layout';
import { ILoadProgress, IProgressSource } from '../model';
import { ICidMap, IVersion } from '../protocol';
import { loadBar, rowParts } from '../row';
import { colorClass } from './colors';
import { RowProgress, useLoadProgress } from './progress';

export const ROW_HEIGHT = 28;
const LANE_WIDTH = 14;

/** Branch names by the CID they point at, to label rows. */
export function headsByCid(branches: ICidMap): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [branch, cid] of Object.entries(branches)) {
    out.set(cid, [...(out.get(cid) ?? []), branch]);
  }
  return out;
}

export interface IGraphListProps {
  layout: IGraphLayout<IVersion>;
  metric: string | null;
  current: string | null;
  selected: string | null;
  heads: Map<string, string[]>;
  onSelect: (cid: string) => void;
  /** The Load running (the model): its version's row shows how far its fetch got. */
  progress: IProgressSource;
}

/** Only the rows in view (plus a few) are in the DOM, at absolute positions. */
export function GraphList(props: IGraphListProps): JSX.Element {
  const { layout, selected, onSelect } = props;
  const ref = React.useRef<HTMLDivElement>(null);
  // The first row in view, not the scroll offset: React skips the update while it stays the same.
  const [firstRow, setFirstRow] = React.useState(0);
  const height = useClientHeight(ref, 400);
  const progress = useLoadProgress(props.progress);

  const count = layout.rows.length;
  const { start, end } = visibleRange(
    firstRow * ROW_HEIGHT,
    height + ROW_HEIGHT,
    ROW_HEIGHT,
    count
  );
  const graphWidth = Math.max(1, layout.width) * LANE_WIDTH + 6;

  const onKeyDown = (e: React.KeyboardEvent) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') {
      return;
    }
    e.preventDefault();
    const i = layout.rows.findIndex(r => r.node.cid === selected);
    const next = Math.min(
      count - 1,
      Math.max(0, i + (e.key === 'ArrowDown' ? 1 : -1))
    );
    const row = layout.rows[next];
    if (row) {
      onSelect(row.node.cid);
      if (ref.current) {
        scrollRowIntoView(ref.current, next);
      }
    }
  };

  // Rows are keyed by their slot in the window, not their version: a row that scrolls out
  // hands its DOM to the one that scrolls in (updated, not made anew), and rows that stay keep
  // their slot and props, so they are not drawn again.
  const slots = windowLength(height);
  const rows: JSX.Element[] = [];
  for (let i = start; i < end; i++) {
    const row = layout.rows[i];
    const cid = row.node.cid;
    rows.push(
      <GraphRow
        key={i % slots}
        row={row}
        graphWidth={graphWidth}
        metric={props.metric}
        isCurrent={cid === props.current}
        isSelected={cid === selected}
        branches={props.heads.get(cid) ?? NO_HEADS}
        onSelect={onSelect}
        progress={progress !== null && progress.cid === cid ? progress : null}
      />
    );
  }
  return (
    <div
      className="jp-nbversion-list"
      ref={ref}
      tabIndex={0}
      role="listbox"
      aria-label="Versions"
      data-testid="nbversion-list"
      onScroll={e =>
        setFirstRow(Math.floor(e.currentTarget.scrollTop / ROW_HEIGHT))
      }
      onKeyDown={onKeyDown}
    >
      <div
        className="jp-nbversion-list-inner"
        style={{ height: count * ROW_HEIGHT }}
      >
        {rows}
      </div>
    </div>
  );
}

/** How many rows the window holds away from the list's ends (a viewport of `height`). */
function windowLength(height: number): number {
  const mid = visibleRange(
    1000 * ROW_HEIGHT,
    height + ROW_HEIGHT,
    ROW_HEIGHT,
    Infinity
  );
  return Math.max(1, mid.end - mid.start);
}

/** The element's height, followed as it is resized; `fallback` while it has none. */
function useClientHeight(
  ref: React.RefObject<HTMLElement>,
  fallback: number
): number {
  const [height, setHeight] = React.useState(fallback);
  React.useLayoutEffect(() => {
    const node = ref.current;
    if (!node) {
      return;
    }
    setHeight(node.clientHeight || fallback);
    if (typeof ResizeObserver === 'undefined') {
      return;
    }
    const observer = new ResizeObserver(() =>
      setHeight(node.clientHeight || fallback)
    );
    observer.observe(node);
    return () => observer.disconnect();
  }, []);
  return height;
}

/** Scroll the list just enough to show row `index` whole. */
function scrollRowIntoView(list: HTMLElement, index: number): void {
  const top = index * ROW_HEIGHT;
  if (top < list.scrollTop) {
    list.scrollTop = top;
  } else if (top + ROW_HEIGHT > list.scrollTop + list.clientHeight) {
    list.scrollTop = top + ROW_HEIGHT - list.clientHeight;
  }
}

/** The branches of a row that heads none (one array, so memoised rows compare equal). */
const NO_HEADS: string[] = [];

interface IGraphRowProps {
  row: IRow<IVersion>;
  graphWidth: number;
  metric: string | null;
  isCurrent: boolean;
  isSelected: boolean;
  branches: string[];
  onSelect: (cid: string) => void;
  /** How far a Load of this version got in fetching it (null: none runs). */
  progress: ILoadProgress | null;
}

/** One row; drawn again only when one of its props changes. */
const GraphRow = React.memo(GraphRowView);

function GraphRowView(props: IGraphRowProps): JSX.Element {
  const { row, metric, isCurrent, isSelected, branches, onSelect, progress } =
    props;
  const v = row.node;
  const parts = rowParts(v, { metric, isCurrent, branches });
  // The bar is slim: the row's tooltip (its description for screen readers) says it too.
  const tooltip = progress
    ? `${loadBar(progress).text}\n${parts.tooltip}`
    : parts.tooltip;
  return (
    <div
      className={
        'jp-nbversion-row' +
        (isSelected ? ' jp-mod-selected' : '') +
        (isCurrent ? ' jp-mod-current' : '')
      }
      style={{ top: row.index * ROW_HEIGHT, height: ROW_HEIGHT }}
      role="option"
      aria-selected={isSelected}
      aria-busy={progress ? true : undefined}
      data-testid="nbversion-node"
      data-cid={v.cid}
      data-label={v.label}
      data-current={isCurrent ? 'true' : undefined}
      title={tooltip}
      onClick={() => onSelect(v.cid)}
    >
      <RowGraph row={row} width={props.graphWidth} isCurrent={isCurrent} />
      <span className="jp-nbversion-label">{parts.label}</span>
      {parts.isData && <DataBadge />}
      <span className="jp-nbversion-msg" data-testid="nbversion-row-message">
        {parts.message}
      </span>
      {parts.chips.map(chip => (
        <span
          key={`${chip.kind}:${chip.text}`}
          className={`jp-nbversion-chip jp-mod-${chip.kind}`}
        >
          {chip.text}
        </span>
      ))}
      {parts.remotes && (
        <span
          className={`jp-nbversion-remote jp-mod-${parts.remotes.state}`}
          title={parts.remotes.title}
          data-testid="nbversion-remote"
          data-state={parts.remotes.state}
          aria-label={parts.remotes.title}
        >
          <CloudIcon />
        </span>
      )}
      {parts.metric !== null && (
        <span className="jp-nbversion-metric" title={metric ?? ''}>
          {parts.metric}
        </span>
      )}
      {progress && <RowProgress progress={progress} left={props.graphWidth} />}
    </div>
  );
}

/** The mark of a data version: a small stack of disks, with its name for screen readers. */
export function DataBadge(): JSX.Element {
  return (
    <span
      className="jp-nbversion-kind jp-mod-data"
      data-testid="nbversion-data-badge"
      title="Data version"
    >
      <svg width="10" height="12" viewBox="0 0 10 12" aria-hidden="true">
        <ellipse cx="5" cy="2.5" rx="4.5" ry="2" fill="currentColor" />
        <path
          d="M.5 4v2.5c0 1.1 2 2 4.5 2s4.5-.9 4.5-2V4c0 1.1-2 2-4.5 2S.5 5.1.5 4zm0 3.5V10c0 1.1 2 2 4.5 2s4.5-.9 4.5-2V7.5c0 1.1-2 2-4.5 2s-4.5-.9-4.5-2z"
          fill="currentColor"
        />
      </svg>
      <span className="jp-nbversion-sr">data version</span>
    </span>
  );
}

/** A small cloud, in the badge's colour (`currentColor`). */
function CloudIcon(): JSX.Element {
  return (
    <svg width="14" height="10" viewBox="0 0 14 10" aria-hidden="true">
      <path
        d="M3.5 9.5a3 3 0 0 1-.4-6A4 4 0 0 1 10.8 3a3.2 3.2 0 0 1-.3 6.5z"
        fill="currentColor"
      />
    </svg>
  );
}

/** The row's slice of the graph: lines in from above, lines out below, the version's dot. */
function RowGraph({
  row,
  width,
  isCurrent
}: {
  row: IRow<IVersion>;
  width: number;
  isCurrent: boolean;
}): JSX.Element {
  const half = ROW_HEIGHT / 2;
  const edge = (key: string, s: ISegment, y0: number, y1: number) => (
    <path
      key={key}
      d={segmentPath(s.from, s.to, y0, y1)}
      className={`jp-nbversion-edge ${colorClass(s.color)}`}
    />
  );
  return (
    <svg
      className="jp-nbversion-graph"
      width={width}
      height={ROW_HEIGHT}
      aria-hidden="true"
    >
      {row.top.map((s, k) => edge(`t${k}`, s, 0, half))}
      {row.bottom.map((s, k) => edge(`b${k}`, s, half, ROW_HEIGHT))}
      {isCurrent && (
        <circle
          cx={laneX(row.lane)}
          cy={half}
          r={7}
          className="jp-nbversion-current-ring"
        />
      )}
      <circle
        cx={laneX(row.lane)}
        cy={half}
        r={4}
        className={`jp-nbversion-dot ${colorClass(row.color)}`}
      />
    </svg>
  );
}

function laneX(lane: number): number {
  return lane * LANE_WIDTH + LANE_WIDTH / 2 + 3;
}

/** A line from lane `from` at height y0 to lane `to` at y1: straight, or an S-curve. */
function segmentPath(from: number, to: number, y0: number, y1: number): string {
  const x0 = laneX(from);
  const x1 = laneX(to);
  if (x0 === x1) {
    return `M${x0} ${y0}V${y1}`;
  }
  const mid = (y0 + y1) / 2;
  return `M${x0} ${y0}C${x0} ${mid} ${x1} ${mid} ${x1} ${y1}`;
}
