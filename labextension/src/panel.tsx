/**
 * The version panel: a virtualised git-style graph of the chosen model's versions, a metric
 * chart along its branches and the details of the selected version with its actions.
 *
 * Everything that comes from a version (messages, tags, metric and tensor names, paths) is
 * rendered as React text children, never as HTML.
 */
import { InputDialog, ReactWidget, UseSignal } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import {
  firstParentChain,
  IGraphLayout,
  IRow,
  ISeries,
  layoutGraph,
  metricSeries,
  visibleRange
} from './layout';
import { formatBytes, formatNumber, VersionTreeModel } from './model';
import { IDiffRow, IVersion, IVersionDetails } from './protocol';

export const ROW_HEIGHT = 28;
const LANE_WIDTH = 14;
const COLORS = 8;

const TREE_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<g class="jp-icon3" fill="#616161">' +
  '<circle cx="6" cy="4.5" r="2.5"/><circle cx="6" cy="19.5" r="2.5"/><circle cx="18" cy="8" r="2.5"/>' +
  '<rect x="5" y="6" width="2" height="12"/>' +
  '<path d="M17 10h2c0 4.2-3 6.6-7.4 6.9L7 17v-2l4.5-.1c3.5-.3 5.5-1.9 5.5-4.9z"/>' +
  '</g></svg>';

export const treeIcon = new LabIcon({
  name: 'nbversion:tree',
  svgstr: TREE_SVG
});

/** The Lumino widget in the left sidebar. */
export class VersionPanel extends ReactWidget {
  constructor(readonly model: VersionTreeModel) {
    super();
    this.id = 'nbversion-panel';
    this.addClass('jp-nbversion-panel');
    this.title.icon = treeIcon;
    this.title.caption = 'Versions';
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.active = true;
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.active = false;
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => <VersionTreeView model={this.model} />}
      </UseSignal>
    );
  }
}

/** The metric the panel shows: the user's pick, else the setting, else the first recorded. */
function effectiveMetric(
  model: VersionTreeModel,
  names: string[]
): string | null {
  for (const candidate of [model.metricChoice, model.metricSetting]) {
    if (candidate && names.includes(candidate)) {
      return candidate;
    }
  }
  return names[0] ?? null;
}

function metricNames(versions: IVersion[]): string[] {
  const names = new Set<string>();
  for (const v of versions) {
    for (const name of Object.keys(v.metrics ?? {})) {
      names.add(name);
    }
  }
  return [...names].sort();
}

