/**
 * A Load's fetch from a remote, drawn where the version shows: a bar with the bytes in the
 * details and on the "Announced by peers" row, a slim bar along the version's row in the graph.
 *
 * They follow the model's `progressChanged` signal, not the panel's state: a progress event
 * (up to ten a second) redraws these bars and the graph list's slots, whose rows other than the
 * one loaded keep their props and are not drawn again.
 */
import * as React from 'react';

import { formatBytes } from '../format';
import { ILoadProgress, IProgressSource } from '../model';
import { loadBar } from '../row';

/**
 * The Load's progress as `source` reports it, followed as it changes; with `cid`, only a
 * Load of that version (else null, and other versions' progress does not redraw the caller).
 */
export function useLoadProgress(
  source: IProgressSource,
  cid?: string
): ILoadProgress | null {
  const pick = (p: ILoadProgress | null) =>
    p !== null && (cid === undefined || p.cid === cid) ? p : null;
  const [progress, setProgress] = React.useState(() => pick(source.progress));
  React.useEffect(() => {
    const follow = (_: unknown, p: ILoadProgress | null) =>
      setProgress(pick(p));
    setProgress(pick(source.progress)); // (what changed before this effect ran)
    source.progressChanged.connect(follow);
    return () => {
      source.progressChanged.disconnect(follow);
    };
  }, [source, cid]);
  return pick(progress); // (`cid` changed and the effect has not run yet: not another's bar)
}

/** The bar and the bytes, while a Load fetches version `cid` (nothing otherwise). */
export function LoadProgress({
  source,
  cid
}: {
  source: IProgressSource;
  cid: string;
}): JSX.Element | null {
  const progress = useLoadProgress(source, cid);
  return progress && <ProgressBar progress={progress} />;
}

/** A Load's fetch from a remote: a bar and the bytes, until the kernel replies. */
export function ProgressBar({
  progress
}: {
  progress: ILoadProgress;
}): JSX.Element {
  const { done, total } = progress;
  return (
    <span className="jp-nbversion-progress" data-testid="nbversion-progress">
      <progress value={Math.min(done, total)} max={total} />
      <span className="jp-nbversion-muted">
        fetching {formatBytes(Math.min(done, total))} of {formatBytes(total)}
      </span>
    </span>
  );
}

/**
 * The slim bar along the foot of the row of the version loading, from `left` (past the graph's
 * lanes) to the row's end; it fills by a transform, so an update costs no layout.
 */
export function RowProgress({
  progress,
  left
}: {
  progress: ILoadProgress;
  left: number;
}): JSX.Element {
  const bar = loadBar(progress);
  return (
    <div
      className="jp-nbversion-row-progress"
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={bar.max}
      aria-valuenow={bar.now}
      aria-valuetext={bar.text}
      title={bar.text}
      data-testid="nbversion-row-progress"
      style={{ left }}
    >
      <div
        className="jp-nbversion-row-progress-fill"
        style={{ transform: `scaleX(${bar.fraction})` }}
      />
    </div>
  );
}
