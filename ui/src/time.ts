/** Windows the API accepts: tops of hours, UTC, ending at the next hour (the API's own default). */
import { createContext, useContext } from "react";

export const WINDOWS: Record<string, { label: string; hours: number }> = {
  "1d": { label: "Last 24 hours", hours: 24 },
  "7d": { label: "Last 7 days", hours: 24 * 7 },
  "30d": { label: "Last 30 days", hours: 24 * 30 },
  "90d": { label: "Last 90 days", hours: 24 * 90 },
};

export const BUCKETS = ["PT1H", "P1D", "P7D", "P1M"] as const;

const HOUR = 3600 * 1000;

/** The API's timestamps: no milliseconds, `Z`. */
export const isoOf = (t: number): string => new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z");

/** `{start, end}` for the `hours` hours up to `now` (rounded up to the hour), as the API wants them. */
export function windowOf(hours: number, now: number = Date.now()): { start: string; end: string } {
  const end = Math.ceil(now / HOUR) * HOUR;
  return { start: isoOf(end - hours * HOUR), end: isoOf(end) };
}

/**
 * Where the default windows end: the top of the hour after the deployment's newest prediction
 * (`predictionUsage.lastTimestamp`), when that is before the top of the hour after now. A
 * deployment whose traffic stopped (or was backfilled with old timestamps, as `make demo` does)
 * then shows its last days instead of empty charts. Null: end at now (no prediction yet, a
 * server that does not report it, or traffic this very hour).
 */
export function anchorOf(lastTimestamp: unknown, now: number = Date.now()): number | null {
  if (typeof lastTimestamp !== "string" || !lastTimestamp) return null;
  // The API's times are UTC; one without a zone must not be read as the browser's local time.
  const zoned = /(Z|[+-]\d\d:?\d\d)$/.test(lastTimestamp) ? lastTimestamp : `${lastTimestamp}Z`;
  const last = new Date(zoned).getTime();
  if (Number.isNaN(last)) return null;
  // The next top of the hour strictly after the prediction: the API's `end` is exclusive.
  const end = (Math.floor(last / HOUR) + 1) * HOUR;
  return end < Math.ceil(now / HOUR) * HOUR ? end : null;
}

/**
 * The deployment page's windows: `anchor` is where they end (null: now); `lastPrediction` is the
 * newest prediction's time (the API's), and `available` whether anchoring applies at all, so a
 * user who chose "up to now" can go back.
 */
export interface Anchor {
  anchor: number | null;
  available: boolean;
  lastPrediction: string | null;
}

export const AnchorContext = createContext<Anchor>({ anchor: null, available: false, lastPrediction: null });

export const useAnchor = (): Anchor => useContext(AnchorContext);

export function windowFor(key: string | null, anchor: number | null = null): { start: string; end: string } {
  return windowOf((WINDOWS[key ?? "7d"] ?? WINDOWS["7d"]).hours, anchor ?? Date.now());
}

/** A bucket's label on a chart's axis: the date, and the hour for hourly buckets. */
export function bucketLabel(start: string, bucketSize: string): string {
  const d = new Date(start);
  const date = d.toISOString().slice(0, 10);
  return bucketSize === "PT1H" ? `${date} ${d.toISOString().slice(11, 16)}` : date;
}

export function formatTime(value: string | null | undefined): string {
  if (!value) return "—";
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toLocaleString();
}
