/**
 * The state of the version panel, for the active notebook: the history read over REST
 * (`rest.ts`), the selection, the last action's outcome, and what the kernel reports through
 * the notebook's `KernelBridge` (`bridge.ts`). State changes are announced with one Lumino
 * signal; the view only reads. A Load's progress has a signal of its own (`progressChanged`),
 * so each progress event redraws the progress bars only, not the panel.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import type { IPinWritten, KernelBridge } from './bridge';
import { NO_COMM_MESSAGE } from './bridge';
import { dataNames, isData } from './data';
import { formatNumber, shortCid } from './format';
import { writePin } from './pins';
import {
  IAnnounced,
  ICidMap,
  IDiffRow,
  IHistory,
  IKernelEvent,
  IProgress,
  isUnchanged,
  IVersion,
  IVersionDetails,
  NbversionError
} from './protocol';
import type { IServerAPI } from './rest';

/** The first page of the history: more rows than any panel shows at once. */
export const FIRST_PAGE = 100;

/** The pages read after the first, in the background. */
export const NEXT_PAGE = 2000;

/** A transient line shown above the details: the outcome of the last action. */
export interface INotice {
  kind: 'info' | 'error';
  text: string;
}

/** Everything the panel draws, for the active notebook. */
export class VersionTreeModel implements IDisposable {
  constructor(options: VersionTreeModel.IOptions) {
    this._bridgeFor = options.bridgeFor;
    this._server = options.server;
  }

  /** Emitted on any change of state the view draws, but the progress of a Load. */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  /** Emitted with `progress` each time it changes (null: the Load ended, or it fetches nothing). */
  get progressChanged(): ISignal<this, ILoadProgress | null> {
    return this._progressChanged;
  }

  get notebook(): NotebookPanel | null {
    return this._notebook;
  }

  /** The notebook's path relative to the server root (what the REST API takes). */
  get path(): string | null {
    return this._notebook ? this._notebook.context.localPath : null;
  }

  get history(): IHistory | null {
    return this._history;
  }

  /** Whether the panel waits for a history it does not have yet. */
  get loading(): boolean {
    return this._loading;
  }

  /**
   * Whether the panel has the whole history: false before the first page, while the pages after
   * it are read (the tree grows at its old end meanwhile), and after one of them failed.
   */
  get complete(): boolean {
    return this._history !== null && this._complete;
  }

  /**
   * How many times the tree was (re)built from a history the server sent; a poll that finds
   * nothing new does not count. The browser test reads it to see the tree read again.
   */
  get historyLoads(): number {
    return this._historyLoads;
  }

  /** The last error from the server or the kernel, shown until the next success. */
  get error(): NbversionError | null {
    return this._error;
  }

  get notice(): INotice | null {
    return this._notice;
  }

  get connected(): boolean {
    return this._bridge?.connected ?? false;
  }

  get busy(): string | null {
    return this._busy;
  }

  /** The watches running in the notebook's kernel (`%nbversion watch`): topic -> node. */
  get watches(): ICidMap {
    return this._bridge?.watches ?? NO_WATCHES;
  }

  /** The versions peers announced on those topics, verified by the kernel, newest first. */
  get announced(): IAnnounced[] {
    return this._bridge?.announced ?? [];
  }

  /**
   * How far the Load running now got in fetching the version from a remote (null: no Load
   * running, or nothing to fetch so far). Announced by `progressChanged`, not `stateChanged`.
   */
  get progress(): ILoadProgress | null {
    return this._progress;
  }

  /** Model names in the repository, sorted. */
  get modelNames(): string[] {
    return this._history ? Object.keys(this._history.models).sort() : [];
  }

  get selectedModel(): string | null {
    return this._selectedModel;
  }

  /** The names that are data sets (their versions are data versions), of those listed so far. */
  get dataNames(): ReadonlySet<string> {
    return this._dataNames;
  }

  /** Whether `name` is a data set (not a model). */
  isDataSet(name: string | null): boolean {
    return name !== null && this._dataNames.has(name);
  }

