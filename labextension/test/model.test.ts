/**
 * The panel's state, as a spec: a real KernelBridge and VersionTreeModel over a fake notebook,
 * kernel and REST API (no browser, no timers: polling is off unless a test turns it on).
 */
import { strict as assert } from 'node:assert';
import { afterEach, test } from 'node:test';

import { KernelBridge, NO_COMM_MESSAGE } from '../src/bridge';
import { FIRST_PAGE, NEXT_PAGE, VersionTreeModel } from '../src/model';
import { IHistory, IVersion } from '../src/protocol';
import { FakeNotebook, FakeServer, history, settle, version } from './fakes';

const V1 = version('cid-1', 1, [], { metrics: { acc: 0.5 } });
const V2 = version('cid-2', 2, ['cid-1'], { metrics: { acc: 0.7 } });
const V3 = version('cid-3', 3, ['cid-2'], { metrics: { acc: 0.9 } });
const ENC = version('cid-e', 4, [], { model: 'encoder' });

const models: VersionTreeModel[] = [];

const last = <T>(items: T[]): T | undefined => items[items.length - 1];

afterEach(() => {
  for (const model of models.splice(0)) {
    model.dispose();
  }
});

/** A panel (shown, polling off) following a notebook whose folder holds `h`. */
async function panelFor(h: IHistory, path = 'train.ipynb') {
  const server = new FakeServer();
  server.histories.set(path, h);
  const notebook = new FakeNotebook(path);
  const bridges = new Map<unknown, KernelBridge>();
  const model = new VersionTreeModel({
    bridgeFor: nb => {
      if (!bridges.has(nb)) {
        bridges.set(nb, new KernelBridge(nb));
      }
      return bridges.get(nb)!;
    },
    server
  });
  models.push(model);
  model.pollInterval = 0;
  model.setNotebook(notebook.panel);
  model.active = true;
  await settle();
  return { model, server, notebook };
}

test("a shown panel reads the notebook's history and selects the most recently committed model", async () => {
  const { model, server } = await panelFor(history('f1', [ENC, V3, V2, V1]));
  assert.deepEqual(server.calls, [{ path: 'train.ipynb', since: null }]);
  assert.equal(model.loading, false);
  assert.deepEqual(model.modelNames, ['encoder', 'model']);
  assert.equal(model.selectedModel, 'encoder');
  model.selectedModel = 'model';
  assert.deepEqual(
    model.versions.map(v => v.cid),
    ['cid-3', 'cid-2', 'cid-1']
  );
  assert.equal(model.byCid.get('cid-2')?.label, 'v2');
  assert.equal(model.historyLoads, 1);
});

test('a hidden panel reads nothing until it is shown', async () => {
  const server = new FakeServer();
  server.histories.set('train.ipynb', history('f1', [V1]));
  const model = new VersionTreeModel({
    bridgeFor: nb => new KernelBridge(nb),
    server
  });
  models.push(model);
  model.pollInterval = 0;
  model.setNotebook(new FakeNotebook().panel);
  await settle();
  assert.deepEqual(server.calls, []);
  assert.equal(model.history === null, true, 'no tree');
  model.active = true;
  await settle();
  assert.equal(model.history?.fingerprint, 'f1');
});

test('while the first read is on its way the panel says it is loading', async () => {
  const server = new FakeServer();
  server.histories.set('train.ipynb', history('f1', [V1]));
  server.hold();
  const model = new VersionTreeModel({
    bridgeFor: nb => new KernelBridge(nb),
    server
  });
  models.push(model);
  model.pollInterval = 0;
  model.setNotebook(new FakeNotebook().panel);
  model.active = true;
  await settle();
  assert.equal(model.loading, true);
  server.release();
  await settle();
  assert.equal(model.loading, false);
  assert.equal(model.history?.versions.length, 1);
});

