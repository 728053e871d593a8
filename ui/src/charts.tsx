/**
 * Charts (Chart.js through react-chartjs-2, bundled). Each sits in a wrapper carrying
 * `data-testid` and `data-point-count`, the number of points drawn, which browser tests compare
 * with the API. Colours are mid-tones that read on Airflow's light and dark backgrounds.
 */
import { Box, Text } from "@chakra-ui/react";

import { Guard } from "./components";
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart as ChartJS,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
  type ChartOptions,
} from "chart.js";
import { Bar, Line, Scatter } from "react-chartjs-2";

ChartJS.register(
  BarController,
  BarElement,
  CategoryScale,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
);

export const COLORS = {
  blue: "#3b82f6",
  orange: "#f59e0b",
  red: "#ef4444",
  green: "#22c55e",
  gray: "#9ca3af",
};
const GRID = "rgba(128, 128, 128, 0.2)";
const TICKS = "#8a8f98";

function baseOptions(yTitle?: string, xTitle?: string): ChartOptions<"line"> {
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    plugins: { legend: { labels: { color: TICKS } } },
    scales: {
      x: { grid: { color: GRID }, ticks: { color: TICKS, maxRotation: 0, autoSkip: true }, title: { display: !!xTitle, text: xTitle, color: TICKS } },
      y: { grid: { color: GRID }, ticks: { color: TICKS }, title: { display: !!yTitle, text: yTitle, color: TICKS } },
    },
  };
}

function Frame({ id, count, height, children, empty }: { id: string; count: number; height: number; children: React.ReactNode; empty?: string }) {
  return (
    <Box data-testid={id} data-point-count={count} height={`${height}px`} position="relative" width="100%">
      {count === 0 && empty ? (
        <Text color="fg.muted" fontSize="sm" pt={4}>
          {empty}
        </Text>
      ) : (
        <Guard what="this chart">{children}</Guard>
      )}
    </Box>
  );
}

export interface Series {
  label: string;
  values: (number | null)[];
  color?: string;
  /** Dashed: the second of a pair drawn in one colour (predicted solid, actual dashed). */
  dashed?: boolean;
}

/** A line over labelled buckets; `count` is the number of buckets (points with data or not). */
export function LineChart({
  id,
  labels,
  series,
  height = 240,
  yTitle,
  empty = "No data in this window.",
  bar = false,
}: {
  id: string;
  labels: string[];
  series: Series[];
  height?: number;
  yTitle?: string;
  empty?: string;
  bar?: boolean;
}) {
  const data = {
    labels,
    datasets: series.map((s, i) => ({
      label: s.label,
      data: s.values,
      borderColor: s.color ?? Object.values(COLORS)[i % 5],
      backgroundColor: s.color ?? Object.values(COLORS)[i % 5],
      borderDash: s.dashed ? [6, 4] : undefined,
      spanGaps: false,
      pointRadius: labels.length > 60 ? 0 : 3,
      tension: 0,
    })),
  };
  const options = baseOptions(yTitle);
  return (
    <Frame id={id} count={labels.length} height={height} empty={empty}>
      {bar ? <Bar data={data} options={options as ChartOptions<"bar">} /> : <Line data={data} options={options} />}
    </Frame>
  );
}

/** A sparkline: no axes, no legend (the inventory's activity column). */
export function Sparkline({ id, values, labels }: { id: string; values: (number | null)[]; labels: string[] }) {
  const options: ChartOptions<"bar"> = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    plugins: { legend: { display: false }, tooltip: { enabled: true } },
    scales: { x: { display: false }, y: { display: false, beginAtZero: true } },
  };
  return (
    <Frame id={id} count={values.length} height={32}>
      <Bar data={{ labels, datasets: [{ label: "Predictions", data: values, backgroundColor: COLORS.blue }] }} options={options} />
    </Frame>
  );
}

export interface Point {
  x: number;
  y: number;
  label: string;
}

/**
 * Points with optional threshold lines (drawn as extra line datasets, not counted as points).
 * `onPick` gets the index of a clicked point.
 */
export function ScatterChart({
  id,
  points,
  xTitle,
  yTitle,
  vertical,
  horizontal,
  pointColors,
  onPick,
  height = 320,
  empty,
}: {
  id: string;
  points: Point[];
  xTitle: string;
  yTitle: string;
  vertical?: number | null;
  horizontal?: number | null;
  pointColors?: string[];
  onPick?: (index: number) => void;
  height?: number;
  empty?: string;
}) {
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const xMax = Math.max(1, ...xs, vertical ?? 0) * 1.05;
  const yMax = Math.max(horizontal ?? 0, ...ys, 0) * 1.1 || 1;
  const xMin = Math.min(0, ...xs);
  const lines = [];
  if (vertical !== null && vertical !== undefined)
    lines.push({ label: `Importance threshold ${vertical}`, data: [{ x: vertical, y: 0 }, { x: vertical, y: yMax }], showLine: true, pointRadius: 0, borderDash: [6, 4], borderColor: COLORS.gray, backgroundColor: COLORS.gray });
  if (horizontal !== null && horizontal !== undefined)
    lines.push({ label: `Drift threshold ${horizontal}`, data: [{ x: xMin, y: horizontal }, { x: xMax, y: horizontal }], showLine: true, pointRadius: 0, borderDash: [6, 4], borderColor: COLORS.red, backgroundColor: COLORS.red });
  const options = {
    ...baseOptions(yTitle, xTitle),
    scales: {
      x: { ...baseOptions(yTitle, xTitle).scales!.x, type: "linear" as const, min: xMin, max: xMax },
      y: { ...baseOptions(yTitle, xTitle).scales!.y, min: 0, max: yMax },
    },
    plugins: {
      legend: { labels: { color: TICKS } },
      tooltip: {
        callbacks: {
          label: (ctx: { datasetIndex: number; dataIndex: number; raw: unknown }) => {
            const raw = ctx.raw as Point;
            return ctx.datasetIndex === 0 ? `${raw.label}: importance ${raw.x}, drift ${raw.y}` : "";
          },
        },
      },
    },
    onClick: (_event: unknown, elements: { datasetIndex: number; index: number }[]) => {
      const hit = elements.find((e) => e.datasetIndex === 0);
      if (hit && onPick) onPick(hit.index);
    },
  };
  const data = {
    datasets: [
      {
        label: "Features",
        data: points,
        pointRadius: 5,
        pointHoverRadius: 7,
        backgroundColor: pointColors ?? COLORS.blue,
        borderColor: pointColors ?? COLORS.blue,
      },
      ...lines,
    ],
  };
  return (
    <Frame id={id} count={points.length} height={height} empty={empty}>
      <Scatter data={data} options={options as ChartOptions<"scatter">} />
    </Frame>
  );
}

/** Baseline against the window on the same bins, as the API gives them. */
export function HistogramChart({ id, labels, baseline, window }: { id: string; labels: string[]; baseline: (number | null)[]; window: (number | null)[] }) {
  const options = { ...baseOptions() } as ChartOptions<"bar">;
  return (
    <Frame id={id} count={labels.length} height={260} empty="No bins.">
      <Bar
        data={{
          labels,
          datasets: [
            { label: "Baseline", data: baseline, backgroundColor: COLORS.gray },
            { label: "Window", data: window, backgroundColor: COLORS.blue },
          ],
        }}
        options={options}
      />
    </Frame>
  );
}
