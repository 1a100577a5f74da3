/**
 * nbversion's JupyterLab extension: a "Versions" panel in the left sidebar showing the version
 * tree of the active notebook's models, read over REST and acted on through the kernel's
 * `nbversion` comm.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { KernelBridge } from './bridge';
import { VersionTreeModel } from './model';
import { VersionPanel } from './panel';
import { serverAPI } from './rest';

export const PLUGIN_ID = 'nbversion:plugin';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The version tree of the active notebook’s models (nbversion).',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ISettingRegistry, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    settingRegistry: ISettingRegistry | null,
    restorer: ILayoutRestorer | null
  ) => {
    // One kernel bridge per open notebook, so the comm target is registered on every notebook's
    // kernel whether or not the panel follows it at the moment `%load_ext nbversion` runs.
    const bridges = new Map<NotebookPanel, KernelBridge>();
    const bridgeFor = (notebook: NotebookPanel): KernelBridge => {
      let bridge = bridges.get(notebook);
      if (!bridge || bridge.isDisposed) {
        bridge = new KernelBridge(notebook);
        bridges.set(notebook, bridge);
        notebook.disposed.connect(() => bridges.delete(notebook));
      }
      return bridge;
    };
    tracker.forEach(notebook => bridgeFor(notebook));
    tracker.widgetAdded.connect((_, notebook) => bridgeFor(notebook));

    const model = new VersionTreeModel({ bridgeFor, server: serverAPI });
    const panel = new VersionPanel(model);
    app.shell.add(panel, 'left', { rank: 650 });
    if (restorer) {
      restorer.add(panel, 'nbversion-panel');
    }

    const follow = () => model.setNotebook(tracker.currentWidget);
    tracker.currentChanged.connect(follow);
    follow();

    if (settingRegistry) {
      const apply = (settings: ISettingRegistry.ISettings) => {
        model.metricSetting = String(settings.get('metric').composite ?? '');
        model.pollInterval = Number(
          settings.get('pollInterval').composite ?? 500
        );
      };
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          apply(settings);
          settings.changed.connect(apply);
        })
        .catch(reason =>
          console.error('nbversion: cannot load settings.', reason)
        );
    }
  }
};

export default plugin;
