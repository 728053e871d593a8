/** The 11 service stats for the window; the clicked one charted per bucket. */
import { Box, Button, Flex, Text } from "@chakra-ui/react";

import { useApi, type Deployment, type OverTime } from "../api";
import { LineChart } from "../charts";
import { Loaded, Section, Select, Tile, TileGrid } from "../components";
import { useParam } from "../params";
import { BUCKETS, WINDOWS, bucketLabel, formatTime, useAnchor, windowFor } from "../time";

const LABELS: Record<string, string> = {
  totalPredictions: "Total predictions",
  totalRequests: "Total requests",
  slowRequests: "Requests over 1 s",
  executionTime: "Execution time (ms)",
  responseTime: "Response time (ms)",
  userErrorRate: "Data error rate (4xx)",
  serverErrorRate: "System error rate (5xx)",
  numConsumers: "Consumers",
  cacheHitRatio: "Cache hit ratio",
  medianLoad: "Median load (req/min)",
  peakLoad: "Peak load (req/min)",
};

/**
 * Window and bucket selectors, and where the window ends: at the last prediction when the
 * deployment has had none lately (said in words, with a way back to "now").
 */
export function WindowControls() {
  const [windowKey, setWindow] = useParam("window", "7d");
  const [bucket, setBucket] = useParam("bucket", "P1D");
  const [, setEnd] = useParam("windowEnd", "");
  const { anchor, available, lastPrediction } = useAnchor();
  const label = (WINDOWS[windowKey] ?? WINDOWS["7d"]).label.replace(/^Last /, "");
  return (
    <Flex direction="column" align="flex-end" gap={1}>
      <Flex gap={3} wrap="wrap">
        <Select label="Window" testId="window-select" value={windowKey} options={Object.entries(WINDOWS).map(([k, w]) => [k, w.label])} onChange={setWindow} />
        <Select label="Bucket" testId="bucket-select" value={bucket} options={[...BUCKETS]} onChange={setBucket} />
      </Flex>
      {available && (
        <Flex align="center" gap={2} fontSize="xs" color="fg.muted">
          <Text data-testid="window-anchor" data-anchored={anchor !== null ? "true" : "false"} data-last-prediction={lastPrediction ?? ""}>
            {anchor !== null
              ? `Showing the ${label} up to the last prediction, ${formatTime(lastPrediction)} (none since).`
              : `Showing the ${label} up to now; the last prediction was ${formatTime(lastPrediction)}.`}
          </Text>
          <Button size="2xs" variant="outline" onClick={() => setEnd(anchor !== null ? "now" : null)}>
            {anchor !== null ? "Show up to now" : "Show up to the last prediction"}
          </Button>
        </Flex>
      )}
    </Flex>
  );
}

/** The tab's window: `?window=` hours ending at the page's anchor (or now), `?bucket=` buckets. */
export function useWindow(): { start: string; end: string; bucketSize: string } {
  const [windowKey] = useParam("window", "7d");
  const [bucket] = useParam("bucket", "P1D");
  const { anchor } = useAnchor();
  return { ...windowFor(windowKey, anchor), bucketSize: bucket };
}

export function ServiceHealth({ deployment: d }: { deployment: Deployment }) {
  const { start, end, bucketSize } = useWindow();
  const [metric, setMetric] = useParam("stat", "totalPredictions");
  const stats = useApi<{ metrics: Record<string, number | null>; period: unknown }>(`deployments/${d.id}/serviceStats/`, { start, end });
  const over = useApi<OverTime>(`deployments/${d.id}/serviceStatsOverTime/`, { metric, bucketSize, start, end });
  return (
    <Box>
      <Flex justify="flex-end" mb={3}>
        <WindowControls />
      </Flex>
      <Loaded state={stats} what="service stats">
        {(s) => (
          <TileGrid>
            {Object.entries(s.metrics).map(([name, value]) => (
              <Tile
                key={name}
                testId="service-tile"
                metric={name}
                label={LABELS[name] ?? name}
                value={value}
                selected={name === metric}
                onClick={() => setMetric(name)}
                hint="Chart this metric over time"
              />
            ))}
          </TileGrid>
        )}
      </Loaded>
      <Section title={`${LABELS[metric] ?? metric} over time`}>
        <Loaded state={over} what={`${metric} over time`}>
          {(o) => (
            <LineChart
              id="service-over-time"
              bar={metric === "totalPredictions" || metric === "totalRequests"}
              labels={o.buckets.map((b) => bucketLabel(b.period.start, o.bucketSize))}
              series={[{ label: LABELS[metric] ?? metric, values: o.buckets.map((b) => b.value) }]}
            />
          )}
        </Loaded>
      </Section>
    </Box>
  );
}
