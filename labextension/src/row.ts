/**
 * What one version row shows, and in which order: the label, the commit message, the chips
 * (branch heads, tags) and the chosen metric; the CID, which no one recognises at a glance, goes
 * in the row's tooltip (and the details pane). The version in the live model is marked by the
 * graph's ring and a bold label, not a chip, to leave the message room. Pure, unit-tested in Node.
 */
import { formatNumber } from './format';
import { IVersion } from './protocol';

export type ChipKind = 'branch' | 'tag';

export interface IChip {
  kind: ChipKind;
  text: string;
}

export interface IRowParts {
  label: string;
  /** The message on one line (newlines become spaces); the row's CSS ellipsizes it. */
  message: string;
  /** The branches whose head this is, then the tags. */
  chips: IChip[];
  /** The chosen metric's value as the panel writes numbers, or null when the version has none. */
  metric: string | null;
  /**
   * The row's tooltip: label and full CID (and whether the live model is at it), then the whole
   * message, then the metrics.
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
  const head = `${v.label} ${v.cid}${options.isCurrent ? ' (in the live model)' : ''}`;
  const tooltip = [head, v.message, metrics].filter(line => line).join('\n');
  return {
    label: v.label,
    message: (v.message ?? '').replace(/\s+/g, ' ').trim(),
    chips,
    metric: typeof value === 'number' ? formatNumber(value) : null,
    tooltip
  };
}