  set selectedModel(name: string | null) {
    if (name === this._selectedModel) {
      return;
    }
    this._selectedModel = name;
    this._selectedCid = null;
    this._details = null;
    this._diff = null;
    this._updateVersionsOfModel();
    this._emit();
  }

  /** The chosen model's versions, newest first. */
  get versions(): IVersion[] {
    return this._versionsOfModel;
  }

  get byCid(): ReadonlyMap<string, IVersion> {
    return this._byCid;
  }

  /** The version the live model holds (kernel's word), else the model's head in the repo. */
  currentOf(model: string | null): string | null {
    if (!model) {
      return null;
    }
    return (
      this._bridge?.current[model] ?? this._history?.models[model]?.head ?? null
    );
  }

  /** The version the live model holds, on the kernel's word alone (null: it has not said). */
  liveOf(model: string): string | null {
    return this._bridge?.current[model] ?? null;
  }

  get selectedCid(): string | null {
    return this._selectedCid;
  }

  get details(): IVersionDetails | null {
    return this._details;
  }

  /** The last comparison: the version compared against and the rows. */
  get diff(): { a: string; b: string; rows: IDiffRow[] } | null {
    return this._diff;
  }

  /** The metric named in the settings ("" for the first the model records). */
  get metricSetting(): string {
    return this._metricSetting;
  }

  set metricSetting(name: string) {
    this._metricSetting = name;
    this._emit();
  }

  /** The metric picked in the panel for this session, overriding the setting. */
  get metricChoice(): string | null {
    return this._metricChoice;
  }

  set metricChoice(name: string | null) {
    this._metricChoice = name;
    this._emit();
  }

  get pollInterval(): number {
    return this._pollInterval;
  }

  set pollInterval(ms: number) {
    this._pollInterval = Math.max(0, ms | 0);
    this._schedulePoll();
  }

  /** Poll only while the panel is visible. */
  set active(value: boolean) {
    if (value === this._active) {
      return;
    }
    this._active = value;
    if (value) {
      void this.refresh();
    } else {
      this._schedulePoll();
    }
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._disconnectBridge();
    clearTimeout(this._timer);
    Signal.clearData(this);
  }

  /** Follow another notebook (or none). */
  setNotebook(notebook: NotebookPanel | null): void {
    if (notebook === this._notebook) {
      return;
    }
    this._disconnectBridge();
    this._notebook = notebook;
    this._clearHistory();
    this._loading = false;
    this._readAfresh = false;
    this._selectedCid = null;
    this._details = null;
    this._diff = null;
    this._error = null;
    this._notice = null;
    this._setProgress(null); // (another notebook's Load: its reply is not this panel's now)
    this._busy = null; // (nor is its busy state: the new notebook's buttons work at once)
    this._generation++;
    if (notebook) {
      this._bridge = this._bridgeFor(notebook);
      this._bridge.event.connect(this._onKernelEvent, this);
      this._bridge.commChanged.connect(this._onCommChanged, this);
      this._bridge.kernelRestarted.connect(this._onKernelRestarted, this);
      this._bridge.pinWritten.connect(this._onPinWritten, this);
      notebook.context.pathChanged.connect(this._onPathChanged, this);
    }
    this._emit();
    if (this._active) {
      void this.refresh();
    }
  }

