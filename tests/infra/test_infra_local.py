"""Local Azure-like run and deployment descriptors, checked offline (no Docker, no azd here)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from importlib.resources import files
from types import ModuleType

import jsonschema
import pathspec
import pytest
import yaml

from shared.generators.messaging import EMULATOR_CONFIG
from shared.settings import Settings
from tests.infra.infra_bicep import INFRA, ROOT, Tree

COMPOSE = INFRA / "local" / "docker-compose.yml"


def _compose() -> dict[str, object]:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _smoke_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smoke_azure", ROOT / "scripts" / "smoke_azure.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compose_file_validates_against_the_compose_spec() -> None:
    schema = json.loads(
        files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text(encoding="utf-8"))
    jsonschema.validate(_compose(), schema)


def test_compose_starts_azurite_the_servicebus_emulator_with_sql_server_and_cosmos() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    images = {name: svc["image"].split(":")[0] for name, svc in services.items()}
    assert images == {
        "azurite": "mcr.microsoft.com/azure-storage/azurite",
        "sqlserver": "mcr.microsoft.com/mssql/server",  # Azure SQL Edge was retired on 2025-09-30
        "servicebus": "mcr.microsoft.com/azure-messaging/servicebus-emulator",
        "cosmos": "mcr.microsoft.com/cosmosdb/linux/azure-cosmos-emulator",
    }
    servicebus = services["servicebus"]
    assert services["sqlserver"]["image"] == "mcr.microsoft.com/mssql/server:2022-latest"
    assert servicebus["depends_on"] == ["sqlserver"]
    assert servicebus["environment"]["SQL_SERVER"] == "sqlserver"
    ports = {p.split(":")[0] for svc in services.values() for p in svc.get("ports", [])}
    assert {"10000", "5672", "8081"} <= ports


def test_compose_mounts_the_generated_emulator_config() -> None:
    volumes = _compose()["services"]["servicebus"]["volumes"]  # type: ignore[index]
    mount = next(v for v in volumes if v["target"] == "/ServiceBus_Emulator/ConfigFiles/Config.json")
    assert (COMPOSE.parent / mount["source"]).resolve() == (ROOT / EMULATOR_CONFIG).resolve()


def test_compose_makes_the_user_accept_the_eula_and_choose_the_password() -> None:
    for name in ("sqlserver", "servicebus"):
        env = _compose()["services"][name]["environment"]  # type: ignore[index]
        assert env["ACCEPT_EULA"].startswith("${ACCEPT_EULA:?")
        assert env["MSSQL_SA_PASSWORD"].startswith("${MSSQL_SA_PASSWORD:?")


def test_azure_yaml_deploys_the_project_as_the_factory_function_service() -> None:
    doc = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert doc["services"] == {"factory": {"project": ".", "language": "python", "host": "function"}}
    assert doc["infra"]["provider"] == "bicep" and (ROOT / doc["infra"]["path"] / "main.bicep").is_file()


def test_function_app_carries_the_azd_service_tag() -> None:
    text = (INFRA / "modules" / "functionapp.bicep").read_text(encoding="utf-8")
    assert "'azd-service-name': 'factory'" in text


def test_parameters_file_names_only_parameters_main_declares(trees: dict[str, Tree]) -> None:
    params = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    declared = trees["main.bicep"]["parameters"]
    assert set(params) <= set(declared)
    # `azd up --no-prompt` gets the signing key from the environment's Key Vault (generated on the first run),
    # never from a committed value; the secret name is the one keyvault.bicep writes
    key = params["eventSigningKey"]["value"]
    assert key == "$(secretOrRandomPassword ${AZURE_KEY_VAULT_NAME} factory-signing-key)"
    assert "AZURE_KEY_VAULT_NAME" in trees["main.bicep"]["outputs"]
    assert trees["modules/keyvault.bicep"]["parameters"]["signingKeySecretName"]["default"] == "factory-signing-key"
    assert params["deployerPrincipalId"]["value"] == "${AZURE_PRINCIPAL_ID}"
    missing = {name for name, p in declared.items() if "default" not in p} - set(params)
    assert not missing, f"azd up --no-prompt would prompt for {sorted(missing)}"
    assert params["instanceMemoryMB"]["value"] in {512, 2048, 4096}


def test_funcignore_keeps_what_the_app_reads_at_runtime() -> None:
    """Matched the way Core Tools and azd read it (gitignore rules), against the repository's own files."""
    spec = pathspec.GitIgnoreSpec.from_lines((ROOT / ".funcignore").read_text(encoding="utf-8").splitlines())
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    runtime = [f for f in tracked if f.split("/")[0] in ("contracts", "templates", "shared", "functions", "examples")
               or f in ("function_app.py", "host.json", "requirements.txt")]
    assert any(f.startswith("templates/") and "/tests/" in f for f in runtime)  # the scaffold renders these
    assert [f for f in runtime if spec.match_file(f)] == []
    for dropped in (".venv/x", "tests/unit/test_x.py", "docs/deploy.md", "infra/main.bicep", "node_modules/x",
                    "local.settings.json", "shared/__pycache__/x.pyc"):
        assert spec.match_file(dropped), dropped


def test_smoke_script_skips_when_settings_do_not_point_at_live_services(
    capsys: pytest.CaptureFixture[str],
) -> None:
    smoke = _smoke_module()
    embedded = Settings(**{"FACTORY_BUS": "sqlite", "FACTORY_STATE": "sqlite"})  # type: ignore[arg-type]
    assert smoke.main([], settings=embedded) == 0
    out = capsys.readouterr().out
    assert out.startswith("smoke-azure skipped:") and "FACTORY_BUS=servicebus" in out


def test_smoke_script_counts_identity_based_settings_as_live() -> None:
    smoke = _smoke_module()
    settings = Settings(**{  # type: ignore[arg-type]
        "FACTORY_BUS": "servicebus", "FACTORY_STATE": "cosmos",
        "ServiceBusConnection__fullyQualifiedNamespace": "sb-x.servicebus.windows.net",
        "CosmosConnection__accountEndpoint": "https://cosmos-x.documents.azure.com:443/",
        "FACTORY_SIGNING_KEY": "a-real-secret",
    })
    assert smoke.missing_live_settings(settings) == []
