/** Accuracy metric tiles for the task, a metric over time, predicted versus actual, or why there is nothing. */
import { Alert, Box, Flex, Text } from "@chakra-ui/react";

import { ApiError, useApi, type Deployment, type OverTime, type Period } from "../api";
import { LineChart } from "../charts";
import { ErrorBox, Loaded, Loading, Section, Select, Tile, TileGrid } from "../components";
import { formatNumber } from "../format";
import { useParam } from "../params";
import { bucketLabel } from "../time";
import { WindowControls, useWindow } from "./ServiceHealth";

interface AccuracyStats {
  metrics: Record<string, number | null>;
  baselineMetrics: Record<string, number | null> | null;
  actualsJoined: number;
  pairsUsed: number;
  pendingActuals: number;
}

interface PredictedVsActual {
  buckets: { period: Period; meanPredictedValue?: number | null; meanActualValue?: number | null; rowCountWithActual?: number; [k: string]: unknown }[];
}

function NoActuals({ stats }: { stats: AccuracyStats }) {
  return (
    <Alert.Root status="info" data-testid="no-actuals" mb={4}>
      <Alert.Indicator />
      <Alert.Content>
        <Alert.Title>No actuals joined in this window</Alert.Title>
        <Alert.Description>
          Accuracy needs the real outcomes of logged predictions, matched by association id. Send them with{" "}
          <code>POST …/actuals/fromJSON/</code>, <code>SubmitActualsOperator</code> or <code>d.submit_actuals()</code>; the next
          monitoring pass joins them. Actuals received but not joined yet: {formatNumber(stats.pendingActuals)}.
        </Alert.Description>
      </Alert.Content>
    </Alert.Root>
  );
}

function PredictedVsActualChart({ deploymentId }: { deploymentId: string }) {
  const { start, end, bucketSize } = useWindow();
  const state = useApi<PredictedVsActual>(`deployments/${deploymentId}/predictionsVsActualsOverTime/`, { start, end, bucketSize });
  if (state.error instanceof ApiError && state.error.status === 404)
    return <Text color="fg.muted" fontSize="sm">This server does not report predicted against actual values.</Text>;
  if (state.error) return <ErrorBox error={state.error} what="predicted versus actual" />;
  if (!state.data) return <Loading />;
  const buckets = state.data.buckets;
  return (
    <LineChart
      id="predicted-vs-actual"
      labels={buckets.map((b) => bucketLabel(b.period.start, bucketSize))}
      series={[
        { label: "Mean predicted", values: buckets.map((b) => b.meanPredictedValue ?? null) },
        { label: "Mean actual", values: buckets.map((b) => b.meanActualValue ?? null) },
      ]}
    />
  );
}

export function Accuracy({ deployment: d }: { deployment: Deployment }) {
  const { start, end, bucketSize } = useWindow();
  const stats = useApi<AccuracyStats>(`deployments/${d.id}/accuracy/`, { start, end });
  const names = Object.keys(stats.data?.metrics ?? {});
  const [metric, setMetric] = useParam("accuracyMetric", "");
  const chosen = metric || names[0] || "";
  const over = useApi<OverTime>(chosen ? `deployments/${d.id}/accuracyOverTime/` : null, { metric: chosen, bucketSize, start, end });
  const baseline = stats.data?.baselineMetrics?.[chosen] ?? null;
  return (
    <Box>
      <Flex justify="flex-end" mb={3}>
        <WindowControls />
      </Flex>
      <Loaded state={stats} what="accuracy">
        {(s) => (
          <>
            {s.pairsUsed === 0 && <NoActuals stats={s} />}
            <TileGrid>
              {Object.entries(s.metrics).map(([name, value]) => (
                <Tile
                  key={name}
                  testId="accuracy-tile"
                  metric={name}
                  label={`${name}${s.baselineMetrics?.[name] != null ? ` (holdout ${formatNumber(s.baselineMetrics[name])})` : ""}`}
                  value={value}
                  selected={name === chosen}
                  onClick={() => setMetric(name)}
                />
              ))}
              <Tile testId="accuracy-tile" metric="pairsUsed" label="Predictions with actuals" value={s.pairsUsed} />
            </TileGrid>
          </>
        )}
      </Loaded>
      {chosen && (
        <Section title={`${chosen} over time`} actions={<Select label="Metric" value={chosen} options={names} onChange={setMetric} />}>
          <Loaded state={over} what={`${chosen} over time`}>
            {(o) => (
              <LineChart
                id="accuracy-over-time"
                labels={o.buckets.map((b) => bucketLabel(b.period.start, o.bucketSize))}
                series={[
                  { label: chosen, values: o.buckets.map((b) => b.value) },
                  ...(baseline !== null ? [{ label: "Holdout", values: o.buckets.map(() => baseline), color: "#9ca3af" }] : []),
                ]}
              />
            )}
          </Loaded>
        </Section>
      )}
      <Section title="Predicted versus actual">
        <PredictedVsActualChart deploymentId={d.id} />
      </Section>
    </Box>
  );
}
