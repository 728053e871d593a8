/* Placeholder until the console is built from ui/ (`make ui` overwrites this file). */
(function (g) {
  g.MLOps = function MLOps() {
    return g.React.createElement("p", null, "The MLOps console is not built: run `make ui`.");
  };
})(globalThis);