test('later reads send the fingerprint, and an unchanged answer leaves the tree as it is', async () => {
  const { model, server } = await panelFor(history('f1', [V2, V1]));
  const before = model.history;
  let redraws = 0;
  model.stateChanged.connect(() => redraws++);
  await model.refresh();
  assert.deepEqual(server.calls[1], { path: 'train.ipynb', since: 'f1' });
  assert.equal(model.history, before);
  assert.equal(model.historyLoads, 1);
  assert.equal(redraws, 0);
});

test('a history with a new fingerprint replaces the tree', async () => {
  const { model, server } = await panelFor(history('f1', [V2, V1]));
  server.histories.set('train.ipynb', history('f2', [V3, V2, V1]));
  await model.refresh();
  assert.equal(model.history?.fingerprint, 'f2');
  assert.deepEqual(
    model.versions.map(v => v.cid),
    ['cid-3', 'cid-2', 'cid-1']
  );
  assert.equal(model.historyLoads, 2);
});

test('a full answer with the fingerprint the panel already has does not rebuild the tree', async () => {
  const { model, server } = await panelFor(history('f1', [V2, V1]));
  const before = model.history;
  // A server that ignores `since` sends the whole history again.
  server.reply = () => history('f1', [V2, V1]);
  await model.refresh();
  assert.equal(model.history, before);
  assert.equal(model.historyLoads, 1);
});

test('without fingerprints, histories are compared by content', async () => {
  const bare = (h: IHistory): IHistory => ({ ...h, fingerprint: undefined });
  const { model, server } = await panelFor(bare(history('x', [V1])));
  server.reply = () => bare(history('x', [V1]));
  await model.refresh();
  assert.equal(model.historyLoads, 1);
  server.reply = () => bare(history('x', [V2, V1]));
  await model.refresh();
  assert.equal(model.historyLoads, 2);
  assert.equal(model.history?.versions.length, 2);
});

test('a failed read is shown, and the next good read clears it', async () => {
  const { model, server } = await panelFor(history('f1', [V1]));
  server.reply = () => {
    throw new Error('The Jupyter server went away.');
  };
  await model.refresh();
  assert.equal(model.error?.type, 'Error');
  assert.equal(model.error?.message, 'The Jupyter server went away.');
  assert.equal(model.history?.fingerprint, 'f1', 'the tree stays');
  server.reply = null;
  await model.refresh();
  assert.equal(model.error, null);
});

test('a kernel restart throws the tree away and reads it again from the server', async () => {
  const { model, server, notebook } = await panelFor(history('f1', [V2, V1]));
  notebook.kernel!.openComm();
  assert.equal(model.connected, true);
  server.hold();
  notebook.setStatus('restarting');
  assert.equal(model.connected, false);
  assert.equal(model.history === null, true, 'no tree');
  assert.equal(model.versions.length, 0);
  await settle();
  assert.equal(model.loading, true);
  // Read afresh: no fingerprint sent, so the server answers with the whole tree.
  assert.deepEqual(last(server.calls), { path: 'train.ipynb', since: null });
  server.release();
  await settle();
  assert.equal(model.loading, false);
  assert.equal(model.history?.fingerprint, 'f1');
  assert.deepEqual(
    model.versions.map(v => v.cid),
    ['cid-2', 'cid-1']
  );
  assert.equal(model.historyLoads, 2);
});

test('the selection survives a restart', async () => {
  const { model, server, notebook } = await panelFor(history('f1', [V2, V1]));
  server.details.set('cid-1', { ...V1, tensors: [] });
  await model.select('cid-1');
  notebook.setStatus('restarting');
  await settle();
  assert.equal(model.selectedModel, 'model');
  assert.equal(model.selectedCid, 'cid-1');
  assert.equal(model.byCid.get('cid-1')?.label, 'v1');
});

test('an answer on its way when the kernel restarts is dropped and the tree asked for again', async () => {
  const { model, server, notebook } = await panelFor(history('f1', [V1]));
  server.hold();
  const poll = model.refresh();
  notebook.setStatus('restarting');
  server.release();
  await poll;
  await settle();
  assert.deepEqual(
    server.calls.map(c => c.since),
    [null, 'f1', null]
  );
  assert.equal(model.history?.fingerprint, 'f1');
  assert.equal(model.loading, false);
});

