/**
 * The version panel: a virtualised git-style graph of the chosen model's versions, a metric
 * chart along its branches and the details of the selected version with its actions. The
 * parts are in `components/`; this file puts them together and into a Lumino widget.
 *
 * Everything that comes from a version (messages, tags, metric and tensor names, paths) is
 * rendered as React text children, never as HTML.
 */
import { ReactWidget, UseSignal } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { effectiveMetric, metricNames } from './chart';
import { AnnouncedSection } from './components/announced';
import { MetricChart } from './components/chart';
import { Details } from './components/details';
import { GraphList, headsByCid } from './components/graph';
import { emptyMessage, ErrorBanner, NoticeLine } from './components/messages';
import { Toolbar } from './components/toolbar';
import { GrowingLayout } from './layout';
import { VersionTreeModel } from './model';
import { ICidMap, IVersion } from './protocol';

export { ROW_HEIGHT } from './components/graph';

const TREE_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">' +
  '<g class="jp-icon3" fill="#616161">' +
  '<circle cx="6" cy="4.5" r="2.5"/><circle cx="6" cy="19.5" r="2.5"/><circle cx="18" cy="8" r="2.5"/>' +
  '<rect x="5" y="6" width="2" height="12"/>' +
  '<path d="M17 10h2c0 4.2-3 6.6-7.4 6.9L7 17v-2l4.5-.1c3.5-.3 5.5-1.9 5.5-4.9z"/>' +
  '</g></svg>';

export const treeIcon = new LabIcon({
  name: 'nbversion:tree',
  svgstr: TREE_SVG
});

/** The Lumino widget in the left sidebar. */
export class VersionPanel extends ReactWidget {
  constructor(readonly model: VersionTreeModel) {
    super();
    this.id = 'nbversion-panel';
    this.addClass('jp-nbversion-panel');
    this.title.icon = treeIcon;
    this.title.caption = 'Versions';
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.active = true;
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.active = false;
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.stateChanged}>
        {() => <VersionTreeView model={this.model} />}
      </UseSignal>
    );
  }
}

/** Everything the panel shows, drawn from the model's state. */
export function VersionTreeView({
  model
}: {
  model: VersionTreeModel;
}): JSX.Element {
  const versions = model.versions;
  const metrics = React.useMemo(() => metricNames(versions), [versions]);
  const metric = effectiveMetric(
    model.metricChoice,
    model.metricSetting,
    metrics
  );
  const empty = emptyMessage({
    hasNotebook: model.notebook !== null,
    loading: model.loading,
    history: model.history
  });
  return (
    <div
      className="jp-nbversion"
      data-history-loads={model.historyLoads}
      data-history-complete={model.complete ? 'true' : 'false'}
    >
      <Toolbar model={model} metric={metric} metrics={metrics} />
      {model.notebook && (
        <div className="jp-nbversion-path" title={model.history?.repo ?? ''}>
          {model.path}
        </div>
      )}
      {model.error && (
        <ErrorBanner
          error={model.error}
          onDismiss={() => model.dismissError()}
        />
      )}
      {model.notice && <NoticeLine notice={model.notice} />}
      <AnnouncedSection model={model} />
      {empty ?? <VersionTree model={model} metric={metric} />}
    </div>
  );
}

/** The chart of the chosen metric, the graph of the model's versions, the selected one. */
function VersionTree({
  model,
  metric
}: {
  model: VersionTreeModel;
  metric: string | null;
}): JSX.Element {
  const versions = model.versions;
  // While the history's pages come in, each costs the layout of its own rows.
  const [growing] = React.useState(() => new GrowingLayout<IVersion>());
  const complete = model.complete;
  const layout = React.useMemo(
    () => growing.layoutOf(versions, complete),
    [versions, complete]
  );
  const selectedModel = model.selectedModel;
  const current = model.currentOf(selectedModel);
  const info = selectedModel ? model.history?.models[selectedModel] : undefined;
  const branches = info?.branches ?? NO_BRANCHES;
  const heads = React.useMemo(() => headsByCid(branches), [branches]);
  const onSelect = React.useCallback(
    (cid: string) => void model.select(cid),
    [model]
  );
  return (
    <>
      {metric && (
        <MetricChart
          byCid={model.byCid}
          metric={metric}
          branches={branches}
          current={current}
        />
      )}
      <GraphList
        layout={layout}
        metric={metric}
        current={current}
        selected={model.selectedCid}
        heads={heads}
        onSelect={onSelect}
        progress={model}
      />
      {model.selectedCid && <Details model={model} metric={metric} />}
    </>
  );
}

/** One empty branch map, so memos keyed on it hold while a model has no branches. */
const NO_BRANCHES: ICidMap = {};
