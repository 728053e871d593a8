/** Accuracy metric tiles for the task, a metric over time, predicted versus actual, or why there is nothing. */
import { Alert, Box, Flex, Text } from "@chakra-ui/react";

import { ApiError, useApi, type Deployment, type OverTime, type Period } from "../api";
import { COLORS, LineChart, type Series } from "../charts";
import { ErrorBox, Loaded, Loading, Section, Select, Tile, TileGrid } from "../components";
import { formatNumber } from "../format";
import { useParam } from "../params";
import { bucketLabel } from "../time";
import { WindowControls, useWindow } from "./ServiceHealth";

/** DataRobot's older per-metric shape (`accuracy/`'s `metrics`); `data[]` holds the same items. */
interface MetricValue {
  value: number | null;
  baselineValue?: number | null;
  percentChange?: number | null;
}

interface AccuracyStats {
  metrics: Record<string, MetricValue | number | null>;
  baselineMetrics: Record<string, number | null> | null;
  actualsJoined: number;
  pairsUsed: number;
  pendingActuals: number;
}

interface ClassCount {
  className: string;
  count: number;
}

/** `predictionsVsActualsOverTime/`: every field but the buckets' periods may be absent (older servers). */
interface PredictedVsActual {
  bucketSize?: string;
  buckets: {
    period: Period;
    rowCountTotal?: number;
    rowCountWithActual?: number;
    meanPredictedValue?: number | null;
    meanActualValue?: number | null;
    predictedClassDistribution?: ClassCount[] | null;
    actualClassDistribution?: ClassCount[] | null;
  }[];
}

/** A class's share of a bucket's rows (null where the bucket has none). */
function shareOf(dist: ClassCount[] | null | undefined, name: string): number | null {
  const total = (dist ?? []).reduce((sum, c) => sum + c.count, 0);
  if (!dist || total === 0) return null;
  return (dist.find((c) => c.className === name)?.count ?? 0) / total;
}

/** A metric's value from either shape (an object with `value`, or the bare number older servers sent). */
function valueOf(metric: MetricValue | number | null | undefined): number | null {
  if (metric === null || metric === undefined) return null;
  return typeof metric === "number" ? metric : metric.value;
}

const PALETTE = [COLORS.blue, COLORS.orange, COLORS.green, COLORS.red, COLORS.gray];

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

/**
 * Mean predicted against mean actual per bucket (regression), or each class's share of the
 * predictions against its share of the actuals (classification), over the rows that have an
 * actual; one point per bucket the API returns.
 */
function PredictedVsActualChart({ deploymentId }: { deploymentId: string }) {
  const { start, end, bucketSize } = useWindow();
  const state = useApi<PredictedVsActual>(`deployments/${deploymentId}/predictionsVsActualsOverTime/`, { start, end, bucketSize });
  if (state.error instanceof ApiError && state.error.status === 404)
    return (
      <Text color="fg.muted" fontSize="sm" data-testid="predicted-vs-actual-unavailable">
        This server does not report predicted against actual values (no <code>predictionsVsActualsOverTime/</code> route).
      </Text>
    );
  if (state.error) return <ErrorBox error={state.error} what="predicted versus actual" />;
  if (!state.data) return <Loading />;
  const buckets = state.data.buckets ?? [];
  const labels = buckets.map((b) => bucketLabel(b.period.start, bucketSize));
  const withActual = buckets.reduce((sum, b) => sum + (b.rowCountWithActual ?? 0), 0);
  const total = buckets.reduce((sum, b) => sum + (b.rowCountTotal ?? 0), 0);
  const classes = [
    ...new Set(
      buckets.flatMap((b) => [...(b.predictedClassDistribution ?? []), ...(b.actualClassDistribution ?? [])].map((c) => c.className)),
    ),
  ].sort();
  const series: Series[] =
    classes.length > 0
      ? classes.flatMap((name, i) => [
          { label: `Predicted ${name}`, values: buckets.map((b) => shareOf(b.predictedClassDistribution, name)), color: PALETTE[i % PALETTE.length] },
          { label: `Actual ${name}`, values: buckets.map((b) => shareOf(b.actualClassDistribution, name)), color: PALETTE[i % PALETTE.length], dashed: true },
        ])
      : [
          { label: "Mean predicted", values: buckets.map((b) => b.meanPredictedValue ?? null), color: COLORS.blue },
          { label: "Mean actual", values: buckets.map((b) => b.meanActualValue ?? null), color: COLORS.blue, dashed: true },
        ];
  return (
    <Box>
      {buckets.length > 0 && withActual === 0 && (
        <Text color="fg.muted" fontSize="sm" mb={2} data-testid="predicted-vs-actual-no-actuals">
          None of the {formatNumber(total)} predictions in this window has an actual yet, so there is nothing to compare: the
          chart fills in as actuals arrive and a monitoring pass joins them.
        </Text>
      )}
      <LineChart
        id="predicted-vs-actual"
        labels={labels}
        series={series}
        yTitle={classes.length > 0 ? "Share of rows with an actual" : "Mean value"}
        empty="No bucket in this window."
      />
      <Text fontSize="xs" color="fg.muted" mt={2}>
        Rows with an actual in this window: {formatNumber(withActual)} of {formatNumber(total)}.
        {classes.length > 0 ? " Each class's share of the predictions against its share of the actuals." : ""}
      </Text>
    </Box>
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
                  value={valueOf(value)}
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
