import uPlot from 'uplot';

/**
 * Charts on uPlot (canvas, ~50 KB): a time chart of readings and a bar chart of energy per
 * calendar bucket. A chart always shows exactly the data it was given, so "Download CSV" of that
 * data is what the chart shows; zooming asks the page for new data (finer buckets) instead of
 * stretching the old points. The container carries `data-points` (x values) and `data-values`
 * (non-empty values of the first series) and an aria-label summary for screen readers.
 */

export interface SeriesSpec {
  label: string;
  unit: string;
  color: string;
  /** Series on the same scale share an axis; the second scale gets a right-hand axis. */
  scale: string;
  digits?: number;
  /** The axis starts at 0 (power, energy, cost), not at the smallest value (voltage). */
  fromZero?: boolean;
}

const AXIS = { stroke: '#4a5568', grid: { stroke: '#e2e8f0' }, ticks: { stroke: '#cbd5e0' } };

function width(container: HTMLElement): number {
  return Math.max(container.clientWidth, 240);
}

function axes(series: readonly SeriesSpec[]): uPlot.Axis[] {
  const scales = [...new Set(series.map((spec) => spec.scale))];
  return [
    { ...AXIS },
    ...scales.map((scale, index) => {
      const unit = series.find((spec) => spec.scale === scale)!.unit;
      return {
        ...AXIS,
        scale,
        label: unit,
        side: index === 0 ? 3 : 1,
        size: 56,
        ...(index === 0 ? {} : { grid: { show: false } }),
      };
    }),
  ];
}

/** uPlot scales for the series; `fromZero` ones run from 0 (or below, for export) to above the largest value. */
function scales(series: readonly SeriesSpec[], x: uPlot.Scale): Record<string, uPlot.Scale> {
  const result: Record<string, uPlot.Scale> = { x };
  for (const spec of series) {
    if (spec.fromZero)
      result[spec.scale] = { range: (_plot, min, max) => [Math.min(0, min ?? 0), max > 0 ? max * 1.1 : 1] };
  }
  return result;
}

function describe(
  title: string,
  x: readonly number[],
  ys: readonly (readonly (number | null)[])[],
  series: readonly SeriesSpec[],
): string {
  if (x.length === 0) return `${title}: no data`;
  const from = new Date(x[0]! * 1000).toLocaleString();
  const to = new Date(x[x.length - 1]! * 1000).toLocaleString();
  const parts = series.map((spec, index) => {
    const values = (ys[index] ?? []).filter((value): value is number => value !== null);
    if (values.length === 0) return `${spec.label}: no values`;
    const min = Math.min(...values);
    const max = Math.max(...values);
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
    const f = (value: number) => `${value.toFixed(spec.digits ?? 1)} ${spec.unit}`;
    return `${spec.label} min ${f(min)}, mean ${f(mean)}, max ${f(max)}`;
  });
  return `${title}: ${x.length} points from ${from} to ${to}. ${parts.join('; ')}.`;
}

abstract class Chart {
  protected plot: uPlot | undefined;
  protected container: HTMLElement;
  protected title: string;
  protected series: readonly SeriesSpec[];
  /** The x range shown, in seconds: the data's window, not just its first and last point. */
  protected window: [number, number] = [0, 1];
  #resize: ResizeObserver;

  constructor(container: HTMLElement, title: string, series: readonly SeriesSpec[]) {
    this.container = container;
    this.title = title;
    this.series = series;
    container.setAttribute('role', 'img');
    this.#resize = new ResizeObserver(() =>
      this.plot?.setSize({ width: width(container), height: this.height() }),
    );
    this.#resize.observe(container);
  }

  protected height(): number {
    return window.matchMedia('(max-width: 40rem)').matches ? 200 : 260;
  }

  /** What both kinds of chart share: size, a time axis over `window`, one y axis per scale. */
  protected options(
    drawing: (spec: SeriesSpec, index: number) => Partial<uPlot.Series>,
    rest: Partial<uPlot.Options>,
  ): uPlot.Options {
    return {
      width: width(this.container),
      height: this.height(),
      scales: scales(this.series, { time: true, range: () => this.window }),
      axes: axes(this.series),
      series: [
        {},
        ...this.series.map((spec, index) => ({
          label: spec.label,
          scale: spec.scale,
          stroke: spec.color,
          value: (_plot: uPlot, value: number | null) =>
            value === null ? '–' : `${value.toFixed(spec.digits ?? 1)} ${spec.unit}`,
          ...drawing(spec, index),
        })),
      ],
      ...rest,
    };
  }

  protected show(xMs: readonly number[], ys: (number | null)[][], options: () => uPlot.Options): void {
    const x = xMs.map((ms) => ms / 1000);
    const data = [x, ...ys] as uPlot.AlignedData;
    if (this.plot) this.plot.setData(data);
    else this.plot = new uPlot(options(), data, this.container);
    this.container.dataset.points = String(x.length);
    this.container.dataset.values = String((ys[0] ?? []).filter((value) => value !== null).length);
    this.container.setAttribute('aria-label', describe(this.title, x, ys, this.series));
  }

  destroy(): void {
    this.#resize.disconnect();
    this.plot?.destroy();
    this.plot = undefined;
  }
}

export class TimeChart extends Chart {
  #onZoom: (fromMs: number, toMs: number) => void;

  constructor(
    container: HTMLElement,
    title: string,
    series: readonly SeriesSpec[],
    onZoom: (fromMs: number, toMs: number) => void,
  ) {
    super(container, title, series);
    this.#onZoom = onZoom;
  }

  /** Shows points at `xMs` over the window [fromMs, toMs) (empty buckets are null: gaps). */
  setData(xMs: readonly number[], ys: (number | null)[][], fromMs: number, toMs: number): void {
    this.window = [fromMs / 1000, toMs / 1000];
    this.show(xMs, ys, () => this.#options());
    this.plot!.setScale('x', { min: this.window[0], max: this.window[1] });
  }

  #options(): uPlot.Options {
    return this.options(() => ({ width: 1.5, spanGaps: false }), {
      // Dragging selects a time span; the page loads it at a finer resolution.
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: {
        setSelect: [
          (plot) => {
            const { left, width: selected } = plot.select;
            if (selected < 5) return;
            const from = plot.posToVal(left, 'x') * 1000;
            const to = plot.posToVal(left + selected, 'x') * 1000;
            plot.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            this.#onZoom(from, to);
          },
        ],
      },
    });
  }
}

export class BarChart extends Chart {
  /**
   * Bars from bucket starts `xMs` (the last bucket ends at `endMs`); the first series is drawn
   * as bars, the others as points.
   */
  setData(xMs: readonly number[], ys: (number | null)[][], endMs: number): void {
    this.window = [(xMs[0] ?? endMs) / 1000, endMs / 1000];
    this.show(xMs, ys, () => this.#options());
  }

  #options(): uPlot.Options {
    const bars = uPlot.paths.bars!({ size: [0.7, 60], align: 1 });
    return this.options(
      (spec, index) =>
        index === 0
          ? { fill: `${spec.color}99`, paths: bars, points: { show: false } }
          : { width: 0, paths: () => null, points: { show: true, size: 6, fill: spec.color } },
      { cursor: { drag: { x: false, y: false } } },
    );
  }
}
