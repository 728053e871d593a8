/** Small pieces every page uses: health badges, errors (401: Airflow's login), tiles, key-value lists. */
import { Alert, Badge, Box, Flex, Heading, Link, NativeSelect, SimpleGrid, Spinner, Text } from "@chakra-ui/react";
import { Component, type ReactNode } from "react";

import { ApiError, loginUrl, type Health } from "./api";
import { describe, formatNumber, rawValue } from "./format";

const PALETTE: Record<string, string> = {
  passing: "green",
  warning: "yellow",
  failing: "red",
  unknown: "gray",
  unavailable: "gray",
};

export type HealthKind = "service" | "drift" | "accuracy" | "fairness";

const KIND_LABEL: Record<HealthKind, string> = { service: "Service", drift: "Drift", accuracy: "Accuracy", fairness: "Fairness" };

/** One health verdict, as the API gives it; its message on hover. */
export function HealthBadge({ kind, health, showKind = false }: { kind: HealthKind; health: Health | undefined; showKind?: boolean }) {
  const status = (health?.status ?? "unknown").toLowerCase();
  return (
    <Badge
      data-testid="health-badge"
      data-kind={kind}
      data-status={status}
      title={health?.message ?? `${KIND_LABEL[kind]}: ${status}`}
      colorPalette={PALETTE[status] ?? "gray"}
      variant={status === "unavailable" ? "outline" : "subtle"}
    >
      {showKind ? `${KIND_LABEL[kind]}: ${status}` : status}
    </Badge>
  );
}

/** A failed call's message in the page; a 401 offers Airflow's login instead. */
export function ErrorBox({ error, what }: { error: Error; what?: string }) {
  const unauthenticated = error instanceof ApiError && error.status === 401;
  return (
    <Alert.Root status="error" data-testid="api-error" my={2}>
      <Alert.Indicator />
      <Alert.Content>
        <Alert.Title>{unauthenticated ? "You are not logged in" : `Could not load ${what ?? "this"}`}</Alert.Title>
        <Alert.Description>
          {unauthenticated ? (
            <Link href={loginUrl()} data-testid="login-link" colorPalette="blue">
              Log in to Airflow
            </Link>
          ) : (
            <>
              {error instanceof ApiError ? `${error.status}: ` : ""}
              {error.message}
            </>
          )}
        </Alert.Description>
      </Alert.Content>
    </Alert.Root>
  );
}

export function Loading() {
  return (
    <Flex align="center" gap={2} py={4} color="fg.muted">
      <Spinner size="sm" /> <Text>Loading…</Text>
    </Flex>
  );
}

/** Data, an error, or a spinner: the three states of every `useApi` answer. */
export function Loaded<T>({
  state,
  what,
  children,
}: {
  state: { data: T | undefined; error: Error | undefined; loading: boolean };
  what: string;
  children: (data: T) => ReactNode;
}) {
  if (state.error) return <ErrorBox error={state.error} what={what} />;
  if (state.data === undefined) return <Loading />;
  return <>{children(state.data)}</>;
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <Box borderWidth="1px" borderRadius="md" p={4} mb={4}>
      <Flex justify="space-between" align="center" mb={3} gap={2} wrap="wrap">
        <Heading size="sm">{title}</Heading>
        {actions}
      </Flex>
      {children}
    </Box>
  );
}

export function Tile({
  label,
  value,
  testId,
  metric,
  selected,
  onClick,
  hint,
}: {
  label: string;
  value: unknown;
  testId: string;
  metric: string;
  selected?: boolean;
  onClick?: () => void;
  hint?: string;
}) {
  return (
    <Box
      as={onClick ? "button" : "div"}
      data-testid={testId}
      data-metric={metric}
      data-value={rawValue(value)}
      onClick={onClick}
      title={hint}
      textAlign="left"
      borderWidth={selected ? "2px" : "1px"}
      borderColor={selected ? "colorPalette.solid" : "border"}
      colorPalette="blue"
      borderRadius="md"
      p={3}
      cursor={onClick ? "pointer" : "default"}
      _hover={onClick ? { bg: "bg.muted" } : undefined}
    >
      <Text fontSize="xs" color="fg.muted">
        {label}
      </Text>
      <Text fontSize="xl" fontWeight="semibold">
        {formatNumber(value)}
      </Text>
    </Box>
  );
}

export function TileGrid({ children }: { children: ReactNode }) {
  return (
    <SimpleGrid columns={{ base: 2, md: 4, lg: 6 }} gap={3} mb={4}>
      {children}
    </SimpleGrid>
  );
}

export function KeyValues({ items }: { items: [string, ReactNode][] }) {
  return (
    <Box as="dl" display="grid" gridTemplateColumns="max-content 1fr" columnGap={4} rowGap={1}>
      {items.map(([key, value]) => (
        <Box key={key} display="contents">
          <Text as="dt" color="fg.muted" fontSize="sm">
            {key}
          </Text>
          <Box as="dd" fontSize="sm" wordBreak="break-word">
            {typeof value === "string" || typeof value === "number" ? String(value) : value}
          </Box>
        </Box>
      ))}
    </Box>
  );
}

/** An object of any shape (evidence, scores, details) as a small key-value list. */
export function ObjectView({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <Text color="fg.muted">—</Text>;
  if (typeof value !== "object" || Array.isArray(value)) return <Text fontSize="sm">{describe(value)}</Text>;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return <Text color="fg.muted">—</Text>;
  return <KeyValues items={entries.map(([k, v]) => [k, describe(v)])} />;
}

export function Select({
  label,
  value,
  options,
  onChange,
  testId,
}: {
  label: string;
  value: string;
  options: (string | [string, string])[];
  onChange: (value: string) => void;
  testId?: string;
}) {
  return (
    <Flex align="center" gap={2}>
      <Text fontSize="sm" color="fg.muted" whiteSpace="nowrap">
        {label}
      </Text>
      <NativeSelect.Root size="sm" width="auto">
        <NativeSelect.Field
          aria-label={label}
          data-testid={testId}
          value={value}
          onChange={(e) => onChange(e.currentTarget.value)}
        >
          {options.map((o) => {
            const [v, text] = Array.isArray(o) ? o : [o, o];
            return (
              <option key={v} value={v}>
                {text}
              </option>
            );
          })}
        </NativeSelect.Field>
        <NativeSelect.Indicator />
      </NativeSelect.Root>
    </Flex>
  );
}

/** A part that throws while rendering shows its error instead of blanking the whole page. */
export class Guard extends Component<{ what: string; children: ReactNode }, { error?: Error }> {
  state: { error?: Error } = {};

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  render() {
    return this.state.error ? <ErrorBox error={this.state.error} what={this.props.what} /> : this.props.children;
  }
}
