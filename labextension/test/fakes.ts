/**
 * Stand-ins for the parts of JupyterLab the panel's state and kernel bridge use: a notebook with
 * its session and document, a kernel that keeps comm targets, a comm, and the REST API. Only what
 * the code under test touches, so the tests run in Node without a browser.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';
import { Signal } from '@lumino/signaling';

import {
  COMM_TARGET,
  IHistory,
  IVersion,
  IVersionDetails
} from '../src/protocol';
import { HistoryReply, IPage, IServerAPI } from '../src/rest';

/** The panel side of a comm the kernel opened; `receive` plays the kernel sending a message. */
export class FakeComm {
  isDisposed = false;
  sent: any[] = [];
  onMsg: ((msg: any) => void) | null = null;
  onClose: ((msg: any) => void) | null = null;
  /** Set to make `send` throw, as a comm on a dead connection does. */
  failSend: Error | null = null;
  /** Set to answer every request at once, as a kernel with nbversion loaded does. */
  answer: ((request: any) => any) | null = null;

  /** How many times the panel said it listens (`attach`, sent on every comm it takes up). */
  attaches = 0;

  send(data: any): void {
    if (this.failSend) {
      throw this.failSend;
    }
    if (data?.op === 'attach') {
      this.attaches++; // kept apart from `sent`, which holds the requests the panel waits on
      return;
    }
    this.sent.push(data);
    if (this.answer) {
      this.receive(this.answer(data));
    }
  }

  /** The kernel sends `data` on this comm. */
  receive(data: any): void {
    this.onMsg?.({ content: { data } });
  }

  /** The kernel closes the comm. */
  close(): void {
    this.isDisposed = true;
    this.onClose?.({ content: { data: {} } });
  }
}

/** A kernel connection that keeps registered comm targets and can open a comm on one. */
export class FakeKernel {
  isDisposed = false;
  targets = new Map<string, (comm: any, msg: any) => void>();

  registerCommTarget(name: string, callback: (comm: any, msg: any) => void) {
    this.targets.set(name, callback);
  }

  removeCommTarget(name: string, callback: (comm: any, msg: any) => void) {
    if (this.targets.get(name) === callback) {
      this.targets.delete(name);
    }
  }

  /**
   * Comms the kernel has open already, by id: opened for a page that is gone (reloaded) before
   * this connection registered its target. Listed by `comm_info`, reached by `createComm(id)`.
   */
  openElsewhere = new Map<string, FakeComm>();
  commInfoRequests = 0;

  async requestCommInfo(content: { target_name?: string }): Promise<any> {
    this.commInfoRequests++;
    const comms: { [id: string]: { target_name: string } } = {};
    for (const id of this.openElsewhere.keys()) {
      if (!content.target_name || content.target_name === COMM_TARGET) {
        comms[id] = { target_name: COMM_TARGET };
      }
    }
    return { content: { status: 'ok', comms } };
  }

  createComm(target: string, id: string): FakeComm {
    const comm = this.openElsewhere.get(id);
    if (target !== COMM_TARGET || !comm) {
      throw new Error(`no comm ${id} in this kernel`);
    }
    return comm;
  }

  /** `%load_ext nbversion` in this kernel: it opens the comm with its hello. */
  openComm(
    hello: any = { protocol: 1, event: 'hello', current: {} }
  ): FakeComm {
    const target = this.targets.get(COMM_TARGET);
    if (!target) {
      throw new Error('no nbversion comm target registered on this kernel');
    }
    const comm = new FakeComm();
    target(comm, { content: { data: hello } });
    return comm;
  }
}

/** A notebook panel: its session (kernel, status), its document (path, metadata, save), its end. */
export class FakeNotebook {
  readonly kernelChanged = new Signal<this, any>(this);
  readonly statusChanged = new Signal<this, string>(this);
  readonly pathChanged = new Signal<this, string>(this);
  readonly disposed = new Signal<this, void>(this);
  isDisposed = false;
  metadata: { [key: string]: any } = {};
  saves = 0;

  constructor(
    public localPath = 'train.ipynb',
    public kernel: FakeKernel | null = new FakeKernel()
  ) {}

  /** The session: its kernel as it is now, and the kernel's signals. */
  get sessionContext(): any {
    return {
      kernelChanged: this.kernelChanged,
      statusChanged: this.statusChanged,
      session: { kernel: this.kernel }
    };
  }