  /**
   * Re-read the history over REST (sending the fingerprint the panel has, so an unchanged
   * history costs a few bytes); redraws only when it changed.
   */
  async refresh(): Promise<void> {
    clearTimeout(this._timer);
    const path = this.path;
    if (!path) {
      return;
    }
    if (this._inflight) {
      this._refreshAgain = true;
      return;
    }
    const generation = this._generation;
    const epoch = this._historyEpoch;
    // A history that lacks pages is read again whole (its fingerprint says nothing of them).
    const afresh =
      this._readAfresh || this._history === null || !this._complete;
    this._readAfresh = false;
    this._inflight = true;
    if (this._history === null && !this._loading) {
      this._loading = true;
      this._emit();
    }
    try {
      this._fetchStarted = Date.now();
      const since = afresh ? null : (this._history?.fingerprint ?? null);
      const reply = await this._server.history(path, since, {
        limit: FIRST_PAGE
      });
      const stale = () =>
        generation !== this._generation || epoch !== this._historyEpoch;
      if (generation !== this._generation) {
        return;
      }
      if (epoch !== this._historyEpoch) {
        // The tree was thrown away while this answer was on its way: ask again.
        this._refreshAgain = true;
        return;
      }
      const hadError = this._error !== null && this._errorSource === 'rest';
      if (hadError) {
        this._error = null;
      }
      if (
        !isUnchanged(reply) &&
        (afresh || !sameHistory(this._history, reply))
      ) {
        // A first read shows the first page at once and grows as the rest comes; a new
        // history replaces the one shown only once it is whole (no list that shrinks, then grows).
        const shown = this._history === null;
        if (shown) {
          this._loading = false;
          this._setHistory(reply, !reply.next);
        }
        const whole = await this._readRest(path, reply, shown, stale);
        if (whole === 'stale') {
          if (generation === this._generation) {
            this._refreshAgain = true;
          }
          return;
        }
        if (!shown) {
          this._setHistory(whole, true);
        }
      } else if (hadError) {
        this._emit();
      }
    } catch (error) {
      if (generation === this._generation) {
        if (epoch !== this._historyEpoch) {
          this._refreshAgain = true;
        } else {
          this._readAfresh = this._readAfresh || afresh;
          this._setError(error, 'rest');
        }
      }
    } finally {
      this._inflight = false;
      const current = generation === this._generation;
      if (current && this._loading && !this._refreshAgain) {
        this._loading = false;
        this._emit();
      }
      if (this._refreshAgain) {
        // Also after a notebook switch: the new notebook's history was asked for meanwhile.
        this._refreshAgain = false;
        void this.refresh();
      } else if (current) {
        this._schedulePoll();
      }
    }
  }

  /**
   * Read the pages after `first`, each from the cursor the last one named; when `show`, append
   * each to the tree shown as it comes. The whole history, or 'stale' when it changed between
   * two pages (or the panel moved on): then it is read again from the start.
   */
  private async _readRest(
    path: string,
    first: IHistory,
    show: boolean,
    stale: () => boolean
  ): Promise<IHistory | 'stale'> {
    let versions = first.versions;
    let next = first.next;
    while (next) {
      const page = await this._server.history(path, null, {
        limit: NEXT_PAGE,
        cursor: next
      });
      if (stale()) {
        return 'stale';
      }
      if (isUnchanged(page) || page.fingerprint !== first.fingerprint) {
        this._readAfresh = true;
        return 'stale';
      }
      versions = versions.concat(page.versions);
      next = page.next;
      if (show) {
        this._appendVersions(page.versions, !next);
      }
    }
    return { ...first, versions, next: null };
  }

  /**
   * Select a version of any model or data set (a model version's data link): its model or data
   * set is chosen first. Nothing happens for a version the listing does not have.
   */
  async selectLinked(cid: string): Promise<void> {
    const v = this._byCid.get(cid);
    if (!v) {
      return;
    }
    this.selectedModel = v.model;
    await this.select(cid);
  }

  /** Select a version and fetch its details (tensors included). */
  async select(cid: string | null): Promise<void> {
    this._selectedCid = cid;
    this._details = null;
    this._diff = null;
    this._notice = null;
    this._emit();
    const path = this.path;
    if (!cid || !path) {
      return;
    }
    const generation = this._generation;
    try {
      const details = await this._server.version(path, cid);
      if (generation === this._generation && this._selectedCid === cid) {
        this._details = details;
        this._emit();
      }
    } catch (error) {
      if (generation === this._generation) {
        this._setError(error);
      }
    }
  }

