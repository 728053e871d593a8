/** Every deployment the user can see: health, importance, model, predictions in 7 days (up to the last one). */
import { Box, Flex, Heading, Input, Link, Table, Text } from "@chakra-ui/react";
import { useEffect, useState } from "react";
import { Link as RouterLink } from "react-router-dom";

import { useApi, type Deployment, type OverTime, type Page } from "./api";
import { Sparkline } from "./charts";
import { HealthBadge, Loaded, Select } from "./components";
import { formatNumber } from "./format";
import { pageSearch, useParam } from "./params";
import { anchorOf, bucketLabel, formatTime, windowOf } from "./time";

const HEALTH = ["", "passing", "warning", "failing", "unknown", "unavailable"];
const IMPORTANCE = ["", "CRITICAL", "HIGH", "MODERATE", "LOW"];
const ORDER: [string, string][] = [
  ["label", "Label A–Z"],
  ["-label", "Label Z–A"],
  ["-importance", "Importance"],
  ["-createdAt", "Newest"],
  ["createdAt", "Oldest"],
  ["-updatedAt", "Recently updated"],
  ["-serviceHealth", "Service health"],
  ["-modelHealth", "Drift health"],
  ["-accuracyHealth", "Accuracy health"],
];

/** Predictions per day for the 7 days up to now, or up to the last prediction when there was none lately. */
function Activity({ id, lastPrediction }: { id: string; lastPrediction: string | null }) {
  const [anchor] = useState(() => anchorOf(lastPrediction));
  const [week] = useState(() => windowOf(24 * 7, anchor ?? Date.now()));
  const state = useApi<OverTime>(`deployments/${id}/serviceStatsOverTime/`, {
    metric: "totalPredictions",
    bucketSize: "P1D",
    ...week,
  });
  if (state.error) return <Text color="fg.error" fontSize="xs" title={state.error.message}>error</Text>;
  if (!state.data) return <Text color="fg.muted" fontSize="xs">…</Text>;
  const values = state.data.buckets.map((b) => b.value);
  const total = values.reduce<number>((sum, v) => sum + (v ?? 0), 0);
  const until = anchor === null ? "" : `up to the last prediction, ${formatTime(lastPrediction)}`;
  return (
    <Flex align="center" gap={3} title={until ? `7 days ${until}` : "the last 7 days"}>
      <Text minW="5ch" textAlign="right" data-testid="predictions-7d" data-value={total} data-end={week.end}>
        {formatNumber(total)}
      </Text>
      <Box width="120px">
        <Sparkline id={`activity-${id}`} values={values} labels={state.data.buckets.map((b) => bucketLabel(b.period.start, "P1D"))} />
      </Box>
      {anchor !== null && (
        <Text fontSize="xs" color="fg.muted" data-testid="activity-anchor">
          to {new Date(lastPrediction ?? "").toLocaleDateString()}
        </Text>
      )}
    </Flex>
  );
}

export function Inventory() {
  const [search, setSearch] = useParam("search", "");
  const [orderBy, setOrderBy] = useParam("orderBy", "label");
  const [service, setService] = useParam("serviceHealth", "");
  const [drift, setDrift] = useParam("modelHealth", "");
  const [accuracy, setAccuracy] = useParam("accuracyHealth", "");
  const [importance, setImportance] = useParam("importance", "");
  const [typed, setTyped] = useState(search);
  useEffect(() => {
    const timer = window.setTimeout(() => typed !== search && setSearch(typed), 300);
    return () => window.clearTimeout(timer);
  }, [typed, search, setSearch]);

  const state = useApi<Page<Deployment>>("deployments/", {
    search,
    orderBy,
    serviceHealth: service,
    modelHealth: drift,
    accuracyHealth: accuracy,
    importance,
    limit: 1000,
  });

  return (
    <Box data-testid="mlops-inventory">
      <Heading size="lg" mb={4}>
        Deployments
      </Heading>
      <Flex gap={3} mb={4} wrap="wrap" align="center">
        <Input
          size="sm"
          maxW="280px"
          placeholder="Search label or description"
          aria-label="Search"
          data-testid="inventory-search"
          value={typed}
          onChange={(e) => setTyped(e.currentTarget.value)}
        />
        <Select label="Service" value={service} options={HEALTH.map((h) => [h, h || "any"])} onChange={setService} />
        <Select label="Drift" value={drift} options={HEALTH.map((h) => [h, h || "any"])} onChange={setDrift} />
        <Select label="Accuracy" value={accuracy} options={HEALTH.map((h) => [h, h || "any"])} onChange={setAccuracy} />
        <Select label="Importance" value={importance} options={IMPORTANCE.map((h) => [h, h || "any"])} onChange={setImportance} />
        <Select label="Sort" value={orderBy} options={ORDER} onChange={setOrderBy} />
      </Flex>
      <Loaded state={state} what="deployments">
        {(page) =>
          page.data.length === 0 ? (
            <Text color="fg.muted">No deployment matches (or none is shared with you).</Text>
          ) : (
            <Table.Root size="sm" interactive>
              <Table.Header>
                <Table.Row>
                  <Table.ColumnHeader>Deployment</Table.ColumnHeader>
                  <Table.ColumnHeader>Service</Table.ColumnHeader>
                  <Table.ColumnHeader>Drift</Table.ColumnHeader>
                  <Table.ColumnHeader>Accuracy</Table.ColumnHeader>
                  <Table.ColumnHeader>Importance</Table.ColumnHeader>
                  <Table.ColumnHeader>Model</Table.ColumnHeader>
                  <Table.ColumnHeader title="Up to the last prediction when there was none this past hour">Predictions, 7 days</Table.ColumnHeader>
                </Table.Row>
              </Table.Header>
              <Table.Body>
                {page.data.map((d) => (
                  <Table.Row key={d.id} data-testid="deployment-row" data-deployment-id={d.id}>
                    <Table.Cell>
                      <Link asChild colorPalette="blue" fontWeight="semibold">
                        <RouterLink to={pageSearch(d.id)}>{d.label}</RouterLink>
                      </Link>
                      <Text fontSize="xs" color="fg.muted">
                        {d.status === "active" ? d.id : `${d.id} · ${d.status}`}
                      </Text>
                    </Table.Cell>
                    <Table.Cell>
                      <HealthBadge kind="service" health={d.serviceHealth} />
                    </Table.Cell>
                    <Table.Cell>
                      <HealthBadge kind="drift" health={d.modelHealth} />
                    </Table.Cell>
                    <Table.Cell>
                      <HealthBadge kind="accuracy" health={d.accuracyHealth} />
                    </Table.Cell>
                    <Table.Cell>{d.importance ?? "—"}</Table.Cell>
                    <Table.Cell>{d.model.id}</Table.Cell>
                    <Table.Cell>
                      <Activity id={d.id} lastPrediction={d.predictionUsage?.lastTimestamp ?? null} />
                    </Table.Cell>
                  </Table.Row>
                ))}
              </Table.Body>
            </Table.Root>
          )
        }
      </Loaded>
    </Box>
  );
}
