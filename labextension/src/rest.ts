/**
 * The REST client: `GET nbversion/history` and `GET nbversion/version` on the Jupyter server,
 * for reading. It works whether or not the notebook's kernel has loaded nbversion, or is
 * running at all. Every answer is parsed as JSON; a failed request becomes an NbversionError
 * with the server's own message.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  errorFromBody,
  IHistory,
  IUnchanged,
  IVersionDetails,
  NbversionError
} from './protocol';

/** GET `nbversion/<endpoint>?<query>` on the Jupyter server: the JSON body, or the server's error thrown. */
export async function requestAPI<T>(
  endpoint: string,
  query: { [key: string]: string },
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
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
  const body = parseJSON(await response.text());
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
  return body as T;
}

/** The parsed body, or null when it is empty or not JSON. */
function parseJSON(text: string): unknown {
  if (text.length === 0) {
    return null;
  }
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * The answer to `history`: the whole history, or (`isUnchanged`) word that it has not changed
 * since the fingerprint sent as `since`.
 */
export type HistoryReply = IHistory | IUnchanged;

/** One page of the history: at most `limit` versions, from `cursor` (a page's `next`) on. */
export interface IPage {
  limit: number;
  cursor?: string;
}

/**
 * The notebook's history; with `since` (a fingerprint), maybe just "unchanged"; with `page`,
 * one page of it (newest first), whose `next` asks for the following one.
 */
export function fetchHistory(
  path: string,
  since?: string | null,
  page?: IPage,
  settings?: ServerConnection.ISettings
): Promise<HistoryReply> {
  const query: { [key: string]: string } = { path };
  if (since) {
    query.since = since;
  }
  if (page) {
    query.limit = String(page.limit);
    if (page.cursor) {
      query.cursor = page.cursor;
    }
  }
  return requestAPI<HistoryReply>('history', query, settings);
}

/** One version with its tensors. */
export function fetchVersion(
  path: string,
  cid: string,
  settings?: ServerConnection.ISettings
): Promise<IVersionDetails> {
  return requestAPI<IVersionDetails>('version', { path, cid }, settings);
}

/** What the panel reads from the server (the state model takes a fake one in tests). */
export interface IServerAPI {
  history(
    path: string,
    since?: string | null,
    page?: IPage
  ): Promise<HistoryReply>;
  version(path: string, cid: string): Promise<IVersionDetails>;
}

/** The Jupyter server the page came from, with the page's settings. */
export const serverAPI: IServerAPI = {
  history: (path, since, page) => fetchHistory(path, since, page),
  version: (path, cid) => fetchVersion(path, cid)
};