test("switching notebooks while a read is on its way reads the new notebook's history", async () => {
  const { model, server } = await panelFor(history('f1', [V1]), 'a.ipynb');
  server.histories.set('b.ipynb', history('g1', [ENC]));
  server.hold();
  const poll = model.refresh();
  model.setNotebook(new FakeNotebook('b.ipynb').panel);
  server.release();
  await poll;
  await settle();
  assert.equal(model.path, 'b.ipynb');
  assert.equal(model.history?.fingerprint, 'g1');
  assert.deepEqual(model.modelNames, ['encoder']);
});

test('a renamed notebook has its history read afresh', async () => {
  const { model, server, notebook } = await panelFor(
    history('f1', [V1]),
    'a.ipynb'
  );
  server.histories.set(
    'moved/a.ipynb',
    history('f1', [V1], '/elsewhere/.nbversion')
  );
  notebook.localPath = 'moved/a.ipynb';
  notebook.pathChanged.emit('moved/a.ipynb');
  await settle();
  assert.deepEqual(last(server.calls), { path: 'moved/a.ipynb', since: null });
  assert.equal(model.history?.repo, '/elsewhere/.nbversion');
});

test('the current version is what the kernel reports, else the head of the model', async () => {
  const { model, notebook } = await panelFor(history('f1', [V2, V1]));
  assert.equal(model.currentOf('model'), 'cid-2');
  notebook.kernel!.openComm({
    protocol: 1,
    event: 'hello',
    current: { model: 'cid-1' }
  });
  assert.equal(model.currentOf('model'), 'cid-1');
  assert.equal(model.currentOf(null), null);
});

test('selecting a version reads its details over REST', async () => {
  const { model, server } = await panelFor(history('f1', [V2, V1]));
  const tensors = [{ name: 'w', dtype: 'float32', shape: [4, 3], size: 48 }];
  server.details.set('cid-1', { ...V1, tensors });
  await model.select('cid-1');
  assert.equal(model.selectedCid, 'cid-1');
  assert.deepEqual(model.details?.tensors, tensors);
});

test('actions need the kernel: without the comm, the panel says to run %load_ext nbversion', async () => {
  const { model } = await panelFor(history('f1', [V2, V1]));
  await model.load('cid-1');
  assert.equal(model.error?.type, 'NoKernelExtension');
  assert.equal(model.error?.message, NO_COMM_MESSAGE);
  assert.equal(model.busy, null);
});

test('loading a version asks the kernel to check it out and reports what changed', async () => {
  const { model, notebook } = await panelFor(history('f1', [V2, V1]));
  const comm = notebook.kernel!.openComm();
  comm.answer = request => ({
    protocol: 1,
    id: request.id,
    ok: true,
    result: {
      model: 'model',
      cid: 'cid-1',
      label: 'v1',
      replaced: 2,
      max_abs_change: 0.25
    }
  });
  await model.load('cid-1');
  assert.deepEqual(comm.sent[0], {
    protocol: 1,
    id: 1,
    op: 'checkout',
    ref: 'cid-1',
    model: 'model'
  });
  assert.deepEqual(model.notice, {
    kind: 'info',
    text: 'model now holds v1 (2 tensors replaced, max |change| 0.25).'
  });
  assert.equal(model.error, null);
  assert.equal(model.busy, null);
});

test('switching notebooks during a Load frees the buttons for the new notebook', async () => {
  const { model, notebook } = await panelFor(
    history('f1', [V2, V1]),
    'a.ipynb'
  );
  const comm = notebook.kernel!.openComm(); // it never answers: the Load is still on its way
  const loading = model.load('cid-1');
  await settle();
  assert.equal(model.busy, 'Loading');
  assert.equal(comm.sent[0].op, 'checkout');
  model.setNotebook(new FakeNotebook('b.ipynb').panel);
  assert.equal(model.busy, null);
  comm.receive({
    protocol: 1,
    id: comm.sent[0].id,
    ok: true,
    result: { model: 'model', cid: 'cid-1', label: 'v1', replaced: 1 }
  });
  await loading;
  assert.equal(model.busy, null);
  assert.equal(model.notice, null); // the old notebook's reply is not shown on the new one
});

