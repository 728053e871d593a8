/** Retraining requests, newest first, with what came of them; owners decide and ask for retrains. */
import { Badge, Box, Button, Flex, Text, Textarea } from "@chakra-ui/react";
import { useState } from "react";

import { api, may, useApi, type Deployment, type Page } from "../api";
import { ErrorBox, Loaded, ObjectView, Section } from "../components";
import { describe } from "../format";
import { formatTime } from "../time";

interface RetrainingRequest {
  id: string;
  reason: string;
  origin: string;
  evidence: Record<string, unknown> | null;
  requestedAt: string;
  status: string;
  message: string | null;
  actor: string | null;
  dagRunId: string | null;
  championModelId: string | null;
  challengerModelId: string | null;
  scores: Record<string, unknown> | null;
  details: Record<string, unknown> | null;
  decidedAt: string | null;
}

const STATUS_PALETTE: Record<string, string> = {
  replaced: "green",
  approved: "green",
  awaiting_approval: "yellow",
  running: "blue",
  pending: "blue",
  failed: "red",
  rejected: "red",
  suppressed: "gray",
  not_replaced: "gray",
};

function RequestCard({ r, owner, deploymentId, onChanged }: { r: RetrainingRequest; owner: boolean; deploymentId: string; onChanged: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const decide = async (verb: "approve" | "reject") => {
    setBusy(true);
    setError(undefined);
    try {
      await api(`deployments/${deploymentId}/retrainingRequests/${r.id}/${verb}/`, { method: "POST", body: verb === "reject" ? {} : undefined });
      onChanged();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Box data-testid="retraining-request" data-request-id={r.id} data-status={r.status} borderWidth="1px" borderRadius="md" p={3} mb={3}>
      <Flex gap={2} align="baseline" wrap="wrap">
        <Badge colorPalette={STATUS_PALETTE[r.status] ?? "gray"}>{r.status}</Badge>
        <Badge variant="outline">{r.reason}</Badge>
        <Text fontSize="sm" color="fg.muted">
          {formatTime(r.requestedAt)} · {r.origin}
          {r.actor ? ` · ${r.actor}` : ""}
          {r.dagRunId ? ` · DAG run ${r.dagRunId}` : ""}
          {r.decidedAt ? ` · decided ${formatTime(r.decidedAt)}` : ""}
        </Text>
      </Flex>
      {r.message && <Text fontSize="sm" mt={1}>{r.message}</Text>}
      <Flex gap={6} mt={2} wrap="wrap">
        <Box>
          <Text fontSize="xs" color="fg.muted">Evidence</Text>
          <ObjectView value={r.evidence} />
        </Box>
        {(r.championModelId || r.challengerModelId) && (
          <Box>
            <Text fontSize="xs" color="fg.muted">Outcome</Text>
            <Text fontSize="sm">
              champion {describe(r.championModelId)} · challenger {describe(r.challengerModelId)}
            </Text>
            <ObjectView value={r.scores} />
          </Box>
        )}
      </Flex>
      {owner && r.status === "awaiting_approval" && (
        <Flex gap={2} mt={3}>
          <Button size="sm" colorPalette="green" data-testid="approve-request" loading={busy} onClick={() => decide("approve")}>
            Approve: replace the model
          </Button>
          <Button size="sm" variant="outline" colorPalette="red" data-testid="reject-request" loading={busy} onClick={() => decide("reject")}>
            Reject
          </Button>
        </Flex>
      )}
      {error && <ErrorBox error={error} what="the decision" />}
    </Box>
  );
}

function RequestRetrain({ deploymentId, onDone }: { deploymentId: string; onDone: () => void }) {
  const [note, setNote] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const [done, setDone] = useState<string>();
  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const created = await api<RetrainingRequest>(`deployments/${deploymentId}/retrainingRequests/`, {
        method: "POST",
        body: { reason: "OTHER", ...(note ? { note } : {}) },
      });
      setDone(`Request ${created.id} recorded (${created.status}); mlops_refresh dispatches it.`);
      setNote("");
      onDone();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Section title="Ask for a retrain">
      <Textarea
        size="sm"
        placeholder="Why (kept as the request's evidence)"
        aria-label="Note"
        data-testid="retrain-note"
        value={note}
        maxLength={2000}
        onChange={(e) => setNote(e.currentTarget.value)}
      />
      <Button mt={2} size="sm" data-testid="request-retrain" loading={busy} onClick={submit}>
        Request a retrain
      </Button>
      {done && <Text fontSize="sm" mt={2}>{done}</Text>}
      {error && <ErrorBox error={error} what="the request" />}
    </Section>
  );
}

export function Retraining({ deployment: d, onChanged }: { deployment: Deployment; onChanged: () => void }) {
  const requests = useApi<Page<RetrainingRequest>>(`deployments/${d.id}/retrainingRequests/`, { limit: 1000 });
  const owner = may(d, "replace");
  const changed = () => {
    requests.reload();
    onChanged();
  };
  return (
    <Box>
      {owner && <RequestRetrain deploymentId={d.id} onDone={requests.reload} />}
      <Section title="Requests, newest first">
        <Loaded state={requests} what="retraining requests">
          {(page) =>
            page.data.length === 0 ? (
              <Text color="fg.muted">No retraining request yet.</Text>
            ) : (
              <>
                {page.data.map((r) => (
                  <RequestCard key={r.id} r={r} owner={owner} deploymentId={d.id} onChanged={changed} />
                ))}
              </>
            )
          }
        </Loaded>
      </Section>
    </Box>
  );
}
