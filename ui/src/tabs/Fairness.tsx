/**
 * Bias and fairness: the fairness health, per protected feature its groups' scores over the window
 * (`fairness/`: score, relative to the most favoured group, sample size, pass/fail against the
 * threshold) and one metric's relative scores per group over time (`fairnessScoresOverTime/`).
 * With no feature protected the tab says so; users who may change settings get the form here.
 */
import { Alert, Badge, Box, Flex, Table, Text } from "@chakra-ui/react";

import { may, useApi, type Deployment, type Period } from "../api";
import { COLORS, LineChart, type Series } from "../charts";
import { HealthBadge, Loaded, Section, Select } from "../components";
import { formatNumber } from "../format";
import { useParam } from "../params";
import { bucketLabel } from "../time";
import { FairnessSettingsForm, METRIC_SETS, type BiasAndFairness } from "./FairnessSettings";
import { WindowControls, useWindow } from "./ServiceHealth";

interface GroupScore {
  label: string;
  /** The metric's value for the group. */
  absoluteValue: number | null;
  /** Relative to the most favoured group's (what the threshold judges). */
  value: number | null;
  sampleSize: number;
  isStatisticallySignificant: boolean;
  passed?: boolean | null;
}

interface FeatureScores {
  protectedFeature: string;
  metricName: string;
  fairnessThreshold: number;
  privilegedClass: string | null;
  classesCount: number;
  healthyClassesCount: number;
  scores: GroupScore[];
}

interface FairnessRead {
  period: Period;
  fairnessThreshold: number;
  fairnessMetricsSet: string;
  favorableTargetOutcome: string | number | boolean | null;
  status: string;
  message: string;
  features: FeatureScores[];
}

interface Bucket {
  period: Period;
  metricName: string;
  /** Groups without a value in the bucket are left out (DataRobot's shape). */
  scores: GroupScore[];
  passed: Record<string, boolean>;
}

interface FairnessOverTime {
  protectedFeature: string;
  fairnessThreshold: number;
  summary: Bucket;
  buckets: Bucket[];
}

const GROUP_COLORS = [COLORS.blue, COLORS.orange, COLORS.green, COLORS.red, "#8b5cf6", "#14b8a6", "#ec4899", "#64748b"];

function passedBadge(passed: boolean | null | undefined) {
  if (passed === true) return <Badge colorPalette="green">passed</Badge>;
  if (passed === false) return <Badge colorPalette="red">below threshold</Badge>;
  return <Badge variant="outline">not judged</Badge>;
}

/** One metric's groups over the window, as `fairness/` gives them. */
function ScoresTable({ scores }: { scores: FeatureScores }) {
  return (
    <Box mb={3}>
      <Text fontSize="sm" fontWeight="semibold" mb={1}>
        {scores.metricName}
        <Text as="span" fontWeight="normal" color="fg.muted">
          {" "}
          · most favoured group: {scores.privilegedClass ?? "—"} · {scores.healthyClassesCount} of {scores.classesCount} groups passing
        </Text>
      </Text>
      {scores.scores.length === 0 ? (
        <Text fontSize="sm" color="fg.muted" data-testid="fairness-no-groups" data-feature={scores.protectedFeature} data-metric={scores.metricName}>
          No prediction of this window has a group of {scores.protectedFeature} (predictions count from when the feature is protected).
        </Text>
      ) : (
        <Table.Root size="sm" data-testid="fairness-table" data-feature={scores.protectedFeature} data-metric={scores.metricName}>
          <Table.Header>
            <Table.Row>
              <Table.ColumnHeader>Group</Table.ColumnHeader>
              <Table.ColumnHeader textAlign="end">Score</Table.ColumnHeader>
              <Table.ColumnHeader textAlign="end">Relative to most favoured</Table.ColumnHeader>
              <Table.ColumnHeader textAlign="end">Sample size</Table.ColumnHeader>
              <Table.ColumnHeader>Passed</Table.ColumnHeader>
            </Table.Row>
          </Table.Header>
          <Table.Body>
            {scores.scores.map((g) => (
              <Table.Row
                key={g.label}
                data-testid="fairness-group"
                data-group={g.label}
                data-value={g.absoluteValue ?? ""}
                data-relative={g.value ?? ""}
                data-sample-size={g.sampleSize}
                data-passed={g.passed === null || g.passed === undefined ? "" : String(g.passed)}
              >
                <Table.Cell>{g.label}</Table.Cell>
                <Table.Cell textAlign="end">{formatNumber(g.absoluteValue)}</Table.Cell>
                <Table.Cell textAlign="end">{formatNumber(g.value)}</Table.Cell>
                <Table.Cell textAlign="end">
                  {formatNumber(g.sampleSize)}
                  {g.isStatisticallySignificant ? "" : " (too few)"}
                </Table.Cell>
                <Table.Cell>{passedBadge(g.passed)}</Table.Cell>
              </Table.Row>
            ))}
          </Table.Body>
        </Table.Root>
      )}
    </Box>
  );
}

