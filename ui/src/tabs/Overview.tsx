/** Target, model and lineage, dates, the model history as a timeline, and the settings. */
import { Badge, Box, Flex, Link, SimpleGrid, Text } from "@chakra-ui/react";

import { apiUrl, mountedUrl, useApi, type Deployment, type Page } from "../api";
import { KeyValues, Loaded, ObjectView, Section } from "../components";
import { describe, rawValue } from "../format";
import { formatTime } from "../time";

interface HistoryItem {
  oldModelVersion: string | null;
  newModelVersion: string;
  reason: string;
  actor: string | null;
  timestamp: string;
  details: Record<string, unknown> | null;
}

/** Where the model came from, as the deployment JSON gives it: field, label. */
const LINEAGE: [string, string][] = [
  ["datasetName", "Dataset"],
  ["datasetVersion", "Dataset version"],
  ["trainingRunId", "Training run"],
  ["sweepParentRunId", "Sweep (parent run)"],
  ["mlflowModelUrl", "MLflow model"],
  ["mlflowRunUrl", "MLflow run"],
];

/** Model fields shown above or in the lineage; any other field the API adds is shown as it comes. */
const KNOWN_MODEL = new Set(["id", "registeredModelName", "version", "targetName", "targetType", ...LINEAGE.map(([k]) => k)]);

function linkOrText(value: unknown) {
  const text = describe(value);
  return /^https?:\/\//.test(text) ? (
    <Link href={text} target="_blank" rel="noreferrer" colorPalette="blue" textDecoration="underline">
      {text}
    </Link>
  ) : (
    text
  );
}

/** One lineage field: `data-field` is the API's name, `data-value` its raw value ("" for null). */
function LineageValue({ field, value }: { field: string; value: unknown }) {
  return (
    <Box as="span" data-testid="lineage-field" data-field={field} data-value={rawValue(value)}>
      {value === null || value === undefined ? <Text as="span" color="fg.muted">—</Text> : linkOrText(value)}
    </Box>
  );
}

/** The latest Evidently report: a link to the page the API serves readers, or why there is none. */
export function LatestReport({ deployment: d }: { deployment: Deployment }) {
  if (d.latestReport === undefined)
    return (
      <Text fontSize="sm" color="fg.muted" data-testid="latest-report" data-available="unknown">
        This server does not say whether a drift report exists.
      </Text>
    );
  if (d.latestReport === null)
    return (
      <Text fontSize="sm" color="fg.muted" data-testid="latest-report" data-available="false">
        No Evidently report yet: a monitoring pass with reports enabled writes one.
      </Text>
    );
  return (
    <Text fontSize="sm" data-testid="latest-report" data-available="true" data-uri={d.latestReport.uri}>
      <Link href={apiUrl(`deployments/${d.id}/reports/latest/`)} target="_blank" rel="noreferrer" colorPalette="blue" textDecoration="underline">
        Latest Evidently drift report
      </Link>{" "}
      ({formatTime(d.latestReport.createdAt)})
    </Text>
  );
}

/** The deployed model's card (HTML the API serves), or why there is none. */
export function ModelCardLink({ deployment: d }: { deployment: Deployment }) {
  if (!d.modelCard?.url)
    return (
      <Text fontSize="sm" color="fg.muted" data-testid="model-card" data-available="false">
        This server does not serve model cards.
      </Text>
    );
  return (
    <Text fontSize="sm" data-testid="model-card" data-available="true" data-url={d.modelCard.url}>
      <Link href={mountedUrl(d.modelCard.url)} target="_blank" rel="noreferrer" colorPalette="blue" textDecoration="underline">
        Model card
      </Link>{" "}
      : training data, how the model was chosen, performance, feature importance, known limits and replacement history
    </Text>
  );
}

function Scores({ scores }: { scores: unknown }) {
  if (!scores || typeof scores !== "object") return null;
  return (
    <Flex gap={2} wrap="wrap" data-testid="history-scores">
      {Object.entries(scores as Record<string, unknown>).map(([name, value]) => (
        <Badge key={name} variant="outline" data-score={name}>
          {name}: {describe(value)}
        </Badge>
      ))}
    </Flex>
  );
}

