/**
 * The panel's top line: which model (or data set: they are listed in a group of their own) and
 * which metric, re-read, and whether the kernel is linked.
 */
import * as React from 'react';

import { kernelStatus } from '../bridge';
import { nameGroups } from '../data';
import { VersionTreeModel } from '../model';

export function Toolbar({
  model,
  metric,
  metrics
}: {
  model: VersionTreeModel;
  metric: string | null;
  metrics: string[];
}): JSX.Element {
  const names = model.modelNames;
  const groups = nameGroups(names, model.dataNames);
  return (
    <div className="jp-nbversion-toolbar">
      <Choice
        label={model.isDataSet(model.selectedModel) ? 'Data' : 'Model'}
        testid="nbversion-model-select"
        value={model.selectedModel}
        options={names}
        groups={
          groups.data.length > 0
            ? [
                { label: 'Models', options: groups.models },
                { label: 'Data sets', options: groups.data }
              ]
            : undefined
        }
        onChange={name => (model.selectedModel = name)}
      />
      <Choice
        label="Metric"
        testid="nbversion-metric-select"
        value={metric}
        options={metrics}
        onChange={name => (model.metricChoice = name)}
      />
      <button
        className="jp-nbversion-button jp-nbversion-refresh"
        title="Re-read the history"
        data-testid="nbversion-refresh"
        onClick={() => void model.refresh()}
      >
        ⟳
      </button>
      <KernelStatus connected={model.connected} />
    </div>
  );
}

/**
 * A labelled drop-down, disabled while there is nothing to choose; with `groups`, its options in
 * labelled groups (the empty ones left out).
 */
function Choice({
  label,
  testid,
  value,
  options,
  groups,
  onChange
}: {
  label: string;
  testid: string;
  value: string | null;
  options: string[];
  groups?: { label: string; options: string[] }[];
  onChange: (value: string | null) => void;
}): JSX.Element {
  const option = (name: string) => (
    <option key={name} value={name}>
      {name}
    </option>
  );
  return (
    <label className="jp-nbversion-field">
      <span>{label}</span>
      <select
        data-testid={testid}
        value={value ?? ''}
        disabled={options.length === 0}
        onChange={e => onChange(e.currentTarget.value || null)}
      >
        {groups
          ? groups
              .filter(g => g.options.length > 0)
              .map(g => (
                <optgroup key={g.label} label={g.label}>
                  {g.options.map(option)}
                </optgroup>
              ))
          : options.map(option)}
      </select>
    </label>
  );
}

/** Whether `%load_ext nbversion` ran in the notebook's kernel (the comm is open), or what to do. */
function KernelStatus({ connected }: { connected: boolean }): JSX.Element {
  const { text, title } = kernelStatus(connected);
  return (
    <span
      className={`jp-nbversion-kernel ${connected ? 'jp-mod-connected' : ''}`}
      data-testid="nbversion-kernel-status"
      title={title}
    >
      {text}
    </span>
  );
}
