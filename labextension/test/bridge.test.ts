/**
 * The kernel bridge, as a spec, over a fake notebook, kernel and comm.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { KernelBridge, kernelStatus, NO_COMM_MESSAGE } from '../src/bridge';
import { isForNotebook, withPin } from '../src/pins';
import {
  COMM_TARGET,
  IKernelEvent,
  NbversionError,
  PROTOCOL
} from '../src/protocol';
import { FakeComm, FakeKernel, FakeNotebook, history, settle } from './fakes';

/** A notebook whose kernel has run `%load_ext nbversion`, and its bridge. */
function linked(hello: any = { protocol: 1, event: 'hello', current: {} }) {
  const notebook = new FakeNotebook();
  const bridge = new KernelBridge(notebook.panel);
  const comm = notebook.kernel!.openComm(hello);
  return { notebook, bridge, comm, kernel: notebook.kernel! };
}

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

test("the bridge registers the nbversion comm target on the notebook's kernel", () => {
  const notebook = new FakeNotebook();
  const bridge = new KernelBridge(notebook.panel);
  assert.ok(notebook.kernel!.targets.has(COMM_TARGET));
  assert.equal(bridge.connected, false);
});

test('the kernel opening the comm links the bridge and its hello is passed on as an event', () => {
  const notebook = new FakeNotebook();
  const bridge = new KernelBridge(notebook.panel);
  const links: boolean[] = [];
  const events: IKernelEvent[] = [];
  bridge.commChanged.connect((_, open) => links.push(open));
  bridge.event.connect((_, e) => events.push(e));
  const hello = { protocol: 1, event: 'hello', current: { model: 'cid-a' } };
  notebook.kernel!.openComm(hello);
  assert.equal(bridge.connected, true);
  assert.deepEqual(links, [true]);
  assert.deepEqual(events, [hello]);
  assert.deepEqual(bridge.current, { model: 'cid-a' });
});

test('a request carries the protocol version, a fresh id, the op and its arguments', async () => {
  const { bridge, comm } = linked();
  const tag = bridge.request('tag', {
    name: 'best',
    ref: 'cid-a',
    model: 'model'
  });
  const list = bridge.request('list', {});
  assert.deepEqual(comm.sent, [
    {
      protocol: PROTOCOL,
      id: 1,
      op: 'tag',
      name: 'best',
      ref: 'cid-a',
      model: 'model'
    },
    { protocol: PROTOCOL, id: 2, op: 'list' }
  ]);
  for (const id of [1, 2]) {
    comm.receive({ protocol: 1, id, ok: true, result: id });
  }
  assert.deepEqual(await Promise.all([tag, list]), [1, 2]);
});

test('each reply settles the request with its id, in whatever order replies come', async () => {
  const { bridge, comm } = linked();
  const first = bridge.request('tag', { name: 'a', ref: 'x', model: 'm' });
  const second = bridge.request('tag', { name: 'b', ref: 'y', model: 'm' });
  comm.receive({
    protocol: 1,
    id: 2,
    ok: true,
    result: { name: 'b', cid: 'y' }
  });
  comm.receive({
    protocol: 1,
    id: 1,
    ok: true,
    result: { name: 'a', cid: 'x' }
  });
  assert.deepEqual(await first, { name: 'a', cid: 'x' });
  assert.deepEqual(await second, { name: 'b', cid: 'y' });
});

test("an error reply rejects with the kernel's error type and message", async () => {
  const { bridge, comm } = linked();
  const pending = bridge.request('checkout', { ref: 'v2', model: 'model' });
  const message =
    "Version v2 does not fit model 'model': dense/kernel is (4, 3) there, (5, 3) here.";
  comm.receive({
    protocol: 1,
    id: 1,
    ok: false,
    error: { type: 'ArchitectureMismatch', message }
  });
  const error = await rejection(pending);
  assert.equal(error.type, 'ArchitectureMismatch');
  assert.equal(error.message, message);
});

test('an error reply without an error still rejects, with a generic message', async () => {
  const { bridge, comm } = linked();
  const pending = bridge.request('list', {});
  comm.receive({ protocol: 1, id: 1, ok: false });
  const error = await rejection(pending);
  assert.equal(error.type, 'Error');
  assert.equal(
    error.message,
    'The kernel reported an error without a message.'
  );
});

test('a reply in another protocol version rejects with a ProtocolError naming both versions', async () => {
  const { bridge, comm } = linked();
  const pending = bridge.request('list', {});
  comm.receive({ protocol: 2, id: 1, ok: true, result: {} });
  const error = await rejection(pending);
  assert.equal(error.type, 'ProtocolError');
  assert.match(error.message, /protocol 2, the panel 1/);
});

