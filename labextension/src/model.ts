/**
 * State of the version panel and the two channels it talks over:
 *
 * - REST (`nbversion/history`, `nbversion/version`) for reading: works whether or not the
 *   notebook's kernel has loaded nbversion, or is running at all;
 * - the kernel's `nbversion` comm (`KernelBridge`) for everything that touches the live model.
 *
 * State changes are announced with Lumino signals; the view only reads.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage, ServerConnection } from '@jupyterlab/services';
import { PromiseDelegate } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import {
  COMM_TARGET,
  errorFromBody,
  ICidMap,
  IDiffRow,
  IHistory,
  IKernelEvent,
  IOps,
  IReply,
  IVersion,
  IVersionDetails,
  NbversionError,
  Op,
  PROTOCOL
} from './protocol';

/** What the panel tells the user when an action needs the kernel side. */
export const NO_COMM_MESSAGE =
  'Run %load_ext nbversion in this notebook to load versions into the live model.';

/** GET `nbversion/<endpoint>?<query>` on the Jupyter server, as JSON. */
export async function requestAPI<T>(
  endpoint: string,
  query: { [key: string]: string },
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  return JSON.parse(await requestText(endpoint, query, settings)) as T;
}

/** GET `nbversion/<endpoint>?<query>`: the JSON body as text, or the server's error thrown. */
export async function requestText(
  endpoint: string,
  query: { [key: string]: string },
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<string> {
  const url =
    URLExt.join(settings.baseUrl, 'nbversion', endpoint) +
    URLExt.objectToQueryString(query);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url,
      { method: 'GET' },
      settings
    );
  } catch (error) {
    throw new NbversionError(
      'NetworkError',
      `Cannot reach the Jupyter server: ${error}`
    );
  }
  const text = await response.text();
  let body: any = null;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!response.ok) {
    const fallback =
      response.status === 404 && body === null
        ? 'The nbversion server extension is not enabled on this Jupyter server (GET nbversion/' +
          endpoint +
          ' gave 404). Install nbversion in the environment that runs Jupyter and restart it.'
        : `GET nbversion/${endpoint} failed: ${response.status} ${response.statusText}`;
    throw errorFromBody(body, fallback);
  }
  if (body === null) {
    throw new NbversionError(
      'ProtocolError',
      `GET nbversion/${endpoint} did not return JSON.`
    );
  }
  return text;
}

/**
 * The kernel end of one notebook: registers the `nbversion` comm target on the notebook's
 * kernel (again after every kernel change or restart), matches replies to requests by id
 * and passes events on.
 */
export class KernelBridge implements IDisposable {
  constructor(readonly notebook: NotebookPanel) {
    const sessionContext = notebook.sessionContext;
    sessionContext.kernelChanged.connect(this._onKernelChanged, this);
    sessionContext.statusChanged.connect(this._onStatusChanged, this);
    this._register(sessionContext.session?.kernel ?? null);
    notebook.disposed.connect(() => this.dispose());
  }

  /** Events ("hello", "changed") from the kernel. */
  get event(): ISignal<this, IKernelEvent> {
    return this._event;
  }

  /** Emitted when the comm opens or closes. */
  get commChanged(): ISignal<this, boolean> {
    return this._commChanged;
  }

  /** Whether the kernel has opened the comm (`%load_ext nbversion` ran). */
  get connected(): boolean {
    return this._comm !== null && !this._comm.isDisposed;
  }

  /** The last `current` map the kernel reported: model -> CID. */
  get current(): ICidMap {
    return this._current;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    const sessionContext = this.notebook.sessionContext;
    sessionContext.kernelChanged.disconnect(this._onKernelChanged, this);
    sessionContext.statusChanged.disconnect(this._onStatusChanged, this);
    this._dropComm('The notebook was closed.');
    if (this._kernel && !this._kernel.isDisposed) {
      this._kernel.removeCommTarget(COMM_TARGET, this._onCommOpen);
    }
    this._kernel = null;
    Signal.clearData(this);
  }

