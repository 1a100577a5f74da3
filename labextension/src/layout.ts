/**
 * Graph layout of a version DAG, as a git log --graph draws it: one row per version,
 * newest first, each version in a lane (column), lines to its parents.
 *
 * Pure functions on plain data (no DOM, no JupyterLab), so they are unit-tested in Node.
 * Same idea as jupyterlab-git's generateGraphData.ts: walk the versions children-first,
 * keep one "expected CID" per lane, and emit per row the line segments of its top half
 * (from the row above into the row) and its bottom half (from the row towards the next).
 */

/** The two fields the layout reads from a version. */
export interface ILayoutNode {
  cid: string;
  parents: readonly string[];
}

/** A line inside one half of a row, from lane `from` (top) to lane `to` (bottom). */
export interface ISegment {
  from: number;
  to: number;
  /** A colour index, stable along one line of descent. */
  color: number;
}

export interface IRow<T> {
  node: T;
  /** Position of the row in `rows`. */
  index: number;
  /** The lane (column) the node sits in. */
  lane: number;
  color: number;
  /** Segments from the row's top edge to its middle. */
  top: ISegment[];
  /** Segments from the row's middle to its bottom edge. */
  bottom: ISegment[];
}

export interface IGraphLayout<T> {
  rows: IRow<T>[];
  /** The number of lanes the widest row uses. */
  width: number;
}

/**
 * Order nodes children before parents, keeping the given order (newest first) wherever it
 * allows. Nodes whose parents are missing from the list are fine; duplicates are dropped.
 */
export function topologicalOrder<T extends ILayoutNode>(
  nodes: readonly T[]
): T[] {
  return ordering(nodes).ordered;
}

/** `topologicalOrder`, with the CIDs it holds (each one's place in the input, duplicates dropped). */
function ordering<T extends ILayoutNode>(
  nodes: readonly T[]
): { ordered: T[]; index: ReadonlyMap<string, number> } {
  const index = new Map<string, number>();
  const unique: T[] = [];
  for (const node of nodes) {
    if (!index.has(node.cid)) {
      index.set(node.cid, unique.length);
      unique.push(node);
    }
  }
  // Fast path: already every child before its parents (the usual case).
  let ordered = true;
  for (let i = 0; i < unique.length && ordered; i++) {
    for (const p of unique[i].parents) {
      const j = index.get(p);
      if (j !== undefined && j <= i) {
        ordered = false;
        break;
      }
    }
  }
  if (ordered) {
    return { ordered: unique, index };
  }
  // Kahn's algorithm; among the nodes that are ready, the earliest in the input goes first.
  const children = new Array<number>(unique.length).fill(0);
  for (const node of unique) {
    for (const p of new Set(node.parents)) {
      const j = index.get(p);
      if (j !== undefined && j !== index.get(node.cid)) {
        children[j]++;
      }
    }
  }
  const heap = new MinHeap();
  children.forEach((count, i) => {
    if (count === 0) {
      heap.push(i);
    }
  });
  const out: T[] = [];
  const done = new Array<boolean>(unique.length).fill(false);
  while (heap.size > 0) {
    const i = heap.pop();
    done[i] = true;
    out.push(unique[i]);
    for (const p of new Set(unique[i].parents)) {
      const j = index.get(p);
      if (j !== undefined && j !== i && --children[j] === 0) {
        heap.push(j);
      }
    }
  }
  // A cycle cannot come from content-addressed versions; keep such nodes rather than lose them.
  unique.forEach((node, i) => {
    if (!done[i]) {
      out.push(node);
    }
  });
  return { ordered: out, index };
}

/** Lay out a DAG given newest first (children before parents). */
export function layoutGraph<T extends ILayoutNode>(
  nodes: readonly T[]
): IGraphLayout<T> {
  const { ordered, index: present } = ordering(nodes);
  const builder = new RowBuilder<T>(cid => present.has(cid));
  for (const node of ordered) {
    builder.add(node);
  }
  return builder.layout();
}

/**
 * The layout of a list that grows at its old end (the history read page by page, newest first):
 * each page costs the layout of its own rows, and the layout of the whole list, once its last
 * page is in, is the one `layoutGraph` gives for it. While pages are missing, a line to a parent
 * not read yet runs on to the bottom (the parent is further down). Anything the rows already laid
 * out cannot take (a page that is not children-first after the rows before it, a parent that
 * never came) is laid out again from the top, with `layoutGraph`.
 */
export class GrowingLayout<T extends ILayoutNode> {
  /**
   * The layout of `nodes`: grown from the last one when `nodes` extends the list given then
   * (the same first and last nodes where that list ended), else made anew. `complete`: whether
   * `nodes` is the whole list.
   */
  layoutOf(nodes: readonly T[], complete: boolean): IGraphLayout<T> {
    const done = this._nodes;
    const grows =
      this._builder !== null &&
      !this._complete &&
      done.length > 0 &&
      nodes.length >= done.length &&
      nodes[0] === done[0] &&
      nodes[done.length - 1] === done[done.length - 1];
    if (!grows) {
      this._reset();
    }
    return this._append(nodes.slice(grows ? done.length : 0), nodes, complete);
  }