export function Overview({ deployment: d }: { deployment: Deployment }) {
  const history = useApi<Page<HistoryItem>>(`deployments/${d.id}/modelHistory/`, { limit: 1000 });
  const settings = useApi<Record<string, unknown>>(`deployments/${d.id}/settings/`);
  const health = useApi<Record<string, unknown>>(`deployments/${d.id}/healthSettings/`);
  const extra = Object.entries(d.model).filter(([k]) => !KNOWN_MODEL.has(k));
  const hasLineage = LINEAGE.some(([k]) => k in d.model);

  return (
    <Box>
      <SimpleGrid columns={{ base: 1, lg: 2, xl: 3 }} gap={4}>
        <Section title="Model">
          <KeyValues
            items={[
              ["Target", `${d.model.targetName ?? "—"} (${d.model.targetType ?? "—"})`],
              ["Model", d.model.id],
              ["Registered model", d.model.registeredModelName],
              ["Version", d.model.version],
              ...extra.map(([k, v]) => [k, linkOrText(v)] as [string, React.ReactNode]),
            ]}
          />
        </Section>
        <Section title="Lineage">
          <Box data-testid="lineage" data-available={hasLineage ? "true" : "false"}>
            {hasLineage ? (
              <KeyValues items={LINEAGE.map(([k, label]) => [label, <LineageValue field={k} value={d.model[k]} />] as [string, React.ReactNode])} />
            ) : (
              <Text fontSize="sm" color="fg.muted">
                This server does not report where the model came from (dataset, training run, MLflow links).
              </Text>
            )}
            <Box mt={3}>
              <ModelCardLink deployment={d} />
            </Box>
            <Box mt={1}>
              <LatestReport deployment={d} />
            </Box>
          </Box>
        </Section>
        <Section title="Deployment">
          <KeyValues
            items={[
              ["Label", d.label],
              ["Description", d.description ?? "—"],
              ["Status", d.status],
              ["Importance", d.importance ?? "—"],
              ["Created", formatTime(d.createdAt)],
              ["Updated", formatTime(d.updatedAt)],
              ["Service health", d.serviceHealth.message ?? d.serviceHealth.status],
              ["Drift health", d.modelHealth.message ?? d.modelHealth.status],
              ["Accuracy health", d.accuracyHealth.message ?? d.accuracyHealth.status],
              ...(d.fairnessHealth ? [["Fairness health", d.fairnessHealth.message ?? d.fairnessHealth.status] as [string, string]] : []),
            ]}
          />
        </Section>
      </SimpleGrid>
      <Section title="Model history">
        <Loaded state={history} what="the model history">
          {(page) =>
            page.data.length === 0 ? (
              <Text color="fg.muted">No model has been replaced.</Text>
            ) : (
              <Box as="ol" borderLeftWidth="2px" pl={4} ml={2}>
                {[...page.data].reverse().map((h, i) => {
                  const details = h.details ?? {};
                  const { scores, evidence, dag_run_id: dagRun, judgement, ...rest } = details as Record<string, unknown>;
                  return (
                    <Box as="li" key={`${h.timestamp}-${i}`} listStyleType="none" mb={4} data-testid="history-item" data-reason={h.reason}>
                      <Flex gap={2} align="baseline" wrap="wrap">
                        <Badge colorPalette="blue">{h.reason}</Badge>
                        <Text fontWeight="semibold">
                          {h.oldModelVersion ?? "—"} → {h.newModelVersion}
                        </Text>
                        <Text fontSize="sm" color="fg.muted">
                          {formatTime(h.timestamp)} · {h.actor ?? "—"}
                          {dagRun ? ` · DAG run ${describe(dagRun)}` : ""}
                        </Text>
                      </Flex>
                      <Scores scores={scores} />
                      {judgement !== undefined && <Text fontSize="sm">{describe(judgement)}</Text>}
                      {evidence !== undefined && (
                        <Box mt={1}>
                          <Text fontSize="xs" color="fg.muted">
                            Evidence
                          </Text>
                          <ObjectView value={evidence} />
                        </Box>
                      )}
                      {Object.keys(rest).length > 0 && <ObjectView value={rest} />}
                    </Box>
                  );
                })}
              </Box>
            )
          }
        </Loaded>
      </Section>
      <SimpleGrid columns={{ base: 1, lg: 2 }} gap={4}>
        <Section title="Settings">
          <Loaded state={settings} what="the settings">
            {(s) => <SettingsView value={s} />}
          </Loaded>
        </Section>
        <Section title="Health settings">
          <Loaded state={health} what="the health settings">
            {(s) => <SettingsView value={s} />}
          </Loaded>
        </Section>
      </SimpleGrid>
    </Box>
  );
}

function SettingsView({ value }: { value: Record<string, unknown> }) {
  return (
    <Box>
      {Object.entries(value).map(([section, body]) => (
        <Box key={section} mb={2}>
          <Text fontWeight="semibold" fontSize="sm">
            {section}
          </Text>
          <ObjectView value={body} />
        </Box>
      ))}
    </Box>
  );
}
