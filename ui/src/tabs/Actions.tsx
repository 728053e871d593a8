/**
 * What an owner may do (the API's `permissions` decide what is shown; the API still checks):
 * replace the model (validation first, then a reason), activate/deactivate, edit the deployment
 * and its settings. Server validation errors are shown next to the field they name.
 */
import { Badge, Box, Button, Field, Flex, Input, NativeSelect, Table, Text, Textarea } from "@chakra-ui/react";
import { useState } from "react";

import { api, may, useApi, type Deployment } from "../api";
import { ErrorBox, Loaded, Section } from "../components";
import { SettingsForm, describeAll, locate, messagesFor, unmatched } from "../forms";
import { describe } from "../format";

const REASONS = ["ACCURACY", "DATA_DRIFT", "ERRORS", "SCHEDULED_REFRESH", "SCORING_SPEED", "OTHER"];
const IMPORTANCE = ["CRITICAL", "HIGH", "MODERATE", "LOW"];

interface Validation {
  status: string;
  message: string;
  checks: unknown;
}

function checksOf(checks: unknown): [string, unknown][] {
  if (Array.isArray(checks)) return checks.map((c, i) => [String((c as { name?: unknown })?.name ?? i), c]);
  if (checks && typeof checks === "object") return Object.entries(checks as Record<string, unknown>);
  return [];
}

function ReplaceModel({ deployment: d, onChanged }: { deployment: Deployment; onChanged: () => void }) {
  const [modelId, setModelId] = useState("");
  const [reason, setReason] = useState("OTHER");
  const [validation, setValidation] = useState<Validation & { modelId: string }>();
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string>();
  const located = error ? locate(error) : [];
  const run = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      await fn();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  const validate = () =>
    run(async () => {
      setValidation(undefined);
      const v = await api<Validation>(`deployments/${d.id}/model/validation/`, { method: "POST", body: { modelId } });
      setValidation({ ...v, modelId });
    });
  const replace = () =>
    run(async () => {
      const after = await api<Deployment>(`deployments/${d.id}/model/`, { method: "PATCH", body: { modelId, reason } });
      setDone(`The deployment now serves ${after.model.id}.`);
      setValidation(undefined);
      onChanged();
    });
  const validated = validation && validation.modelId === modelId;
  const rest = unmatched(located, [[undefined, "modelId"], [undefined, "reason"]]);
  return (
    <Section title="Replace the model">
      <Text fontSize="sm" color="fg.muted" mb={2}>
        Current model: {d.model.id}. Give a registered model version (<code>name/version</code>); it is validated first.
      </Text>
      <Flex gap={3} align="flex-end" wrap="wrap">
        <Field.Root invalid={messagesFor(located, "modelId").length > 0} maxW="360px">
          <Field.Label>Model version</Field.Label>
          <Input size="sm" name="modelId" data-testid="replace-model-id" placeholder={`${d.model.registeredModelName}/…`} value={modelId} onChange={(e) => setModelId(e.currentTarget.value)} />
          {messagesFor(located, "modelId").map((m) => (
            <Field.ErrorText key={m} data-testid="field-error">{m}</Field.ErrorText>
          ))}
        </Field.Root>
        <Button size="sm" data-testid="validate-model" onClick={validate} loading={busy} disabled={!modelId}>
          Validate
        </Button>
      </Flex>
      {validated && (
        <Box mt={3} data-testid="model-validation" data-status={validation.status}>
          <Flex gap={2} align="baseline">
            <Badge colorPalette={validation.status === "passing" ? "green" : validation.status === "warning" ? "yellow" : "red"}>{validation.status}</Badge>
            <Text fontSize="sm">{validation.message}</Text>
          </Flex>
          {checksOf(validation.checks).length > 0 && (
            <Table.Root size="sm" mt={2}>
              <Table.Body>
                {checksOf(validation.checks).map(([name, check]) => (
                  <Table.Row key={name} data-testid="validation-check">
                    <Table.Cell>{name}</Table.Cell>
                    <Table.Cell>{describe(check)}</Table.Cell>
                  </Table.Row>
                ))}
              </Table.Body>
            </Table.Root>
          )}
          <Flex gap={3} align="flex-end" mt={3} wrap="wrap">
            <Field.Root maxW="240px" invalid={messagesFor(located, "reason").length > 0}>
              <Field.Label>Reason</Field.Label>
              <NativeSelect.Root size="sm">
                <NativeSelect.Field name="reason" data-testid="replace-reason" value={reason} onChange={(e) => setReason(e.currentTarget.value)}>
                  {REASONS.map((r) => (
                    <option key={r} value={r}>{r}</option>
                  ))}
                </NativeSelect.Field>
                <NativeSelect.Indicator />
              </NativeSelect.Root>
              {messagesFor(located, "reason").map((m) => (
                <Field.ErrorText key={m}>{m}</Field.ErrorText>
              ))}
            </Field.Root>
            <Button size="sm" colorPalette="blue" data-testid="replace-model" onClick={replace} loading={busy} disabled={validation.status === "failing"}>
              Replace the model
            </Button>
          </Flex>
        </Box>
      )}
      {error && rest.length > 0 && <ErrorBox error={new Error(describeAll(rest))} what="the model change" />}
      {done && <Text fontSize="sm" mt={2}>{done}</Text>}
    </Section>
  );
}

