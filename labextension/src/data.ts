/**
 * Data versions in the panel, and what a version records besides its weights: which names are
 * data sets (their versions' kind is "data"), the model selector's groups, a data version's items
 * in a few words, a model version's data links, and one line each for its recorded code and
 * environment. Pure, unit-tested in Node.
 */
import { formatBytes, shortCid } from './format';
import {
  ICodeSummary,
  IDataItem,
  IEnvironmentSummary,
  IVersion
} from './protocol';

/** The kind of a data set's versions (a model's are "weights"). */
export const DATA_KIND = 'data';

/** Whether `v` is a data version (a listing without kinds lists weights only). */
export function isData(v: Pick<IVersion, 'kind'> | null | undefined): boolean {
  return v?.kind === DATA_KIND;
}

/** The names whose versions are data versions (a name's versions all have one kind). */
export function dataNames(versions: readonly IVersion[]): Set<string> {
  const out = new Set<string>();
  for (const v of versions) {
    if (v.kind === DATA_KIND) {
      out.add(v.model);
    }
  }
  return out;
}

/** The selector's groups: models first, then data sets, each sorted. */
export function nameGroups(
  names: readonly string[],
  data: ReadonlySet<string>
): { models: string[]; data: string[] } {
  const sorted = [...names].sort();
  return {
    models: sorted.filter(n => !data.has(n)),
    data: sorted.filter(n => data.has(n))
  };
}

/**
 * An item in a few words, as `%nbversion show` writes it: `y int64[60] (3 classes)`,
 * `frame (1,000 rows x 4 cols)`, `images/ (12 files, 3.0 KiB)`; the server's own words when
 * it sends them.
 */
export function itemText(item: IDataItem): string {
  if (typeof item.text === 'string' && item.text) {
    return item.text;
  }
  const classes = item.summary?.classes;
  const counted =
    classes && typeof classes === 'object' && item.type !== 'table'
      ? ` (${Object.keys(classes).length} classes)`
      : '';
  switch (item.type) {
    case 'array':
      return `${item.name} ${item.dtype ?? ''}[${(item.shape ?? []).join(', ')}]${counted}`;
    case 'table':
      return `${item.name} (${(item.rows ?? 0).toLocaleString('en-US')} rows x ${(item.columns ?? []).length} cols)`;
    case 'folder':
      return `${item.name}/ (${(item.files ?? 0).toLocaleString('en-US')} files, ${formatBytes(item.size)})`;
    default:
      return `${item.name} (${formatBytes(item.size)})`;
  }
}

/** At most this many classes are named per line of counts. */
export const MAX_CLASSES_SHOWN = 12;

/**
 * The label counts of an item, one line per labelled column: `0: 20, 1: 20, 2: 20` for an
 * array or a series, `species — a: 50, b: 50` for a table's column; none when it has none.
 */
export function classLines(item: IDataItem): string[] {
  const classes = item.summary?.classes;
  if (!classes || typeof classes !== 'object') {
    return [];
  }
  const counts = (c: { [label: string]: unknown }) => {
    const entries = Object.entries(c);
    const shown = entries
      .slice(0, MAX_CLASSES_SHOWN)
      .map(([label, n]) => `${label}: ${Number(n).toLocaleString('en-US')}`);
    const more = entries.length - MAX_CLASSES_SHOWN;
    return shown.join(', ') + (more > 0 ? `, and ${more} more` : '');
  };
  const values = Object.values(classes);
  const perColumn =
    values.length > 0 && values.every(x => x !== null && typeof x === 'object');
  if (!perColumn) {
    return [counts(classes)];
  }
  return Object.entries(classes).map(
    ([column, c]) => `${column} — ${counts(c as { [label: string]: unknown })}`
  );
}

/** One data link of a model version: the role, the data version and whether the panel lists it. */
export interface IDataLink {
  role: string;
  cid: string;
  /** `digits v1`, or the start of the CID when nothing names it. */
  text: string;
  /** Whether the data version is in the listing (so the panel can select it). */
  listed: boolean;
}

/**
 * The data versions `v` was trained or evaluated on, by role: each named from the listing
 * (`byCid`), else from the names the server sent (`labels`), else by its CID's start.
 */
export function dataLinks(
  v: Pick<IVersion, 'data'>,
  byCid: ReadonlyMap<string, IVersion>,
  labels: { [cid: string]: string } = {}
): IDataLink[] {
  return Object.entries(v.data ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([role, cid]) => {
      const linked = byCid.get(cid);
      const text = linked
        ? `${linked.model} ${linked.label}`
        : (labels[cid] ?? shortCid(cid));
      return { role, cid, text, listed: linked !== undefined };
    });
}

/** The recorded code in one line: `train.ipynb, cell 3f2a…`; "not recorded" when there is none. */
export function codeLine(code: ICodeSummary | null | undefined): string {
  if (!code) {
    return 'not recorded';
  }
  const where = code.notebook || '(no notebook file)';
  return `${where}, cell ${code.cell}`;
}

/**
 * The recorded environment in one line: `Python 3.11.7, Linux 6.1 x86_64; numpy 2.1, keras 3.6
 * (172 packages)`; "not recorded" when there is none, or why it cannot be read.
 */
export function environmentLine(
  env: IEnvironmentSummary | null | undefined
): string {
  if (!env) {
    return 'not recorded';
  }
  if (env.error) {
    return `recorded, not readable here: ${env.error}`;
  }
  const machine = [
    env.python ? `Python ${env.python}` : '',
    env.platform ?? ''
  ].filter(s => s);
  const key = Object.entries(env.key_packages ?? {})
    .map(([name, version]) => `${name} ${version}`)
    .join(', ');
  const count =
    typeof env.packages === 'number' ? ` (${env.packages} packages)` : '';
  return machine.join(', ') + (key ? `; ${key}` : '') + count;
}
