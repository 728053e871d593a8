/**
 * The MLOps console, an Airflow 3 nav plugin. The host renders this component at its nav route
 * inside its router and Chakra provider; the console keeps its own place (deployment, tab,
 * window…) in the query string, so every page is a link.
 */
import { Box } from "@chakra-ui/react";
import { useSearchParams } from "react-router-dom";

import { Guard } from "./components";
import { DeploymentPage } from "./DeploymentPage";
import { Inventory } from "./Inventory";

export default function MlopsConsole() {
  const [params] = useSearchParams();
  const deployment = params.get("deployment");
  return (
    <Box p={4}>
      <Guard what="the console">{deployment ? <DeploymentPage id={deployment} /> : <Inventory />}</Guard>
    </Box>
  );
}
