/**
 * What one version row shows, and in which order: the label, the commit message, the chips
 * (branch heads, tags) and the chosen metric; the CID, which no one recognises at a glance, goes
 * in the row's tooltip (and the details pane). The version in the live model is marked by the
 * graph's ring and a bold label, not a chip, to leave the message room. A version that is on a
 * remote (pushed, pinned, queued or failed to go) gets a small cloud badge whose tooltip names the
 * remotes. A data version (a data set's) gets a small data badge, named for screen readers.
 * While a Load fetches the version from a remote, its row gets a slim progress bar
 * (`loadBar`). Pure, unit-tested in Node.
 */
import { isData } from './data';
import { formatBytesOf, formatNumber } from './format';
import { IProgress, IRemoteState, IVersion } from './protocol';

export type ChipKind = 'branch' | 'tag';

export interface IChip {
  kind: ChipKind;
  text: string;
}

/** The cloud badge of a version on remotes: one per row, however many remotes. */
export interface IRemoteBadge {
  /**
   * The state the badge is drawn in, the one that most needs the user's eye: 'failed', then
   * 'queued', then 'pinned', then 'pushed' (another state a server sends is shown as it is).
   */
  state: string;
  /** Every remote with its state, e.g. "On remotes: lab (pinned), backup (pushed)". */
  title: string;
}

const STATE_ORDER = ['failed', 'queued', 'pinned', 'pushed'];

/** One remote's state in words, e.g. "lab (pinned)". */
export function remoteText(r: IRemoteState): string {
  return `${r.name} (${r.state})`;
}

/** The badge for a version's remotes, or null when it is on none (or the server does not say). */
export function remoteBadge(
  remotes: readonly IRemoteState[] | undefined
): IRemoteBadge | null {
  if (!Array.isArray(remotes) || remotes.length === 0) {
    return null;
  }
  const rank = (state: string) => {
    const i = STATE_ORDER.indexOf(state);
    return i < 0 ? STATE_ORDER.length : i;
  };
  const state = remotes
    .map(r => String(r.state))
    .reduce((a, b) => (rank(b) < rank(a) ? b : a));
  return { state, title: `On remotes: ${remotes.map(remoteText).join(', ')}` };
}

export interface IRowParts {
  label: string;
  /** The message on one line (newlines become spaces); the row's CSS ellipsizes it. */
  message: string;
  /** The branches whose head this is, then the tags. */
  chips: IChip[];
  /** The chosen metric's value as the panel writes numbers, or null when the version has none. */
  metric: string | null;
  /** The cloud badge, or null when the version is on no remote. */
  remotes: IRemoteBadge | null;
  /** Whether it is a data version (drawn with the data badge, offered no Load). */
  isData: boolean;
  /**
   * The row's tooltip: label and full CID (and whether the live model is at it), then the whole
   * message, then the metrics, then the remotes.
   */
  tooltip: string;
}

/** The visible parts and tooltip of the row of version `v`. */
export function rowParts(
  v: IVersion,
  options: { metric: string | null; isCurrent: boolean; branches: string[] }
): IRowParts {
  const chips: IChip[] = [
    ...options.branches.map(text => ({ kind: 'branch' as const, text })),
    ...(v.tags ?? []).map(text => ({ kind: 'tag' as const, text }))
  ];
  const value = options.metric ? v.metrics?.[options.metric] : undefined;
  const metrics = Object.entries(v.metrics ?? {})
    .map(([name, x]) => `${name}=${formatNumber(x)}`)
    .join(' ');
  const data = isData(v);
  const what = data ? ' (data version)' : '';
  const live = options.isCurrent && !data ? ' (in the live model)' : '';
  const head = `${v.label} ${v.cid}${what}${live}`;
  const remotes = remoteBadge(v.remotes);
  const tooltip = [head, v.message, metrics, remotes?.title]
    .filter(line => line)
    .join('\n');
  return {
    label: v.label,
    message: (v.message ?? '').replace(/\s+/g, ' ').trim(),
    chips,
    metric: typeof value === 'number' ? formatNumber(value) : null,
    remotes,
    isData: data,
    tooltip
  };
}

/** The progress bar on the row of a version a Load is fetching, as ARIA and a title say it. */
export interface ILoadBar {
  /** Bytes fetched (`aria-valuenow`), never more than `max`. */
  now: number;
  /** Bytes to fetch (`aria-valuemax`). */
  max: number;
  /** How much of the bar is filled, 0 to 1. */
  fraction: number;
  /** E.g. "Loading 3.2 of 9.0 MiB from lab" (the remote when the kernel names it). */
  text: string;
}

/** The bar for a Load's progress: `done` bytes of `total` fetched so far. */
export function loadBar(progress: IProgress): ILoadBar {
  const max = Math.max(0, progress.total);
  const now = Math.min(Math.max(0, progress.done), max);
  const from = progress.remote ? ` from ${progress.remote}` : '';
  return {
    now,
    max,
    fraction: max > 0 ? now / max : 0,
    text: `Loading ${formatBytesOf(now, max)}${from}`
  };
}
