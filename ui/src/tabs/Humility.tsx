/**
 * Prediction warnings (outlier predictions of a regression model) over time: the share of each
 * bucket's predictions the server flagged, from `humilityStatsOverTime/`. The chart is drawn
 * whatever the settings say (one point per bucket the API returns), with the reason when it is
 * empty: warnings off, a server that does not log them, or no prediction in the window.
 */
import { Box, Flex, Text } from "@chakra-ui/react";

import { ApiError, useApi, type Deployment, type Period } from "../api";
import { LineChart } from "../charts";
import { ErrorBox, Loaded, Loading, ObjectView, Section } from "../components";
import { formatNumber } from "../format";
import { bucketLabel } from "../time";
import { WindowControls, useWindow } from "./ServiceHealth";

interface HumilityOverTime {
  bucketSize?: string;
  /** Whether rows are checked now (a regression deployment with warnings on); absent on older servers. */
  predictionWarningEnabled?: boolean;
  /** `rowCount`: rows checked (not all predictions); `value`: the share flagged, null when none was checked. */
  buckets: { period: Period; rowCount?: number; outlierPredictions?: number; value?: number | null }[];
}

interface PredictionWarning {
  enabled?: boolean;
  [k: string]: unknown;
}

function WarningsOverTime({ deploymentId, enabled }: { deploymentId: string; enabled: boolean }) {
  const { start, end, bucketSize } = useWindow();
  const state = useApi<HumilityOverTime>(`deployments/${deploymentId}/humilityStatsOverTime/`, { start, end, bucketSize });
  if (state.error instanceof ApiError && state.error.status === 404)
    return (
      <Text color="fg.muted" fontSize="sm" data-testid="humility-unavailable">
        This server does not count prediction warnings over time (no <code>humilityStatsOverTime/</code> route).
      </Text>
    );
  if (state.error) return <ErrorBox error={state.error} what="prediction warnings over time" />;
  if (!state.data) return <Loading />;
  const buckets = state.data.buckets ?? [];
  const rows = buckets.reduce((sum, b) => sum + (b.rowCount ?? 0), 0);
  const flagged = buckets.reduce((sum, b) => sum + (b.outlierPredictions ?? 0), 0);
  const on = state.data.predictionWarningEnabled ?? enabled;
  return (
    <Box>
      <LineChart
        id="humility-over-time"
        bar
        labels={buckets.map((b) => bucketLabel(b.period.start, bucketSize))}
        series={[{ label: "Share of predictions flagged as outliers", values: buckets.map((b) => b.value ?? null) }]}
        yTitle="Share flagged"
        empty="No bucket in this window."
      />
      <Text fontSize="xs" color="fg.muted" mt={2} data-testid="humility-summary" data-rows={rows} data-flagged={flagged}>
        {rows > 0
          ? `${formatNumber(flagged)} of the ${formatNumber(rows)} predictions checked in this window were flagged as outliers.`
          : on
            ? "No prediction in this window was checked: none was made, or warnings were off when they were."
            : "No prediction in this window was checked."}
      </Text>
    </Box>
  );
}

export function Humility({ deployment: d }: { deployment: Deployment }) {
  const settings = useApi<{ predictionWarning?: PredictionWarning }>(`deployments/${d.id}/settings/`);
  return (
    <Box>
      <Flex justify="flex-end" mb={3}>
        <WindowControls />
      </Flex>
      <Loaded state={settings} what="the prediction warning settings">
        {(s) => {
          const regression = d.model.targetType === "Regression";
          const enabled = regression && !!s.predictionWarning?.enabled;
          return (
            <>
              {!enabled && (
                <Text color="fg.muted" mb={3} data-testid="humility-disabled" data-reason={regression ? "off" : "not-regression"}>
                  {regression ? (
                    <>
                      Prediction warnings are off for this deployment, so no prediction is checked and the chart stays empty. An
                      owner enables them with <code>PATCH …/settings/</code>{" "}
                      <code>{'{"predictionWarning": {"enabled": true}}'}</code> or under Actions.
                    </>
                  ) : (
                    <>
                      Prediction warnings apply to regression deployments only; this one is {d.model.targetType ?? "not regression"},
                      so no prediction is checked and the chart stays empty.
                    </>
                  )}
                </Text>
              )}
              <Section title="Prediction warnings over time">
                <WarningsOverTime deploymentId={d.id} enabled={enabled} />
              </Section>
              {enabled && (
                <Section title="Prediction warning settings">
                  <ObjectView value={s.predictionWarning} />
                </Section>
              )}
            </>
          );
        }}
      </Loaded>
    </Box>
  );
}
