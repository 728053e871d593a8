"""The package's modules import each other without a cycle (the layers contract checks packages)."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

import grimp


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("airflow_mlops")
    modules = graph.modules
    dependencies = {
        module: {m for m in graph.find_modules_directly_imported_by(module) if m in modules}
        for module in modules
    }
    try:
        tuple(TopologicalSorter(dependencies).static_order())
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise AssertionError(f"import cycle among the package's modules: {cycle}") from None
