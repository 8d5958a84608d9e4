import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import * as barchart from '@grafana/grafana-foundation-sdk/barchart';
import {
  AxisPlacement,
  BigValueColorMode,
  BigValueGraphMode,
  GraphDrawStyle,
  LegendDisplayMode,
  LegendPlacement,
  LineInterpolation,
  ReduceDataOptionsBuilder,
  SortOrder,
  StackingConfigBuilder,
  StackingMode,
  TableCellHeight,
  TooltipDisplayMode,
  VisibilityMode,
  VizLegendOptionsBuilder,
  VizOrientation,
  VizTooltipOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';
import {
  Dashboard,
  DashboardBuilder,
  DashboardLinkBuilder,
  DashboardLinkType,
  DynamicConfigValue,
  Threshold,
  ThresholdsConfigBuilder,
  ThresholdsMode,
} from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { TIMESCALEDB } from './datasources';

/**
 * Panel defaults the three dashboards share, on top of the foundation SDK's builders: readable
 * legends, multi-series tooltips, thresholds, and links that carry the time range along.
 */

type Target = Builder<Dataquery>;

export interface PanelOptions {
  description?: string;
  unit?: string;
  decimals?: number;
  w?: number;
  h?: number;
  datasource?: DataSourceRef;
  /** Minimum interval: hourly rollups cannot be read finer than `1h`. */
  interval?: string;
  thresholds?: Threshold[];
}

const thresholds = (steps: Threshold[]) => new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(steps);

/** Green below the first step, then orange, then red. */
export const traffic = (orange: number, red: number): Threshold[] => [
  { value: null, color: 'green' },
  { value: orange, color: 'orange' },
  { value: red, color: 'red' },
];

function common<T extends stat.PanelBuilder | timeseries.PanelBuilder | table.PanelBuilder | barchart.PanelBuilder>(
  panel: T,
  title: string,
  targets: Target[],
  o: PanelOptions,
  size: { w: number; h: number },
): T {
  panel
    .title(title)
    .datasource(o.datasource ?? TIMESCALEDB)
    .span(o.w ?? size.w)
    .height(o.h ?? size.h);
  for (const t of targets) panel.withTarget(t);
  if (o.description) panel.description(o.description);
  if (o.unit) panel.unit(o.unit);
  if (o.decimals !== undefined) panel.decimals(o.decimals);
  if (o.interval) panel.interval(o.interval);
  panel.thresholds(thresholds(o.thresholds ?? [{ value: null, color: 'green' }]));
  return panel;
}

/** A single number (or a few side by side, one per numeric column). */
export function statPanel(title: string, target: Target, o: PanelOptions = {}): stat.PanelBuilder {
  return common(new stat.PanelBuilder(), title, [target], o, { w: 3, h: 4 })
    .graphMode(BigValueGraphMode.None)
    .colorMode(o.thresholds ? BigValueColorMode.Background : BigValueColorMode.Value)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .noValue('–');
}

export interface SeriesOptions extends PanelOptions {
  bars?: boolean;
  stacked?: boolean;
  stepped?: boolean;
  /** Legend as a table with these reducers (e.g. `['sum']`), sorted by the first. */
  legendCalcs?: string[];
}

/** A time series: lines (or stacked bars), legend below, all series in the tooltip. */
export function seriesPanel(title: string, targets: Target[], o: SeriesOptions = {}): timeseries.PanelBuilder {
  const legend = new VizLegendOptionsBuilder().showLegend(true).placement(LegendPlacement.Bottom);
  if (o.legendCalcs)
    legend
      .displayMode(LegendDisplayMode.Table)
      .calcs(o.legendCalcs)
      .sortBy(CALC_NAMES[o.legendCalcs[0]] ?? o.legendCalcs[0])
      .sortDesc(true);
  else legend.displayMode(LegendDisplayMode.List);
  const panel = common(new timeseries.PanelBuilder(), title, targets, o, { w: 12, h: 8 })
    .legend(legend)
    .tooltip(new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Multi).sort(SortOrder.Descending))
    .drawStyle(o.bars ? GraphDrawStyle.Bars : GraphDrawStyle.Line)
    .fillOpacity(o.bars || o.stacked ? 70 : 10)
    .lineWidth(o.bars ? 1 : 2)
    .spanNulls(false)
    .min(0);
  if (o.stacked) panel.stacking(new StackingConfigBuilder().mode(StackingMode.Normal));
  if (o.stepped) panel.lineInterpolation(LineInterpolation.StepAfter);
  return panel;
}

/** Moves the named series onto a right-hand axis with its own unit. */
export function rightAxis(panel: timeseries.PanelBuilder, fieldRegexp: string, unit?: string): timeseries.PanelBuilder {
  const properties: DynamicConfigValue[] = [{ id: 'custom.axisPlacement', value: AxisPlacement.Right }];
  if (unit) properties.push({ id: 'unit', value: unit });
  return panel.overrideByRegexp(fieldRegexp, properties);
}