  /** The document: its path as it is now, its metadata, saving. */
  get context(): any {
    return {
      localPath: this.localPath,
      pathChanged: this.pathChanged,
      model: {
        getMetadata: (key: string) => this.metadata[key],
        setMetadata: (key: string, value: any) => {
          this.metadata[key] = value;
        }
      },
      save: async () => {
        this.saves++;
      }
    };
  }

  /** What JupyterLab's code sees. */
  get panel(): NotebookPanel {
    return this as unknown as NotebookPanel;
  }

  /** The kernel's status changes (a restart goes 'restarting', then 'idle'). */
  setStatus(status: string): void {
    this.statusChanged.emit(status);
  }

  /** The session gets another kernel (or none). */
  changeKernel(kernel: FakeKernel | null): void {
    const oldValue = this.kernel;
    this.kernel = kernel;
    this.kernelChanged.emit({ name: 'kernel', oldValue, newValue: kernel });
  }

  close(): void {
    this.isDisposed = true;
    this.disposed.emit();
  }
}

/**
 * The REST API, answering from `histories` by path (or `reply` when set), in pages as the server
 * does when asked for one. Records every call (a page after the first with its `cursor`); a
 * request can be held (`hold`) and let go later, to play an answer on its way.
 */
export class FakeServer implements IServerAPI {
  histories = new Map<string, IHistory>();
  details = new Map<string, IVersionDetails>();
  calls: { path: string; since: string | null; cursor?: string }[] = [];
  /** Called before a page after the first is answered (to change the history meanwhile). */
  beforePage: ((cursor: string) => void) | null = null;
  /** Answer the next history requests with this instead (an error to throw, or a reply). */
  reply: ((path: string, since: string | null) => HistoryReply) | null = null;
  private _held: (() => void)[] = [];
  private _holding = false;

  async history(
    path: string,
    since?: string | null,
    page?: IPage
  ): Promise<HistoryReply> {
    this.calls.push(
      page?.cursor
        ? { path, since: since ?? null, cursor: page.cursor }
        : { path, since: since ?? null }
    );
    if (this._holding) {
      await new Promise<void>(resolve => this._held.push(resolve));
    }
    if (page?.cursor) {
      this.beforePage?.(page.cursor);
    }
    if (this.reply) {
      return this.reply(path, since ?? null);
    }
    const history = this.histories.get(path);
    if (!history) {
      throw new Error(`no history for ${path}`);
    }
    if (since && since === history.fingerprint) {
      return { protocol: 1, unchanged: true, fingerprint: since };
    }
    if (!page) {
      return structuredClone(history);
    }
    const start = Number(page.cursor ?? '0');
    const end = start + page.limit;
    return structuredClone({
      ...history,
      versions: history.versions.slice(start, end),
      next: end < history.versions.length ? String(end) : null
    });
  }

  async version(path: string, cid: string): Promise<IVersionDetails> {
    const details = this.details.get(cid);
    if (!details) {
      throw new Error(`no version ${cid}`);
    }
    return details;
  }

  /** Hold history requests until `release`. */
  hold(): void {
    this._holding = true;
  }

  /** Let the held requests answer (with what the server holds by then). */
  release(): void {
    this._holding = false;
    for (const resolve of this._held.splice(0)) {
      resolve();
    }
  }
}

/** A version of `model` with the fields the panel reads. */
export function version(
  cid: string,
  seq: number,
  parents: string[] = [],
  extra: Partial<IVersion> = {}
): IVersion {
  return {
    cid,
    seq,
    parents,
    model: 'model',
    label: `v${seq}`,
    message: `version ${seq}`,
    metrics: {},
    time: '2024-05-01T12:00:00Z',
    author: 'me',
    framework: 'numpy',
    tags: [],
    context: {},
    ...extra
  };
}

/** A history of the given versions (newest first), each model's head its newest version. */
export function history(
  fingerprint: string,
  versions: IVersion[],
  repo = '/work/.nbversion'
): IHistory {
  const models: IHistory['models'] = {};
  for (const v of versions) {
    if (!models[v.model]) {
      models[v.model] = {
        head: v.cid,
        branch: 'main',
        branches: { main: v.cid }
      };
    }
  }
  return { protocol: 1, repo, models, tags: {}, versions, fingerprint };
}

/** Let every answer already on its way arrive (promises and zero-delay timers). */
export function settle(): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, 0));
}
