/**
 * "Announced by peers": the versions peers announced on the topics the notebook's kernel watches
 * (`%nbversion watch TOPIC`), each fetched and verified by the kernel before it is listed (so it
 * is in the repository), with a Load action. Shown only while a watch runs.
 */
import * as React from 'react';

import { isData } from '../data';
import { formatNumber, shortCid } from '../format';
import { VersionTreeModel } from '../model';
import { IAnnounced, ICidMap } from '../protocol';
import { LoadProgress } from './progress';

/** A peer ID, short enough for a row: its last 8 characters (where IDs differ). */
export function peerText(peer: string): string {
  return peer.length > 12 ? `…${peer.slice(-8)}` : peer || 'an unsigned sender';
}

/** What the section's head says: the topics watched and the nodes they are watched through. */
export function watchingText(watches: ICidMap): string {
  const topics = Object.keys(watches).sort();
  return topics.map(t => `'${t}' on ${watches[t]}`).join(', ');
}

export function AnnouncedSection({
  model
}: {
  model: VersionTreeModel;
}): JSX.Element | null {
  const watches = model.watches;
  if (Object.keys(watches).length === 0) {
    return null;
  }
  const announced = model.announced;
  return (
    <details
      className="jp-nbversion-section jp-nbversion-announced"
      data-testid="nbversion-announced"
      open
    >
      <summary title={`Watching ${watchingText(watches)}`}>
        Announced by peers ({announced.length})
      </summary>
      <div className="jp-nbversion-muted">
        Watching {watchingText(watches)}: each version is fetched and verified
        before it is listed.
      </div>
      {announced.map(a => (
        <AnnouncedRow key={a.version.cid} item={a} model={model} />
      ))}
    </details>
  );
}

function AnnouncedRow({
  item,
  model
}: {
  item: IAnnounced;
  model: VersionTreeModel;
}): JSX.Element {
  const v = item.version;
  const metrics = Object.entries(v.metrics ?? {})
    .slice(0, 3)
    .map(([name, value]) => `${name}=${formatNumber(value)}`)
    .join(' ');
  const isCurrent = model.liveOf(v.model) === v.cid;
  return (
    <div
      className="jp-nbversion-announced-row"
      data-testid="nbversion-announced-row"
      data-cid={v.cid}
      title={`${v.cid}\nannounced by ${item.from || 'an unsigned sender'} on '${item.topic}'; verified`}
    >
      <div className="jp-nbversion-announced-line">
        <span className="jp-nbversion-label">
          {v.model} {v.label}
        </span>
        <span className="jp-nbversion-msg">{v.message}</span>
        {metrics && <span className="jp-nbversion-metric">{metrics}</span>}
      </div>
      <div className="jp-nbversion-announced-line">
        <span className="jp-nbversion-muted jp-nbversion-announced-from">
          {shortCid(v.cid)} from {peerText(item.from)}
        </span>
        {isData(v) ? (
          <span className="jp-nbversion-chip jp-mod-data">data</span>
        ) : isCurrent ? (
          <span className="jp-nbversion-chip jp-mod-current">current</span>
        ) : (
          <button
            className="jp-nbversion-button"
            data-testid="nbversion-announced-load"
            disabled={model.busy !== null}
            title={`Load ${v.model} ${v.label} into the live model '${v.model}' (through the kernel)`}
            onClick={() => void model.load(v.cid, v.model)}
          >
            Load
          </button>
        )}
      </div>
      <LoadProgress source={model} cid={v.cid} />
    </div>
  );
}