  private _append(
    page: readonly T[],
    nodes: readonly T[],
    complete: boolean
  ): IGraphLayout<T> {
    this._nodes = nodes;
    this._complete = complete;
    if (this._builder !== null && this._takes(page)) {
      const builder = this._builder;
      for (const node of page) {
        builder.add(node);
      }
      if (!complete || builder.awaited().every(cid => this._index.has(cid))) {
        return builder.layout();
      }
    }
    this._builder = null; // laid out from the top, from now on
    return layoutGraph(nodes);
  }

  /** Index the page's CIDs; whether its nodes come children-first after those before. */
  private _takes(page: readonly T[]): boolean {
    const index = this._index;
    const first = index.size;
    for (let i = 0; i < page.length; i++) {
      if (index.has(page[i].cid)) {
        return false; // a duplicate
      }
      index.set(page[i].cid, first + i);
    }
    for (let i = 0; i < page.length; i++) {
      for (const p of page[i].parents) {
        const j = index.get(p);
        if (j !== undefined && j <= first + i) {
          return false; // a parent above its child
        }
      }
    }
    return true;
  }

  private _reset(): void {
    this._index = new Map();
    this._complete = false;
    this._builder = new RowBuilder<T>(
      cid => !this._complete || this._index.has(cid)
    );
  }

  private _nodes: readonly T[] = [];
  private _index = new Map<string, number>();
  private _complete = false;
  private _builder: RowBuilder<T> | null = null;
}

/** Lays out rows one by one, newest first, keeping the lanes open between them. */
class RowBuilder<T extends ILayoutNode> {
  /** `present`: whether a parent is in the graph (a line is drawn to it). */
  constructor(private readonly present: (cid: string) => boolean) {}

  /** The CIDs the open lanes wait for (parents of rows laid out, not laid out themselves). */
  awaited(): string[] {
    return this.lanes.filter((cid): cid is string => cid !== null);
  }

  /** The rows so far (a new object; the rows array is shared and grows). */
  layout(): IGraphLayout<T> {
    return { rows: this.rows, width: this.width };
  }

  add(node: T): void {
    const lanes = this.lanes;
    const colors = this.colors;
    const incoming: number[] = [];
    const through: number[] = [];
    for (let j = 0; j < lanes.length; j++) {
      if (lanes[j] === node.cid) {
        incoming.push(j);
      } else if (lanes[j] !== null) {
        through.push(j);
      }
    }
    let lane: number;
    if (incoming.length > 0) {
      lane = incoming[0];
    } else {
      lane = this.freeLane();
      colors[lane] = this.nextColor++;
    }
    const color = colors[lane];

    const top: ISegment[] = [];
    for (let j = 0; j < lanes.length; j++) {
      if (lanes[j] === node.cid) {
        top.push({ from: j, to: lane, color: colors[j] });
      } else if (lanes[j] !== null) {
        top.push({ from: j, to: j, color: colors[j] });
      }
    }
    for (const j of incoming) {
      lanes[j] = null;
    }

    const parents = presentParents(node.parents, this.present);
    const parentLanes: number[] = [];
    if (parents.length > 0) {
      lanes[lane] = parents[0];
      colors[lane] = color;
      parentLanes.push(lane);
      for (const p of parents.slice(1)) {
        let j = lanes.indexOf(p);
        if (j === -1) {
          j = this.freeLane();
          lanes[j] = p;
          colors[j] = this.nextColor++;
        }
        parentLanes.push(j);
      }
    }

    const bottom: ISegment[] = [];
    for (const j of through) {
      bottom.push({ from: j, to: j, color: colors[j] });
    }
    for (const j of parentLanes) {
      bottom.push({ from: lane, to: j, color: colors[j] });
    }

    this.width = Math.max(this.width, lanes.length, lane + 1);
    while (lanes.length > 0 && lanes[lanes.length - 1] === null) {
      lanes.pop();
    }
    this.rows.push({ node, index: this.rows.length, lane, color, top, bottom });
  }

  private freeLane(): number {
    const j = this.lanes.indexOf(null);
    if (j !== -1) {
      return j;
    }
    this.lanes.push(null);
    return this.lanes.length - 1;
  }

  private lanes: (string | null)[] = [];
  private colors: number[] = [];
  private nextColor = 0;
  private width = 0;
  private rows: IRow<T>[] = [];
}

/** A node's parents that are in the graph, each once (most have one: no set is made for those). */
function presentParents(
  parents: readonly string[],
  present: (cid: string) => boolean
): string[] {
  if (parents.length === 1) {
    return present(parents[0]) ? [parents[0]] : [];
  }
  return [...new Set(parents)].filter(p => present(p));
}

