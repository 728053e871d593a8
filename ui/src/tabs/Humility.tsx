/** Prediction warnings (outlier predictions of a regression model) over time, when enabled. */
import { Box, Flex, Text } from "@chakra-ui/react";

import { ApiError, useApi, type Deployment, type OverTime } from "../api";
import { LineChart } from "../charts";
import { ErrorBox, Loaded, Loading, ObjectView, Section } from "../components";
import { bucketLabel } from "../time";
import { WindowControls, useWindow } from "./ServiceHealth";

function WarningsOverTime({ deploymentId }: { deploymentId: string }) {
  const { start, end, bucketSize } = useWindow();
  const state = useApi<OverTime>(`deployments/${deploymentId}/humilityStatsOverTime/`, { start, end, bucketSize });
  if (state.error instanceof ApiError && state.error.status === 404)
    return <Text color="fg.muted" fontSize="sm">This server does not count prediction warnings over time.</Text>;
  if (state.error) return <ErrorBox error={state.error} what="prediction warnings over time" />;
  if (!state.data) return <Loading />;
  return (
    <LineChart
      id="humility-over-time"
      bar
      labels={state.data.buckets.map((b) => bucketLabel(b.period.start, bucketSize))}
      series={[{ label: "Predictions flagged as outliers", values: state.data.buckets.map((b) => b.value) }]}
    />
  );
}

export function Humility({ deployment: d }: { deployment: Deployment }) {
  const settings = useApi<{ predictionWarning?: { enabled?: boolean; [k: string]: unknown } }>(`deployments/${d.id}/settings/`);
  return (
    <Box>
      <Flex justify="flex-end" mb={3}>
        <WindowControls />
      </Flex>
      <Loaded state={settings} what="the prediction warning settings">
        {(s) =>
          s.predictionWarning?.enabled ? (
            <>
              <Section title="Prediction warnings over time">
                <WarningsOverTime deploymentId={d.id} />
              </Section>
              <Section title="Prediction warning settings">
                <ObjectView value={s.predictionWarning} />
              </Section>
            </>
          ) : (
            <Text color="fg.muted" data-testid="humility-disabled">
              Prediction warnings are off for this deployment. An owner can enable them (regression deployments) with{" "}
              <code>PATCH …/settings/</code> <code>{'{"predictionWarning": {"enabled": true}}'}</code> or under Actions.
            </Text>
          )
        }
      </Loaded>
    </Box>
  );
}
