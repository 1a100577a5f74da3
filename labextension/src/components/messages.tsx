/**
 * What the panel says instead of, or above, the tree: the last error, the last action's
 * outcome, and why there is no tree to show.
 */
import * as React from 'react';

import { INotice } from '../model';
import { IHistory, NbversionError } from '../protocol';

/** The error as the server or the kernel worded it, until dismissed or the next success. */
export function ErrorBanner({
  error,
  onDismiss
}: {
  error: NbversionError;
  onDismiss: () => void;
}): JSX.Element {
  return (
    <div
      className="jp-nbversion-error"
      role="alert"
      data-testid="nbversion-error"
    >
      <span className="jp-nbversion-error-type">{error.type}</span>
      <span className="jp-nbversion-error-message">{error.message}</span>
      <button
        className="jp-nbversion-dismiss"
        title="Dismiss"
        onClick={onDismiss}
      >
        ×
      </button>
    </div>
  );
}

export function NoticeLine({ notice }: { notice: INotice }): JSX.Element {
  return (
    <div
      className={`jp-nbversion-notice jp-mod-${notice.kind}`}
      data-testid="nbversion-notice"
    >
      {notice.text}
    </div>
  );
}

/**
 * Why there is no tree: no notebook, the history on its way, or no versions yet.
 * Null when there is a tree to show (a function, not a component, so the view can tell).
 */
export function emptyMessage({
  hasNotebook,
  loading,
  history
}: {
  hasNotebook: boolean;
  loading: boolean;
  history: IHistory | null;
}): JSX.Element | null {
  if (!hasNotebook) {
    return (
      <div className="jp-nbversion-empty">
        Open a notebook to see the versions of its models.
      </div>
    );
  }
  if (loading && !history) {
    return <div className="jp-nbversion-empty">Loading versions…</div>;
  }
  if (history && history.versions.length === 0) {
    return (
      <div className="jp-nbversion-empty">
        No versions yet{history.repo ? ` in ${history.repo}` : ''}. Run{' '}
        <code>%load_ext nbversion</code> and{' '}
        <code>%commit_weights MODEL -m &quot;message&quot;</code> in this
        notebook.
      </div>
    );
  }
  return null;
}
