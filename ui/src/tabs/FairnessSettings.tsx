/**
 * The `biasAndFairness` settings as a form (PATCH `settings/`): protected features chosen from the
 * model's features, the favourable class, the metric set, the threshold and the health rule's
 * counts. It lives on the Fairness tab, beside what it changes; the server checks everything
 * (features and classes of the model, binary targets only) and its 422 is shown by the field.
 */
import { Box, Button, Checkbox, Field, Flex, Input, NativeSelect, SimpleGrid, Text } from "@chakra-ui/react";
import { useState } from "react";

import { api, useApi, type Deployment, type Page } from "../api";
import { ErrorBox, Section } from "../components";
import { describeAll, locate, messagesFor, unmatched } from "../forms";
import { useWindow } from "./ServiceHealth";

/** The section as `settings/` gives it (null there: no feature protected, fairness off). */
export interface BiasAndFairness {
  protectedFeatures: string[];
  preferableTargetValue: string | number | boolean | null;
  fairnessMetricsSet: string;
  fairnessThreshold: number;
  minGroupRows: number;
  warningGroups: number;
  failingGroups: number;
}

/** DataRobot's `FairnessMetricsSet` values, with what each compares. */
export const METRIC_SETS: [string, string][] = [
  ["proportionalParity", "Proportional parity (favourable prediction rate)"],
  ["equalParity", "Equal parity (favourable predictions)"],
  ["predictionBalance", "Prediction balance (mean score per actual class)"],
  ["trueFavorableAndUnfavorableRateParity", "True favourable and unfavourable rate parity"],
  ["favorableAndUnfavorablePredictiveValueParity", "Favourable and unfavourable predictive value parity"],
];

/** What a new deployment starts with (the server's defaults). */
const DEFAULTS: BiasAndFairness = {
  protectedFeatures: [],
  preferableTargetValue: null,
  fairnessMetricsSet: "proportionalParity",
  fairnessThreshold: 0.8,
  minGroupRows: 100,
  warningGroups: 1,
  failingGroups: 1,
};

const SECTION = "biasAndFairness";
const NUMBERS = ["fairnessThreshold", "minGroupRows", "warningGroups", "failingGroups"] as const;
type NumberField = (typeof NUMBERS)[number];
const NUMBER_LABELS: Record<NumberField, string> = {
  fairnessThreshold: "Fairness threshold (0 to 1)",
  minGroupRows: "Rows a group needs to be judged",
  warningGroups: "Groups below the threshold that warn",
  failingGroups: "Groups below the threshold that fail",
};

/** A number if the text is one; otherwise the text itself, so the server says what is wrong with it. */
const numberOrText = (text: string): number | string => (text.trim() !== "" && !Number.isNaN(Number(text)) ? Number(text) : text);

/** Class names seen in the window's predictions and actuals (suggestions only: the server knows the model's). */
interface ClassBuckets {
  buckets: { predictedClassDistribution?: { className: string }[] | null; actualClassDistribution?: { className: string }[] | null }[];
}

