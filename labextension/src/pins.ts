/**
 * Pins in a notebook's metadata (`metadata.nbversion.pins[model] = cid`), written through the
 * open document and saved: the panel's "Pin to notebook" and the kernel's "pin" event
 * (`%nbversion pin`) both go through `writePin`.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';

/** The notebook's `nbversion` metadata with `model` pinned to `cid`; its other keys and pins kept. */
export function withPin(
  existing: unknown,
  model: string,
  cid: string
): { [key: string]: any } {
  const base =
    existing && typeof existing === 'object' && !Array.isArray(existing)
      ? (existing as { [key: string]: any })
      : {};
  const pins =
    base.pins && typeof base.pins === 'object' && !Array.isArray(base.pins)
      ? base.pins
      : {};
  return { ...base, pins: { ...pins, [model]: cid } };
}

/**
 * Whether a pin event is for the notebook at `localPath` (relative to the server root): the
 * kernel names its notebook as it knows it (`null`: it does not know, so it is the one notebook
 * of that kernel), relative or absolute, so one path ending with the other counts.
 */
export function isForNotebook(
  eventPath: string | null | undefined,
  localPath: string
): boolean {
  if (typeof eventPath !== 'string' || eventPath === '') {
    return true;
  }
  const a = eventPath.replace(/\\/g, '/');
  const b = localPath.replace(/\\/g, '/');
  return a === b || a.endsWith('/' + b) || b.endsWith('/' + a);
}

/** Pin `model` to `cid` in the open notebook's metadata, then save the notebook. */
export async function writePin(
  notebook: NotebookPanel,
  model: string,
  cid: string
): Promise<void> {
  const nbModel = notebook.context.model;
  if (!nbModel) {
    throw new Error('The notebook is not open.');
  }
  nbModel.setMetadata(
    'nbversion',
    withPin(nbModel.getMetadata('nbversion'), model, cid)
  );
  await notebook.context.save();
}
