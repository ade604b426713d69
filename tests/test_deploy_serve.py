"""`followup serve`'s deployment artefacts: the kustomize overlay (validated against
Kubernetes' own schemas, with the CronJob's security context) and the systemd unit."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from test_deploy import (
    BASE,
    DEPLOY,
    KUBE,
    KUBERNETES_VERSION,
    cronjobs,
    key,
    pod,
    render,
    unit,
    values,
)

from followup.cli import app

SERVE = KUBE / "overlays" / "serve"


@pytest.fixture(scope="module")
def overlay() -> list[dict[str, Any]]:
    return render(SERVE)


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind]
    return found


def test_the_overlay_is_valid_and_adds_a_deployment_a_service_and_a_budget(
    overlay: list[dict[str, Any]],
) -> None:
    """Every resource validates strictly; the overlay is the base (its CronJob, the
    safety net, kept) plus the three resources of the receiver, and no Secret."""
    for doc in overlay:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert len({key(d) for d in overlay}) == len(overlay)
    assert {key(d) for d in overlay} - {key(d) for d in render(BASE)} == {
        ("Deployment", "followup-serve"),
        ("Service", "followup-serve"),
        ("PodDisruptionBudget", "followup-serve"),
    }
    assert "followup" in cronjobs(overlay)
    assert not [d for d in overlay if d["kind"] == "Secret"]


def test_the_deployment_is_as_locked_down_as_the_cronjob(overlay: list[dict[str, Any]]) -> None:
    """The same pod and container security context, service account, volumes and
    token files as the CronJob; two replicas; probes on the receiver's own paths."""
    deployment = _one(overlay, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    p = spec["template"]["spec"]
    cron = pod(cronjobs(overlay)["followup"])
    for field in (
        "securityContext",
        "serviceAccountName",
        "automountServiceAccountToken",
        "volumes",
    ):
        assert p[field] == cron[field], field
    (container,) = p["containers"]
    (cron_container,) = cron["containers"]
    assert container["securityContext"] == cron_container["securityContext"]
    assert container["volumeMounts"] == cron_container["volumeMounts"]
    assert container["resources"]["limits"]["memory"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["FOLLOWUP_SERVE__WEBHOOK_SECRET_FILE"].startswith("/var/run/secrets/followup/")
    assert env["FOLLOWUP_JIRA__TOKEN_FILE"] == "/var/run/secrets/followup/jira-token"
    assert not [n for n in env if re.search("TOKEN$|PASSWORD|SECRET$", n)]
    assert container["args"][0] == "serve"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/metrics"
    assert p["terminationGracePeriodSeconds"] >= 30
    labels = spec["template"]["metadata"]["labels"]
    for selector in (
        _one(overlay, "Service")["spec"]["selector"],
        _one(overlay, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        spec["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    assert _one(overlay, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_the_deployment_arguments_are_the_command_line(overlay: list[dict[str, Any]]) -> None:
    """`followup serve --host 0.0.0.0 --port 8080` parses (help shows without error)."""
    from typer.testing import CliRunner

    args = _one(overlay, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "--register" in result.stdout


def test_the_serve_unit_is_hardened_and_gets_its_secrets_as_credentials() -> None:
    service = unit(DEPLOY / "systemd" / "followup-serve.service")
    s = dict(service["Service"])
    sync = dict(unit(DEPLOY / "systemd" / "followup.service")["Service"])
    for name in (
        "DynamicUser",
        "ProtectSystem",
        "NoNewPrivileges",
        "PrivateTmp",
        "CapabilityBoundingSet",
        "RestrictAddressFamilies",
        "MemoryDenyWriteExecute",
    ):
        assert s[name] == sync[name], name
    assert s["Restart"] == "on-failure"
    assert s["ExecStart"].split()[1:3] == ["serve", "--host"]
    credentials = dict(v.split(":", 1) for v in values(service, "Service", "LoadCredential"))
    env = dict(v.split("=", 1) for v in values(service, "Service", "Environment"))
    assert env["FOLLOWUP_SERVE__WEBHOOK_SECRET_FILE"] == "%d/webhook-secret"
    assert {"jira-token", "webhook-secret"} <= set(credentials)
    assert not [k for k in env if re.search("TOKEN$|PASSWORD|SECRET$", k)]
    assert values(service, "Install", "WantedBy") == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_systemd_accepts_the_serve_unit(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("followup")
    text = (DEPLOY / "systemd" / "followup-serve.service").read_text()
    path = tmp_path / "followup-serve.service"
    path.write_text(text.replace("/opt/followup/bin/followup", str(exe)))
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stderr
    assert "Unknown" not in verify.stderr
