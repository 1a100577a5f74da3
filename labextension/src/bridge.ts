/**
 * The kernel end of one notebook: the `nbversion` comm the kernel opens on
 * `%load_ext nbversion`, used for everything that touches the live model. Requests are matched
 * to replies by id (and a request's "progress" events to it); events ("hello", "changed",
 * "watch", "announced", "pin") are passed on as a Lumino signal. The bridge keeps what the
 * kernel's watches verified, and writes the pins the kernel asks for into its own notebook.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import { PromiseDelegate } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { isForNotebook, writePin } from './pins';
import {
  COMM_TARGET,
  IAnnounced,
  ICidMap,
  IKernelEvent,
  IOps,
  IProgress,
  IReply,
  NbversionError,
  Op,
  PROTOCOL
} from './protocol';

/** A pin the kernel asked for, once written into the notebook and saved (or why it was not). */
export interface IPinWritten {
  model: string;
  cid: string;
  error: Error | null;
}

/** Add `item` to the verified versions (newest first), once per version. */
export function addAnnounced(
  list: IAnnounced[],
  item: IAnnounced
): IAnnounced[] {
  const cid = item.version.cid;
  return [item, ...list.filter(a => a.version.cid !== cid)];
}

/** Whether `data` is an "announced" event the panel can list (a version with a CID). */
export function isAnnounced(data: any): data is IAnnounced {
  return (
    !!data &&
    typeof data.topic === 'string' &&
    typeof data.version === 'object' &&
    data.version !== null &&
    typeof data.version.cid === 'string' &&
    typeof data.version.model === 'string'
  );
}

/** What the panel tells the user when an action needs the kernel side. */
export const NO_COMM_MESSAGE =
  'Run %load_ext nbversion in this notebook to load versions into the live model.';