test("a refused action shows the kernel's message and frees the buttons", async () => {
  const { model, notebook } = await panelFor(history('f1', [V2, V1]));
  const comm = notebook.kernel!.openComm();
  comm.answer = request => ({
    protocol: 1,
    id: request.id,
    ok: false,
    error: { type: 'ArchitectureMismatch', message: 'v2 does not fit model.' }
  });
  await model.load('cid-2');
  assert.equal(model.error?.type, 'ArchitectureMismatch');
  assert.equal(model.error?.message, 'v2 does not fit model.');
  assert.equal(model.busy, null);
});

test('comparing needs a current version and keeps the rows for the compared version', async () => {
  const { model, notebook } = await panelFor(history('f1', [V2, V1]));
  const comm = notebook.kernel!.openComm();
  const rows = [{ name: 'w', status: 'changed', l2: 1, max_abs: 0.5 }];
  comm.answer = request => ({
    protocol: 1,
    id: request.id,
    ok: true,
    result: rows
  });
  await model.compare('cid-1');
  assert.deepEqual(comm.sent[0], {
    protocol: 1,
    id: 1,
    op: 'diff',
    a: 'cid-2',
    b: 'cid-1',
    model: 'model'
  });
  assert.deepEqual(model.diff, { a: 'cid-2', b: 'cid-1', rows });
});

test('pinning writes metadata.nbversion.pins[model], keeps what else is there, and saves', async () => {
  const { model, notebook } = await panelFor(history('f1', [V2, V1]));
  notebook.metadata.nbversion = { pins: { other: 'cid-x' }, note: 'kept' };
  await model.pin('cid-1');
  assert.deepEqual(notebook.metadata.nbversion, {
    pins: { other: 'cid-x', model: 'cid-1' },
    note: 'kept'
  });
  assert.equal(notebook.saves, 1);
  assert.equal(
    model.notice?.text,
    "Pinned model to v1 in the notebook's metadata."
  );
});

/** `n` versions of one model in a line, newest first. */
function line(n: number, prefix = 'c'): IVersion[] {
  const out: IVersion[] = [];
  for (let i = 1; i <= n; i++) {
    out.push(version(`${prefix}${i}`, i, i > 1 ? [`${prefix}${i - 1}`] : []));
  }
  return out.reverse();
}

test('a long history shows its first page at once, then grows by the pages after it', async () => {
  const long = history('f1', line(FIRST_PAGE + NEXT_PAGE + 400));
  const seen: { versions: number; complete: boolean }[] = [];
  const server = new FakeServer();
  server.histories.set('train.ipynb', long);
  server.beforePage = () =>
    seen.push({ versions: model.versions.length, complete: model.complete });
  const model = new VersionTreeModel({
    bridgeFor: nb => new KernelBridge(nb),
    server
  });
  models.push(model);
  model.pollInterval = 0;
  model.setNotebook(new FakeNotebook().panel);
  model.active = true;
  await settle();
  assert.deepEqual(seen, [
    { versions: FIRST_PAGE, complete: false }, // painted before the second page was asked for
    { versions: FIRST_PAGE + NEXT_PAGE, complete: false }
  ]);
  assert.deepEqual(
    server.calls.map(c => c.cursor),
    [undefined, String(FIRST_PAGE), String(FIRST_PAGE + NEXT_PAGE)]
  );
  assert.equal(model.complete, true);
  assert.deepEqual(
    model.versions.map(v => v.cid),
    long.versions.map(v => v.cid)
  );
  assert.equal(model.byCid.get('c1')?.label, 'v1');
  assert.equal(model.historyLoads, 1, 'one tree, grown');
  // Polling after it is whole costs a few bytes again.
  await model.refresh();
  assert.deepEqual(last(server.calls), { path: 'train.ipynb', since: 'f1' });
});

