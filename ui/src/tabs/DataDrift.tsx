/**
 * Drift against importance per feature (DataRobot's quadrants: the thresholds split features into
 * drifted-and-important, drifted, and fine), a feature's histogram and drift over time, and the
 * predictions' drift over time (target drift), for the chosen metric.
 *
 * The quadrants only hold under the ``threshold`` drift rule (score >= driftThreshold). Under the
 * default ``distribution`` rule health judges each feature by sample-size-aware tests, not by any
 * one metric's score, so a score line would colour features health does not call drifted (and
 * miss ones it does); the per-feature verdicts are not served to this tab, so the points stay
 * neutral and the caption says where the judgement is.
 */
import { Box, Flex, SimpleGrid, Text } from "@chakra-ui/react";

import { useApi, type Deployment, type Page, type Period } from "../api";
import { COLORS, HistogramChart, LineChart, ScatterChart } from "../charts";
import { KeyValues, Loaded, Section, Select } from "../components";
import { formatNumber } from "../format";
import { useParam } from "../params";
import { bucketLabel } from "../time";
import { LatestReport } from "./Overview";
import { WindowControls, useWindow } from "./ServiceHealth";

export const DRIFT_METRICS = ["psi", "kl_divergence", "hellinger", "js_divergence", "dissimilarity", "wasserstein", "ks", "js_distance"];

interface FeatureDriftItem {
  name: string;
  metric: string;
  driftScore: number | null;
  featureImpact: number | null;
  sampleSize: number;
  baselineSampleSize: number;
}

interface DriftOverTime {
  featureName: string;
  metric: string;
  buckets: { period: Period; driftScore: number | null; sampleSize: number }[];
}

interface Histogram {
  featureName: string;
  bins: { label: string; baseline: number | null; window: number | null }[];
  period: Period;
}

interface HealthSettings {
  /** ``rule``: how health judges a feature (absent on servers older than the distribution rule: threshold). */
  dataDrift?: { rule?: string; driftThreshold?: number; importanceThreshold?: number; metric?: string };
}

function DriftOverTimeChart({ id, deploymentId, feature, metric, title }: { id: string; deploymentId: string; feature: string; metric: string; title: string }) {
  const { start, end, bucketSize } = useWindow();
  const state = useApi<DriftOverTime>(`deployments/${deploymentId}/featureDriftOverTime/`, { featureName: feature, metric, bucketSize, start, end });
  return (
    <Section title={title}>
      <Loaded state={state} what={`drift over time of ${feature}`}>
        {(o) => (
          <LineChart
            id={id}
            labels={o.buckets.map((b) => bucketLabel(b.period.start, bucketSize))}
            series={[{ label: `${o.metric} of ${o.featureName}`, values: o.buckets.map((b) => b.driftScore) }]}
          />
        )}
      </Loaded>
    </Section>
  );
}