/** Each group's score relative to the most favoured group per bucket, with the threshold. */
function ScoresOverTime({ deploymentId, feature, metric }: { deploymentId: string; feature: string; metric: string }) {
  const { start, end, bucketSize } = useWindow();
  const state = useApi<FairnessOverTime>(`deployments/${deploymentId}/fairnessScoresOverTime/`, {
    protectedFeature: feature,
    fairnessMetric: metric || undefined,
    bucketSize,
    start,
    end,
  });
  return (
    <Loaded state={state} what={`the fairness of ${feature} over time`}>
      {(o) => {
        const groups = [...new Set([...o.summary.scores, ...o.buckets.flatMap((b) => b.scores)].map((s) => s.label))].sort();
        const series: Series[] = groups.map((group, i) => ({
          label: group,
          values: o.buckets.map((b) => b.scores.find((s) => s.label === group)?.value ?? null),
          color: GROUP_COLORS[i % GROUP_COLORS.length],
        }));
        if (groups.length > 0)
          series.push({ label: `Threshold ${o.fairnessThreshold}`, values: o.buckets.map(() => o.fairnessThreshold), color: COLORS.gray, dashed: true });
        return (
          <Box data-testid="fairness-over-time-groups" data-feature={feature} data-group-count={groups.length} data-bucket-count={o.buckets.length}>
            {groups.length === 0 ? (
              <Text fontSize="sm" color="fg.muted" data-testid="fairness-over-time-empty">
                No group of {feature} has a score in this window's {o.buckets.length} buckets: nothing to chart.
              </Text>
            ) : (
            <LineChart
              id="fairness-over-time"
              labels={o.buckets.map((b) => bucketLabel(b.period.start, bucketSize))}
              series={series}
              yTitle="Relative to the most favoured"
              empty="No bucket in this window."
            />
            )}
          </Box>
        );
      }}
    </Loaded>
  );
}

export function Fairness({ deployment: d, onChanged }: { deployment: Deployment; onChanged: () => void }) {
  const { start, end } = useWindow();
  const settings = useApi<{ biasAndFairness?: BiasAndFairness | null }>(`deployments/${d.id}/settings/`);
  const section = settings.data?.biasAndFairness ?? null;
  const on = !!section && section.protectedFeatures.length > 0;
  const fairness = useApi<FairnessRead>(on ? `deployments/${d.id}/fairness/` : null, { start, end });
  const metrics = [...new Set((fairness.data?.features ?? []).map((f) => f.metricName))];
  const [metric, setMetric] = useParam("fairnessMetric", "");
  const chosen = metrics.includes(metric) ? metric : (metrics[0] ?? "");
  const owner = may(d, "settings");
  const saved = () => {
    settings.reload();
    fairness.reload();
    onChanged();
  };
  const setName = METRIC_SETS.find(([v]) => v === section?.fairnessMetricsSet)?.[1] ?? section?.fairnessMetricsSet;

  return (
    <Box>
      <Flex justify="space-between" align="flex-start" mb={3} gap={3} wrap="wrap">
        <Flex gap={2} align="baseline" wrap="wrap" maxW="720px">
          <HealthBadge kind="fairness" health={d.fairnessHealth} showKind />
          <Text fontSize="sm" color="fg.muted" data-testid="fairness-health-message">
            {d.fairnessHealth?.message ?? (d.fairnessHealth ? "" : "This server does not report a fairness health.")}
          </Text>
        </Flex>
        <WindowControls />
      </Flex>
      <Loaded state={settings} what="the settings">
        {() =>
          !on ? (
            <Alert.Root status="info" data-testid="fairness-off" data-owner={owner ? "true" : "false"} mb={4}>
              <Alert.Indicator />
              <Alert.Content>
                <Alert.Title>No feature is protected: fairness is not monitored</Alert.Title>
                <Alert.Description>
                  {owner
                    ? "Choose the protected features and the favourable class in the fairness settings below; predictions count from then on."
                    : "A user who may change this deployment's settings can protect features (bias and fairness settings)."}
                </Alert.Description>
              </Alert.Content>
            </Alert.Root>
          ) : (
            <>
              <Text fontSize="sm" color="fg.muted" mb={3} data-testid="fairness-summary">
                Protected: {section.protectedFeatures.join(", ")} · favourable class {String(section.preferableTargetValue)} · {setName} · threshold{" "}
                {section.fairnessThreshold} (a group passes when its score is at least that share of the most favoured group's).
              </Text>
              <Loaded state={fairness} what="the fairness scores">
                {(f) => (
                  <>
                    {metrics.length > 1 && (
                      <Flex mb={3}>
                        <Select label="Metric over time" testId="fairness-metric" value={chosen} options={metrics} onChange={setMetric} />
                      </Flex>
                    )}
                    {section.protectedFeatures.map((feature) => (
                      <Section key={feature} title={`Protected feature: ${feature}`}>
                        <Box data-testid="fairness-feature" data-feature={feature}>
                          {f.features
                            .filter((s) => s.protectedFeature === feature)
                            .map((s) => (
                              <ScoresTable key={s.metricName} scores={s} />
                            ))}
                          <Text fontSize="sm" fontWeight="semibold" mt={2} mb={1}>
                            {chosen} over time, per group
                          </Text>
                          <ScoresOverTime deploymentId={d.id} feature={feature} metric={chosen} />
                        </Box>
                      </Section>
                    ))}
                  </>
                )}
              </Loaded>
            </>
          )
        }
      </Loaded>
      {owner && settings.data && <FairnessSettingsForm deployment={d} value={section} onSaved={saved} />}
    </Box>
  );
}
