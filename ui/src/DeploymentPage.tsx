/** One deployment: its header (label, health, model) and the tabs; the tab is `?tab=` in the URL. */
import { Box, Flex, Heading, Link, Tabs, Text } from "@chakra-ui/react";
import { Link as RouterLink } from "react-router-dom";

import { may, useApi, type Deployment } from "./api";
import { Guard, HealthBadge, Loaded } from "./components";
import { useParam } from "./params";
import { AnchorContext, anchorOf, type Anchor } from "./time";
import { Accuracy } from "./tabs/Accuracy";
import { Actions } from "./tabs/Actions";
import { DataDrift } from "./tabs/DataDrift";
import { Fairness } from "./tabs/Fairness";
import { Humility } from "./tabs/Humility";
import { Overview } from "./tabs/Overview";
import { Retraining } from "./tabs/Retraining";
import { ServiceHealth } from "./tabs/ServiceHealth";

/** Actions an owner may take; any of them shows the Actions tab. */
const ACTING = ["update", "settings", "replace"];

export function DeploymentPage({ id }: { id: string }) {
  const state = useApi<Deployment>(`deployments/${id}/`);
  const [tab, setTab] = useParam("tab", "overview");
  const [windowEnd] = useParam("windowEnd", "");
  return (
    <Box>
      <Link asChild colorPalette="blue" fontSize="sm" mb={2}>
        <RouterLink to="?">← All deployments</RouterLink>
      </Link>
      <Loaded state={state} what={`deployment ${id}`}>
        {(d) => {
          const acting = ACTING.some((a) => may(d, a));
          const tabs: [string, string][] = [
            ["overview", "Overview"],
            ["service", "Service health"],
            ["drift", "Data drift"],
            ["accuracy", "Accuracy"],
            ["fairness", "Fairness"],
            ["humility", "Humility"],
            ["retraining", "Retraining"],
            ...(acting ? ([["actions", "Actions"]] as [string, string][]) : []),
          ];
          const current = tabs.some(([v]) => v === tab) ? tab : "overview";
          const lastPrediction = d.predictionUsage?.lastTimestamp ?? null;
          const natural = anchorOf(lastPrediction);
          const anchor: Anchor = { anchor: windowEnd === "now" ? null : natural, available: natural !== null, lastPrediction };
          return (
            <AnchorContext.Provider value={anchor}>
            <Box data-testid="mlops-deployment" data-deployment-id={d.id}>
              <Flex align="baseline" gap={3} wrap="wrap" mt={2}>
                <Heading size="lg">{d.label}</Heading>
                <Text color="fg.muted" fontSize="sm">
                  {d.id} · {d.status} · {d.importance ?? "no importance"} · model {d.model.id}
                </Text>
              </Flex>
              <Flex gap={2} my={3} wrap="wrap">
                <HealthBadge kind="service" health={d.serviceHealth} showKind />
                <HealthBadge kind="drift" health={d.modelHealth} showKind />
                <HealthBadge kind="accuracy" health={d.accuracyHealth} showKind />
                {d.fairnessHealth && <HealthBadge kind="fairness" health={d.fairnessHealth} showKind />}
              </Flex>
              <Tabs.Root value={current} onValueChange={(e) => setTab(e.value)} lazyMount unmountOnExit>
                <Tabs.List>
                  {tabs.map(([value, label]) => (
                    <Tabs.Trigger key={value} value={value}>
                      {label}
                    </Tabs.Trigger>
                  ))}
                </Tabs.List>
                <Box pt={4}>
                  <Tabs.Content value="overview">
                    <Guard what="this tab">
                      <Overview deployment={d} />
                    </Guard>
                  </Tabs.Content>
                  <Tabs.Content value="service">
                    <Guard what="this tab">
                      <ServiceHealth deployment={d} />
                    </Guard>
                  </Tabs.Content>
                  <Tabs.Content value="drift">
                    <Guard what="this tab">
                      <DataDrift deployment={d} />
                    </Guard>
                  </Tabs.Content>
                  <Tabs.Content value="accuracy">
                    <Guard what="this tab">
                      <Accuracy deployment={d} />
                    </Guard>
                  </Tabs.Content>
                  <Tabs.Content value="fairness">
                    <Guard what="this tab">
                      <Fairness deployment={d} onChanged={state.reload} />
                    </Guard>
                  </Tabs.Content>
                  <Tabs.Content value="humility">
                    <Guard what="this tab">
                      <Humility deployment={d} />
                    </Guard>
                  </Tabs.Content>
                  <Tabs.Content value="retraining">
                    <Guard what="this tab">
                      <Retraining deployment={d} onChanged={state.reload} />
                    </Guard>
                  </Tabs.Content>
                  {acting && (
                    <Tabs.Content value="actions">
                      <Guard what="this tab">
                        <Actions deployment={d} onChanged={state.reload} />
                      </Guard>
                    </Tabs.Content>
                  )}
                </Box>
              </Tabs.Root>
            </Box>
            </AnchorContext.Provider>
          );
        }}
      </Loaded>
    </Box>
  );
}