export function VersionTreeView({
  model
}: {
  model: VersionTreeModel;
}): JSX.Element {
  const versions = model.versions;
  const layout = React.useMemo(() => layoutGraph(versions), [versions]);
  const metrics = React.useMemo(() => metricNames(versions), [versions]);
  const metric = effectiveMetric(model, metrics);
  const selectedModel = model.selectedModel;
  const current = model.currentOf(selectedModel);
  const info = selectedModel ? model.history?.models[selectedModel] : undefined;

  // Branch heads by CID, to label rows.
  const heads = React.useMemo(() => {
    const out = new Map<string, string[]>();
    for (const [branch, cid] of Object.entries(info?.branches ?? {})) {
      out.set(cid, [...(out.get(cid) ?? []), branch]);
    }
    return out;
  }, [info]);

  let body: JSX.Element;
  if (!model.notebook) {
    body = (
      <div className="jp-nbversion-empty">
        Open a notebook to see the versions of its models.
      </div>
    );
  } else if (model.loading && !model.history) {
    body = <div className="jp-nbversion-empty">Loading versions…</div>;
  } else if (model.history && model.history.versions.length === 0) {
    body = (
      <div className="jp-nbversion-empty">
        No versions yet{model.history.repo ? ` in ${model.history.repo}` : ''}.
        Run <code>%load_ext nbversion</code> and{' '}
        <code>%commit_weights MODEL -m &quot;message&quot;</code> in this
        notebook.
      </div>
    );
  } else {
    body = (
      <>
        {metric && (
          <MetricChart
            model={model}
            metric={metric}
            branches={info?.branches ?? {}}
            current={current}
          />
        )}
        <GraphList
          layout={layout}
          metric={metric}
          current={current}
          selected={model.selectedCid}
          heads={heads}
          onSelect={cid => void model.select(cid)}
        />
        {model.selectedCid && <Details model={model} metric={metric} />}
      </>
    );
  }

  return (
    <div className="jp-nbversion">
      <div className="jp-nbversion-toolbar">
        <label className="jp-nbversion-field">
          <span>Model</span>
          <select
            data-testid="nbversion-model-select"
            value={selectedModel ?? ''}
            disabled={model.modelNames.length === 0}
            onChange={e =>
              (model.selectedModel = e.currentTarget.value || null)
            }
          >
            {model.modelNames.map(name => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label className="jp-nbversion-field">
          <span>Metric</span>
          <select
            data-testid="nbversion-metric-select"
            value={metric ?? ''}
            disabled={metrics.length === 0}
            onChange={e => (model.metricChoice = e.currentTarget.value || null)}
          >
            {metrics.map(name => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <button
          className="jp-nbversion-button jp-nbversion-refresh"
          title="Re-read the history"
          data-testid="nbversion-refresh"
          onClick={() => void model.refresh()}
        >
          ⟳
        </button>
        <span
          className={`jp-nbversion-kernel ${model.connected ? 'jp-mod-connected' : ''}`}
          data-testid="nbversion-kernel-status"
          title={
            model.connected
              ? 'The kernel has nbversion loaded: versions can be loaded into the live model.'
              : 'Run %load_ext nbversion in this notebook to load versions into the live model.'
          }
        >
          {model.connected ? 'kernel linked' : 'kernel not linked'}
        </span>
      </div>
      {model.notebook && (
        <div className="jp-nbversion-path" title={model.history?.repo ?? ''}>
          {model.path}
        </div>
      )}
      {model.error && (
        <div
          className="jp-nbversion-error"
          role="alert"
          data-testid="nbversion-error"
        >
          <span className="jp-nbversion-error-type">{model.error.type}</span>
          <span className="jp-nbversion-error-message">
            {model.error.message}
          </span>
          <button
            className="jp-nbversion-dismiss"
            title="Dismiss"
            onClick={() => model.dismissError()}
          >
            ×
          </button>
        </div>
      )}
      {model.notice && (
        <div
          className={`jp-nbversion-notice jp-mod-${model.notice.kind}`}
          data-testid="nbversion-notice"
        >
          {model.notice.text}
        </div>
      )}
      {body}
    </div>
  );
}

interface IGraphListProps {
  layout: IGraphLayout<IVersion>;
  metric: string | null;
  current: string | null;
  selected: string | null;
  heads: Map<string, string[]>;
  onSelect: (cid: string) => void;
}

/** Only the rows in view (plus a few) are in the DOM, at absolute positions. */
function GraphList(props: IGraphListProps): JSX.Element {
  const { layout, selected, onSelect } = props;
  const ref = React.useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = React.useState(0);
  const [height, setHeight] = React.useState(400);

  React.useLayoutEffect(() => {
    const node = ref.current;
    if (!node) {
      return;
    }
    setHeight(node.clientHeight || 400);
    if (typeof ResizeObserver === 'undefined') {
      return;
    }
    const observer = new ResizeObserver(() =>
      setHeight(node.clientHeight || 400)
    );
    observer.observe(node);
    return () => observer.disconnect();
  }, []);

  const count = layout.rows.length;
  const { start, end } = visibleRange(scrollTop, height, ROW_HEIGHT, count);
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
      const node = ref.current;
      if (node) {
        const top = next * ROW_HEIGHT;
        if (top < node.scrollTop) {
          node.scrollTop = top;
        } else if (top + ROW_HEIGHT > node.scrollTop + node.clientHeight) {
          node.scrollTop = top + ROW_HEIGHT - node.clientHeight;
        }
      }
    }
  };

  const rows: JSX.Element[] = [];
  for (let i = start; i < end; i++) {
    rows.push(
      <GraphRow
        key={layout.rows[i].node.cid}
        row={layout.rows[i]}
        graphWidth={graphWidth}
        {...props}
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
      onScroll={e => setScrollTop(e.currentTarget.scrollTop)}
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

function laneX(lane: number): number {
  return lane * LANE_WIDTH + LANE_WIDTH / 2 + 3;
}

function segmentPath(from: number, to: number, y0: number, y1: number): string {
  const x0 = laneX(from);
  const x1 = laneX(to);
  if (x0 === x1) {
    return `M${x0} ${y0}V${y1}`;
  }
  const mid = (y0 + y1) / 2;
  return `M${x0} ${y0}C${x0} ${mid} ${x1} ${mid} ${x1} ${y1}`;
}

function GraphRow(
  props: IGraphListProps & { row: IRow<IVersion>; graphWidth: number }
): JSX.Element {
  const { row, graphWidth, metric, current, selected, heads, onSelect } = props;
  const v = row.node;
  const isCurrent = v.cid === current;
  const isSelected = v.cid === selected;
  const half = ROW_HEIGHT / 2;
  const value = metric ? v.metrics?.[metric] : undefined;
  const branchHeads = heads.get(v.cid) ?? [];
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
      data-testid="nbversion-node"
      data-cid={v.cid}
      data-label={v.label}
      data-current={isCurrent ? 'true' : undefined}
      title={v.message}
      onClick={() => onSelect(v.cid)}
    >
      <svg
        className="jp-nbversion-graph"
        width={graphWidth}
        height={ROW_HEIGHT}
        aria-hidden="true"
      >
        {row.top.map((s, k) => (
          <path
            key={`t${k}`}
            d={segmentPath(s.from, s.to, 0, half)}
            className={`jp-nbversion-edge jp-nbversion-c${s.color % COLORS}`}
          />
        ))}
        {row.bottom.map((s, k) => (
          <path
            key={`b${k}`}
            d={segmentPath(s.from, s.to, half, ROW_HEIGHT)}
            className={`jp-nbversion-edge jp-nbversion-c${s.color % COLORS}`}
          />
        ))}
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
          className={`jp-nbversion-dot jp-nbversion-c${row.color % COLORS}`}
        />
      </svg>
      <span className="jp-nbversion-label">{v.label}</span>
      <span className="jp-nbversion-cid">{v.cid.slice(0, 16)}</span>
      {isCurrent && (
        <span className="jp-nbversion-chip jp-mod-current">current</span>
      )}
      {branchHeads.map(b => (
        <span key={`b:${b}`} className="jp-nbversion-chip jp-mod-branch">
          {b}
        </span>
      ))}
      {(v.tags ?? []).map(t => (
        <span key={`t:${t}`} className="jp-nbversion-chip jp-mod-tag">
          {t}
        </span>
      ))}
      <span className="jp-nbversion-msg">{v.message}</span>
      {typeof value === 'number' && (
        <span className="jp-nbversion-metric" title={metric ?? ''}>
          {formatNumber(value)}
        </span>
      )}
    </div>
  );
}

interface IChartProps {
  model: VersionTreeModel;
  metric: string;
  branches: { [branch: string]: string };
  current: string | null;
}

/** The metric along each branch's lineage (x = version number), current lineage in bold. */
function MetricChart({
  model,
  metric,
  branches,
  current
}: IChartProps): JSX.Element | null {
  const byCid = model.byCid as ReadonlyMap<string, IVersion>;
  const series: ISeries[] = React.useMemo(() => {
    const out = metricSeries(byCid, branches, metric);
    // The live model's lineage gets its own line only when it is off every branch's lineage.
    const onBranch = Object.values(branches).some(head =>
      firstParentChain(byCid, head).some(v => v.cid === current)
    );
    if (current && !onBranch) {
      out.push(...metricSeries(byCid, { current }, metric));
    }
    return out;
  }, [byCid, branches, current, metric]);
  if (series.length === 0) {
    return (
      <div className="jp-nbversion-chart jp-nbversion-chart-empty">
        No version of this model records “{metric}”.
      </div>
    );
  }
  const W = 300;
  const H = 70;
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (const s of series) {
    for (const p of s.points) {
      xMin = Math.min(xMin, p.x);
      xMax = Math.max(xMax, p.x);
      yMin = Math.min(yMin, p.y);
      yMax = Math.max(yMax, p.y);
    }
  }
  const sx = (x: number) =>
    xMax === xMin ? W / 2 : ((x - xMin) / (xMax - xMin)) * (W - 8) + 4;
  const sy = (y: number) =>
    yMax === yMin ? H / 2 : H - 4 - ((y - yMin) / (yMax - yMin)) * (H - 8);
  const currentPoint = series
    .flatMap(s => s.points)
    .find(p => p.cid === current);
  return (
    <div className="jp-nbversion-chart" data-testid="nbversion-chart">
      <div className="jp-nbversion-chart-head">
        <span>{metric}</span>
        <span className="jp-nbversion-chart-range">
          {formatNumber(yMin)} … {formatNumber(yMax)}
        </span>
      </div>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        preserveAspectRatio="none"
        width="100%"
        height={H}
        role="img"
      >
        <title>{`${metric} along each branch`}</title>
        {series.map((s, k) => {
          const onCurrent =
            current !== null && s.points.some(p => p.cid === current);
          return (
            <polyline
              key={s.name}
              points={s.points
                .map(p => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`)
                .join(' ')}
              className={
                `jp-nbversion-series jp-nbversion-c${k % COLORS}` +
                (onCurrent ? ' jp-mod-current' : '')
              }
              vectorEffect="non-scaling-stroke"
            >
              <title>{s.name}</title>
            </polyline>
          );
        })}
        {currentPoint && (
          <line
            x1={sx(currentPoint.x)}
            x2={sx(currentPoint.x)}
            y1={0}
            y2={H}
            className="jp-nbversion-chart-current"
            vectorEffect="non-scaling-stroke"
          />
        )}
      </svg>
      <div className="jp-nbversion-legend">
        {series.map((s, k) => (
          <span
            key={s.name}
            className={`jp-nbversion-legend-item jp-nbversion-c${k % COLORS}`}
          >
            {s.name}
          </span>
        ))}
      </div>
    </div>
  );
}

function Details({
  model,
  metric
}: {
  model: VersionTreeModel;
  metric: string | null;
}): JSX.Element {
  const cid = model.selectedCid!;
  const summary = model.byCid.get(cid);
  const d: IVersion | IVersionDetails | undefined = model.details ?? summary;
  const busy = model.busy !== null;
  const isCurrent =
    cid === model.currentOf(summary?.model ?? model.selectedModel);
  const tensors = model.details?.tensors;
  const ctx = (d?.context ?? {}) as { [key: string]: any };
  const cell = ctx.cell && typeof ctx.cell === 'object' ? ctx.cell : {};
  const diff = model.diff && model.diff.b === cid ? model.diff : null;

  const onTag = async () => {
    const result = await InputDialog.getText({
      title: `Tag ${summary?.label ?? cid.slice(0, 16)}`,
      label: 'Tag name',
      placeholder: 'best'
    });
    const name = result.value?.trim();
    if (result.button.accept && name) {
      await model.tag(cid, name);
    }
  };

  return (
    <div className="jp-nbversion-details" data-testid="nbversion-details">
      <div className="jp-nbversion-details-head">
        <span className="jp-nbversion-label">{d?.label ?? ''}</span>
        <span className="jp-nbversion-cid jp-nbversion-fullcid" title="CID">
          {cid}
        </span>
        {isCurrent && (
          <span className="jp-nbversion-chip jp-mod-current">current</span>
        )}
      </div>
      <div className="jp-nbversion-message" data-testid="nbversion-message">
        {d?.message ?? ''}
      </div>
      <div className="jp-nbversion-actions">
        <button
          className="jp-nbversion-button"
          data-testid="nbversion-load"
          disabled={busy}
          title="Load this version's weights into the live model (through the kernel)"
          onClick={() => void model.load(cid)}
        >
          Load into model
        </button>
        <button
          className="jp-nbversion-button"
          data-testid="nbversion-compare"
          disabled={busy}
          title="Compare with the model's current version"
          onClick={() => void model.compare(cid)}
        >
          Compare
        </button>
        <button
          className="jp-nbversion-button"
          data-testid="nbversion-tag"
          disabled={busy}
          onClick={() => void onTag()}
        >
          Tag
        </button>
        <button
          className="jp-nbversion-button"
          data-testid="nbversion-pin"
          disabled={busy}
          title="Record this version in the notebook's metadata (metadata.nbversion.pins) and save"
          onClick={() => void model.pin(cid)}
        >
          Pin to notebook
        </button>
        {busy && <span className="jp-nbversion-busy">{model.busy}…</span>}
      </div>
      {diff && (
        <DiffTable
          rows={diff.rows}
          a={model.byCid.get(diff.a)?.label ?? diff.a.slice(0, 16)}
        />
      )}
      {d && (
        <dl className="jp-nbversion-fields">
          <dt>Model</dt>
          <dd>{d.model}</dd>
          <dt>Time</dt>
          <dd title={d.time}>{formatTime(d.time)}</dd>
          <dt>Author</dt>
          <dd>{d.author}</dd>
          <dt>Framework</dt>
          <dd>{d.framework}</dd>
          <dt>Parents</dt>
          <dd>
            {d.parents.length === 0
              ? '—'
              : d.parents
                  .map(p => model.byCid.get(p)?.label ?? p.slice(0, 16))
                  .join(', ')}
          </dd>
          <dt>Tags</dt>
          <dd>{(d.tags ?? []).length ? d.tags.join(', ') : '—'}</dd>
          {typeof ctx.notebook === 'string' && (
            <>
              <dt>Notebook</dt>
              <dd className="jp-nbversion-path-text">{ctx.notebook}</dd>
            </>
          )}
        </dl>
      )}
      {d && Object.keys(d.metrics ?? {}).length > 0 && (
        <table className="jp-nbversion-table">
          <thead>
            <tr>
              <th>Metric</th>
              <th>Value</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(d.metrics).map(([name, value]) => (
              <tr
                key={name}
                className={name === metric ? 'jp-mod-selected' : ''}
              >
                <td>{name}</td>
                <td>{formatNumber(value)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {tensors === undefined ? (
        <div className="jp-nbversion-muted">Loading tensors…</div>
      ) : (
        <details className="jp-nbversion-section" open={tensors.length <= 20}>
          <summary>
            {tensors.length} tensors,{' '}
            {formatBytes(tensors.reduce((n, t) => n + (t.size ?? 0), 0))}
          </summary>
          <table className="jp-nbversion-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>dtype</th>
                <th>Shape</th>
                <th>Size</th>
              </tr>
            </thead>
            <tbody>
              {tensors.slice(0, 1000).map(t => (
                <tr key={t.name}>
                  <td>{t.name}</td>
                  <td>{t.dtype}</td>
                  <td>{(t.shape ?? []).join('×') || 'scalar'}</td>
                  <td>{formatBytes(t.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {tensors.length > 1000 && (
            <div className="jp-nbversion-muted">
              and {tensors.length - 1000} more
            </div>
          )}
        </details>
      )}
      {typeof cell.source === 'string' && (
        <details className="jp-nbversion-section" open>
          <summary>
            Committed by cell
            {typeof cell.execution_count === 'number'
              ? ` [${cell.execution_count}]`
              : ''}
          </summary>
          <pre className="jp-nbversion-source">{cell.source}</pre>
        </details>
      )}
    </div>
  );
}

function DiffTable({ rows, a }: { rows: IDiffRow[]; a: string }): JSX.Element {
  const changed = rows.filter(r => r.status !== 'unchanged').length;
  return (
    <div className="jp-nbversion-diff" data-testid="nbversion-diff">
      <div className="jp-nbversion-muted">
        Against {a} (current): {changed} of {rows.length} tensors differ
      </div>
      <table className="jp-nbversion-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Status</th>
            <th>L2</th>
            <th>max |Δ|</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(r => (
            <tr key={r.name} className={`jp-nbversion-status-${r.status}`}>
              <td>{r.name}</td>
              <td>{r.status}</td>
              <td>{formatNumber(r.l2)}</td>
              <td>{formatNumber(r.max_abs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function formatTime(iso: string): string {
  const t = Date.parse(iso);
  return isNaN(t) ? iso : new Date(t).toLocaleString();
}
