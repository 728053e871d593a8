/** Numbers as the API gives them, rounded for reading only; null is "—" (no data is not zero). */
export function formatNumber(value: unknown, digits = 4): string {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString();
  return Number(value.toPrecision(digits)).toLocaleString(undefined, { maximumFractionDigits: 6 });
}

export function rawValue(value: unknown): string {
  return value === null || value === undefined ? "" : String(value);
}

/** A value of any shape (evidence, scores, checks) as short text. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}
