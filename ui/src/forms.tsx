/**
 * Forms that show the server's validation next to the field: a 422's FastAPI `detail` list (by
 * `loc`) or our `<path>: <rule>` messages (joined by "; "), matched to a field by its camelCase or
 * snake_case name. What matches no field is shown above the form.
 */
import { Box, Button, Field, Flex, Heading, Input, NativeSelect, SimpleGrid, Text } from "@chakra-ui/react";
import { useState } from "react";

import { api, ApiError } from "./api";
import { ErrorBox } from "./components";

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const same = (a: string, b: string): boolean => a === b || snake(a) === snake(b);

export interface Located {
  path: string[];
  message: string;
}

/** Every message of a failed call with the field path it names (empty: the whole form). */
export function locate(error: Error): Located[] {
  if (error instanceof ApiError && error.fieldErrors.length > 0)
    return error.fieldErrors.map((e) => ({ path: e.loc.filter((p) => p !== "body"), message: e.msg }));
  return error.message.split("; ").map((part) => {
    const m = /^([A-Za-z_][\w.]*): (.*)$/s.exec(part);
    return m ? { path: m[1].split("."), message: m[2] } : { path: [], message: part };
  });
}

/** The messages for `field` (in `section`, if any); the path's end must be the field's name. */
export function messagesFor(located: Located[], field: string, section?: string): string[] {
  return located
    .filter(({ path }) => {
      if (path.length === 0 || !same(path[path.length - 1], field)) return false;
      return section === undefined || path.length < 2 || same(path[path.length - 2], section);
    })
    .map((l) => l.message);
}

export function unmatched(located: Located[], fields: [string | undefined, string][]): Located[] {
  return located.filter((l) => !fields.some(([section, field]) => messagesFor([l], field, section).length > 0));
}

export const describeAll = (located: Located[]): string =>
  located.map((l) => (l.path.length ? `${l.path.join(".")}: ` : "") + l.message).join("; ");

type Scalar = string | number | boolean | null | string[];

/** How a value is edited: its JSON type decides (null values are free text: number if it parses). */
function toText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(", ");
  return String(value);
}

function fromText(text: string, original: unknown): Scalar {
  const trimmed = text.trim();
  if (Array.isArray(original)) return trimmed ? trimmed.split(",").map((s) => s.trim()).filter(Boolean) : [];
  if (typeof original === "boolean") return trimmed === "true";
  if (trimmed === "") return null;
  if (typeof original === "number") return Number(trimmed);
  if (original === null && trimmed !== "" && !Number.isNaN(Number(trimmed))) return Number(trimmed);
  return trimmed;
}

/**
 * Every scalar field of every section of a settings document (`{section: {field: value}}`), edited
 * in place; Save PATCHes only the changed fields, grouped by section.
 */
export function SettingsForm({
  title,
  path,
  value,
  sections,
  onSaved,
  testId,
}: {
  title: string;
  path: string;
  value: Record<string, unknown>;
  sections?: string[];
  onSaved: () => void;
  testId: string;
}) {
  const shown = Object.entries(value).filter(
    ([name, body]) => body && typeof body === "object" && !Array.isArray(body) && (!sections || sections.includes(name)),
  ) as [string, Record<string, unknown>][];
  const [edits, setEdits] = useState<Record<string, string>>({});
  const [error, setError] = useState<Error>();
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const located = error ? locate(error) : [];
  const fields: [string, string][] = shown.flatMap(([section, body]) => Object.keys(body).map((f) => [section, f] as [string, string]));
  const rest = unmatched(located, [...fields, ...shown.map(([s]) => [undefined, s] as [undefined, string])]);

  const save = async () => {
    const patch: Record<string, Record<string, Scalar>> = {};
    for (const [key, text] of Object.entries(edits)) {
      const [section, field] = key.split("/");
      const original = value[section] && (value[section] as Record<string, unknown>)[field];
      if (text === toText(original)) continue;
      (patch[section] ??= {})[field] = fromText(text, original);
    }
    setBusy(true);
    setError(undefined);
    setSaved(false);
    try {
      await api(path, { method: "PATCH", body: patch });
      setEdits({});
      setSaved(true);
      onSaved();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Box data-testid={testId}>
      <Heading size="sm" mb={2}>
        {title}
      </Heading>
      {error && rest.length > 0 && <ErrorBox error={new Error(describeAll(rest))} what="the change" />}
      {shown.map(([section, body]) => (
        <Box key={section} mb={3}>
          <Text fontWeight="semibold" fontSize="sm" mb={1}>
            {section}
          </Text>
          {messagesFor(located, section).map((m) => (
            <Text key={m} color="fg.error" fontSize="sm" data-testid="field-error" data-field={section}>
              {m}
            </Text>
          ))}
          <SimpleGrid columns={{ base: 1, md: 2, lg: 3 }} gap={2}>
            {Object.entries(body)
              .filter(([, v]) => v === null || typeof v !== "object" || Array.isArray(v))
              .map(([field, original]) => {
                const key = `${section}/${field}`;
                const text = edits[key] ?? toText(original);
                const messages = messagesFor(located, field, section);
                const set = (t: string) => setEdits((e) => ({ ...e, [key]: t }));
                return (
                  <Field.Root key={key} invalid={messages.length > 0} data-field={`${section}.${field}`}>
                    <Field.Label fontSize="xs">{field}</Field.Label>
                    {typeof original === "boolean" ? (
                      <NativeSelect.Root size="sm">
                        <NativeSelect.Field name={`${section}.${field}`} value={text} onChange={(e) => set(e.currentTarget.value)}>
                          <option value="true">true</option>
                          <option value="false">false</option>
                        </NativeSelect.Field>
                        <NativeSelect.Indicator />
                      </NativeSelect.Root>
                    ) : (
                      <Input size="sm" name={`${section}.${field}`} value={text} placeholder={original === null ? "(not set)" : undefined} onChange={(e) => set(e.currentTarget.value)} />
                    )}
                    {messages.map((m) => (
                      <Field.ErrorText key={m} data-testid="field-error">
                        {m}
                      </Field.ErrorText>
                    ))}
                  </Field.Root>
                );
              })}
          </SimpleGrid>
        </Box>
      ))}
      <Flex gap={3} align="center">
        <Button size="sm" onClick={save} loading={busy} disabled={Object.keys(edits).length === 0}>
          Save
        </Button>
        {saved && <Text fontSize="sm" color="fg.muted">Saved.</Text>}
      </Flex>
    </Box>
  );
}