/** A table; `columns` sets each named column's display name, unit and links (and documents which columns the SQL must return). */
export function tablePanel(
  title: string,
  target: Target,
  columns: Record<string, ColumnOptions>,
  o: PanelOptions = {},
): table.PanelBuilder {
  const panel = common(new table.PanelBuilder(), title, [target], o, { w: 12, h: 10 }).cellHeight(TableCellHeight.Sm).filterable(false);
  for (const [name, c] of Object.entries(columns)) panel.overrideByName(name, columnProperties(c));
  return panel;
}

export interface ColumnOptions {
  title?: string;
  unit?: string;
  decimals?: number;
  width?: number;
  /** Colour the cell by these thresholds. */
  thresholds?: Threshold[];
  link?: { title: string; url: string };
}

function columnProperties(c: ColumnOptions): DynamicConfigValue[] {
  const p: DynamicConfigValue[] = [];
  if (c.title) p.push({ id: 'displayName', value: c.title });
  if (c.unit) p.push({ id: 'unit', value: c.unit });
  if (c.decimals !== undefined) p.push({ id: 'decimals', value: c.decimals });
  if (c.width) p.push({ id: 'custom.width', value: c.width });
  if (c.thresholds) {
    p.push({ id: 'thresholds', value: { mode: ThresholdsMode.Absolute, steps: c.thresholds } });
    p.push({ id: 'custom.cellOptions', value: { type: 'color-background', mode: 'basic' } });
  }
  if (c.link) p.push({ id: 'links', value: [{ title: c.link.title, url: c.link.url }] });
  return p;
}

/** Bars over a category column (`xField`), e.g. a histogram the SQL has already bucketed. */
export function barsPanel(
  title: string,
  target: Target,
  xField: string,
  o: PanelOptions & { stacked?: boolean } = {},
): barchart.PanelBuilder {
  return common(new barchart.PanelBuilder(), title, [target], o, { w: 12, h: 8 })
    .xField(xField)
    .orientation(VizOrientation.Vertical)
    .stacking(o.stacked ? StackingMode.Normal : StackingMode.None)
    .showValue(VisibilityMode.Never)
    .legend(new VizLegendOptionsBuilder().showLegend(true).displayMode(LegendDisplayMode.List).placement(LegendPlacement.Bottom))
    .tooltip(new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Multi).sort(SortOrder.None))
    .xTickLabelRotation(0)
    .min(0);
}

/** A link to another dashboard (or this one) that keeps the time range and sets `var-*` from the clicked row. */
export function dashboardUrl(uid: string, slug: string, vars: Record<string, string>): string {
  const query = Object.entries(vars).map(([name, value]) => `var-${name}=${value}`);
  return `/d/${uid}/${slug}?${[...query, '${__url_time_range}'].join('&')}`;
}

/** The row's value of another column, for links (`${__data.fields.publisher_id}`). */
export const field = (name: string) => `\${__data.fields.${name}}`;

/** Header links between the Arbiter dashboards (by tag), keeping time range and variables. */
export function arbiterLinks(): DashboardLinkBuilder {
  return new DashboardLinkBuilder('Arbiter')
    .type(DashboardLinkType.Dashboards)
    .tags(['arbiter'])
    .asDropdown(false)
    .keepTime(true)
    .includeVars(false)
    .targetBlank(false)
    .icon('external link')
    .tooltip('')
    .url('');
}

const BUILT_IN_ANNOTATIONS = {
  builtIn: 1,
  datasource: { type: 'grafana', uid: '-- Grafana --' },
  enable: true,
  hide: true,
  iconColor: 'rgba(0, 211, 255, 1)',
  name: 'Annotations & Alerts',
  type: 'dashboard',
};

/** Grafana 11.0 – 11.x write schema version 39; Grafana 12 migrates it forward on load. */
export const SCHEMA_VERSION = 39;

/**
 * Builds the dashboard into the plain JSON Grafana imports: numbers every panel (rows included)
 * in order, so ids are stable across generations, and drops the SDK's marker functions.
 */
export function finish(builder: DashboardBuilder): Dashboard {
  const dashboard = JSON.parse(JSON.stringify(builder.build())) as Dashboard;
  dashboard.schemaVersion = SCHEMA_VERSION;
  // Explicit lists, as Grafana itself saves them (the built-in annotation shows alert state changes).
  dashboard.templating = { list: dashboard.templating?.list ?? [] };
  dashboard.annotations = { list: [BUILT_IN_ANNOTATIONS] };
  let id = 1;
  for (const panel of dashboard.panels ?? []) (panel as { id: number }).id = id++;
  return dashboard;
}

/** How Grafana titles a reducer in a table legend (what `sortBy` must name). */
const CALC_NAMES: Record<string, string> = { sum: 'Total', mean: 'Mean', max: 'Max', min: 'Min', lastNotNull: 'Last *', last: 'Last' };