  /**
   * Load a version into the live model (through the kernel); `model` when the history does not
   * have the version yet (one a watch just verified). A version only on the remote is fetched,
   * and `progress` says how far that got until the kernel replies.
   */
  async load(cid: string, model?: string): Promise<void> {
    model = model ?? this._modelOf(cid);
    const v = this._byCid.get(cid);
    if (isData(v)) {
      // (the panel offers no Load for data; a data version is restored with the model it trained)
      this._setError(
        new NbversionError(
          'WrongKindError',
          `${v!.model} ${v!.label} is a data version, not a model's weights: load it with ` +
            '%checkout MODEL_VERSION MODEL --with-data, or repo.load_data.'
        )
      );
      return;
    }
    await this._action('Loading', async (bridge, current) => {
      const onProgress = (progress: IProgress) => {
        if (current()) {
          this._setProgress({ cid, ...progress });
        }
      };
      const result = await bridge
        .request('checkout', { ref: cid, model: model! }, undefined, onProgress)
        .finally(() => {
          if (this._progress?.cid === cid) {
            this._setProgress(null);
          }
        });
      if (!current()) {
        return; // (the reply of a notebook the panel no longer follows)
      }
      const change =
        typeof result.max_abs_change === 'number'
          ? `, max |change| ${formatNumber(result.max_abs_change)}`
          : '';
      this._notice = {
        kind: 'info',
        text: `${result.model} now holds ${result.label} (${result.replaced} tensors replaced${change}).`
      };
    });
  }

  /** Compare the live model's version with `cid` (through the kernel). */
  async compare(cid: string): Promise<void> {
    const model = this._modelOf(cid);
    const a = this.currentOf(model);
    if (!a) {
      this._setError(
        new NbversionError(
          'NoCurrentVersion',
          `Model '${model}' has no current version to compare with.`
        )
      );
      return;
    }
    await this._action('Comparing', async (bridge, current) => {
      const rows = await bridge.request('diff', { a, b: cid, model });
      if (current()) {
        this._diff = { a, b: cid, rows };
      }
    });
  }

  /** Tag a version (through the kernel). */
  async tag(cid: string, name: string): Promise<void> {
    const model = this._modelOf(cid);
    await this._action('Tagging', async (bridge, current) => {
      const result = await bridge.request('tag', { name, ref: cid, model });
      if (!current()) {
        return;
      }
      this._notice = {
        kind: 'info',
        text: `Tagged ${shortCid(result.cid)} as '${result.name}'.`
      };
    });
  }

  /**
   * Pin a version in the notebook's metadata (`metadata.nbversion.pins[model]`), through the
   * open notebook's model, then save the notebook.
   */
  async pin(cid: string): Promise<void> {
    const notebook = this._notebook;
    if (!notebook || !notebook.context.model) {
      return;
    }
    const model = this._modelOf(cid);
    try {
      await writePin(notebook, model, cid);
      const label = this._byCid.get(cid)?.label ?? shortCid(cid);
      this._notice = {
        kind: 'info',
        text: `Pinned ${model} to ${label} in the notebook's metadata.`
      };
      this._error = null;
      this._emit();
    } catch (error) {
      this._setError(error);
    }
  }

  /** Forget the error shown. */
  dismissError(): void {
    this._error = null;
    this._emit();
  }

  private _modelOf(cid: string): string {
    return this._byCid.get(cid)?.model ?? this._selectedModel ?? '';
  }

  /**
   * Run `body` through the kernel with the buttons busy. `current()` says whether the panel still
   * follows the notebook the action began in: what comes back for another is not shown.
   */
  private async _action(
    what: string,
    body: (bridge: KernelBridge, current: () => boolean) => Promise<void>
  ): Promise<void> {
    const bridge = this._bridge;
    if (!bridge || !bridge.connected) {
      this._setError(new NbversionError('NoKernelExtension', NO_COMM_MESSAGE));
      return;
    }
    const generation = this._generation;
    const current = () => generation === this._generation;
    this._busy = what;
    this._notice = null;
    this._emit();
    try {
      await body(bridge, current);
      if (current()) {
        this._error = null;
      }
    } catch (error) {
      if (current()) {
        this._setError(error);
      }
    } finally {
      if (current()) {
        this._busy = null;
        this._emit();
        void this.refresh();
      }
    }
  }

