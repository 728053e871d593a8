/** Windows the API accepts: tops of hours, UTC, ending at the next hour (the API's own default). */
export const WINDOWS: Record<string, { label: string; hours: number }> = {
  "1d": { label: "Last 24 hours", hours: 24 },
  "7d": { label: "Last 7 days", hours: 24 * 7 },
  "30d": { label: "Last 30 days", hours: 24 * 30 },
  "90d": { label: "Last 90 days", hours: 24 * 90 },
};

export const BUCKETS = ["PT1H", "P1D", "P7D", "P1M"] as const;

const HOUR = 3600 * 1000;

/** `{start, end}` for the last `hours` hours, as the API wants them (no milliseconds, `Z`). */
export function windowOf(hours: number, now: number = Date.now()): { start: string; end: string } {
  const end = Math.ceil(now / HOUR) * HOUR;
  const iso = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z");
  return { start: iso(end - hours * HOUR), end: iso(end) };
}

export function windowFor(key: string | null): { start: string; end: string } {
  return windowOf((WINDOWS[key ?? "7d"] ?? WINDOWS["7d"]).hours);
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