  /** Send one request and wait for its reply; rejects with the kernel's error. */
  request<K extends Op>(
    op: K,
    args: IOps[K]['args'],
    timeoutMs = 300_000
  ): Promise<IOps[K]['result']> {
    const comm = this._comm;
    if (comm === null || comm.isDisposed) {
      return Promise.reject(
        new NbversionError('NoKernelExtension', NO_COMM_MESSAGE)
      );
    }
    const id = ++this._nextId;
    const delegate = new PromiseDelegate<any>();
    const timer = window.setTimeout(() => {
      if (this._pending.delete(id)) {
        delegate.reject(
          new NbversionError(
            'Timeout',
            `The kernel did not answer '${op}' within ${timeoutMs / 1000} s.`
          )
        );
      }
    }, timeoutMs);
    this._pending.set(id, { delegate, timer });
    try {
      comm.send({ protocol: PROTOCOL, id, op, ...args } as any);
    } catch (error) {
      this._settle(id);
      window.clearTimeout(timer);
      return Promise.reject(
        new NbversionError('KernelError', `Cannot send to the kernel: ${error}`)
      );
    }
    return delegate.promise;
  }

  private _onKernelChanged(
    _: unknown,
    change: { newValue: Kernel.IKernelConnection | null }
  ): void {
    this._dropComm('The kernel changed.');
    this._register(change.newValue);
  }

  private _onStatusChanged(_: unknown, status: Kernel.Status): void {
    if (
      status === 'restarting' ||
      status === 'autorestarting' ||
      status === 'dead'
    ) {
      this._dropComm(`The kernel is ${status}.`);
    }
    // Registering again is idempotent, and covers a kernel that came back with a fresh state.
    this._register(this.notebook.sessionContext.session?.kernel ?? null);
  }

  private _register(kernel: Kernel.IKernelConnection | null): void {
    if (kernel === this._kernel) {
      if (kernel && !kernel.isDisposed) {
        kernel.registerCommTarget(COMM_TARGET, this._onCommOpen);
      }
      return;
    }
    if (this._kernel && !this._kernel.isDisposed) {
      this._kernel.removeCommTarget(COMM_TARGET, this._onCommOpen);
    }
    this._kernel = kernel;
    if (kernel && !kernel.isDisposed) {
      kernel.registerCommTarget(COMM_TARGET, this._onCommOpen);
    }
  }

  private _onCommOpen = (
    comm: Kernel.IComm,
    msg: KernelMessage.ICommOpenMsg
  ): void => {
    if (this._comm && this._comm !== comm) {
      this._dropComm('The kernel opened a new nbversion comm.');
    }
    this._comm = comm;
    comm.onMsg = (m: KernelMessage.ICommMsgMsg) =>
      this._onMessage(comm, m.content.data as any);
    comm.onClose = () => {
      if (this._comm === comm) {
        this._dropComm('The kernel closed the nbversion comm.');
      }
    };
    this._commChanged.emit(true);
    this._onMessage(comm, msg.content.data as any);
  };

  private _onMessage(comm: Kernel.IComm, data: IReply & IKernelEvent): void {
    if (comm !== this._comm || !data || typeof data !== 'object') {
      return;
    }
    if (typeof data.id === 'number' && this._pending.has(data.id)) {
      const pending = this._settle(data.id)!;
      if (data.protocol !== PROTOCOL) {
        pending.delegate.reject(
          new NbversionError(
            'ProtocolError',
            `The kernel speaks nbversion protocol ${data.protocol}, the panel ${PROTOCOL}. Update nbversion.`
          )
        );
      } else if (data.ok) {
        pending.delegate.resolve(data.result);
      } else {
        const error = data.error ?? {
          type: 'Error',
          message: 'The kernel reported an error without a message.'
        };
        pending.delegate.reject(new NbversionError(error.type, error.message));
      }
      return;
    }
    if (typeof data.event === 'string') {
      this._noteCurrent(data);
      this._event.emit(data);
    }
  }

  private _noteCurrent(event: IKernelEvent): void {
    const current = { ...this._current };
    if (event.current && typeof event.current === 'object') {
      Object.assign(current, event.current);
    }
    if (event.model) {
      if (typeof event.current === 'string') {
        current[event.model] = event.current;
      } else if (typeof event.cid === 'string') {
        current[event.model] = event.cid;
      }
    }
    this._current = current;
  }

  private _settle(
    id: number
  ): { delegate: PromiseDelegate<any>; timer: number } | undefined {
    const pending = this._pending.get(id);
    if (pending) {
      window.clearTimeout(pending.timer);
      this._pending.delete(id);
    }
    return pending;
  }

  private _dropComm(reason: string): void {
    for (const id of [...this._pending.keys()]) {
      this._settle(id)!.delegate.reject(
        new NbversionError('KernelGone', reason)
      );
    }
    if (this._comm !== null) {
      this._comm = null;
      this._current = {};
      this._commChanged.emit(false);
    }
  }