/** The panel's kernel line: linked, or what to do to link it (the whole message as its title). */
export function kernelStatus(connected: boolean): {
  text: string;
  title: string;
} {
  return connected
    ? {
        text: 'kernel linked',
        title:
          'The kernel has nbversion loaded: versions can be loaded into the live model.'
      }
    : {
        text: 'to link the kernel: %load_ext nbversion',
        title: NO_COMM_MESSAGE
      };
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

  /**
   * Emitted when the kernel restarts (by the user or after a crash): whatever the kernel
   * had loaded is gone, nbversion included.
   */
  get kernelRestarted(): ISignal<this, void> {
    return this._kernelRestarted;
  }

  /** Whether the kernel has opened the comm (`%load_ext nbversion` ran). */
  get connected(): boolean {
    return this._comm !== null && !this._comm.isDisposed;
  }

  /** The last `current` map the kernel reported: model -> CID. */
  get current(): ICidMap {
    return this._current;
  }

  /** The watches running in the kernel (`%nbversion watch`): topic -> the node watched. */
  get watches(): ICidMap {
    return this._watches;
  }

  /** The versions those watches verified, newest first (each is in the repository). */
  get announced(): IAnnounced[] {
    return this._announced;
  }

  /** Emitted once a pin the kernel asked for is written and saved, or failed. */
  get pinWritten(): ISignal<this, IPinWritten> {
    return this._pinWritten;
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

  /**
   * Send one request and wait for its reply; rejects with the kernel's error. `onProgress` gets
   * the request's progress events (a Load fetching from a remote) until the reply.
   */
  request<K extends Op>(
    op: K,
    args: IOps[K]['args'],
    timeoutMs = 300_000,
    onProgress?: (progress: IProgress) => void
  ): Promise<IOps[K]['result']> {
    const comm = this._comm;
    if (comm === null || comm.isDisposed) {
      return Promise.reject(
        new NbversionError('NoKernelExtension', NO_COMM_MESSAGE)
      );
    }
    const id = ++this._nextId;
    const delegate = new PromiseDelegate<any>();
    const timer = setTimeout(() => {
      if (this._pending.delete(id)) {
        delegate.reject(
          new NbversionError(
            'Timeout',
            `The kernel did not answer '${op}' within ${timeoutMs / 1000} s.`
          )
        );
      }
    }, timeoutMs);
    this._pending.set(id, { delegate, timer, onProgress });
    try {
      comm.send({ protocol: PROTOCOL, id, op, ...args } as any);
    } catch (error) {
      this._settle(id);
      clearTimeout(timer);
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
    if (status === 'restarting' || status === 'autorestarting') {
      this._kernelRestarted.emit();
    }
    // Registering again is idempotent, and covers a kernel that came back with a fresh state.
    this._register(this.notebook.sessionContext.session?.kernel ?? null);
  }

  private _register(kernel: Kernel.IKernelConnection | null): void {
    const isNew = kernel !== this._kernel;
    if (isNew && this._kernel && !this._kernel.isDisposed) {
      this._kernel.removeCommTarget(COMM_TARGET, this._onCommOpen);
    }
    this._kernel = kernel;
    if (kernel && !kernel.isDisposed) {
      kernel.registerCommTarget(COMM_TARGET, this._onCommOpen);
      if (isNew) {
        // once per kernel connection: asking on every status change would itself change it
        void this._reattach(kernel);
      }
    }
  }

  /**
   * Take up the comm the kernel opened before this page was there to see it (the page was
   * reloaded, or the notebook reopened, after `%load_ext nbversion`): the kernel lists its open
   * comms in `comm_info`, and a comm object with the same id reaches it without opening a new
   * one. The kernel's hello went to the old page, so the live models are asked for again.
   */
  private async _reattach(kernel: Kernel.IKernelConnection): Promise<void> {
    if (this.connected || this._reattaching) {
      return;
    }
    this._reattaching = true;
    try {
      const reply = await kernel.requestCommInfo({ target_name: COMM_TARGET });
      const content = reply.content;
      if (
        content.status !== 'ok' ||
        this.connected ||
        this._isDisposed ||
        kernel !== this._kernel ||
        kernel.isDisposed
      ) {
        return;
      }
      const ids = Object.keys(content.comms).filter(
        id => content.comms[id].target_name === COMM_TARGET
      );
      if (ids.length === 0) {
        return;
      }
      let comm: Kernel.IComm;
      try {
        // the newest: `%load_ext` run twice leaves two, either answers
        comm = kernel.createComm(COMM_TARGET, ids[ids.length - 1]);
      } catch {
        return; // this connection holds that comm already: its comm_open is on its way
      }
      this._attach(comm);
      const listing = await this.request('list', {});
      if (this._comm === comm) {
        this._watches = { ...(listing.watches ?? {}) };
        this._announced = (listing.announced ?? [])
          .filter(isAnnounced)
          .reduce(addAnnounced, [] as IAnnounced[]);
        this._onMessage(comm, {
          protocol: PROTOCOL,
          event: 'hello',
          current: listing.current
        } as any);
      }
    } catch (error) {
      console.warn('nbversion: cannot reach the kernel side.', error);
    } finally {
      this._reattaching = false;
    }
  }

  private _onCommOpen = (
    comm: Kernel.IComm,
    msg: KernelMessage.ICommOpenMsg
  ): void => {
    this._attach(comm);
    this._onMessage(comm, msg.content.data as any);
  };

  /** Make `comm` the one requests go over, and follow its messages and its close. */
  private _attach(comm: Kernel.IComm): void {
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
    try {
      // Tell the kernel a panel listens, so it sends events meant for the document (a pin). The
      // reply (id 0: no request waits for it) is not needed.
      comm.send({ protocol: PROTOCOL, id: 0, op: 'attach' } as any);
    } catch (error) {
      console.warn('nbversion: cannot reach the kernel side.', error);
    }
    this._commChanged.emit(true);
  }

  private _onMessage(comm: Kernel.IComm, data: IReply & IKernelEvent): void {
    if (comm !== this._comm || !data || typeof data !== 'object') {
      return;
    }
    if (data.event === 'progress') {
      const pending =
        typeof data.id === 'number' ? this._pending.get(data.id) : undefined;
      if (
        pending?.onProgress &&
        typeof data.done === 'number' &&
        typeof data.total === 'number'
      ) {
        pending.onProgress(
          typeof data.remote === 'string' && data.remote
            ? { done: data.done, total: data.total, remote: data.remote }
            : { done: data.done, total: data.total }
        );
      }
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
      if (data.event === 'watch' || data.event === 'announced') {
        this._noteWatch(data);
      } else if (data.event === 'pin') {
        void this._writePin(data);
      } else {
        this._noteCurrent(data);
      }
      this._event.emit(data);
    }
  }

  private _noteWatch(event: IKernelEvent): void {
    if (event.event === 'announced') {
      if (isAnnounced(event)) {
        this._announced = addAnnounced(this._announced, event);
      }
      return;
    }
    if (typeof event.topic !== 'string') {
      return;
    }
    const watches = { ...this._watches };
    if (event.running) {
      watches[event.topic] = String(event.remote ?? '');
    } else {
      delete watches[event.topic];
      this._announced = this._announced.filter(a => a.topic !== event.topic);
    }
    this._watches = watches;
  }

  /** The kernel's "pin" event: write it into this notebook (if it is for this one) and save. */
  private async _writePin(event: IKernelEvent): Promise<void> {
    const { model, cid } = event;
    if (
      event.protocol !== PROTOCOL ||
      typeof model !== 'string' ||
      !model ||
      typeof cid !== 'string' ||
      !cid ||
      !isForNotebook(event.notebook, this.notebook.context.localPath)
    ) {
      return;
    }
    let error: Error | null = null;
    try {
      await writePin(this.notebook, model, cid);
    } catch (reason) {
      error = reason instanceof Error ? reason : new Error(String(reason));
      console.warn(
        'nbversion: cannot write the pin into the notebook.',
        reason
      );
    }
    if (!this._isDisposed) {
      this._pinWritten.emit({ model, cid, error });
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

  private _settle(id: number): IPending | undefined {
    const pending = this._pending.get(id);
    if (pending) {
      clearTimeout(pending.timer);
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
      this._watches = {};
      this._announced = [];
      this._commChanged.emit(false);
    }
  }

  private _kernel: Kernel.IKernelConnection | null = null;
  private _comm: Kernel.IComm | null = null;
  private _current: ICidMap = {};
  private _watches: ICidMap = {};
  private _announced: IAnnounced[] = [];
  private _nextId = 0;
  private _pending = new Map<number, IPending>();
  private _isDisposed = false;
  private _reattaching = false;
  private _event = new Signal<this, IKernelEvent>(this);
  private _commChanged = new Signal<this, boolean>(this);
  private _kernelRestarted = new Signal<this, void>(this);
  private _pinWritten = new Signal<this, IPinWritten>(this);
}

/** A request waiting for its reply. */
interface IPending {
  delegate: PromiseDelegate<any>;
  timer: ReturnType<typeof setTimeout>;
  onProgress?: (progress: IProgress) => void;
}
