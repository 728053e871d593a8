// Loads the built UMD the way the host does (host globals first, then the file), checks that
// globalThis.AirflowPlugin is the component, and renders it to a string inside Chakra and a router.
// Usage: node scripts/smoke.mjs [path/to/main.umd.js]
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import vm from "node:vm";

import * as ChakraUI from "@chakra-ui/react";
import * as EmotionReact from "@emotion/react";
import React from "react";
import * as ReactDOM from "react-dom";
import { renderToString } from "react-dom/server";
import * as ReactJSXRuntime from "react/jsx-runtime";
import * as ReactRouterDOM from "react-router-dom";

const file = resolve(process.argv[2] ?? "../plugins/airflow_mlops/serving/static/console/main.umd.js");
Object.assign(globalThis, { React, ReactDOM, ReactJSXRuntime, ReactRouterDOM, ChakraUI, EmotionReact });
globalThis.document ??= { baseURI: "http://airflow.test/" };
globalThis.window ??= { location: { href: "http://airflow.test/plugin/mlops" } };
// No `exports`, `module` or `define` in scope: the UMD must take the browser path (globals).
vm.runInThisContext(readFileSync(file, "utf8"), { filename: file });

const Plugin = globalThis.AirflowPlugin;
if (typeof Plugin !== "function") throw new Error(`globalThis.AirflowPlugin is ${typeof Plugin}, expected a component`);

const render = (search) =>
  renderToString(
    React.createElement(
      ChakraUI.ChakraProvider,
      { value: ChakraUI.defaultSystem },
      React.createElement(
        ReactRouterDOM.MemoryRouter,
        { initialEntries: [`/plugin/mlops${search}`] },
        React.createElement(Plugin, {}),
      ),
    ),
  );
const checks = [
  ["", 'data-testid="mlops-inventory"'],
  ["?deployment=0123456789abcdef01234567&tab=drift", "Loading"],
];
for (const [search, expected] of checks) {
  const html = render(search);
  if (!html.includes(expected)) throw new Error(`rendering ${search || "/"}: ${expected} not found in ${html.slice(0, 500)}`);
}
console.log(`ok: ${file} defines AirflowPlugin (${Plugin.name}) and renders the inventory and a deployment page`);