test('a reply that never comes rejects with a Timeout naming the op and the wait', async () => {
  const { bridge, comm } = linked();
  const error = await rejection(
    bridge.request('diff', { a: 'x', b: 'y', model: 'm' }, 20)
  );
  assert.equal(error.type, 'Timeout');
  assert.equal(
    error.message,
    "The kernel did not answer 'diff' within 0.02 s."
  );
  // A reply after the timeout finds nothing to settle and is not taken for an event.
  const events: IKernelEvent[] = [];
  bridge.event.connect((_, e) => events.push(e));
  comm.receive({ protocol: 1, id: 1, ok: true, result: [] });
  assert.deepEqual(events, []);
});

test('without the comm a request rejects at once, telling the user to run %load_ext nbversion', async () => {
  const notebook = new FakeNotebook();
  const bridge = new KernelBridge(notebook.panel);
  const error = await rejection(bridge.request('list', {}));
  assert.equal(error.type, 'NoKernelExtension');
  assert.equal(error.message, NO_COMM_MESSAGE);
});

test('a comm that cannot send rejects the request with a KernelError', async () => {
  const { bridge, comm } = linked();
  comm.failSend = new Error('Kernel is dead');
  const error = await rejection(bridge.request('list', {}));
  assert.equal(error.type, 'KernelError');
  assert.equal(
    error.message,
    'Cannot send to the kernel: Error: Kernel is dead'
  );
});

test("a 'changed' event updates the model's current version and is passed on", () => {
  const { bridge, comm } = linked({
    protocol: 1,
    event: 'hello',
    current: { a: '1', b: '2' }
  });
  const events: IKernelEvent[] = [];
  bridge.event.connect((_, e) => events.push(e));
  const changed = { protocol: 1, event: 'changed', model: 'a', current: '3' };
  comm.receive(changed);
  assert.deepEqual(events, [changed]);
  assert.deepEqual(bridge.current, { a: '3', b: '2' });
  // `cid` is accepted as the model's CID too.
  comm.receive({ protocol: 1, event: 'changed', model: 'b', cid: '4' });
  assert.deepEqual(bridge.current, { a: '3', b: '4' });
});

test('messages that are neither a pending reply nor an event are ignored', () => {
  const { bridge, comm } = linked();
  const events: IKernelEvent[] = [];
  bridge.event.connect((_, e) => events.push(e));
  comm.receive({ protocol: 1, id: 99, ok: true, result: {} });
  comm.receive(null);
  comm.receive('text');
  assert.deepEqual(events, []);
});

test('a kernel restart rejects pending requests, unlinks the comm, forgets `current` and is announced', async () => {
  const { notebook, bridge } = linked({
    protocol: 1,
    event: 'hello',
    current: { m: '1' }
  });
  const links: boolean[] = [];
  let restarts = 0;
  bridge.commChanged.connect((_, open) => links.push(open));
  bridge.kernelRestarted.connect(() => restarts++);
  const pending = bridge.request('list', {});
  notebook.setStatus('restarting');
  const error = await rejection(pending);
  assert.equal(error.type, 'KernelGone');
  assert.equal(error.message, 'The kernel is restarting.');
  assert.equal(bridge.connected, false);
  assert.deepEqual(bridge.current, {});
  assert.deepEqual(links, [false]);
  assert.equal(restarts, 1);
  // The restarted kernel can open the comm again (`%load_ext nbversion` once more).
  notebook.setStatus('idle');
  notebook.kernel!.openComm();
  assert.equal(bridge.connected, true);
});

test('a crash (autorestarting) is a restart too; busy and idle are not', () => {
  const { notebook, bridge } = linked();
  let restarts = 0;
  bridge.kernelRestarted.connect(() => restarts++);
  notebook.setStatus('busy');
  notebook.setStatus('idle');
  assert.equal(restarts, 0);
  assert.equal(bridge.connected, true);
  notebook.setStatus('autorestarting');
  assert.equal(restarts, 1);
  assert.equal(bridge.connected, false);
});

test('the kernel closing the comm unlinks the bridge and rejects what is pending', async () => {
  const { bridge, comm } = linked();
  const pending = bridge.request('list', {});
  comm.close();
  const error = await rejection(pending);
  assert.equal(error.type, 'KernelGone');
  assert.equal(error.message, 'The kernel closed the nbversion comm.');
  assert.equal(bridge.connected, false);
});

test('another kernel for the notebook: the comm target moves to it, the old comm is dropped', () => {
  const { notebook, bridge, comm, kernel } = linked();
  const next = new FakeKernel();
  notebook.changeKernel(next);
  assert.equal(bridge.connected, false);
  assert.equal(kernel.targets.has(COMM_TARGET), false);
  assert.equal(next.targets.has(COMM_TARGET), true);
  // The old comm's messages no longer count.
  const events: IKernelEvent[] = [];
  bridge.event.connect((_, e) => events.push(e));
  comm.receive({ protocol: 1, event: 'changed', model: 'm', current: 'x' });
  assert.deepEqual(events, []);
  next.openComm();
  assert.equal(bridge.connected, true);
});

