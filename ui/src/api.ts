/**
 * The mounted management API, called as the logged-in Airflow user: same-origin fetch sends
 * the `_token` cookie, which the mounted app accepts. No token is pasted or stored here.
 */
import { useCallback, useEffect, useState } from "react";

export const apiBase = (): URL => new URL("/mlops/api/v2/", document.baseURI);

/**
 * A link the API gives as a path under its own root (`/api/v2/…`, e.g. `modelCard.url`) as a URL
 * the browser can open: the API is mounted at `/mlops`. Absolute URLs are kept.
 */
export const mountedUrl = (path: string): string =>
  /^https?:\/\//.test(path) ? path : new URL(path.replace(/^\//, ""), new URL("/mlops/", document.baseURI)).toString();

/** Airflow's own login route: it redirects to the auth manager's page and back to `next`. */
export const loginUrl = (): string =>
  new URL(`api/v2/auth/login?next=${encodeURIComponent(window.location.href)}`, document.baseURI).toString();

/** A field-level validation message from a 422 (FastAPI's `detail` list) or the message itself. */
export interface FieldError {
  loc: string[];
  msg: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly fieldErrors: FieldError[];

  constructor(status: number, message: string, fieldErrors: FieldError[] = []) {
    super(message);
    this.status = status;
    this.fieldErrors = fieldErrors;
  }
}

export type Query = Record<string, string | number | undefined | null | string[]>;

export function apiUrl(path: string, query: Query = {}): string {
  const url = new URL(path.replace(/^\//, ""), apiBase());
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(v));
  }
  return url.toString();
}

async function errorOf(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`.trim();
  let fieldErrors: FieldError[] = [];
  try {
    const body: unknown = await response.json();
    if (body && typeof body === "object") {
      const { message: m, detail } = body as { message?: unknown; detail?: unknown };
      if (Array.isArray(detail)) {
        fieldErrors = detail.map((d: { loc?: unknown[]; msg?: unknown }) => ({
          loc: (d.loc ?? []).map(String),
          msg: String(d.msg ?? ""),
        }));
        message = fieldErrors.map((e) => `${e.loc.filter((p) => p !== "body").join(".")}: ${e.msg}`).join("; ");
      } else if (typeof m === "string") {
        message = m;
      } else if (typeof detail === "string") {
        message = detail;
      }
    }
  } catch {
    // not JSON: the status line says enough
  }
  return new ApiError(response.status, message, fieldErrors);
}

export async function api<T>(
  path: string,
  options: { query?: Query; method?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const response = await fetch(apiUrl(path, options.query), {
    method: options.method ?? "GET",
    credentials: "same-origin",
    headers: options.body === undefined ? { Accept: "application/json" } : {
      Accept: "application/json",
      "Content-Type": "application/json",
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: options.signal,
  });
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/** GET `path` (null: nothing yet) whenever it or the query changes; stale answers are dropped. */
export function useApi<T>(path: string | null, query: Query = {}): Loaded<T> {
  const key = path === null ? null : apiUrl(path, query);
  const [state, setState] = useState<{ key: string | null; data?: T; error?: Error }>({ key: null });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    if (path === null || key === null) return;
    const controller = new AbortController();
    api<T>(path, { query, signal: controller.signal })
      .then((data) => setState({ key, data }))
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        setState({ key, error: error instanceof Error ? error : new Error(String(error)) });
      });
    return () => controller.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `key` is path + query
  }, [key, tick]);

  const current = state.key === key;
  return {
    data: current ? state.data : undefined,
    error: current ? state.error : undefined,
    loading: key !== null && (!current || (state.data === undefined && state.error === undefined)),
    reload,
  };
}

export interface Page<T> {
  count: number;
  totalCount?: number;
  next: string | null;
  previous: string | null;
  data: T[];
}

export interface Health {
  status: string;
  message: string | null;
  startDate: string | null;
  endDate: string | null;
}

export interface Deployment {
  id: string;
  label: string;
  description: string | null;
  status: string;
  importance: string | null;
  model: {
    id: string;
    registeredModelName: string;
    version: string;
    targetName: string | null;
    targetType: string | null;
    /** Lineage (absent from servers before it was added; null where unknown). */
    datasetName?: string | null;
    datasetVersion?: string | number | null;
    trainingRunId?: string | null;
    sweepParentRunId?: string | null;
    mlflowModelUrl?: string | null;
    mlflowRunUrl?: string | null;
    [key: string]: unknown;
  };
  /** The newest prediction's time and the last 7 days' counts (DataRobot's names). */
  predictionUsage?: { lastTimestamp: string | null; dailyRates?: number[] } | null;
  /** The latest Evidently report of a monitoring pass (served by `reports/latest/`). */
  latestReport?: { uri: string; createdAt: string | null } | null;
  serviceHealth: Health;
  modelHealth: Health;
  accuracyHealth: Health;
  /** Bias and fairness (absent from servers before it was added). */
  fairnessHealth?: Health;
  /** Where the deployed model's card is served (HTML), a path under the API's root. */
  modelCard?: { url: string } | null;
  createdAt: string;
  updatedAt: string;
  permissions?: string[];
  [key: string]: unknown;
}

export interface Period {
  start: string;
  end: string;
}

export interface OverTime {
  metric: string;
  bucketSize: string;
  period: Period;
  buckets: { period: Period; value: number | null; sampleSize?: number }[];
  [key: string]: unknown;
}

/** Whether the API says the caller may take `action` on the deployment (the page hides the rest). */
export const may = (d: Deployment, action: string): boolean => (d.permissions ?? []).includes(action);