  private _kernel: Kernel.IKernelConnection | null = null;
  private _comm: Kernel.IComm | null = null;
  private _current: ICidMap = {};
  private _nextId = 0;
  private _pending = new Map<
    number,
    { delegate: PromiseDelegate<any>; timer: number }
  >();
  private _isDisposed = false;
  private _event = new Signal<this, IKernelEvent>(this);
  private _commChanged = new Signal<this, boolean>(this);
}

/** A transient line shown above the details: the outcome of the last action. */
export interface INotice {
  kind: 'info' | 'error';
  text: string;
}

/** Everything the panel draws, for the active notebook. */
export class VersionTreeModel implements IDisposable {
  constructor(options: VersionTreeModel.IOptions) {
    this._bridgeFor = options.bridgeFor;
  }

  /** Emitted on any change of state the view draws. */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
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

  get loading(): boolean {
    return this._loading;
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

  /** Model names in the repository, sorted. */
  get modelNames(): string[] {
    return this._history ? Object.keys(this._history.models).sort() : [];
  }

  get selectedModel(): string | null {
    return this._selectedModel;
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
    window.clearTimeout(this._timer);
    Signal.clearData(this);
  }

  /** Follow another notebook (or none). */
  setNotebook(notebook: NotebookPanel | null): void {
    if (notebook === this._notebook) {
      return;
    }
    this._disconnectBridge();
    this._notebook = notebook;
    this._history = null;
    this._historyText = '';
    this._versionsOfModel = [];
    this._byCid = new Map();
    this._selectedCid = null;
    this._details = null;
    this._diff = null;
    this._error = null;
    this._notice = null;
    this._generation++;
    if (notebook) {
      this._bridge = this._bridgeFor(notebook);
      this._bridge.event.connect(this._onKernelEvent, this);
      this._bridge.commChanged.connect(this._onCommChanged, this);
      notebook.context.pathChanged.connect(this._onPathChanged, this);
    }
    this._emit();
    if (this._active) {
      void this.refresh();
    }
  }

  /** Re-read the history over REST; redraws only when it changed. */
  async refresh(): Promise<void> {
    window.clearTimeout(this._timer);
    const path = this.path;
    if (!path) {
      return;
    }
    if (this._inflight) {
      this._refreshAgain = true;
      return;
    }
    const generation = this._generation;
    this._inflight = true;
    const first = this._history === null;
    if (first) {
      this._loading = true;
      this._emit();
    }
    try {
      this._fetchStarted = Date.now();
      const query: { [key: string]: string } = { path };
      if (this._history?.fingerprint) {
        query.since = this._history.fingerprint;
      }
      const text = await requestText('history', query);
      if (generation !== this._generation) {
        return;
      }
      const unchanged = text.includes('"unchanged": true');
      const hadError = this._error !== null && this._errorSource === 'rest';
      if (hadError) {
        this._error = null;
      }
      if (!unchanged && text !== this._historyText) {
        this._setHistory(text);
      } else if (first || hadError) {
        this._emit();
      }
    } catch (error) {
      if (generation === this._generation) {
        this._setError(error, 'rest');
      }
    } finally {
      this._inflight = false;
      if (generation === this._generation) {
        this._loading = false;
        if (first) {
          this._emit();
        }
        if (this._refreshAgain) {
          this._refreshAgain = false;
          void this.refresh();
        } else {
          this._schedulePoll();
        }
      }
    }
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
      const details = await requestAPI<IVersionDetails>('version', {
        path,
        cid
      });
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

  /** Load the selected version into the live model (through the kernel). */
  async load(cid: string): Promise<void> {
    const model = this._modelOf(cid);
    await this._action('Loading', async bridge => {
      const result = await bridge.request('checkout', { ref: cid, model });
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
    await this._action('Comparing', async bridge => {
      const rows = await bridge.request('diff', { a, b: cid, model });
      this._diff = { a, b: cid, rows };
    });
  }

  /** Tag a version (through the kernel). */
  async tag(cid: string, name: string): Promise<void> {
    const model = this._modelOf(cid);
    await this._action('Tagging', async bridge => {
      const result = await bridge.request('tag', { name, ref: cid, model });
      this._notice = {
        kind: 'info',
        text: `Tagged ${result.cid.slice(0, 16)} as '${result.name}'.`
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
      const nbModel = notebook.context.model;
      const existing = (nbModel.getMetadata('nbversion') as any) ?? {};
      const pins =
        existing && typeof existing.pins === 'object' && existing.pins
          ? existing.pins
          : {};
      nbModel.setMetadata('nbversion', {
        ...existing,
        pins: { ...pins, [model]: cid }
      });
      await notebook.context.save();
      const label = this._byCid.get(cid)?.label ?? cid.slice(0, 16);
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

  private async _action(
    what: string,
    body: (bridge: KernelBridge) => Promise<void>
  ): Promise<void> {
    const bridge = this._bridge;
    if (!bridge || !bridge.connected) {
      this._setError(new NbversionError('NoKernelExtension', NO_COMM_MESSAGE));
      return;
    }
    const generation = this._generation;
    this._busy = what;
    this._notice = null;
    this._emit();
    try {
      await body(bridge);
      if (generation === this._generation) {
        this._error = null;
      }
    } catch (error) {
      if (generation === this._generation) {
        this._setError(error);
      }
    } finally {
      if (generation === this._generation) {
        this._busy = null;
        this._emit();
        void this.refresh();
      }
    }
  }

  private _setHistory(text: string): void {
    const history = JSON.parse(text) as IHistory;
    this._historyText = text;
    this._history = history;
    this._byCid = new Map(history.versions.map(v => [v.cid, v]));
    const names = this.modelNames;
    if (!this._selectedModel || !names.includes(this._selectedModel)) {
      // Prefer a model the kernel holds, else the most recently committed one.
      const live = names.find(n => this._bridge?.current[n]);
      this._selectedModel =
        live ?? history.versions[0]?.model ?? names[0] ?? null;
    }
    this._updateVersionsOfModel();
    this._emit();
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

  private _onCommChanged(): void {
    this._emit();
  }

  private _onPathChanged(): void {
    this._historyText = '';
    void this.refresh();
  }

  private _disconnectBridge(): void {
    if (this._bridge) {
      this._bridge.event.disconnect(this._onKernelEvent, this);
      this._bridge.commChanged.disconnect(this._onCommChanged, this);
    }
    if (this._notebook && !this._notebook.isDisposed) {
      this._notebook.context.pathChanged.disconnect(this._onPathChanged, this);
    }
    this._bridge = null;
  }

  private _schedulePoll(): void {
    window.clearTimeout(this._timer);
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
      this._timer = window.setTimeout(() => void this.refresh(), wait);
    }
  }

  private _emit(): void {
    if (!this._isDisposed) {
      this._stateChanged.emit();
    }
  }

  private _bridgeFor: (notebook: NotebookPanel) => KernelBridge;
  private _bridge: KernelBridge | null = null;
  private _notebook: NotebookPanel | null = null;
  private _history: IHistory | null = null;
  private _historyText = '';
  private _versionsOfModel: IVersion[] = [];
  private _byCid: Map<string, IVersion> = new Map();
  private _selectedModel: string | null = null;
  private _selectedCid: string | null = null;
  private _details: IVersionDetails | null = null;
  private _diff: { a: string; b: string; rows: IDiffRow[] } | null = null;
  private _error: NbversionError | null = null;
  private _errorSource: 'rest' | 'action' = 'action';
  private _notice: INotice | null = null;
  private _busy: string | null = null;
  private _loading = false;
  private _inflight = false;
  private _refreshAgain = false;
  private _generation = 0;
  private _pollInterval = 500;
  private _metricSetting = '';
  private _metricChoice: string | null = null;
  private _active = false;
  private _timer = 0;
  private _fetchStarted = 0;
  private _isDisposed = false;
  private _stateChanged = new Signal<this, void>(this);
}

export namespace VersionTreeModel {
  export interface IOptions {
    /** The (shared, per-notebook) kernel bridge of a notebook. */
    bridgeFor: (notebook: NotebookPanel) => KernelBridge;
  }
}

/** A number in at most 4 significant digits, exponent form when tiny or huge. */
export function formatNumber(x: number | null | undefined): string {
  if (typeof x !== 'number' || !isFinite(x)) {
    return x === null || x === undefined ? '' : String(x);
  }
  if (x === 0) {
    return '0';
  }
  const abs = Math.abs(x);
  return abs >= 1e5 || abs < 1e-3
    ? x.toExponential(2)
    : String(Number(x.toPrecision(4)));
}

/** Bytes as B / KiB / MiB / GiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return i === 0 ? `${value} B` : `${value.toFixed(1)} ${units[i]}`;
}
