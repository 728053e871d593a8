/** Target, model and lineage, dates, the model history as a timeline, and the settings. */
import { Badge, Box, Flex, SimpleGrid, Text } from "@chakra-ui/react";

import { useApi, type Deployment, type Page } from "../api";
import { KeyValues, Loaded, ObjectView, Section } from "../components";
import { describe } from "../format";
import { formatTime } from "../time";

interface HistoryItem {
  oldModelVersion: string | null;
  newModelVersion: string;
  reason: string;
  actor: string | null;
  timestamp: string;
  details: Record<string, unknown> | null;
}

/** Model fields the API may add beyond the basics (lineage): shown as they come. */
const BASIC_MODEL = new Set(["id", "registeredModelName", "version", "targetName", "targetType"]);

function linkOrText(value: unknown) {
  const text = describe(value);
  return /^https?:\/\//.test(text) ? (
    <a href={text} target="_blank" rel="noreferrer" style={{ textDecoration: "underline" }}>
      {text}
    </a>
  ) : (
    text
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
  const extra = Object.entries(d.model).filter(([k]) => !BASIC_MODEL.has(k));
  const lineage = (d as { lineage?: unknown }).lineage;

  return (
    <Box>
      <SimpleGrid columns={{ base: 1, lg: 2 }} gap={4}>
        <Section title="Model">
          <KeyValues
            items={[
              ["Target", `${d.model.targetName ?? "—"} (${d.model.targetType ?? "—"})`],
              ["Model", d.model.id],
              ["Registered model", d.model.registeredModelName],
              ["Version", d.model.version],
              ...extra.map(([k, v]) => [k, linkOrText(v)] as [string, React.ReactNode]),
              ...(lineage && typeof lineage === "object"
                ? Object.entries(lineage as Record<string, unknown>).map(([k, v]) => [k, linkOrText(v)] as [string, React.ReactNode])
                : []),
            ]}
          />
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
