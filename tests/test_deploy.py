"""The deployment artefacts in deploy/: the Kubernetes manifests rendered and validated
against Kubernetes' own schemas (offline, kubernetes-validate) with their safety
fields asserted, the Dockerfile and its build context read statically, the pieces of
deploy/image.py that need no container engine (the CronJob pods as engine options, the
wheel checks), the systemd units and the crontab parsed, and a real sync shown to
write nothing in its working directory or HOME (what a read-only root file system
needs). The image itself is built and run by `make image-test` (deploy/image.py),
which CI runs where the host allows it."""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import io
import itertools
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml
from packaging.specifiers import SpecifierSet

from followup.sandbox import control
from followup.sandbox.server import RunningSandbox
from followup.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
KUBE = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # CronJob.spec.timeZone is GA since 1.27
BASE, DRY_RUN = KUBE / "base", KUBE / "overlays" / "dry-run"

# -- Kubernetes ---------------------------------------------------------------------------------


def render(directory: Path) -> list[dict[str, Any]]:
    """The resources of a kustomization: its `resources`, directories rendered in turn.

    The kustomizations here use `resources` only (no patches, generators or
    transformers), so this is what `kustomize build` does with them; the test below
    checks that against kubectl's kustomize where kubectl is installed."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    allowed = {"apiVersion", "kind", "resources"}
    assert set(kustomization) <= allowed, f"{directory}: render() knows only {allowed}"
    out: list[dict[str, Any]] = []
    for entry in kustomization["resources"]:
        path = (directory / entry).resolve()
        if path.is_dir():
            out.extend(render(path))
        else:
            out.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return out


def key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def cronjobs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "CronJob"}


def pod(cronjob: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def overlay() -> list[dict[str, Any]]:
    return render(DRY_RUN)


@pytest.mark.parametrize("directory", [BASE, DRY_RUN], ids=["base", "dry-run"])
def test_every_manifest_is_valid_against_the_kubernetes_schemas(directory: Path) -> None:
    """Each rendered resource validates strictly (no unknown field) against Kubernetes'
    own JSON schemas, and no name is used twice."""
    docs = render(directory)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert len({key(d) for d in docs}) == len(docs)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("directory", [BASE, DRY_RUN], ids=["base", "dry-run"])
def test_kustomize_renders_what_the_tests_validate(directory: Path) -> None:
    """kubectl's own kustomize builds the same resources as `render`."""
    built = subprocess.run(
        ["kubectl", "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    theirs = sorted((d for d in yaml.safe_load_all(built) if d), key=key)
    assert theirs == sorted(render(directory), key=key)


def test_the_overlay_is_the_base_plus_a_dry_run_cronjob(overlay: list[dict[str, Any]]) -> None:
    """The base holds the CronJob, its ServiceAccount and ConfigMap; the overlay adds one
    CronJob that runs `sync --dry-run` with a Markdown report; no Secret is in either."""
    assert {key(d) for d in render(BASE)} == {
        ("ServiceAccount", "followup"),
        ("ConfigMap", "followup-config"),
        ("CronJob", "followup"),
    }
    assert {key(d) for d in overlay} - {key(d) for d in render(BASE)} == {
        ("CronJob", "followup-dry-run")
    }
    assert not [d for d in overlay if d["kind"] == "Secret"]
    args = pod(cronjobs(overlay)["followup-dry-run"])["containers"][0]["args"]
    assert args[args.index("sync") :] == ["sync", "--dry-run", "--format", "markdown"]
    assert pod(cronjobs(overlay)["followup"])["containers"][0]["args"] == ["sync"]


@pytest.mark.parametrize("name", ["followup", "followup-dry-run"])
def test_the_cronjobs_carry_every_safety_field(overlay: list[dict[str, Any]], name: str) -> None:
    """No overlap, bounded runs and retries, history limits, resources, a non-root
    read-only container without privileges, and no Kubernetes API token."""
    cj = cronjobs(overlay)[name]
    spec = cj["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] >= 1
    assert spec["failedJobsHistoryLimit"] >= 1
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] <= 2
    assert 0 < job["activeDeadlineSeconds"] < 15 * 60  # stopped before the next run
    p = pod(cj)
    assert p["restartPolicy"] == "Never"
    assert p["automountServiceAccountToken"] is False
    assert p["serviceAccountName"] == "followup"
    assert p["securityContext"]["runAsNonRoot"] is True
    assert p["securityContext"]["runAsUser"] != 0
    assert p["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = p["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HOME"] == env["TMPDIR"] == "/tmp"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in p["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]  # the only writable place
    secret_mount = mounts["/var/run/secrets/followup"]
    assert secret_mount["readOnly"] is True
    assert volumes[secret_mount["name"]]["secret"]["secretName"] == "followup-tokens"
    assert env["FOLLOWUP_JIRA__TOKEN_FILE"].startswith("/var/run/secrets/followup/")
    assert not [e for e in container["env"] if re.search("TOKEN$|PASSWORD|SECRET", e["name"])]


def test_the_service_account_has_no_token(overlay: list[dict[str, Any]]) -> None:
    """followup never calls the Kubernetes API; its ServiceAccount mounts no token."""
    (sa,) = [d for d in overlay if d["kind"] == "ServiceAccount"]
    assert sa["automountServiceAccountToken"] is False


def test_the_configmap_and_the_environment_are_real_settings(
    overlay: list[dict[str, Any]], tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """followup.toml in the ConfigMap loads with the manifests' FOLLOWUP_* variables
    (token files pointed at a stand-in), holds no token, and names both sites."""
    (cm,) = [d for d in overlay if d["kind"] == "ConfigMap"]
    text = cm["data"]["followup.toml"]
    assert "token" not in {k for section in tomllib.loads(text).values() for k in section}
    config = tmp_path / "followup.toml"
    config.write_text(text)
    token = tmp_path / "token"
    token.write_text("not-a-real-token\n")
    for cj in cronjobs(overlay).values():
        env = {e["name"]: e["value"] for e in pod(cj)["containers"][0]["env"]}
        env = {k: v for k, v in env.items() if k.startswith("FOLLOWUP_")}
        mount = pod(cj)["containers"][0]["volumeMounts"]
        assert any(m["mountPath"] == str(Path(env["FOLLOWUP_CONFIG"]).parent) for m in mount)
        env["FOLLOWUP_CONFIG"] = str(config)
        env = {k: str(token) if k.endswith("_TOKEN_FILE") else v for k, v in env.items()}
        settings = load_settings(None, env=env)
        settings.require_sites()
        assert settings.jira.token is not None
        assert settings.jira.token.get_secret_value() == "not-a-real-token"
        assert (
            settings.sync.run_budget_seconds
            < cj["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"]
        )


# -- the Dockerfile -----------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) per instruction, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, args = line.partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def test_the_image_is_multi_stage_on_a_slim_python() -> None:
    """Two stages from the same slim Python base; the runtime copies the venv only."""
    steps = dockerfile()
    args = dict(a.split("=", 1) for i, a in steps if i == "ARG" and "=" in a)
    froms = [a for i, a in steps if i == "FROM"]
    assert len(froms) == 2
    bases = {f.split()[0].replace("${PYTHON_IMAGE}", args["PYTHON_IMAGE"]) for f in froms}
    (base,) = bases
    assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", base)
    assert froms[0].endswith("AS build")
    runtime = steps[[i for i, (ins, _) in enumerate(steps) if ins == "FROM"][-1] :]
    copies = [a for i, a in runtime if i == "COPY"]
    assert copies == ["--from=build /opt/followup /opt/followup"]


def test_the_image_installs_pinned_from_the_lock() -> None:
    """Every pip install is constrained by requirements.lock, which pins every runtime
    dependency of pyproject.toml with ==; the dev extras are not installed."""
    installs = [a for i, a in dockerfile() if i == "RUN" and "pip install" in a]
    assert installs
    for command in installs:
        assert "-c requirements.lock" in command
        assert "[dev]" not in command
    pinned = {
        re.split(r"==", line)[0].lower().replace("_", "-"): line
        for line in (REPO / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert all("==" in line for line in pinned.values())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!~\[ ;]", requirement)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} is not pinned in requirements.lock"
    copied = [a for i, a in dockerfile() if i == "COPY" and "requirements.lock" in a]
    assert copied


def test_the_image_runs_as_a_non_root_user_without_secrets() -> None:
    """The runtime stage ends as a numeric non-root user, with HOME and TMPDIR on /tmp,
    no ENV or ARG that looks like a secret, and `followup` as the exec-form entrypoint."""
    steps = dockerfile()
    last_from = max(i for i, (ins, _) in enumerate(steps) if ins == "FROM")
    users = [a for i, a in steps[last_from:] if i == "USER"]
    assert users
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit()
    assert int(uid) != 0
    assert gid.isdigit()
    assert int(gid) != 0
    env = " ".join(a for i, a in steps if i in ("ENV", "ARG", "LABEL"))
    assert not re.search(r"TOKEN|PASSWORD|SECRET|API_KEY", env, re.IGNORECASE)
    assert "HOME=/tmp" in env
    assert "TMPDIR=/tmp" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    entrypoint = [a for i, a in steps if i == "ENTRYPOINT"]
    assert [json.loads(e) for e in entrypoint] == [["followup"]]
    assert [json.loads(a) for i, a in steps if i == "CMD"] == [["sync"]]


def test_the_build_context_needs_only_files_in_the_repository() -> None:
    """Every COPY source of the build stage exists at the repository root."""
    for instruction, args in dockerfile():
        if instruction == "COPY" and not args.startswith("--from"):
            *sources, _dest = args.split()
            for source in sources:
                assert (REPO / source).exists(), source


def test_the_build_context_is_an_allowlist_of_what_the_dockerfile_copies() -> None:
    """.dockerignore excludes everything, then lets in exactly the Dockerfile's COPY
    sources (so a checkout's .git, .venv, tokens or settings never reach a build)."""
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    sources = {
        source.rstrip("/")
        for instruction, args in dockerfile()
        if instruction == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    }
    assert allowed == sources
    for secretish in ("followup.toml", "jira-token", ".env", ".followup", ".git", ".venv"):
        assert not any(secretish == a or secretish.startswith(a + "/") for a in allowed)


def test_the_public_base_is_the_default_and_the_index_is_optional() -> None:
    """Built as it stands (`docker build`), the image uses the public slim Python and
    the package index; `make image` only passes build arguments to change that."""
    steps = dockerfile()
    args = [a for i, a in steps if i == "ARG"]
    assert "PYTHON_IMAGE=python:3.11-slim-bookworm" in args
    assert 'PIP_OPTIONS=""' in args
    installs = [a for i, a in steps if i == "RUN" and "pip install" in a]
    assert all("$PIP_OPTIONS --find-links ./wheels" in a for a in installs)
    assert "--no-index" not in " ".join(a for _i, a in steps)
    assert sorted(p.name for p in (DEPLOY / "wheels").iterdir() if p.suffix != ".whl") == [
        "README.md"
    ]


def test_every_locked_package_installs_on_the_oldest_python_supported() -> None:
    """Each package requirements.lock pins accepts the lowest Python that pyproject.toml
    allows (3.11.0): Debian 12's Python 3.11.2, under the systemd install and the image
    built on Debian's Python, must install the lock as it is."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    floor = re.fullmatch(r">=\s*(\d+\.\d+)", project["requires-python"])
    assert floor
    oldest = f"{floor.group(1)}.0"
    refused = []
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, version = line.partition("==")
        metadata = importlib.metadata.metadata(name)
        assert metadata["Version"] == version, f"{name}: the environment is not the lock"
        requires = metadata.get("Requires-Python")
        if requires and oldest not in SpecifierSet(requires):
            refused.append(f"{name}=={version} needs Python {requires}")
    assert refused == []


# -- deploy/image.py, the parts that need no container engine -----------------------------------


@pytest.fixture(scope="module")
def image_py() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_image", DEPLOY / "image.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("followup", ["sync"]),
        (
            "followup-dry-run",
            ["--log-level", "warning", "sync", "--dry-run", "--format", "markdown"],
        ),
    ],
)
@pytest.mark.parametrize("engine", ["podman", "docker"])
def test_a_cronjob_pod_becomes_the_engine_options_that_enforce_it(
    image_py: ModuleType, overlay: list[dict[str, Any]], name: str, args: list[str], engine: str
) -> None:
    """The image test runs each CronJob's container as its pod spec says: user and
    group, fsGroup, read-only root with no tmpfs of the engine's own, no capabilities,
    no new privileges, the limits, ConfigMap and Secret read-only, /tmp writable."""
    run = image_py.pod_run(cronjobs(overlay)[name])
    volumes = {m.volume.name: Path(f"/host/{m.volume.name}") for m in run.mounts}
    options = image_py.engine_options(run, volumes, engine_name=engine, network="host")
    assert run.args == args
    pairs = set(itertools.pairwise(options))
    for pair in [
        ("--user", "10001:10001"),
        ("--group-add", "10001"),
        ("--cap-drop", "ALL"),
        ("--security-opt", "no-new-privileges"),
        ("--memory", f"{512 * 2**20}b"),
        ("--cpus", "1"),
        ("--network", "host"),
        ("--volume", "/host/config:/etc/followup:ro"),
        ("--volume", "/host/tokens:/var/run/secrets/followup:ro"),
        ("--volume", "/host/tmp:/tmp"),
        ("--env", "FOLLOWUP_CONFIG=/etc/followup/followup.toml"),
        ("--env", "HOME=/tmp"),
    ]:
        assert pair in pairs
    assert "--read-only" in options
    assert ("--read-only-tmpfs=false" in options) == (engine == "podman")
    kinds = {m.volume.name: (m.volume.kind, m.volume.mode) for m in run.mounts}
    assert kinds == {
        "config": ("configMap", None),
        "tokens": ("secret", 0o440),
        "tmp": ("emptyDir", 0o777),
    }


def _set(doc: Any, path: str, value: Any) -> None:
    """Set `value` at a dotted path; numbers index lists."""
    *parents, last = (int(p) if p.isdigit() else p for p in path.split("."))
    for part in parents:
        doc = doc[part]
    doc[last] = value


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.jobTemplate.spec.template.spec.hostNetwork", True),
        ("spec.jobTemplate.spec.template.spec.automountServiceAccountToken", True),
        ("spec.jobTemplate.spec.template.spec.securityContext.supplementalGroups", [5]),
        ("spec.jobTemplate.spec.template.spec.containers.0.securityContext.privileged", False),
        (
            "spec.jobTemplate.spec.template.spec.containers.0.securityContext.seccompProfile",
            {"type": "Unconfined"},
        ),
        ("spec.jobTemplate.spec.template.spec.containers.0.command", ["sh"]),
        (
            "spec.jobTemplate.spec.template.spec.containers.0.env.0",
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ),
        ("spec.jobTemplate.spec.template.spec.volumes.0", {"name": "config", "hostPath": {}}),
        ("spec.jobTemplate.spec.template.spec.containers.0.volumeMounts.0.subPath", "x"),
        (
            "spec.jobTemplate.spec.template.spec.containers.0.resources.limits.ephemeral-storage",
            "1Gi",
        ),
    ],
)
def test_a_pod_field_the_image_test_cannot_enforce_is_an_error(
    image_py: ModuleType, overlay: list[dict[str, Any]], path: str, value: Any
) -> None:
    """A field added to the CronJob that the translation does not know (or a value it
    cannot honour) stops the image test, rather than testing another pod than the one
    Kubernetes runs."""
    cronjob = copy.deepcopy(cronjobs(overlay)["followup"])
    _set(cronjob, path, value)
    with pytest.raises(ValueError, match=r"not translated|API token"):
        image_py.pod_run(cronjob)


@pytest.mark.parametrize(
    ("memory", "expected"),
    [("512Mi", 512 * 2**20), ("1Gi", 2**30), ("64Ki", 65536), ("1G", 10**9), ("1000", 1000)],
)
def test_memory_quantities(image_py: ModuleType, memory: str, expected: int) -> None:
    """Kubernetes memory quantities become bytes, binary and decimal units alike."""
    assert image_py.quantity_bytes(memory) == expected


@pytest.mark.parametrize(("cpu", "expected"), [("1", 1.0), ("500m", 0.5), ("0.25", 0.25)])
def test_cpu_quantities(image_py: ModuleType, cpu: str, expected: float) -> None:
    """Kubernetes CPU quantities become CPUs, millicores included."""
    assert image_py.quantity_cpus(cpu) == expected


@pytest.mark.skipif(os.geteuid() != 0, reason="the kubelet's ownership needs root to copy")
def test_the_volumes_are_laid_out_as_the_kubelet_does(
    image_py: ModuleType, overlay: list[dict[str, Any]], tmp_path: Path
) -> None:
    """The token file has the Secret's mode 0440 and the pod's fsGroup, the config is
    0644, the emptyDir is world-writable and setgid to the fsGroup; each pod gets new
    folders."""
    run = image_py.pod_run(cronjobs(overlay)["followup"])
    config_maps = {"followup-config": {"followup.toml": "[jira]\n"}}
    secrets = {"followup-tokens": {"jira-token": "t\n"}}
    first = image_py.make_volumes(run, tmp_path, config_maps, secrets)
    second = image_py.make_volumes(run, tmp_path, config_maps, secrets)
    assert set(first.values()).isdisjoint(second.values())
    token = (first["tokens"] / "jira-token").stat()
    assert (stat.S_IMODE(token.st_mode), token.st_uid, token.st_gid) == (0o440, 0, 10001)
    assert stat.S_IMODE((first["config"] / "followup.toml").stat().st_mode) == 0o644
    tmp = first["tmp"].stat()
    assert (stat.S_IMODE(tmp.st_mode), tmp.st_gid) == (0o2777, 10001)


def _wheel(folder: Path, filename: str, requires_python: str | None) -> Path:
    path = folder / filename
    name, version = filename.split("-")[:2]
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}-{version}.dist-info/METADATA", metadata)
    return path


@pytest.mark.parametrize(
    ("filename", "requires_python", "why"),
    [
        ("pure-1.0-py3-none-any.whl", ">=3.9", None),
        ("native-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", None, None),
        ("native-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", None, "no tag"),
        ("native-1.0-cp311-cp311-musllinux_1_2_x86_64.whl", None, "no tag"),
        ("native-1.0-cp311-cp311-manylinux_2_39_x86_64.whl", None, "no tag"),
        ("soupsieve-4.1.3-py3-none-any.whl", ">=3.11.5", "needs Python >=3.11.5"),
    ],
)
def test_a_wheel_that_does_not_fit_the_images_python_is_named(
    image_py: ModuleType,
    tmp_path: Path,
    filename: str,
    requires_python: str | None,
    why: str | None,
) -> None:
    """Wheels made on the host are checked against the tags and the version the base
    image's own Python reports (here Debian 12's 3.11.2 on glibc 2.36): a foreign ABI,
    a newer glibc or a higher Requires-Python is refused, with the reason."""
    target = {
        "version": "3.11.2",
        "tags": [
            *(f"cp311-cp311-manylinux_2_{m}_x86_64" for m in range(36, 16, -1)),
            "cp311-cp311-manylinux2014_x86_64",
            "cp311-abi3-manylinux_2_17_x86_64",
            "py3-none-any",
        ],
    }
    misfits = image_py.wheel_misfits([_wheel(tmp_path, filename, requires_python)], target)
    if why is None:
        assert misfits == []
    else:
        (line,) = misfits
        assert line.startswith(filename)
        assert why in line


@pytest.mark.parametrize(
    ("name", "qualified"),
    [
        ("python:3.11-slim-bookworm", "docker.io/library/python:3.11-slim-bookworm"),
        ("acme/python:3.11", "docker.io/acme/python:3.11"),
        ("localhost/followup-base:bookworm", "localhost/followup-base:bookworm"),
        ("registry.example.com/py/python:3.11", "registry.example.com/py/python:3.11"),
        ("registry:5000/python:3.11", "registry:5000/python:3.11"),
    ],
)
def test_short_image_names_are_spelled_out_for_podman(
    image_py: ModuleType, name: str, qualified: str
) -> None:
    """podman does not guess a registry for a short name: Docker Hub's is written out."""
    assert image_py.qualified(name) == qualified


_GOOD_IMAGE = {
    "usr/bin/python3.11": b"\x7fELF...",
    "usr/lib/x86_64-linux-gnu/libgnutls.so.30": b"\x7fELF\0-----BEGIN PRIVATE KEY-----\n"
    + b"A" * 64,  # a library's self-test key
    "etc/ssl/certs/ca-certificates.crt": b"-----BEGIN CERTIFICATE-----\nMIIB" + b"A" * 60,
    "opt/followup/bin/followup": b"#!/opt/followup/bin/python\n",
    "opt/followup/lib/python3.11/site-packages/followup/cli.py": b"import typer\n",
    "opt/followup/lib/python3.11/site-packages/followup/__pycache__/cli.cpython-311.pyc": b"",
    "opt/followup/lib/python3.11/site-packages/followup/sandbox/seed.py": b"token='x'\n",
}


def _image(extra: dict[str, bytes]) -> io.BytesIO:
    """A tar stream of an image's files: the good ones plus `extra`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, content in {**_GOOD_IMAGE, **extra}.items():
            member = tarfile.TarInfo("./" + path)
            member.size = len(content)
            archive.addfile(member, io.BytesIO(content))
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize(
    ("path", "content", "check"),
    [
        ("usr/bin/gcc-12", b"\x7fELF", "no_build_tools"),
        ("usr/bin/x86_64-linux-gnu-gcc-12", b"\x7fELF", "no_build_tools"),
        ("usr/bin/make", b"\x7fELF", "no_build_tools"),
        ("usr/bin/git", b"\x7fELF", "no_build_tools"),
        ("usr/include/python3.11/Python.h", b"", "no_build_tools"),
        ("opt/followup/bin/pip", b"", "no_build_tools"),
        ("opt/followup/lib/python3.11/site-packages/setuptools/__init__.py", b"", "no_build_tools"),
        ("src/followup/cli.py", b"", "no_source_tree"),
        ("src/pyproject.toml", b"", "no_source_tree"),
        ("app/.git/HEAD", b"ref: refs/heads/main\n", "no_source_tree"),
        (
            "opt/followup/lib/python3.11/site-packages/__editable__.followup-0.1.0.pth",
            b"",
            "no_source_tree",
        ),
        ("root/.netrc", b"machine x login y password z\n", "no_secret_files"),
        ("etc/followup/followup.toml", b"[jira]\n", "no_secret_files"),
        ("run/secrets/jira-token", b"t\n", "no_secret_files"),
        (
            "etc/ssl/private/site.key",
            b"-----BEGIN RSA PRIVATE KEY-----\n" + b"MIIEogIBAAKCAQEA6yCv" * 3 + b"\n",
            "no_secret_files",
        ),
        (
            "opt/app/settings.py",
            b"TOKEN = 'ATATT3xFfGF0" + b"a1B2" * 12 + b"'\n",
            "no_secret_files",
        ),
    ],
)
def test_the_image_file_checks_find_what_they_look_for(
    image_py: ModuleType, path: str, content: bytes, check: str
) -> None:
    """Each check on the image's files passes on a clean image (a library's built-in
    test key and the CA bundle included) and fails once the one file it looks for is
    added: a compiler, headers, pip, a source tree, a credential file, key material,
    an Atlassian API token."""
    checks = ("no_build_tools", "no_source_tree", "no_secret_files")
    clean = image_py.read_files(_image({}))
    for name in checks:
        getattr(image_py, name)(clean)
    dirty = image_py.read_files(_image({path: content}))
    for name in checks:
        if name == check:
            with pytest.raises(image_py.CheckFailed):
                getattr(image_py, name)(dirty)
        else:
            getattr(image_py, name)(dirty)


def test_make_test_does_not_build_the_image() -> None:
    """`make test` stays fast: building and running the image is `make image-test`'s."""
    planned = subprocess.run(
        ["make", "-n", "-B", "test"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert planned.returncode == 0, planned.stderr
    assert "pytest" in planned.stdout
    assert "deploy/image.py" not in planned.stdout
    image_test = subprocess.run(
        ["make", "-n", "image-test"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert "deploy/image.py build" in image_test.stdout
    assert "deploy/image.py test" in image_test.stdout


# -- systemd and cron ---------------------------------------------------------------------------


def unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit file as {section: [(key, value), ...]} (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            assert line.endswith("]"), line
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path.name}: {line!r} outside a section"
        name, sep, value = line.partition("=")
        assert sep, f"{path.name}: not key=value: {line!r}"
        current.append((name.strip(), value.strip()))
    return sections


def values(sections: dict[str, list[tuple[str, str]]], section: str, name: str) -> list[str]:
    return [v for k, v in sections[section] if k == name]


def test_the_service_is_a_hardened_oneshot_with_its_token_as_a_credential() -> None:
    """Type=oneshot as a transient user on a read-only system, without new privileges;
    the token comes in through LoadCredential and `*_TOKEN_FILE`."""
    service = unit(DEPLOY / "systemd" / "followup.service")
    s = dict(service["Service"])
    assert s["Type"] == "oneshot"
    assert s["DynamicUser"] == "yes" or s.get("User") not in (None, "root")
    assert s["ProtectSystem"] == "strict"
    assert s["NoNewPrivileges"] == "yes"
    assert s["PrivateTmp"] == "yes"
    assert s["CapabilityBoundingSet"] == ""
    assert s["ExecStart"].split()[-1] == "sync"
    credentials = dict(v.split(":", 1) for v in values(service, "Service", "LoadCredential"))
    env = dict(v.split("=", 1) for v in values(service, "Service", "Environment"))
    assert env["FOLLOWUP_JIRA__TOKEN_FILE"] == "%d/jira-token"
    assert "jira-token" in credentials
    assert not [k for k in env if re.search("TOKEN$|PASSWORD|SECRET", k)]
    assert "network-online.target" in values(service, "Unit", "After")


def test_the_timer_is_spread_and_catches_up() -> None:
    """The timer fires on a calendar, with a random delay, and catches up after downtime."""
    timer = unit(DEPLOY / "systemd" / "followup.timer")
    t = dict(timer["Timer"])
    assert t["OnCalendar"] == "*:0/15"
    assert t["RandomizedDelaySec"]
    assert t["Persistent"] == "true"
    assert t["Unit"] == "followup.service"
    assert values(timer, "Install", "WantedBy") == ["timers.target"]


@pytest.fixture
def units_here(tmp_path: Path) -> Path:
    """The units, with ExecStart pointing at this environment's followup."""
    exe = Path(sys.executable).with_name("followup")
    service = (DEPLOY / "systemd" / "followup.service").read_text()
    (tmp_path / "followup.service").write_text(
        service.replace("/opt/followup/bin/followup", str(exe))
    )
    shutil.copy(DEPLOY / "systemd" / "followup.timer", tmp_path / "followup.timer")
    return tmp_path


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_systemd_accepts_the_units_and_rates_the_service_safe(units_here: Path) -> None:
    """`systemd-analyze verify` reports no unknown or unparsable setting, and its
    offline security review rates the service's exposure OK (below 2 of 10)."""
    paths = [str(units_here / "followup.service"), str(units_here / "followup.timer")]
    verify = subprocess.run(
        ["systemd-analyze", "verify", *paths], capture_output=True, text=True, timeout=60
    )
    complaints = [
        line
        for line in (verify.stdout + verify.stderr).splitlines()
        if "followup." in line and ("ignoring" in line or "Unknown" in line or "Failed" in line)
    ]
    assert verify.returncode == 0, verify.stderr
    assert not complaints, verify.stderr
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", paths[0]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert found, security.stdout + security.stderr
    assert float(found.group(1)) < 2.0


_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


def test_the_crontab_runs_under_flock_as_a_user() -> None:
    """Each job line has five valid time fields, a non-root user, and the sync runs
    under `flock --nonblock`; the token comes from a file, never the line itself."""
    lines = [
        line
        for line in (DEPLOY / "cron" / "followup.crontab").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    env = dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
    jobs = [line.split(None, 6) for line in lines if not re.match(r"^[A-Z_]+=", line)]
    assert env["FOLLOWUP_JIRA__TOKEN_FILE"].startswith("/")
    assert not [k for k in env if re.search("TOKEN$|PASSWORD|SECRET", k)]
    assert jobs
    for *fields, user, command in jobs:
        assert all(_CRON_FIELD.match(f) for f in fields), fields
        assert user not in ("root", "")
        assert "followup" in command
    sync = [c for *_f, _u, c in jobs if " sync" in c and "--dry-run" not in c]
    assert sync
    assert all(c.startswith("flock --nonblock ") for c in sync)


# -- a read-only root file system ---------------------------------------------------------------


def test_a_sync_writes_nothing_outside_its_temporary_directory(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """A real sync (as the image runs it: no bytecode written) leaves its working
    directory, HOME and TMPDIR as empty as it found them: only /tmp is writable in the
    container, and even that is left unused."""
    work, home, tmp = (tmp_path / d for d in ("work", "home", "tmp"))
    for d in (work, home, tmp):
        d.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    env.update(control.env_for(sandbox.state, sandbox.url))
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "PYTHONDONTWRITEBYTECODE": "1",
            "FOLLOWUP_SYNC__RATE_LIMIT": "500",
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "followup", "sync", "--format", "json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["summary"]["create"] > 0  # it did write, to the site
    assert [p for d in (work, home, tmp) for p in d.rglob("*")] == []


# -- the documentation a deployment relies on ---------------------------------------------------


def _setting_paths(model: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    from pydantic import BaseModel

    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _setting_paths(annotation, (*prefix, name))
        else:
            yield (*prefix, name)


def test_every_setting_is_documented_where_the_readme_points() -> None:
    """The README's Configure section sends readers to docs/configuration.md: every
    setting, with its environment variable, is there, and the README links the
    deployment and logging guides."""
    from followup.settings import Settings

    reference = (REPO / "docs" / "configuration.md").read_text()
    readme = (REPO / "README.md").read_text()
    assert "docs/configuration.md" in readme
    for path in _setting_paths(Settings):
        if path == ("owners",):
            assert "FOLLOWUP_OWNERS" in reference
            continue
        env = "FOLLOWUP_" + "__".join(p.upper() for p in path)
        assert env in reference, f"{env} is not in docs/configuration.md"
    deploy = readme[readme.index("## Deploy") : readme.index("## How it works")]
    for link in ("docs/deploy.md", "docs/logging.md", "followup doctor", "create secret"):
        assert link in deploy
    assert (REPO / "docs" / "deploy.md").exists()
    assert (REPO / "docs" / "logging.md").exists()
