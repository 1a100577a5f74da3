/**
 * The wire format shared with the Python side (protocol version 1).
 *
 * REST (Jupyter server extension, behind the server's auth and XSRF):
 *   GET nbversion/history?path=<notebook path>        -> IHistory
 *   GET nbversion/history?path=...&limit=N[&cursor=C] -> IHistory, one page (`next` names the next)
 *   GET nbversion/version?path=<notebook path>&cid=<cid> -> IVersionDetails
 *   errors: HTTP 4xx/5xx with {"error": {"type", "message"}}
 *
 * Comm (target "nbversion", opened by the kernel on `%load_ext nbversion`):
 *   open data / events: IKernelEvent
 *   requests:           IRequest
 *   replies:            IReply
 */

export const PROTOCOL = 1;

export const COMM_TARGET = 'nbversion';

/** A JSON map of CIDs by model name (or by tag / branch name). */
export interface ICidMap {
  [name: string]: string;
}

/**
 * A version as the history lists it. `context` (the committing cell and notebook) is not in
 * the list, which stays small at 10,000 versions: the version's details (`IVersionDetails`,
 * fetched when it is selected) have it.
 */
export interface IVersion {
  cid: string;
  /** The model, or for a data version the data set, it is a version of. */
  model: string;
  /** "weights" (a model's) or "data" (a data set's); absent from servers that predate data. */
  kind?: 'weights' | 'data' | string;
  seq: number;
  label: string;
  parents: string[];
  message: string;
  metrics: { [name: string]: number };
  time: string;
  author: string;
  framework: string;
  tags: string[];
  context?: { [key: string]: any };
  /** A model version's data links: role -> the data version's CID (absent: none). */
  data?: ICidMap;
  /** Where the version is on remotes (absent: on none, or the server does not say). */
  remotes?: IRemoteState[];
}

/** What a remote holds of a version: pushed to it, pinned there, queued to go, or failed. */
export type RemoteStateName = 'pushed' | 'pinned' | 'queued' | 'failed';

export interface IRemoteState {
  name: string;
  state: RemoteStateName | string;
}

export interface ITensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  size: number;
}

/** An item of a data version: an array, a table, a file or a folder, with its summary. */
export interface IDataItem {
  name: string;
  type: 'array' | 'table' | 'file' | 'folder' | string;
  size: number;
  cid?: string;
  /** Shape and dtype, rows and columns, and `classes`: label counts (per column for a table). */
  summary?: { [key: string]: any } | null;
  dtype?: string;
  shape?: number[];
  rows?: number;
  columns?: string[];
  files?: number;
  /** The item in a few words, as `%nbversion show` writes it. */
  text?: string;
}

/** The code a version was committed from: the notebook's path and the committing cell's id. */
export interface ICodeSummary {
  cid: string;
  notebook: string | null;
  cell: string;
}

/** The environment a version was committed in, in a few fields. */
export interface IEnvironmentSummary {
  cid: string;
  python?: string | null;
  platform?: string;
  /** How many distributions were installed. */
  packages?: number;
  /** The versions of the packages that matter most (numpy, keras, torch...). */
  key_packages?: { [name: string]: string };
  /** Why a recorded environment could not be read here. */
  error?: string;
}

/**
 * A version with its content: the tensors of a model version, the items of a data version;
 * what it was made with (`code`, `environment`: null when not recorded) and the names of the
 * data versions it links (`data_labels`: CID -> "digits v1").
 */
export interface IVersionDetails extends IVersion {
  tensors?: ITensorInfo[];
  items?: IDataItem[];
  data_labels?: ICidMap;
  code?: ICodeSummary | null;
  environment?: IEnvironmentSummary | null;
}

export interface IModelInfo {
  head: string | null;
  branch: string | null;
  branches: ICidMap;
}

export interface IHistory {
  protocol: number;
  repo: string | null;
  models: { [model: string]: IModelInfo };
  tags: ICidMap;
  /** Newest first. */
  versions: IVersion[];
  /** Changes whenever a version or ref does; sent back as `since` to skip unchanged answers. */
  fingerprint?: string;
  /**
   * In a page (asked for with `limit`): the `cursor` of the next page, or null after the last.
   * Absent in the whole history.
   */
  next?: string | null;
}