  private _setHistory(history: IHistory, complete: boolean): void {
    this._history = history;
    this._complete = complete;
    this._historyLoads++;
    this._byCid = new Map(history.versions.map(v => [v.cid, v]));
    this._dataNames = dataNames(history.versions);
    const names = this.modelNames;
    if (!this._selectedModel || !names.includes(this._selectedModel)) {
      // Prefer a model the kernel holds, else the most recently committed model, else data.
      const live = names.find(
        n => this._bridge?.current[n] && !this._dataNames.has(n)
      );
      const newest =
        history.versions.find(v => !isData(v)) ?? history.versions[0];
      this._selectedModel = live ?? newest?.model ?? names[0] ?? null;
    }
    this._updateVersionsOfModel();
    this._emit();
  }

  /** The next page of the history shown: its versions go at the tree's old end. */
  private _appendVersions(versions: IVersion[], complete: boolean): void {
    const history = this._history!;
    this._history = { ...history, versions: history.versions.concat(versions) };
    this._complete = complete;
    this._byCid = new Map(this._byCid); // a new map: what is memoised on it is drawn again
    for (const v of versions) {
      this._byCid.set(v.cid, v);
      if (isData(v) && !this._dataNames.has(v.model)) {
        this._dataNames = new Set(this._dataNames).add(v.model);
      }
    }
    const model = this._selectedModel;
    const mine = versions.filter(v => v.model === model);
    if (mine.length > 0) {
      this._versionsOfModel = this._versionsOfModel.concat(mine);
    }
    this._emit();
  }

  /** Forget the tree (not the selection); answers already on their way are dropped. */
  private _clearHistory(): void {
    this._history = null;
    this._complete = true;
    this._versionsOfModel = [];
    this._byCid = new Map();
    this._dataNames = NO_NAMES;
    this._historyEpoch++;
  }

  private _updateVersionsOfModel(): void {
    const model = this._selectedModel;
    this._versionsOfModel = this._history
      ? this._history.versions.filter(v => v.model === model)
      : [];
  }

  private _setError(
    error: unknown,
    source: 'rest' | 'action' = 'action'
  ): void {
    this._errorSource = source;
    this._error =
      error instanceof NbversionError
        ? error
        : new NbversionError(
            'Error',
            error instanceof Error ? error.message : String(error)
          );
    this._emit();
  }

  private _onKernelEvent(_: KernelBridge, event: IKernelEvent): void {
    if (
      event.model &&
      this._history?.models[event.model] &&
      event.event === 'changed'
    ) {
      // Keep the selection on the model that just changed only if the user had none.
      if (!this._selectedModel) {
        this.selectedModel = event.model;
      }
    }
    this._emit();
    if (this._active) {
      void this.refresh();
    }
  }

  /** The kernel pinned a version (`%nbversion pin`): the bridge wrote it into the notebook. */
  private _onPinWritten(_: KernelBridge, pin: IPinWritten): void {
    if (pin.error) {
      this._setError(pin.error);
      return;
    }
    const label = this._byCid.get(pin.cid)?.label ?? shortCid(pin.cid);
    this._notice = {
      kind: 'info',
      text: `The kernel pinned ${pin.model} to ${label} in the notebook's metadata (saved).`
    };
    this._emit();
  }

  private _onCommChanged(): void {
    this._emit();
  }

  /**
   * The kernel restarted. The tree does not depend on the kernel, but everything the panel
   * knew from it is gone: throw the tree away and read it again from the server, so what the
   * panel shows next is what the server extension serves now.
   */
  private _onKernelRestarted(): void {
    this._clearHistory();
    this._emit();
    if (this._active) {
      void this.refresh();
    }
  }

  /** Under another path the notebook may belong to another repository: read it afresh. */
  private _onPathChanged(): void {
    this._historyEpoch++;
    this._readAfresh = true;
    this._emit();
    void this.refresh();
  }

