/**
 * The kernel bridge, as a spec, over a fake notebook, kernel and comm.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { KernelBridge, kernelStatus, NO_COMM_MESSAGE } from '../src/bridge';
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