export function FairnessSettingsForm({
  deployment: d,
  value,
  onSaved,
}: {
  deployment: Deployment;
  value: BiasAndFairness | null;
  onSaved: () => void;
}) {
  const current = { ...DEFAULTS, ...(value ?? {}) };
  const { start, end } = useWindow();
  // The model's features as the drift tab lists them (its monitoring baseline's), most important first.
  const drift = useApi<Page<{ name: string; featureImpact: number | null }>>(`deployments/${d.id}/featureDrift/`, { start, end, limit: 1000 });
  const seen = useApi<ClassBuckets>(`deployments/${d.id}/predictionsVsActualsOverTime/`, { start, end, bucketSize: "P7D" });
  const known = [...(drift.data?.data ?? [])].sort((a, b) => (b.featureImpact ?? 0) - (a.featureImpact ?? 0)).map((f) => f.name);
  const [features, setFeatures] = useState<string[]>(current.protectedFeatures);
  const [typed, setTyped] = useState(current.protectedFeatures.join(", "));
  const [favourable, setFavourable] = useState(current.preferableTargetValue === null ? "" : String(current.preferableTargetValue));
  const [metricSet, setMetricSet] = useState(current.fairnessMetricsSet);
  const [numbers, setNumbers] = useState<Record<NumberField, string>>(
    Object.fromEntries(NUMBERS.map((n) => [n, String(current[n])])) as Record<NumberField, string>,
  );
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);

  const choices = [...known, ...current.protectedFeatures.filter((f) => !known.includes(f))];
  // Without a feature list (drift tracking off, no baseline) the names are typed, comma-separated.
  const byName = drift.data !== undefined && choices.length === 0;
  const chosen = byName ? typed.split(",").map((s) => s.trim()).filter(Boolean) : features;
  const classes = [
    ...new Set(
      (seen.data?.buckets ?? []).flatMap((b) => [...(b.predictedClassDistribution ?? []), ...(b.actualClassDistribution ?? [])].map((c) => c.className)),
    ),
  ].sort();

  const located = error ? locate(error) : [];
  const fieldNames = ["protectedFeatures", "preferableTargetValue", "fairnessMetricsSet", ...NUMBERS];
  const rest = unmatched(located, [...fieldNames.map((f) => [SECTION, f] as [string, string]), [undefined, SECTION]]);
  const errors = (field: string) =>
    messagesFor(located, field, SECTION).map((m) => (
      <Field.ErrorText key={m} data-testid="field-error" data-field={field}>
        {m}
      </Field.ErrorText>
    ));
  const invalid = (field: string) => messagesFor(located, field, SECTION).length > 0;

  const save = async () => {
    const body = {
      [SECTION]: {
        protectedFeatures: chosen,
        preferableTargetValue: favourable.trim() === "" ? null : favourable.trim(),
        fairnessMetricsSet: metricSet,
        ...Object.fromEntries(NUMBERS.map((n) => [n, numberOrText(numbers[n])])),
      },
    };
    setBusy(true);
    setError(undefined);
    setSaved(false);
    try {
      await api(`deployments/${d.id}/settings/`, { method: "PATCH", body });
      setSaved(true);
      onSaved();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Section title="Fairness settings">
      <Box data-testid="fairness-settings-form">
        <Text fontSize="sm" color="fg.muted" mb={3}>
          Fairness compares groups of each protected feature (binary classification only). Predictions count for a feature from
          when it is protected; the favourable class can change at any time. No feature protected: fairness is off.
        </Text>
        {error && rest.length > 0 && <ErrorBox error={new Error(describeAll(rest))} what="the change" />}
        {/* Not a Field: a field gives every control inside it its one id, so each checkbox's label would toggle the first. */}
        <Box mb={3} role="group" aria-labelledby="fairness-features-label" data-field="protectedFeatures">
          <Text id="fairness-features-label" fontSize="sm" fontWeight="medium" mb={1}>
            Protected features
          </Text>
          {drift.error && <Text fontSize="xs" color="fg.muted">The feature list could not be loaded ({drift.error.message}): type the names.</Text>}
          {byName || drift.error ? (
            <Input size="sm" name="protectedFeatures" aria-labelledby="fairness-features-label" data-testid="fairness-features-text" placeholder="feature, feature" value={typed} onChange={(e) => setTyped(e.currentTarget.value)} />
          ) : (
            <Flex gap={4} wrap="wrap" data-testid="fairness-features">
              {choices.map((name) => (
                <Checkbox.Root
                  key={name}
                  size="sm"
                  data-testid="fairness-feature-choice"
                  data-feature={name}
                  checked={features.includes(name)}
                  onCheckedChange={(e) => setFeatures((fs) => (e.checked === true ? [...fs.filter((f) => f !== name), name] : fs.filter((f) => f !== name)))}
                >
                  <Checkbox.HiddenInput name="protectedFeatures" value={name} />
                  <Checkbox.Control />
                  <Checkbox.Label>{name}</Checkbox.Label>
                </Checkbox.Root>
              ))}
              {drift.data === undefined && <Text fontSize="sm" color="fg.muted">Loading the model's features…</Text>}
            </Flex>
          )}
          {messagesFor(located, "protectedFeatures", SECTION).map((m) => (
            <Text key={m} color="fg.error" fontSize="sm" mt={1} data-testid="field-error" data-field="protectedFeatures">
              {m}
            </Text>
          ))}
        </Box>
        <SimpleGrid columns={{ base: 1, md: 2, lg: 3 }} gap={3} mb={3}>
          <Field.Root invalid={invalid("preferableTargetValue")} data-field="preferableTargetValue">
            <Field.Label>Favourable class</Field.Label>
            <Input
              size="sm"
              name="preferableTargetValue"
              data-testid="fairness-favourable"
              list="fairness-classes"
              placeholder={classes.length ? classes.join(" or ") : "one of the model's two classes"}
              value={favourable}
              onChange={(e) => setFavourable(e.currentTarget.value)}
            />
            <datalist id="fairness-classes">
              {classes.map((c) => (
                <option key={c} value={c} />
              ))}
            </datalist>
            {errors("preferableTargetValue")}
          </Field.Root>
          <Field.Root invalid={invalid("fairnessMetricsSet")} data-field="fairnessMetricsSet">
            <Field.Label>Metric set</Field.Label>
            <NativeSelect.Root size="sm">
              <NativeSelect.Field name="fairnessMetricsSet" data-testid="fairness-metric-set" value={metricSet} onChange={(e) => setMetricSet(e.currentTarget.value)}>
                {METRIC_SETS.map(([v, label]) => (
                  <option key={v} value={v}>
                    {label}
                  </option>
                ))}
              </NativeSelect.Field>
              <NativeSelect.Indicator />
            </NativeSelect.Root>
            {errors("fairnessMetricsSet")}
          </Field.Root>
          {NUMBERS.map((n) => (
            <Field.Root key={n} invalid={invalid(n)} data-field={n}>
              <Field.Label>{NUMBER_LABELS[n]}</Field.Label>
              <Input size="sm" name={n} inputMode="decimal" value={numbers[n]} onChange={(e) => { const t = e.currentTarget.value; setNumbers((ns) => ({ ...ns, [n]: t })); }} />
              {errors(n)}
            </Field.Root>
          ))}
        </SimpleGrid>
        <Flex gap={3} align="center">
          <Button size="sm" colorPalette="blue" data-testid="fairness-save" onClick={save} loading={busy}>
            Save fairness settings
          </Button>
          {saved && <Text fontSize="sm" color="fg.muted" data-testid="fairness-saved">Saved.</Text>}
        </Flex>
      </Box>
    </Section>
  );
}