  private _disconnectBridge(): void {
    if (this._bridge) {
      this._bridge.event.disconnect(this._onKernelEvent, this);
      this._bridge.commChanged.disconnect(this._onCommChanged, this);
      this._bridge.kernelRestarted.disconnect(this._onKernelRestarted, this);
      this._bridge.pinWritten.disconnect(this._onPinWritten, this);
    }
    if (this._notebook && !this._notebook.isDisposed) {
      this._notebook.context.pathChanged.disconnect(this._onPathChanged, this);
    }
    this._bridge = null;
  }

  private _schedulePoll(): void {
    clearTimeout(this._timer);
    if (
      this._active &&
      this._pollInterval > 0 &&
      this._notebook &&
      !this._isDisposed
    ) {
      // A fixed rate: a slow answer (a large history) does not stretch the interval.
      const wait = Math.max(
        100,
        this._pollInterval - (Date.now() - this._fetchStarted)
      );
      this._timer = setTimeout(() => void this.refresh(), wait);
    }
  }

  private _emit(): void {
    if (!this._isDisposed) {
      this._stateChanged.emit();
    }
  }

  private _setProgress(progress: ILoadProgress | null): void {
    if (progress === null && this._progress === null) {
      return;
    }
    this._progress = progress;
    if (!this._isDisposed) {
      this._progressChanged.emit(progress);
    }
  }

  private _bridgeFor: (notebook: NotebookPanel) => KernelBridge;
  private _server: IServerAPI;
  private _bridge: KernelBridge | null = null;
  private _notebook: NotebookPanel | null = null;
  private _history: IHistory | null = null;
  private _complete = true;
  private _historyLoads = 0;
  private _historyEpoch = 0;
  private _readAfresh = false;
  private _versionsOfModel: IVersion[] = [];
  private _byCid: Map<string, IVersion> = new Map();
  private _dataNames: ReadonlySet<string> = NO_NAMES;
  private _selectedModel: string | null = null;
  private _selectedCid: string | null = null;
  private _details: IVersionDetails | null = null;
  private _diff: { a: string; b: string; rows: IDiffRow[] } | null = null;
  private _error: NbversionError | null = null;
  private _errorSource: 'rest' | 'action' = 'action';
  private _notice: INotice | null = null;
  private _busy: string | null = null;
  private _progress: ILoadProgress | null = null;
  private _loading = false;
  private _inflight = false;
  private _refreshAgain = false;
  private _generation = 0;
  private _pollInterval = 500;
  private _metricSetting = '';
  private _metricChoice: string | null = null;
  private _active = false;
  private _timer: ReturnType<typeof setTimeout> | undefined = undefined;
  private _fetchStarted = 0;
  private _isDisposed = false;
  private _stateChanged = new Signal<this, void>(this);
  private _progressChanged = new Signal<this, ILoadProgress | null>(this);
}

export namespace VersionTreeModel {
  export interface IOptions {
    /** The (shared, per-notebook) kernel bridge of a notebook. */
    bridgeFor: (notebook: NotebookPanel) => KernelBridge;
    /** Where histories and versions are read: `serverAPI` (REST) in JupyterLab. */
    server: IServerAPI;
  }
}

/**
 * How far a Load of `cid` got in fetching it from a remote: bytes `done` of `total` (from
 * `remote`, when the kernel names it).
 */
export interface ILoadProgress extends IProgress {
  cid: string;
}

/** What draws a Load's progress listens to: the model (or anything with its progress). */
export interface IProgressSource {
  readonly progress: ILoadProgress | null;
  readonly progressChanged: ISignal<unknown, ILoadProgress | null>;
}

/** No data sets: one set, so what is memoised on it holds. */
const NO_NAMES: ReadonlySet<string> = new Set();

/** No watches: one object, so what is memoised on it holds. */
const NO_WATCHES: ICidMap = {};

/** Whether two answers hold the same history: the same fingerprint, else the same content. */
function sameHistory(a: IHistory | null, b: IHistory): boolean {
  if (a === null) {
    return false;
  }
  if (a.fingerprint && b.fingerprint) {
    return a.fingerprint === b.fingerprint;
  }
  const content = (h: IHistory) => JSON.stringify({ ...h, next: undefined });
  return content(a) === content(b);
}