test('a history that changes between two pages is read again from its start', async () => {
  const { model, server } = await panelFor(history('f1', [V1]));
  const first = history('f2', line(FIRST_PAGE + 10));
  const second = history('f3', line(FIRST_PAGE + 20, 'd'));
  server.histories.set('train.ipynb', first);
  server.beforePage = cursor => {
    server.beforePage = null;
    server.histories.set('train.ipynb', second); // a commit lands between the pages
  };
  await model.refresh();
  await settle();
  assert.equal(model.history?.fingerprint, 'f3');
  assert.equal(model.complete, true);
  assert.deepEqual(
    model.versions.map(v => v.cid),
    second.versions.map(v => v.cid)
  );
});

test('a new history replaces the tree shown only once it is whole', async () => {
  const { model, server } = await panelFor(history('f1', [V2, V1]));
  const shown: (string | undefined)[] = [];
  server.histories.set('train.ipynb', history('f2', line(FIRST_PAGE + 5)));
  server.beforePage = () => shown.push(model.history?.fingerprint);
  await model.refresh();
  assert.deepEqual(
    shown,
    ['f1'],
    'the old tree, whole, while the new one is read'
  );
  assert.equal(model.history?.fingerprint, 'f2');
  assert.equal(model.versions.length, FIRST_PAGE + 5);
  assert.equal(model.historyLoads, 2);
});

test('a page that fails leaves the part read, says so, and the next read starts over', async () => {
  const long = history('f1', line(FIRST_PAGE + 5));
  const server = new FakeServer();
  server.histories.set('train.ipynb', long);
  server.beforePage = () => {
    throw new Error('The Jupyter server went away.');
  };
  const model = new VersionTreeModel({
    bridgeFor: nb => new KernelBridge(nb),
    server
  });
  models.push(model);
  model.pollInterval = 0;
  model.setNotebook(new FakeNotebook().panel);
  model.active = true;
  await settle();
  assert.equal(model.versions.length, FIRST_PAGE);
  assert.equal(model.complete, false);
  assert.equal(model.error?.message, 'The Jupyter server went away.');
  server.beforePage = null;
  await model.refresh();
  assert.deepEqual(
    server.calls.slice(-2).map(c => [c.since, c.cursor]),
    [
      [null, undefined], // not "since f1": the fingerprint does not cover the missing pages
      [null, String(FIRST_PAGE)]
    ]
  );
  assert.equal(model.complete, true);
  assert.equal(model.error, null);
  assert.equal(model.versions.length, FIRST_PAGE + 5);
});

test('a Load that fetches from a remote shows its progress until the reply, then none', async () => {
  const { model, notebook } = await panelFor(history('f1', [V2, V1]));
  const comm = notebook.kernel!.openComm();
  const loading = model.load('cid-r', 'model');
  assert.deepEqual(comm.sent[0], {
    protocol: 1,
    id: 1,
    op: 'checkout',
    ref: 'cid-r',
    model: 'model'
  });
  assert.equal(model.progress, null, 'nothing fetched yet');
  comm.receive({
    protocol: 1,
    event: 'progress',
    id: 1,
    done: 1024,
    total: 4096
  });
  assert.deepEqual(model.progress, { cid: 'cid-r', done: 1024, total: 4096 });
  comm.receive({
    protocol: 1,
    id: 1,
    ok: true,
    result: {
      model: 'model',
      cid: 'cid-r',
      label: 'v3',
      replaced: 2,
      max_abs_change: null
    }
  });
  await loading;
  assert.equal(model.progress, null);
  assert.equal(model.notice?.text, 'model now holds v3 (2 tensors replaced).');
});