function Status({ deployment: d, onChanged }: { deployment: Deployment; onChanged: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const active = d.status === "active";
  const toggle = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await api(`deployments/${d.id}/status/`, { method: "PATCH", body: { status: active ? "inactive" : "active" } });
      onChanged();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Section title="Status">
      <Flex gap={3} align="center">
        <Text fontSize="sm">
          The deployment is <b>{d.status}</b>
          {active ? "" : ": it answers no prediction"}.
        </Text>
        <Button size="sm" variant="outline" data-testid={active ? "deactivate" : "activate"} onClick={toggle} loading={busy}>
          {active ? "Deactivate" : "Activate"}
        </Button>
      </Flex>
      {error && <ErrorBox error={error} what="the status change" />}
    </Section>
  );
}

function EditDeployment({ deployment: d, onChanged }: { deployment: Deployment; onChanged: () => void }) {
  const [label, setLabel] = useState(d.label);
  const [description, setDescription] = useState(d.description ?? "");
  const [importance, setImportance] = useState(d.importance ?? "");
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const located = error ? locate(error) : [];
  const rest = unmatched(located, [[undefined, "label"], [undefined, "description"], [undefined, "importance"]]);
  const save = async () => {
    const body: Record<string, string> = {};
    if (label !== d.label) body.label = label;
    if (description !== (d.description ?? "")) body.description = description;
    if (importance && importance !== d.importance) body.importance = importance;
    setBusy(true);
    setError(undefined);
    setSaved(false);
    try {
      await api(`deployments/${d.id}/`, { method: "PATCH", body });
      setSaved(true);
      onChanged();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  const errors = (name: string) =>
    messagesFor(located, name).map((m) => (
      <Field.ErrorText key={m} data-testid="field-error">{m}</Field.ErrorText>
    ));
  return (
    <Section title="Label, description, importance">
      <Flex direction="column" gap={3} maxW="640px" data-testid="edit-deployment">
        <Field.Root invalid={messagesFor(located, "label").length > 0}>
          <Field.Label>Label</Field.Label>
          <Input size="sm" name="label" value={label} onChange={(e) => setLabel(e.currentTarget.value)} />
          {errors("label")}
        </Field.Root>
        <Field.Root invalid={messagesFor(located, "description").length > 0}>
          <Field.Label>Description</Field.Label>
          <Textarea size="sm" name="description" value={description} onChange={(e) => setDescription(e.currentTarget.value)} />
          {errors("description")}
        </Field.Root>
        <Field.Root invalid={messagesFor(located, "importance").length > 0} maxW="240px">
          <Field.Label>Importance</Field.Label>
          <NativeSelect.Root size="sm">
            <NativeSelect.Field name="importance" value={importance} onChange={(e) => setImportance(e.currentTarget.value)}>
              {!d.importance && <option value="">(not set)</option>}
              {IMPORTANCE.map((i) => (
                <option key={i} value={i}>{i}</option>
              ))}
            </NativeSelect.Field>
            <NativeSelect.Indicator />
          </NativeSelect.Root>
          {errors("importance")}
        </Field.Root>
        <Flex gap={3} align="center">
          <Button size="sm" onClick={save} loading={busy}>Save</Button>
          {saved && <Text fontSize="sm" color="fg.muted">Saved.</Text>}
        </Flex>
        {error && rest.length > 0 && <ErrorBox error={new Error(describeAll(rest))} what="the change" />}
      </Flex>
    </Section>
  );
}

export function Actions({ deployment: d, onChanged }: { deployment: Deployment; onChanged: () => void }) {
  const health = useApi<Record<string, unknown>>(`deployments/${d.id}/healthSettings/`);
  const settings = useApi<Record<string, unknown>>(`deployments/${d.id}/settings/`);
  return (
    <Box>
      {may(d, "replace") && <ReplaceModel deployment={d} onChanged={onChanged} />}
      {may(d, "update") && <Status deployment={d} onChanged={onChanged} />}
      {may(d, "update") && <EditDeployment deployment={d} onChanged={onChanged} />}
      {may(d, "settings") && (
        <>
          <Section title="Health settings">
            <Loaded state={health} what="the health settings">
              {(h) => <SettingsForm title="" testId="health-settings-form" path={`deployments/${d.id}/healthSettings/`} value={h} onSaved={health.reload} />}
            </Loaded>
          </Section>
          <Section title="Retraining and monitoring settings">
            <Loaded state={settings} what="the settings">
              {(s) => <SettingsForm title="" testId="settings-form" path={`deployments/${d.id}/settings/`} value={s} onSaved={settings.reload} />}
            </Loaded>
          </Section>
        </>
      )}
    </Box>
  );
}