/** The CIDs from `head` back along first parents (head first), within `byCid`. */
export function firstParentChain<T extends ILayoutNode>(
  byCid: ReadonlyMap<string, T>,
  head: string | null | undefined
): T[] {
  const out: T[] = [];
  const seen = new Set<string>();
  let cid = head ?? undefined;
  while (cid !== undefined && !seen.has(cid)) {
    const node = byCid.get(cid);
    if (!node) {
      break;
    }
    seen.add(cid);
    out.push(node);
    cid = node.parents[0];
  }
  return out;
}

/** One line of the metric chart: the metric's values along a lineage, oldest first. */
export interface ISeries {
  name: string;
  points: { x: number; y: number; cid: string }[];
}

/**
 * How many versions each version's first-parent lineage holds within `byCid`, itself included
 * (a root's is 1). One pass over the versions: each lineage is walked only as far as the first
 * version whose depth is already known.
 */
export function lineageDepths<T extends ILayoutNode>(
  byCid: ReadonlyMap<string, T>
): Map<string, number> {
  const depth = new Map<string, number>();
  for (const start of byCid.keys()) {
    const path: string[] = [];
    let cid: string | undefined = start;
    let base = 0;
    while (cid !== undefined) {
      const known = depth.get(cid);
      if (known !== undefined) {
        base = Math.max(known, 0); // -1: on this walk already (a cycle, which CIDs rule out)
        break;
      }
      const node = byCid.get(cid);
      if (!node) {
        break;
      }
      depth.set(cid, -1);
      path.push(cid);
      cid = node.parents[0];
    }
    for (let i = path.length - 1; i >= 0; i--) {
      depth.set(path[i], ++base);
    }
  }
  return depth;
}

/**
 * The chosen metric along each branch's first-parent lineage (oldest first), x = the
 * version's `seq`. Versions without the metric are skipped.
 *
 * Lineages share their older versions (every branch of a long history runs down the same
 * trunk), so each version is drawn once: the lineage of the branch whose head is `first` (the
 * live model's version), else the longest, is drawn whole, and every other from its head back to
 * where it meets a lineage drawn before it (that version included, so the lines join). Drawn
 * together the lines are the same picture as every lineage drawn in full, with as many points
 * as versions rather than as many as branches times versions. `drawn` collects the CIDs on the
 * lineages.
 */
export function metricSeries<
  T extends ILayoutNode & { seq: number; metrics: { [name: string]: number } }
>(
  byCid: ReadonlyMap<string, T>,
  heads: { [name: string]: string | null },
  metric: string,
  drawn: Set<string> = new Set(),
  first: string | null = null
): ISeries[] {
  const names = Object.keys(heads);
  const depths = names.length > 1 ? lineageDepths(byCid) : new Map();
  const order = names
    .map((name, i) => ({
      name,
      i,
      first: first !== null && heads[name] === first ? 0 : 1,
      depth: depths.get(heads[name] ?? '') ?? 0
    }))
    .sort((a, b) => a.first - b.first || b.depth - a.depth || a.i - b.i);
  const pointsOf = new Map<string, ISeries['points']>();
  for (const { name } of order) {
    const points: ISeries['points'] = [];
    const seen = new Set<string>();
    let cid = heads[name] ?? undefined;
    while (cid !== undefined && !seen.has(cid)) {
      const v = byCid.get(cid);
      if (!v) {
        break;
      }
      seen.add(cid);
      const value = v.metrics?.[metric];
      const hasValue = typeof value === 'number' && isFinite(value);
      if (hasValue) {
        points.push({ x: v.seq, y: value, cid });
      }
      if (drawn.has(cid) && hasValue) {
        break; // joined a line drawn before: the rest of the lineage is on it
      }
      drawn.add(cid);
      cid = v.parents[0];
    }
    pointsOf.set(name, points.reverse());
  }
  return names
    .map(name => ({ name, points: pointsOf.get(name) ?? [] }))
    .filter(s => s.points.length > 0);
}

/** The rows a virtualised list draws: those intersecting the viewport, plus `overscan`. */
export function visibleRange(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  count: number,
  overscan = 5
): { start: number; end: number } {
  const start = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const end = Math.min(
    count,
    Math.ceil((scrollTop + viewportHeight) / rowHeight) + overscan
  );
  return { start, end: Math.max(start, end) };
}

/** A binary min-heap of integers (indices into the input). */
class MinHeap {
  private items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  push(value: number): void {
    const a = this.items;
    a.push(value);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent] <= a[i]) {
        break;
      }
      [a[parent], a[i]] = [a[i], a[parent]];
      i = parent;
    }
  }

  pop(): number {
    const a = this.items;
    const top = a[0];
    const last = a.pop() as number;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l] < a[m]) {
          m = l;
        }
        if (r < a.length && a[r] < a[m]) {
          m = r;
        }
        if (m === i) {
          break;
        }
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}
