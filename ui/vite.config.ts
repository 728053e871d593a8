/**
 * The console as an Airflow 3 React plugin: one UMD file whose global `AirflowPlugin` is the
 * component. React, the router, Chakra UI and Emotion are the host's (its globals), so the
 * console renders inside Airflow's providers and looks like Airflow in light and dark mode.
 *
 * `MLOPS_CONSOLE_OUT_DIR` builds elsewhere (the `make ui-check` comparison); the default is
 * the committed, shipped bundle. Nothing else is in the output, and other files next to it stay.
 */
import { resolve } from "node:path";
import { defineConfig } from "vite";

const outDir = resolve(
  process.env.MLOPS_CONSOLE_OUT_DIR ?? resolve(__dirname, "../plugins/airflow_mlops/serving/static/console"),
);

const hostGlobals: Record<string, string> = {
  react: "React",
  "react-dom": "ReactDOM",
  "react-router-dom": "ReactRouterDOM",
  "react/jsx-runtime": "ReactJSXRuntime",
  "@chakra-ui/react": "ChakraUI",
  "@emotion/react": "EmotionReact",
};

export default defineConfig({
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
  esbuild: { jsx: "automatic", legalComments: "none" },
  build: {
    outDir,
    emptyOutDir: false,
    copyPublicDir: false,
    sourcemap: false,
    minify: "esbuild",
    target: "es2022",
    reportCompressedSize: false,
    lib: {
      entry: resolve(__dirname, "src/main.tsx"),
      name: "AirflowPlugin",
      formats: ["umd"],
      fileName: () => "main.umd.js",
    },
    rollupOptions: {
      external: Object.keys(hostGlobals),
      output: { globals: hostGlobals, exports: "default" },
    },
  },
});
