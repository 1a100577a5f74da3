/**
 * The selected version: its head line and message, the actions (load, compare, tag, pin), the
 * last comparison, its fields (a model version's data links, its recorded code and environment),
 * metrics, tensors and the cell that committed it. A data version has no Load or Pin (its
 * versions are restored with the model versions that link them) and lists its items instead of
 * tensors.
 */
import { InputDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import {
  classLines,
  codeLine,
  dataLinks,
  environmentLine,
  isData,
  itemText
} from '../data';
import {
  formatBytes,
  formatNumber,
  formatShape,
  formatTime,
  shortCid
} from '../format';
import { VersionTreeModel } from '../model';
import {
  IDataItem,
  IDiffRow,
  IRemoteState,
  ITensorInfo,
  IVersion,
  IVersionDetails
} from '../protocol';
import { remoteText } from '../row';
import { LoadProgress } from './progress';

/** At most this many tensor rows are drawn. */
const MAX_TENSOR_ROWS = 1000;

export function Details({
  model,
  metric
}: {
  model: VersionTreeModel;
  metric: string | null;
}): JSX.Element {
  const cid = model.selectedCid!;
  const summary = model.byCid.get(cid);
  const d: IVersion | undefined = model.details ?? summary;
  const isCurrent =
    cid === model.currentOf(summary?.model ?? model.selectedModel);
  const diff = model.diff && model.diff.b === cid ? model.diff : null;
  const labelOf = (c: string) => model.byCid.get(c)?.label ?? shortCid(c);
  const data = isData(d) || model.isDataSet(summary?.model ?? null);
  const details = model.details?.cid === cid ? model.details : null;
  return (
    <div className="jp-nbversion-details" data-testid="nbversion-details">
      <div className="jp-nbversion-details-head">
        <span className="jp-nbversion-label">{d?.label ?? ''}</span>
        <span className="jp-nbversion-cid jp-nbversion-fullcid" title="CID">
          {cid}
        </span>
        {data && (
          <span
            className="jp-nbversion-chip jp-mod-data"
            data-testid="nbversion-details-kind"
            title="A data version: a data set's arrays, tables, files or folders"
          >
            data
          </span>
        )}
        {isCurrent && !data && (
          <span className="jp-nbversion-chip jp-mod-current">current</span>
        )}
      </div>
      <div className="jp-nbversion-message" data-testid="nbversion-message">
        {d?.message ?? ''}
      </div>
      <Actions model={model} cid={cid} label={summary?.label} isData={data} />
      {diff && (
        <DiffTable
          rows={diff.rows}
          a={labelOf(diff.a)}
          noun={data ? 'items' : 'tensors'}
        />
      )}
      {d && (
        <VersionFields
          version={d}
          labelOf={labelOf}
          remotes={d.remotes ?? summary?.remotes}
          isData={data}
          notebookInCode={Boolean(details?.code?.notebook)}
        >
          <Provenance
            model={model}
            version={d}
            details={details}
            isData={data}
          />
        </VersionFields>
      )}
      {d && <MetricsTable metrics={d.metrics ?? {}} selected={metric} />}
      {data ? (
        <ItemsSection items={details ? (details.items ?? []) : undefined} />
      ) : (
        <TensorsSection
          tensors={details ? (details.tensors ?? []) : undefined}
        />
      )}
      <CellSource context={d?.context} />
    </div>
  );
}

/** The buttons that act on the version, disabled while an action runs. */
function Actions({
  model,
  cid,
  label,
  isData
}: {
  model: VersionTreeModel;
  cid: string;
  label: string | undefined;
  isData: boolean;
}): JSX.Element {
  const busy = model.busy !== null;
  const onTag = async () => {
    const result = await InputDialog.getText({
      title: `Tag ${label ?? shortCid(cid)}`,
      label: 'Tag name',
      placeholder: 'best'
    });
    const name = result.value?.trim();
    if (result.button.accept && name) {
      await model.tag(cid, name);
    }
  };
  const all: {
    testid: string;
    label: string;
    title?: string;
    run: () => Promise<void>;
  }[] = [
    {
      testid: 'nbversion-load',
      label: 'Load into model',
      title:
        "Load this version's weights into the live model (through the kernel)",
      run: () => model.load(cid)
    },
    {
      testid: 'nbversion-compare',
      label: 'Compare',
      title: "Compare with the model's current version",
      run: () => model.compare(cid)
    },
    { testid: 'nbversion-tag', label: 'Tag', run: onTag },
    {
      testid: 'nbversion-pin',
      label: 'Pin to notebook',
      title:
        "Record this version in the notebook's metadata (metadata.nbversion.pins) and save",
      run: () => model.pin(cid)
    }
  ];
  // A data version is not loaded into a model, nor pinned as one: it is compared and tagged.
  const actions = isData
    ? all
        .filter(
          a => a.testid === 'nbversion-compare' || a.testid === 'nbversion-tag'
        )
        .map(a =>
          a.testid === 'nbversion-compare'
            ? { ...a, title: "Compare with the data set's newest version" }
            : a
        )
    : all;
  return (
    <div className="jp-nbversion-actions">
      {actions.map(action => (
        <button
          key={action.testid}
          className="jp-nbversion-button"
          data-testid={action.testid}
          disabled={busy}
          title={action.title}
          onClick={() => void action.run()}
        >
          {action.label}
        </button>
      ))}
      {busy && <span className="jp-nbversion-busy">{model.busy}…</span>}
      <LoadProgress source={model} cid={cid} />
    </div>
  );
}

function VersionFields({
  version: d,
  labelOf,
  remotes,
  isData,
  notebookInCode,
  children
}: {
  version: IVersion;
  labelOf: (cid: string) => string;
  /** Where it is on remotes (the listing's word when the details do not say). */
  remotes: IRemoteState[] | undefined;
  isData: boolean;
  /** Whether the code line names the notebook (then it is not a field of its own). */
  notebookInCode: boolean;
  /** More fields (terms and descriptions), after these. */
  children?: React.ReactNode;
}): JSX.Element {
  const notebook = d.context?.notebook;
  return (
    <dl className="jp-nbversion-fields">
      <dt>{isData ? 'Data set' : 'Model'}</dt>
      <dd>{d.model}</dd>
      <dt>Time</dt>
      <dd title={d.time}>{formatTime(d.time)}</dd>
      <dt>Author</dt>
      <dd>{d.author}</dd>
      {!isData && (
        <>
          <dt>Framework</dt>
          <dd>{d.framework}</dd>
        </>
      )}
      <dt>Parents</dt>
      <dd>
        {d.parents.length === 0 ? '—' : d.parents.map(labelOf).join(', ')}
      </dd>
      <dt>Tags</dt>
      <dd>{(d.tags ?? []).length ? d.tags.join(', ') : '—'}</dd>
      {Array.isArray(remotes) && remotes.length > 0 && (
        <>
          <dt>Remotes</dt>
          <dd data-testid="nbversion-details-remotes">
            {remotes.map(remoteText).join(', ')}
          </dd>
        </>
      )}
      {typeof notebook === 'string' && !notebookInCode && (
        <>
          <dt>Notebook</dt>
          <dd className="jp-nbversion-path-text">{notebook}</dd>
        </>
      )}
      {children}
    </dl>
  );
}

/**
 * What the version was made from, as fields: a model version's data links (each selects that
 * data version), and the code and environment it records, one line each ("not recorded" when not).
 */
function Provenance({
  model,
  version,
  details,
  isData
}: {
  model: VersionTreeModel;
  version: IVersion;
  details: IVersionDetails | null;
  isData: boolean;
}): JSX.Element {
  const links = dataLinks(version, model.byCid, details?.data_labels);
  return (
    <>
      {!isData && (
        <>
          <dt>Data</dt>
          <dd data-testid="nbversion-data-links">
            {links.length === 0
              ? 'none linked'
              : links.map((link, i) => (
                  <React.Fragment key={link.role}>
                    {i > 0 && ', '}
                    {link.role} ={' '}
                    <button
                      className="jp-nbversion-link"
                      data-testid="nbversion-data-link"
                      data-role={link.role}
                      data-cid={link.cid}
                      disabled={!link.listed}
                      title={
                        link.listed
                          ? `Show ${link.text} (${link.cid})`
                          : `${link.cid} (not in this repository's listing)`
                      }
                      onClick={() => void model.selectLinked(link.cid)}
                    >
                      {link.text}
                    </button>
                  </React.Fragment>
                ))}
          </dd>
        </>
      )}
      <dt>Code</dt>
      <dd
        className="jp-nbversion-provenance"
        data-testid="nbversion-code"
        title={details?.code?.cid ?? ''}
      >
        {details ? codeLine(details.code) : '…'}
      </dd>
      <dt>Environment</dt>
      <dd
        className="jp-nbversion-provenance"
        data-testid="nbversion-environment"
        title={details?.environment?.cid ?? ''}
      >
        {details ? environmentLine(details.environment) : '…'}
      </dd>
    </>
  );
}

/** The items of a data version with their summaries (`undefined` until the details came). */
function ItemsSection({
  items
}: {
  items: IDataItem[] | undefined;
}): JSX.Element {
  if (items === undefined) {
    return <div className="jp-nbversion-muted">Loading items…</div>;
  }
  const total = items.reduce((n, t) => n + (t.size ?? 0), 0);
  return (
    <details
      className="jp-nbversion-section"
      open={items.length <= 20}
      data-testid="nbversion-items"
    >
      <summary>
        {items.length} items, {formatBytes(total)}
      </summary>
      <table className="jp-nbversion-table">
        <thead>
          <tr>
            <th>Item</th>
            <th>Type</th>
            <th>Size</th>
          </tr>
        </thead>
        <tbody>
          {items.slice(0, MAX_TENSOR_ROWS).map(item => (
            <tr key={item.name} data-testid="nbversion-item">
              <td>
                {itemText(item)}
                {classLines(item).map(line => (
                  <div key={line} className="jp-nbversion-classes">
                    {line}
                  </div>
                ))}
              </td>
              <td>{item.type}</td>
              <td>{formatBytes(item.size)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {items.length > MAX_TENSOR_ROWS && (
        <div className="jp-nbversion-muted">
          and {items.length - MAX_TENSOR_ROWS} more
        </div>
      )}
    </details>
  );
}

/** The version's metrics; the one the chart shows is highlighted. Nothing when it has none. */
function MetricsTable({
  metrics,
  selected
}: {
  metrics: { [name: string]: number };
  selected: string | null;
}): JSX.Element | null {
  const entries = Object.entries(metrics);
  if (entries.length === 0) {
    return null;
  }
  return (
    <table className="jp-nbversion-table">
      <thead>
        <tr>
          <th>Metric</th>
          <th>Value</th>
        </tr>
      </thead>
      <tbody>
        {entries.map(([name, value]) => (
          <tr key={name} className={name === selected ? 'jp-mod-selected' : ''}>
            <td>{name}</td>
            <td>{formatNumber(value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The tensors (read with the version's details; `undefined` until they came). */
function TensorsSection({
  tensors
}: {
  tensors: ITensorInfo[] | undefined;
}): JSX.Element {
  if (tensors === undefined) {
    return <div className="jp-nbversion-muted">Loading tensors…</div>;
  }
  const total = tensors.reduce((n, t) => n + (t.size ?? 0), 0);
  return (
    <details className="jp-nbversion-section" open={tensors.length <= 20}>
      <summary>
        {tensors.length} tensors, {formatBytes(total)}
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
          {tensors.slice(0, MAX_TENSOR_ROWS).map(t => (
            <tr key={t.name}>
              <td>{t.name}</td>
              <td>{t.dtype}</td>
              <td>{formatShape(t.shape)}</td>
              <td>{formatBytes(t.size)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {tensors.length > MAX_TENSOR_ROWS && (
        <div className="jp-nbversion-muted">
          and {tensors.length - MAX_TENSOR_ROWS} more
        </div>
      )}
    </details>
  );
}

/** The source of the cell that committed the version, when the version records it. */
function CellSource({
  context
}: {
  context: IVersion['context'] | undefined;
}): JSX.Element | null {
  const cell = context?.cell;
  if (!cell || typeof cell !== 'object' || typeof cell.source !== 'string') {
    return null;
  }
  return (
    <details className="jp-nbversion-section" open>
      <summary>
        Committed by cell
        {typeof cell.execution_count === 'number'
          ? ` [${cell.execution_count}]`
          : ''}
      </summary>
      <pre className="jp-nbversion-source">{cell.source}</pre>
    </details>
  );
}

/** The last comparison with the live model's version. */
function DiffTable({
  rows,
  a,
  noun
}: {
  rows: IDiffRow[];
  a: string;
  /** What is compared: a model version's tensors, a data version's items. */
  noun: string;
}): JSX.Element {
  const changed = rows.filter(r => r.status !== 'unchanged').length;
  return (
    <div className="jp-nbversion-diff" data-testid="nbversion-diff">
      <div className="jp-nbversion-muted">
        Against {a} (current): {changed} of {rows.length} {noun} differ
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
