/** The console's state in the URL's query string (the host owns the path). */
import { useCallback } from "react";
import { useSearchParams } from "react-router-dom";

export function useParam(name: string, fallback: string): [string, (value: string | null) => void] {
  const [params, setParams] = useSearchParams();
  const set = useCallback(
    (value: string | null) =>
      setParams(
        (current) => {
          const next = new URLSearchParams(current);
          if (value === null || value === "") next.delete(name);
          else next.set(name, value);
          return next;
        },
        { replace: false },
      ),
    [name, setParams],
  );
  return [params.get(name) ?? fallback, set];
}

/** `?deployment=<id>[&tab=…]`: the search string of a page, for links. */
export function pageSearch(deployment: string | null, tab?: string): string {
  const params = new URLSearchParams();
  if (deployment) params.set("deployment", deployment);
  if (tab) params.set("tab", tab);
  const text = params.toString();
  return text ? `?${text}` : "?";
}
