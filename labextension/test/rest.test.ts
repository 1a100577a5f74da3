/**
 * The REST client, as a spec, against a fake `fetch` handed in through the server settings
 * (JupyterLab's own ServerConnection builds the request, as in the browser).
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { ServerConnection } from '@jupyterlab/services';

import { isUnchanged, NbversionError } from '../src/protocol';
import { fetchHistory, fetchVersion, requestAPI } from '../src/rest';
import { history, version } from './fakes';

const BASE = 'http://127.0.0.1:8888/lab-base/';

/** Server settings whose fetch answers with `respond`; `urls` records what was asked. */
function fakeServer(respond: (url: URL) => Response | Promise<Response>) {
  const urls: URL[] = [];
  const methods: string[] = [];
  const settings = ServerConnection.makeSettings({
    baseUrl: BASE,
    fetch: async (input: RequestInfo | URL) => {
      const request = input as Request;
      urls.push(new URL(request.url));
      methods.push(request.method);
      return respond(new URL(request.url));
    }
  });
  return { settings, urls, methods };
}

const json = (body: unknown, status = 200, statusText = 'OK') =>
  new Response(JSON.stringify(body), {
    status,
    statusText,
    headers: { 'Content-Type': 'application/json' }
  });

/** The error `promise` rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<NbversionError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(
      error instanceof NbversionError,
      `not an NbversionError: ${error}`
    );
    return error;
  }
  assert.fail('the request succeeded');
}

test('the history is a GET of nbversion/history under the base URL, with the notebook path', async () => {
  const { settings, urls, methods } = fakeServer(() => json(history('f1', [])));
  await fetchHistory('sub dir/train.ipynb', null, undefined, settings);
  assert.deepEqual(methods, ['GET']);
  assert.equal(urls[0].pathname, '/lab-base/nbversion/history');
  assert.equal(urls[0].searchParams.get('path'), 'sub dir/train.ipynb');
  assert.equal(urls[0].searchParams.has('since'), false);
});

test('the fingerprint the panel has is sent as since', async () => {
  const { settings, urls } = fakeServer(() =>
    json({ protocol: 1, unchanged: true, fingerprint: 'f1' })
  );
  await fetchHistory('train.ipynb', 'f1', undefined, settings);
  assert.equal(urls[0].searchParams.get('since'), 'f1');
});

test('a page is asked for with its size and the cursor the last page named', async () => {
  const { settings, urls } = fakeServer(() => json(history('f1', [])));
  await fetchHistory('train.ipynb', null, { limit: 100 }, settings);
  assert.equal(urls[0].searchParams.get('limit'), '100');
  assert.equal(urls[0].searchParams.has('cursor'), false);
  await fetchHistory(
    'train.ipynb',
    null,
    { limit: 500, cursor: '100' },
    settings
  );
  assert.equal(urls[1].searchParams.get('limit'), '500');
  assert.equal(urls[1].searchParams.get('cursor'), '100');
});

test('a full history comes back parsed', async () => {
  const sent = history('f2', [version('b', 2, ['a']), version('a', 1)]);
  const { settings } = fakeServer(() => json(sent));
  const reply = await fetchHistory('train.ipynb', 'f1', undefined, settings);
  assert.equal(isUnchanged(reply), false);
  assert.deepEqual(reply, sent);
});

test("the server's unchanged answer is recognised from its parsed body, however it is spaced", async () => {
  for (const text of [
    '{"protocol": 1, "unchanged": true, "fingerprint": "f1"}',
    '{"protocol":1,"unchanged":true,"fingerprint":"f1"}',
    '{\n  "fingerprint": "f1",\n  "unchanged": true,\n  "protocol": 1\n}'
  ]) {
    const { settings } = fakeServer(() => new Response(text, { status: 200 }));
    const reply = await fetchHistory('train.ipynb', 'f1', undefined, settings);
    assert.equal(isUnchanged(reply), true, text);
    assert.equal(reply.fingerprint, 'f1');
  }
});

test('a history whose text merely contains "unchanged": true is not taken for unchanged', async () => {
  const sent = history('f2', [
    version('a', 1, [], { message: 'weights "unchanged": true, on purpose' })
  ]);
  const { settings } = fakeServer(() => json(sent));
  const reply = await fetchHistory('train.ipynb', 'f1', undefined, settings);
  assert.equal(isUnchanged(reply), false);
  assert.equal((reply as typeof sent).versions.length, 1);
});

test('a version is a GET of nbversion/version with the path and the CID', async () => {
  const details = { ...version('a', 1), tensors: [] };
  const { settings, urls } = fakeServer(() => json(details));
  assert.deepEqual(await fetchVersion('train.ipynb', 'a', settings), details);
  assert.equal(urls[0].pathname, '/lab-base/nbversion/version');
  assert.equal(urls[0].searchParams.get('path'), 'train.ipynb');
  assert.equal(urls[0].searchParams.get('cid'), 'a');
});

test("an error body becomes an NbversionError with the server's type and message", async () => {
  const message =
    "Unknown ref 'zz' for model 'model'. Known tags: best. See `%nbv_history model`.";
  const { settings } = fakeServer(() =>
    json({ error: { type: 'UnknownRef', message } }, 404, 'Not Found')
  );
  const error = await rejection(fetchVersion('train.ipynb', 'zz', settings));
  assert.equal(error.type, 'UnknownRef');
  assert.equal(error.message, message);
});

test('a server error with an error body keeps its message whatever the status', async () => {
  const { settings } = fakeServer(() =>
    json(
      { error: { type: 'CorruptStore', message: 'Block bafy… is damaged.' } },
      500,
      'Internal Server Error'
    )
  );
  const error = await rejection(
    fetchHistory('train.ipynb', null, undefined, settings)
  );
  assert.equal(error.type, 'CorruptStore');
  assert.equal(error.message, 'Block bafy… is damaged.');
});

test('a 404 that is not JSON means the server extension is not enabled, and says how to fix it', async () => {
  const { settings } = fakeServer(
    () =>
      new Response('<html><body>404: Not Found</body></html>', {
        status: 404,
        statusText: 'Not Found'
      })
  );
  const error = await rejection(
    fetchHistory('train.ipynb', null, undefined, settings)
  );
  assert.equal(error.type, 'Error');
  assert.equal(
    error.message,
    'The nbversion server extension is not enabled on this Jupyter server (GET nbversion/history ' +
      'gave 404). Install nbversion in the environment that runs Jupyter and restart it.'
  );
});

test('any other failure without an error body names the request and the status', async () => {
  const { settings } = fakeServer(
    () => new Response('', { status: 502, statusText: 'Bad Gateway' })
  );
  const error = await rejection(fetchVersion('train.ipynb', 'a', settings));
  assert.equal(error.type, 'Error');
  assert.equal(error.message, 'GET nbversion/version failed: 502 Bad Gateway');
});

test('a success that is not JSON is a protocol error', async () => {
  const { settings } = fakeServer(() => new Response('<html>login</html>'));
  const error = await rejection(requestAPI('history', { path: 'x' }, settings));
  assert.equal(error.type, 'ProtocolError');
  assert.equal(error.message, 'GET nbversion/history did not return JSON.');
});

test('a server that cannot be reached is a NetworkError', async () => {
  const { settings } = fakeServer(() => {
    throw new TypeError('fetch failed');
  });
  const error = await rejection(
    fetchHistory('train.ipynb', null, undefined, settings)
  );
  assert.equal(error.type, 'NetworkError');
  assert.match(
    error.message,
    /^Cannot reach the Jupyter server: .*fetch failed/
  );
});