/** The answer to `history?since=F` when nothing changed since fingerprint F. */
export interface IUnchanged {
  protocol: number;
  unchanged: true;
  fingerprint: string;
}

/** Whether a history answer says "nothing changed since the fingerprint you sent". */
export function isUnchanged(reply: IHistory | IUnchanged): reply is IUnchanged {
  return (reply as Partial<IUnchanged> | null)?.unchanged === true;
}

export interface IErrorInfo {
  type: string;
  message: string;
}

export interface ICheckoutResult {
  model: string;
  cid: string;
  label: string;
  replaced: number;
  max_abs_change: number | null;
}

export interface IDiffRow {
  name: string;
  status: string;
  l2: number | null;
  max_abs: number | null;
}

export interface ITagResult {
  name: string;
  cid: string;
}

export interface IListResult extends IHistory {
  current: ICidMap;
  /** The watches running in the kernel (`%nbversion watch`): topic -> the node watched. */
  watches?: ICidMap;
  /** The versions they verified so far, as their "announced" events. */
  announced?: IAnnounced[];
}

/**
 * A version a peer announced on a watched topic, fetched and verified by the kernel (it is in
 * the repository by then): the kernel's "announced" event.
 */
export interface IAnnounced {
  topic: string;
  remote: string;
  /** The announcer's peer ID ('' when unsigned). */
  from: string;
  /** Whether the watch pulled it (false: it was in the repository already). */
  new: boolean;
  version: IVersion;
}

/** How far a request's fetch from a remote got: bytes of the tensors fetched, of `total`. */
export interface IProgress {
  done: number;
  total: number;
  /** The remote they come from, when the kernel names it (optional: older kernels do not). */
  remote?: string;
}

/** What each request op takes and gives back. */
export interface IOps {
  checkout: { args: { ref: string; model: string }; result: ICheckoutResult };
  diff: { args: { a: string; b: string; model: string }; result: IDiffRow[] };
  tag: {
    args: { name: string; ref: string; model: string };
    result: ITagResult;
  };
  list: { args: Record<string, never>; result: IListResult };
}

export type Op = keyof IOps;

export interface IRequest {
  protocol: number;
  id: number;
  op: Op;
  [arg: string]: any;
}

export interface IReply {
  protocol: number;
  id: number;
  ok: boolean;
  result?: any;
  error?: IErrorInfo;
}

/**
 * An event from the kernel: "hello" (comm open data) or "changed" (after a commit or
 * checkout in that kernel). `current` is the model's CID in "changed" events; a map of
 * every model's CID in "hello". `cid` is accepted as the model's CID too.
 *
 * Also: "watch" (a `%nbversion watch` started or ended: `topic`, `remote`, `running`, `error`),
 * "announced" (`IAnnounced`: a version a watch verified), "progress" (`id` of a pending request,
 * `done` and `total` bytes, and `remote` when the kernel names it) and "pin" (`model`, `cid`, `notebook`: `%nbversion pin` asks the
 * notebook of that kernel to record `metadata.nbversion.pins[model] = cid` and save).
 */
export interface IKernelEvent {
  protocol: number;
  event:
    'hello' | 'changed' | 'watch' | 'announced' | 'progress' | 'pin' | string;
  model?: string;
  current?: string | ICidMap;
  cid?: string;
  topic?: string;
  remote?: string;
  running?: boolean;
  error?: string;
  from?: string;
  new?: boolean;
  version?: IVersion;
  id?: number;
  done?: number;
  total?: number;
  notebook?: string | null;
}

/** An error reported by the server or the kernel, shown in the panel as it is. */
export class NbversionError extends Error {
  constructor(
    readonly type: string,
    message: string
  ) {
    super(message);
    this.name = 'NbversionError';
  }
}

/** Read the {"error": {"type", "message"}} body of a failed request, if it is one. */
export function errorFromBody(body: unknown, fallback: string): NbversionError {
  const error = (body as any)?.error;
  if (error && typeof error.message === 'string') {
    return new NbversionError(String(error.type ?? 'Error'), error.message);
  }
  return new NbversionError('Error', fallback);
}