test('closing the notebook disposes the bridge: target removed, pending requests rejected', async () => {
  const { notebook, bridge, kernel } = linked();
  const pending = bridge.request('list', {});
  notebook.close();
  const error = await rejection(pending);
  assert.equal(error.type, 'KernelGone');
  assert.equal(error.message, 'The notebook was closed.');
  assert.equal(bridge.isDisposed, true);
  assert.equal(kernel.targets.has(COMM_TARGET), false);
});

test('a page opened after %load_ext nbversion takes up the comm the kernel has open', async () => {
  // the kernel loaded nbversion for a page since reloaded: its comm_open went to that page
  const kernel = new FakeKernel();
  const comm = new FakeComm();
  comm.answer = request => ({
    protocol: PROTOCOL,
    id: request.id,
    ok: true,
    result: { ...history('f1', []), current: { model: 'cid-b' } }
  });
  kernel.openElsewhere.set('comm-1', comm);
  const notebook = new FakeNotebook('train.ipynb', kernel);
  const bridge = new KernelBridge(notebook.panel);
  const events: IKernelEvent[] = [];
  bridge.event.connect((_, e) => events.push(e));
  await settle();
  assert.equal(bridge.connected, true);
  assert.deepEqual(
    comm.sent.map(r => r.op),
    ['list']
  ); // what the lost hello said
  assert.deepEqual(bridge.current, { model: 'cid-b' });
  assert.deepEqual(
    events.map(e => e.event),
    ['hello']
  );
});

test('a kernel without nbversion loaded leaves the bridge unlinked, and is asked once', async () => {
  const notebook = new FakeNotebook();
  const bridge = new KernelBridge(notebook.panel);
  await settle();
  notebook.statusChanged.emit('busy');
  notebook.statusChanged.emit('idle');
  await settle();
  assert.equal(bridge.connected, false);
  assert.equal(notebook.kernel!.commInfoRequests, 1);
});

test('the kernel line says linked, or what to run to link it', () => {
  assert.equal(kernelStatus(true).text, 'kernel linked');
  const unlinked = kernelStatus(false);
  assert.match(unlinked.text, /%load_ext nbversion/);
  assert.doesNotMatch(unlinked.text, /not linked/);
  assert.equal(unlinked.title, NO_COMM_MESSAGE);
});

// --- watches, progress and pins (issue 11, %nbversion pin) -----------------------------------

const announcedEvent = (cid: string, topic = 'lab', extra: any = {}) => ({
  protocol: 1,
  event: 'announced',
  topic,
  remote: 'http://127.0.0.1:5001',
  from: '12D3KooWpeerAAAAAAAA',
  new: true,
  version: { cid, model: 'model', label: 'v9', message: 'theirs' },
  ...extra
});

test("a request's progress events reach its onProgress, and only the reply settles it", async () => {
  const { bridge, comm } = linked();
  const seen: any[] = [];
  const events: IKernelEvent[] = [];
  bridge.event.connect((_, e) => events.push(e));
  const load = bridge.request(
    'checkout',
    { ref: 'cid-r', model: 'model' },
    undefined,
    p => seen.push(p)
  );
  comm.receive({ protocol: 1, event: 'progress', id: 1, done: 10, total: 40 });
  comm.receive({ protocol: 1, event: 'progress', id: 99, done: 5, total: 5 }); // another request's
  comm.receive({ protocol: 1, event: 'progress', id: 1, done: 40, total: 40 });
  assert.deepEqual(seen, [
    { done: 10, total: 40 },
    { done: 40, total: 40 }
  ]);
  comm.receive({ protocol: 1, id: 1, ok: true, result: { label: 'v1' } });
  assert.deepEqual(await load, { label: 'v1' });
  assert.deepEqual(events, [], 'progress is no event of its own');
});

test('a progress event that names its remote passes the name on; one that does not, none', async () => {
  const { bridge, comm } = linked();
  const seen: any[] = [];
  const load = bridge.request(
    'checkout',
    { ref: 'cid-r', model: 'model' },
    undefined,
    p => seen.push(p)
  );
  comm.receive({
    protocol: 1,
    event: 'progress',
    id: 1,
    done: 10,
    total: 40,
    remote: 'lab'
  });
  comm.receive({ protocol: 1, event: 'progress', id: 1, done: 20, total: 40 });
  assert.deepEqual(seen, [
    { done: 10, total: 40, remote: 'lab' },
    { done: 20, total: 40 }
  ]);
  comm.receive({ protocol: 1, id: 1, ok: true, result: { label: 'v1' } });
  await load;
});