export function DataDrift({ deployment: d }: { deployment: Deployment }) {
  const { start, end } = useWindow();
  const health = useApi<HealthSettings>(`deployments/${d.id}/healthSettings/`);
  const healthMetric = health.data?.dataDrift?.metric ?? "psi";
  const [metric, setMetric] = useParam("metric", "");
  const chosen = metric || healthMetric;
  const [feature, setFeature] = useParam("feature", "");
  const drift = useApi<Page<FeatureDriftItem>>(`deployments/${d.id}/featureDrift/`, { metric: chosen, start, end, limit: 1000 });
  const target = useApi<{ driftScore: number | null; sampleSize: number; trackingEnabled: boolean; metric: string }>(
    `deployments/${d.id}/targetDrift/`,
    { metric: chosen, start, end },
  );
  const features = drift.data?.data ?? [];
  const byImportance = [...features].sort((a, b) => (b.featureImpact ?? 0) - (a.featureImpact ?? 0));
  const selected = feature || byImportance[0]?.name || "";
  const histogram = useApi<Histogram>(selected ? `deployments/${d.id}/featureHistogram/` : null, { featureName: selected, start, end });
  const rule = health.data?.dataDrift?.rule ?? "threshold";
  const byThreshold = rule === "threshold";
  const driftThreshold = byThreshold && chosen === healthMetric ? (health.data?.dataDrift?.driftThreshold ?? null) : null;
  const importanceThreshold = health.data?.dataDrift?.importanceThreshold ?? null;

  const color = (f: FeatureDriftItem) => {
    if (!byThreshold) return COLORS.blue;
    const drifted = driftThreshold !== null && (f.driftScore ?? 0) >= driftThreshold;
    const important = importanceThreshold !== null && (f.featureImpact ?? 0) >= importanceThreshold;
    return drifted ? (important ? COLORS.red : COLORS.orange) : COLORS.green;
  };

  return (
    <Box>
      <Flex justify="space-between" mb={3} gap={3} wrap="wrap">
        <Select label="Metric" testId="drift-metric" value={chosen} options={DRIFT_METRICS} onChange={setMetric} />
        <WindowControls />
      </Flex>
      <Box mb={3}>
        <LatestReport deployment={d} />
      </Box>
      <Section title="Feature drift versus importance">
        <Loaded state={drift} what="feature drift">
          {(page) => {
            const plotted = page.data.filter((f) => f.driftScore !== null);
            return (
              <>
                <ScatterChart
                  id="drift-scatter"
                  xTitle="Importance"
                  yTitle={`Drift (${chosen})`}
                  points={plotted.map((f) => ({ x: f.featureImpact ?? 0, y: f.driftScore as number, label: f.name }))}
                  pointColors={plotted.map(color)}
                  vertical={importanceThreshold}
                  horizontal={driftThreshold}
                  onPick={(i) => setFeature(plotted[i].name)}
                  empty="No drift to show: feature drift tracking is off, or no prediction in this window."
                />
                {byThreshold ? (
                  <Text fontSize="xs" color="fg.muted" mt={2} data-testid="drift-rule-caption" data-rule="threshold">
                    Red: drifted and important (above both thresholds); orange: drifted, less important; green: under the drift
                    threshold. Click a point to chart that feature below.
                    {driftThreshold === null && chosen !== healthMetric ? ` The drift threshold applies to ${healthMetric}, the health metric.` : ""}
                  </Text>
                ) : (
                  <Text fontSize="xs" color="fg.muted" mt={2} data-testid="drift-rule-caption" data-rule={rule}>
                    Drift health uses the distribution rule: a feature drifts when its Kolmogorov-Smirnov, Wasserstein or
                    Jensen-Shannon distance (or its share of missing or unseen values) changed both significantly for the sample
                    sizes and by enough, so no score threshold applies and the points are not coloured by one. Which features drifted: see the drift health message
                    {d.modelHealth.message ? ` ("${d.modelHealth.message}")` : ""}.{importanceThreshold !== null ? " The vertical line is the importance threshold." : ""}{" "}
                    Click a point to chart that feature below.
                  </Text>
                )}
              </>
            );
          }}
        </Loaded>
      </Section>
      {features.length > 0 && (
        <Flex mb={3}>
          <Select label="Feature" testId="drift-feature" value={selected} options={byImportance.map((f) => f.name)} onChange={setFeature} />
        </Flex>
      )}
      {selected && (
        <SimpleGrid columns={{ base: 1, lg: 2 }} gap={4}>
          <Section title={`Histogram of ${selected}: baseline and window`}>
            <Loaded state={histogram} what={`the histogram of ${selected}`}>
              {(h) => (
                <HistogramChart
                  id="feature-histogram"
                  labels={h.bins.map((b) => b.label)}
                  baseline={h.bins.map((b) => b.baseline)}
                  window={h.bins.map((b) => b.window)}
                />
              )}
            </Loaded>
          </Section>
          <DriftOverTimeChart id="feature-drift-over-time" deploymentId={d.id} feature={selected} metric={chosen} title={`Drift of ${selected} over time`} />
        </SimpleGrid>
      )}
      <Section title={`Predictions (${d.model.targetName ?? "target"}): drift`}>
        <Loaded state={target} what="target drift">
          {(t) => (
            <KeyValues
              items={[
                ["Tracking", t.trackingEnabled ? "enabled" : "disabled"],
                [`Drift (${t.metric})`, formatNumber(t.driftScore)],
                ["Predictions in window", formatNumber(t.sampleSize)],
              ]}
            />
          )}
        </Loaded>
      </Section>
      {d.model.targetName && (
        <DriftOverTimeChart
          id="target-drift-over-time"
          deploymentId={d.id}
          feature={d.model.targetName}
          metric={chosen}
          title="Target drift over time"
        />
      )}
    </Box>
  );
}