test('each progress event is announced on progressChanged alone (the panel is not drawn again), and its end too, on success or error', async () => {
  const { model, notebook } = await panelFor(history('f1', [V2, V1]));
  const comm = notebook.kernel!.openComm();
  const progress: unknown[] = [];
  let states = 0;
  model.progressChanged.connect((_, p) => progress.push(p));
  model.stateChanged.connect(() => states++);
  const loading = model.load('cid-1');
  const before = states; // the Load began ("Loading…")
  for (const done of [1024, 2048, 4096]) {
    comm.receive({
      protocol: 1,
      event: 'progress',
      id: 1,
      done,
      total: 4096,
      remote: 'lab'
    });
  }
  assert.equal(states, before, 'no redraw of the panel per progress event');
  assert.deepEqual(progress, [
    { cid: 'cid-1', done: 1024, total: 4096, remote: 'lab' },
    { cid: 'cid-1', done: 2048, total: 4096, remote: 'lab' },
    { cid: 'cid-1', done: 4096, total: 4096, remote: 'lab' }
  ]);
  comm.receive({
    protocol: 1,
    id: 1,
    ok: false,
    error: { type: 'RemoteError', message: 'The node went away.' }
  });
  await loading;
  assert.equal(
    last(progress),
    null,
    'the bars go with the reply, an error too'
  );
  assert.equal(model.progress, null);
  assert.equal(model.error?.message, 'The node went away.');
  // A Load that fetches nothing ends with no progress announced at all.
  progress.length = 0;
  const quick = model.load('cid-2');
  comm.receive({
    protocol: 1,
    id: 2,
    ok: true,
    result: { model: 'model', cid: 'cid-2', label: 'v2', replaced: 0 }
  });
  await quick;
  assert.deepEqual(progress, []);
});

test("the panel lists what the kernel's watches verified, and says when the kernel pinned a version", async () => {
  const { model, notebook } = await panelFor(history('f1', [V2, V1]));
  const comm = notebook.kernel!.openComm();
  assert.deepEqual(model.watches, {});
  comm.receive({
    protocol: 1,
    event: 'watch',
    topic: 'lab',
    remote: 'node',
    running: true
  });
  comm.receive({
    protocol: 1,
    event: 'announced',
    topic: 'lab',
    remote: 'node',
    from: 'peer',
    new: true,
    version: V2
  });
  assert.deepEqual(model.watches, { lab: 'node' });
  assert.deepEqual(
    model.announced.map(a => a.version.cid),
    ['cid-2']
  );
  comm.receive({
    protocol: 1,
    event: 'pin',
    model: 'model',
    cid: 'cid-1',
    notebook: null
  });
  await settle();
  assert.deepEqual(notebook.metadata.nbversion, { pins: { model: 'cid-1' } });
  assert.equal(
    model.notice?.text,
    "The kernel pinned model to v1 in the notebook's metadata (saved)."
  );
});

test('data sets are told apart from models; the panel starts on a model; a data link selects the data version', async () => {
  const D1 = version('cid-d1', 1, [], { model: 'digits', kind: 'data' });
  const M1 = version('cid-m1', 1, [], { data: { train: 'cid-d1' } });
  const { model, server } = await panelFor(history('f1', [D1, M1])); // the data is the newest
  assert.deepEqual(model.modelNames, ['digits', 'model']);
  assert.deepEqual([...model.dataNames], ['digits']);
  assert.equal(model.isDataSet('digits'), true);
  assert.equal(model.isDataSet('model'), false);
  assert.equal(
    model.selectedModel,
    'model',
    'a model first, though a data set was committed last'
  );
  server.details.set('cid-d1', { ...D1, items: [] });
  await model.selectLinked('cid-d1');
  assert.equal(model.selectedModel, 'digits');
  assert.equal(model.selectedCid, 'cid-d1');
  assert.deepEqual(model.details?.items, []);
  await model.selectLinked('cid-unknown'); // not listed: nothing changes
  assert.equal(model.selectedCid, 'cid-d1');
});

test('a data version is never sent to the kernel to be loaded into a model', async () => {
  const D1 = version('cid-d1', 1, [], { model: 'digits', kind: 'data' });
  const { model, notebook } = await panelFor(history('f1', [D1]));
  const comm = notebook.kernel!.openComm();
  await model.load('cid-d1');
  assert.deepEqual(comm.sent, []);
  assert.equal(model.error?.type, 'WrongKindError');
  assert.match(model.error!.message, /digits v1 is a data version/);
});