test('watches and the versions they verified are kept, once each, until the watch or the kernel ends', () => {
  const { bridge, comm, notebook } = linked();
  assert.deepEqual(bridge.watches, {});
  comm.receive({
    protocol: 1,
    event: 'watch',
    topic: 'lab',
    remote: 'http://127.0.0.1:5001',
    running: true
  });
  comm.receive({
    protocol: 1,
    event: 'watch',
    topic: 'other',
    remote: 'b',
    running: true
  });
  comm.receive(announcedEvent('cid-a'));
  comm.receive(announcedEvent('cid-b', 'other'));
  comm.receive(announcedEvent('cid-a')); // announced again: listed once, as the newest
  comm.receive({
    protocol: 1,
    event: 'announced',
    topic: 'lab',
    version: null
  }); // malformed: ignored
  assert.deepEqual(bridge.watches, {
    lab: 'http://127.0.0.1:5001',
    other: 'b'
  });
  assert.deepEqual(
    bridge.announced.map(a => a.version.cid),
    ['cid-a', 'cid-b']
  );
  comm.receive({ protocol: 1, event: 'watch', topic: 'lab', running: false });
  assert.deepEqual(bridge.watches, { other: 'b' });
  assert.deepEqual(
    bridge.announced.map(a => a.version.cid),
    ['cid-b']
  );
  notebook.setStatus('restarting');
  assert.deepEqual(bridge.watches, {});
  assert.deepEqual(bridge.announced, []);
});

test("a page opened later takes the kernel's watches and verified versions from its listing", async () => {
  const notebook = new FakeNotebook();
  const elsewhere = new FakeComm();
  elsewhere.answer = request => ({
    protocol: 1,
    id: request.id,
    ok: true,
    result: {
      ...history('f', []),
      current: {},
      watches: { lab: 'node' },
      announced: [announcedEvent('cid-old'), announcedEvent('cid-new')]
    }
  });
  notebook.kernel!.openElsewhere.set('comm-1', elsewhere);
  const bridge = new KernelBridge(notebook.panel);
  await settle();
  await settle();
  assert.equal(bridge.connected, true);
  assert.deepEqual(bridge.watches, { lab: 'node' });
  assert.deepEqual(
    bridge.announced.map(a => a.version.cid),
    ['cid-new', 'cid-old']
  );
});

test("the kernel's pin event is written into its notebook's metadata and saved", async () => {
  const { bridge, comm, notebook } = linked();
  notebook.metadata.nbversion = { pins: { other: 'cid-x' }, note: 'kept' };
  const written: any[] = [];
  bridge.pinWritten.connect((_, pin) => written.push(pin));
  comm.receive({
    protocol: 1,
    event: 'pin',
    model: 'model',
    cid: 'cid-1',
    notebook: '/home/me/project/train.ipynb'
  });
  await settle();
  assert.deepEqual(notebook.metadata.nbversion, {
    pins: { other: 'cid-x', model: 'cid-1' },
    note: 'kept'
  });
  assert.equal(notebook.saves, 1);
  assert.deepEqual(written, [{ model: 'model', cid: 'cid-1', error: null }]);

  // another notebook's pin (a kernel shared by two), or one without a model or CID: not written
  comm.receive({
    protocol: 1,
    event: 'pin',
    model: 'model',
    cid: 'cid-2',
    notebook: 'other.ipynb'
  });
  comm.receive({
    protocol: 1,
    event: 'pin',
    model: '',
    cid: 'cid-3',
    notebook: null
  });
  comm.receive({ protocol: 1, event: 'pin', model: 'model', notebook: null });
  await settle();
  assert.equal(notebook.metadata.nbversion.pins.model, 'cid-1');
  assert.equal(notebook.saves, 1);
});

test('a pin event names its notebook relative or absolute; null means the kernel does not know', () => {
  assert.equal(isForNotebook(null, 'a/train.ipynb'), true);
  assert.equal(isForNotebook('a/train.ipynb', 'a/train.ipynb'), true);
  assert.equal(isForNotebook('/srv/root/a/train.ipynb', 'a/train.ipynb'), true);
  assert.equal(isForNotebook('train.ipynb', 'a/train.ipynb'), true);
  assert.equal(
    isForNotebook('/srv/root/b/train.ipynb', 'a/train.ipynb'),
    false
  );
  assert.equal(isForNotebook('/srv/root/atrain.ipynb', 'train.ipynb'), false);
  assert.deepEqual(withPin(null, 'm', 'c'), { pins: { m: 'c' } });
  assert.deepEqual(withPin({ pins: [1] }, 'm', 'c'), { pins: { m: 'c' } });
});

test('taking up a comm tells the kernel a panel listens (so it sends events meant for the document)', () => {
  const { comm } = linked();
  assert.equal(comm.attaches, 1);
});
