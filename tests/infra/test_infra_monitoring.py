"""Alert rules and the project-trace workbook (infra/modules/alerts.bicep), checked offline.

The log queries read span attributes by name; these tests hold them to the names the code sets, and the
telemetry tests (tests/e2e/test_telemetry_tree.py) prove the exporter sends them as customDimensions.
No query runs here: that needs a live Application Insights (docs/deploy.md says so).
"""

from __future__ import annotations

import json
import re

from shared.handling import publishing, telemetry
from tests.infra.infra_bicep import INFRA, Tree, body, expression, resources

WORKBOOK = INFRA / "modules" / "workbooks" / "project-trace.workbook.json"


def alerts(trees: dict[str, Tree]) -> Tree:
    return trees["modules/alerts.bicep"]


def log_queries(trees: dict[str, Tree]) -> dict[str, str]:
    rules = resources(alerts(trees), "Microsoft.Insights/scheduledQueryRules")
    return {name: body(rule)["properties"]["criteria"]["allOf"][0]["query"] for name, rule in rules.items()}


def attributes_in(query: str) -> set[str]:
    return set(re.findall(r"customDimensions\[[\"'](factory\.[\w.]+)[\"']\]", query))


def code_sets(attribute: str) -> bool:
    sources = (telemetry.__file__, publishing.__file__)
    return any(f'"{attribute}"' in open(path, encoding="utf-8").read() for path in sources)


def test_main_deploys_the_alerts_on_the_app_insights_and_the_namespace(trees: dict[str, Tree]) -> None:
    params = trees["main.bicep"]["modules"]["alerts"]["config"]["params"]
    assert expression(params["applicationInsightsName"]) == "monitoring.outputs.applicationInsightsName"
    assert expression(params["serviceBusNamespaceName"]) == "serviceBus.outputs.namespaceName"


def test_a_dead_lettered_message_fires_an_alert(trees: dict[str, Tree]) -> None:
    (rule,) = resources(alerts(trees), "Microsoft.Insights/metricAlerts").values()
    props = body(rule)["properties"]
    (criterion,) = props["criteria"]["allOf"]
    assert (criterion["metricName"], criterion["operator"], criterion["threshold"]) == (
        "DeadletteredMessages", "GreaterThan", 0)
    assert criterion["metricNamespace"] == "Microsoft.ServiceBus/namespaces"
    assert expression(props["scopes"][0]) == "namespace.id"


def test_failed_handlings_and_flow_failures_fire_log_alerts(trees: dict[str, Tree]) -> None:
    queries = log_queries(trees)
    assert set(queries) == {"failedHandlings", "flowFailures"}
    failed = queries["failedHandlings"]
    assert "union requests, dependencies" in failed  # handlings are requests, or InProc under the host
    for outcome in telemetry.FAILED_OUTCOMES:
        assert f'"{outcome}"' in failed
    flows = queries["flowFailures"]
    assert '"failed", "blocked"' in flows and 'projectOutcome == "failed"' in flows
    for rule in resources(alerts(trees), "Microsoft.Insights/scheduledQueryRules").values():
        criterion = body(rule)["properties"]["criteria"]["allOf"][0]
        assert (criterion["operator"], criterion["threshold"]) == ("GreaterThan", 0)
        assert expression(body(rule)["properties"]["scopes"][0]) == "appInsights.id"


def test_the_queries_read_attributes_the_code_sets(trees: dict[str, Tree]) -> None:
    workbook = json.loads(WORKBOOK.read_text(encoding="utf-8"))
    queries = [*log_queries(trees).values(), *(item["content"]["query"] for item in workbook["items"]
                                                if item["type"] == 3)]
    used = set().union(*(attributes_in(q) for q in queries))
    assert {"factory.consumer", "factory.outcome", "factory.flow.to", "factory.project.outcome",
            "factory.project_id"} <= used
    assert [a for a in sorted(used) if not code_sets(a)] == []


def test_the_workbook_shows_a_project_trace_as_a_tree(trees: dict[str, Tree]) -> None:
    (book,) = resources(alerts(trees), "Microsoft.Insights/workbooks").values()
    props = body(book)["properties"]
    assert props["serializedData"]["function"]["type"] == "load_text_content"
    assert expression(props["sourceId"]) == "appInsights.id"
    workbook = json.loads(WORKBOOK.read_text(encoding="utf-8"))
    params = next(i for i in workbook["items"] if i["type"] == 9)["content"]["parameters"]
    assert {p["name"] for p in params} >= {"ProjectId", "TraceId"}
    (grid,) = [i["content"] for i in workbook["items"] if i["type"] == 3]
    assert "operation_Id == wanted" in grid["query"] and "{ProjectId}" in grid["query"]
    hierarchy = grid["gridSettings"]["hierarchySettings"]
    assert (hierarchy["idColumn"], hierarchy["parentColumn"]) == ("node", "parent")
    assert "node" in grid["query"] and "operation_ParentId" in grid["query"]
