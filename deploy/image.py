"""Build followup's container image, and run it the way deploy/kubernetes runs it.

    python3 deploy/image.py host     # install what the host lacks (as root), have a base
    python deploy/image.py build     # `make image`: followup:dev from deploy/Dockerfile
    python deploy/image.py test      # `make image-test`: run and inspect the built image

The container engine is Docker where a Docker daemon answers, podman otherwise. With
podman, the host's quirks are handled here rather than in /etc: a containers.conf of
its own (pointed at by CONTAINERS_CONF) keeps the host's ulimits and prefers runc.

build: the base is the one given (`--base`, make's PYTHON_IMAGE), else the Dockerfile's
public default (python:3.11-slim-bookworm) when it is here, else the local base when
one was made here before, else the public default pulled; where no image registry is
reachable, podman gets a local base made with debootstrap (as root):
localhost/followup-base:bookworm, Debian bookworm's own Python 3.11, the same Debian
and Python minor version as the public base. The wheels requirements.lock pins are
downloaded on the host for the base's own Python (its version, ABI and platforms,
asked of the base itself) into deploy/wheels, checked against it, and the image is
built from them with `--no-index` and no network. The base and the wheels are reused
by later runs while they still fit; the image replaced by a new build is removed.

test: the image runs as the CronJobs in deploy/kubernetes run it, their pod specs
translated field by field into engine options (a field this script does not know is
an error, so the test cannot drift from the manifests): user 10001, read-only root
file system, the ConfigMap and the token Secret mounted read-only, only the emptyDir at
/tmp writable, every capability dropped, no new privileges, the memory and CPU limits.
It runs `--version`, then, against the sandbox running on this host (cloud and Data
Center; the ConfigMap's followup.toml with its sites pointed at the sandbox by
FOLLOWUP_* variables), `doctor`, the dry-run CronJob, the sync CronJob and that sync
again; and it
reads the image's files: no build tools, no source tree, no secrets. The last line
is `image-test: N passed, N failed`; the exit code is 1 when a check failed.

Exit codes: 0 done, 1 failed, 77 this host cannot build or run images (said why).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
KUBE = REPO / "deploy" / "kubernetes"
WHEELS = REPO / "deploy" / "wheels"
WORK = REPO / ".image"  # containers.conf, the wheel stamp, scratch space; not committed

IMAGE = "followup:dev"
LOCAL_BASE = "localhost/followup-base:bookworm"
# What the local base is made of. Its hash is a label on the image: a base made by an
# older recipe is made again.
DEBOOTSTRAP = (
    "--variant=minbase",
    "--include=python3,python3-venv,python-is-python3,ca-certificates",
    "bookworm",
)
BASE_CLEANUP = (
    "var/cache/apt/archives/*.deb",
    "var/cache/apt/*.bin",
    "var/lib/apt/lists/*",
    "usr/share/man/*",
    "usr/share/locale/*",
)
RECIPE_LABEL = "org.followup.base.recipe"
HOST_PACKAGES = ("podman", "runc", "debootstrap")
CANNOT = 77  # the autotools convention for "skipped": this host cannot do it


class Cannot(Exception):
    """This host cannot build or run the image (and why): not a failure of the image."""


class Failed(Exception):
    """The build or a step around it failed."""


def say(message: str) -> None:
    print(message, flush=True)


def sbin_path() -> str:
    """PATH with the sbin folders, where debootstrap lives, for non-login shells."""
    parts = os.environ.get("PATH", "").split(os.pathsep)
    extra = [p for p in ("/usr/local/sbin", "/usr/sbin", "/sbin") if p not in parts]
    return os.pathsep.join([*parts, *extra])


def which(command: str) -> str | None:
    return shutil.which(command, path=sbin_path())


def is_root() -> bool:
    return os.geteuid() == 0


# -- the host ------------------------------------------------------------------------------------


def docker_daemon() -> bool:
    """A Docker daemon answers (a docker client alone is not enough)."""
    if which("docker") is None:
        return False
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return False
    # podman-docker's `docker` answers too, but then podman is what runs: use it as such.
    return done.returncode == 0 and "podman" not in (done.stdout + done.stderr).lower()


def install(packages: Sequence[str]) -> None:
    """Install Debian packages that are missing, when root; else say what is missing."""
    missing = [p for p in packages if which(p) is None]
    if not missing:
        return
    if not is_root() or which("apt-get") is None:
        raise Cannot(
            f"{' and '.join(missing)} not installed (as root on Debian it would be "
            f"installed for you): apt-get install {' '.join(missing)}"
        )
    say(f"installing {' '.join(missing)} from Debian's packages")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "PATH": sbin_path()}
    WORK.mkdir(exist_ok=True)
    log = WORK / "apt.log"
    with log.open("w") as out:
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", *missing],
        ):
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env)
            if done.returncode != 0:
                tail = "\n".join(log.read_text().splitlines()[-5:])
                raise Cannot(f"could not install {' '.join(missing)}: {tail}")
    still = [p for p in missing if which(p) is None]
    if still:
        raise Cannot(f"apt-get installed nothing that provides {', '.join(still)}")


@dataclass
class Engine:
    """The container engine and the environment it runs with."""

    name: str  # "podman" or "docker"
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def __call__(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 600,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                [self.name, *args],
                capture_output=True,
                text=stdin is None,
                input=stdin,
                env=self.env,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise Failed(
                f"`{self.name} {' '.join(args[:3])} ...` took over {timeout:.0f} s"
            ) from None
        if stdin is not None:  # bytes in, bytes out: give back text
            done = subprocess.CompletedProcess(
                done.args,
                done.returncode,
                done.stdout.decode(errors="replace"),
                done.stderr.decode(errors="replace"),
            )
        if check and done.returncode != 0:
            raise Failed(f"`{self.name} {' '.join(args)}` failed:\n{done.stderr.strip()}")
        return done

    def has(self, image: str) -> bool:
        return self("image", "inspect", image, check=False).returncode == 0

    def inspect(self, image: str) -> dict[str, Any]:
        data = json.loads(self("image", "inspect", image).stdout)
        inspected: dict[str, Any] = data[0]
        return inspected

    def image_id(self, image: str) -> str | None:
        done = self("image", "inspect", "--format", "{{.Id}}", image, check=False)
        return done.stdout.strip() or None if done.returncode == 0 else None

    def version(self) -> str:
        return self("--version").stdout.strip()


def engine(requested: str | None) -> Engine:
    """The engine to use, installed and configured for this host."""
    if requested == "docker" or (requested is None and docker_daemon()):
        if not docker_daemon():
            raise Cannot("no Docker daemon answers (`docker info` fails)")
        return Engine("docker")
    install(["podman", "runc"])
    env = dict(os.environ)
    if "CONTAINERS_CONF" not in env:
        env["CONTAINERS_CONF"] = str(containers_conf())
    return Engine("podman", env)


def containers_conf() -> Path:
    """podman's settings for this host, used instead of the system's (CONTAINERS_CONF).

    - `default_ulimits = []`: the containers get the host's limits. Debian's default
      raises the open-files limit, which fails where podman may not (runc: "error
      setting rlimit type 7: operation not permitted").
    - runc, when installed: crun fails on hosts with hybrid (v1 + v2) cgroups.
    """
    WORK.mkdir(exist_ok=True)
    lines = [
        "# podman's settings for deploy/image.py on this host (see its containers_conf()).",
        "[containers]",
        "default_ulimits = []",
    ]
    if which("runc"):
        lines += ["[engine]", 'runtime = "runc"']
    path = WORK / "containers.conf"
    text = "\n".join(lines) + "\n"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def host() -> None:
    """Make the host ready to build and run the image, or raise Cannot."""
    if docker_daemon():
        say("host: a Docker daemon answers; the image is built and run with Docker")
        return
    install(HOST_PACKAGES)
    found = {p: which(p) for p in HOST_PACKAGES}
    say("host: " + ", ".join(f"{p} {'ok' if where else 'missing'}" for p, where in found.items()))
    if not found["podman"] or not found["runc"]:
        raise Cannot("podman and runc are needed to build and run the image")
    if not found["debootstrap"] and not is_root():
        say("host: without debootstrap and root, the base image must be pulled or given")
    conf = containers_conf()
    check = Engine("podman", {**os.environ, "CONTAINERS_CONF": str(conf)})
    info = check("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False)
    if info.returncode != 0:
        raise Cannot(f"podman does not work here: {info.stderr.strip()}")
    say(f"host: {check.version()}, runtime {info.stdout.strip()}")


# -- the base image ------------------------------------------------------------------------------


def dockerfile_base() -> str:
    """The Dockerfile's default PYTHON_IMAGE, the public base."""
    found = re.search(r"^ARG PYTHON_IMAGE=(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    if not found:
        raise Failed(f"{DOCKERFILE}: no `ARG PYTHON_IMAGE=...` default")
    return found.group(1)


def qualified(image: str) -> str:
    """A short Docker Hub name spelled out (podman refuses to guess a registry)."""
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"docker.io/{image}" if "/" in image else f"docker.io/library/{image}"


def pull(eng: Engine, image: str) -> bool:
    say(f"base: pulling {image}")
    done = eng("pull", "--quiet", image, check=False, timeout=600)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        say(f"base: cannot pull {image}: {last}")
    return done.returncode == 0


def base_image(eng: Engine, requested: str | None) -> str:
    """The base to build on: the one asked for, else the public default, else a local one."""
    if requested:
        image = qualified(requested) if eng.name == "podman" else requested
        if not eng.has(image) and not pull(eng, image):
            raise Failed(f"the base image {requested} is neither here nor pullable")
        return image
    public = dockerfile_base()
    image = qualified(public) if eng.name == "podman" else public
    if eng.has(image):
        return image
    if eng.name == "podman" and local_base_is_current(eng):  # made here before: no pull
        say(f"base: reusing {LOCAL_BASE} ({public} is not here)")
        return LOCAL_BASE
    if pull(eng, image):
        return image
    if eng.name != "podman":
        raise Failed(f"cannot pull {public}; give a base that is here with PYTHON_IMAGE=...")
    return local_base(eng)


def recipe() -> str:
    text = json.dumps([DEBOOTSTRAP, BASE_CLEANUP])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def apt_mirror() -> str:
    """The Debian mirror apt already uses for bookworm (deb822 or one-line sources)."""
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for stanza in path.read_text().split("\n\n"):
            fields = dict(
                (k.strip(), v.strip())
                for k, _, v in (line.partition(":") for line in stanza.splitlines())
                if not k.startswith("#")
            )
            if "bookworm" in fields.get("Suites", "").split() and fields.get("URIs"):
                return fields["URIs"].split()[0]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and "bookworm" in parts[2:3]:
                return next(p for p in parts[1:] if not p.startswith("["))
    return "http://deb.debian.org/debian"


def unmount_under(root: Path) -> None:
    """Unmount what an interrupted debootstrap left mounted inside `root` (/proc, /sys)."""
    prefix = str(root.resolve()) + "/"
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False)


def local_base_is_current(eng: Engine) -> bool:
    """The local base exists and was made by this recipe."""
    if not eng.has(LOCAL_BASE):
        return False
    labels = eng.inspect(LOCAL_BASE).get("Config", {}).get("Labels") or {}
    return bool(labels.get(RECIPE_LABEL) == recipe())


def local_base(eng: Engine) -> str:
    """localhost/followup-base:bookworm: Debian bookworm's Python 3.11 made with debootstrap."""
    if not is_root():
        raise Cannot(
            f"no base image: {dockerfile_base()} cannot be pulled, and making {LOCAL_BASE} "
            "with debootstrap needs root (or give one with PYTHON_IMAGE=...)"
        )
    install(["debootstrap"])
    root = WORK / "rootfs"
    if root.exists():
        unmount_under(root)
        shutil.rmtree(root)
    mirror = apt_mirror()
    say(f"base: making {LOCAL_BASE} with debootstrap from {mirror}")
    started = time.monotonic()
    log = WORK / "debootstrap.log"
    with log.open("w") as out:
        done = subprocess.run(
            [which("debootstrap") or "debootstrap", *DEBOOTSTRAP, str(root), mirror],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PATH": sbin_path()},
            timeout=1800,
        )
    if done.returncode != 0:
        unmount_under(root)
        tail = "\n".join(log.read_text().splitlines()[-10:])
        raise Failed(f"debootstrap failed (all of it in {log}):\n{tail}")
    for pattern in BASE_CLEANUP:
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    for path in (root / "usr/share/doc").rglob("*"):
        if path.is_file() and path.name != "copyright":
            path.unlink()
    tar = subprocess.run(
        ["tar", "--numeric-owner", "-C", str(root), "-c", "."], capture_output=True, check=True
    )
    eng(
        "import",
        "--change",
        f"LABEL {RECIPE_LABEL}={recipe()}",
        "--change",
        'CMD ["python3"]',
        "-",
        LOCAL_BASE,
        stdin=tar.stdout,
    )
    shutil.rmtree(root)
    say(f"base: {LOCAL_BASE} made in {time.monotonic() - started:.0f} s")
    return LOCAL_BASE


# -- the wheels ----------------------------------------------------------------------------------

_TARGET = """
import json, platform, sys
from pip._vendor.packaging.tags import sys_tags
print(json.dumps({"version": platform.python_version(), "tags": [str(t) for t in sys_tags()]}))
"""


def target_python(eng: Engine, base: str) -> dict[str, Any]:
    """The base's Python: its version and the wheel tags it accepts, asked of it (cached
    per base image id: a pip in a throwaway virtual environment answers)."""
    image_id = eng.image_id(base) or base
    cache = WORK / f"python-{image_id.removeprefix('sha256:')[:16]}.json"
    if cache.exists():
        cached: dict[str, Any] = json.loads(cache.read_text())
        return cached
    script = f"python3 -m venv /tmp/probe && /tmp/probe/bin/python -c '{_TARGET}'"
    done = eng(
        "run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "sh", base, "-c", script
    )
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    cache.write_text(json.dumps(found))
    return found


def runtime_requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    deps: list[str] = project["project"]["dependencies"]
    build: list[str] = project["build-system"]["requires"]
    return [*deps, *build]


def wheels(eng: Engine, base: str) -> dict[str, Any]:
    """deploy/wheels: every runtime dependency (and the build backend) as a wheel for the
    base's Python, downloaded on the host; reused while the lock and the base agree."""
    target = target_python(eng, base)
    requirements = runtime_requirements()
    key = hashlib.sha256(
        json.dumps(
            [(REPO / "requirements.lock").read_text(), requirements, target], sort_keys=True
        ).encode()
    ).hexdigest()
    stamp = WORK / "wheels.json"
    if stamp.exists():
        known = json.loads(stamp.read_text())
        if known.get("key") == key and all((WHEELS / f).exists() for f in known["files"]):
            say(f"wheels: reusing {len(known['files'])} in deploy/wheels")
            return target
    for old in WHEELS.glob("*.whl"):
        old.unlink()
    platforms = list(dict.fromkeys(t.split("-")[2] for t in target["tags"]))
    abis = list(dict.fromkeys(t.split("-")[1] for t in target["tags"]))
    implementation = target["tags"][0].split("-")[0][:2]  # "cp311" -> "cp"
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--dest",
        str(WHEELS),
        "--python-version",
        target["version"],
        "--implementation",
        implementation,
        *itertools.chain.from_iterable(("--abi", a) for a in abis),
        *itertools.chain.from_iterable(("--platform", p) for p in platforms if p != "any"),
        "-c",
        str(REPO / "requirements.lock"),
        *requirements,
    ]
    say(f"wheels: downloading for Python {target['version']} ({platforms[0]})")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
        raise Failed(
            "the wheels requirements.lock pins cannot all be had for the image's Python "
            f"{target['version']}:\n" + "\n".join(errors or done.stderr.splitlines()[-5:])
        )
    misfits = wheel_misfits(sorted(WHEELS.glob("*.whl")), target)
    if misfits:
        raise Failed("wheels that do not fit the image's Python:\n" + "\n".join(misfits))
    files = sorted(p.name for p in WHEELS.glob("*.whl"))
    stamp.write_text(json.dumps({"key": key, "files": files}))
    say(f"wheels: {len(files)} in deploy/wheels")
    return target


def wheel_misfits(paths: Sequence[Path], target: dict[str, Any]) -> list[str]:
    """The wheels the target Python would refuse, each with why: no tag it accepts (the
    ABI or platform of compiled parts), or a Requires-Python it is outside of."""
    import zipfile

    from packaging.specifiers import SpecifierSet
    from packaging.utils import parse_wheel_filename

    accepted = set(target["tags"])
    out = []
    for path in paths:
        _name, _version, _build, tags = parse_wheel_filename(path.name)
        if not {str(t) for t in tags} & accepted:
            out.append(f"{path.name}: no tag the image's Python accepts")
            continue
        with zipfile.ZipFile(path) as archive:
            metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            text = archive.read(metadata).decode(errors="replace")
        found = re.search(r"^Requires-Python: *(.+)$", text, re.MULTILINE)
        if found and target["version"] not in SpecifierSet(found.group(1).strip()):
            out.append(f"{path.name}: needs Python {found.group(1).strip()}")
    return out


# -- build ---------------------------------------------------------------------------------------


def size_mb(eng: Engine, image: str) -> float:
    return float(eng.inspect(image)["Size"]) / 1e6


def build(eng: Engine, image: str, requested_base: str | None) -> None:
    started = time.monotonic()
    say(f"engine: {eng.version()}")
    base = base_image(eng, requested_base)
    target = wheels(eng, base)
    previous = eng.image_id(image)
    options = ["--layers=false"] if eng.name == "podman" else []
    say(f"build: {image} from deploy/Dockerfile on {base}, without network")
    building = time.monotonic()
    done = eng(
        "build",
        *options,
        "--network",
        "none",
        "--file",
        str(DOCKERFILE),
        "--build-arg",
        f"PYTHON_IMAGE={base}",
        "--build-arg",
        "PIP_OPTIONS=--no-index",
        "--tag",
        image,
        str(REPO),
        check=False,
        timeout=1800,
    )
    (WORK / "build.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise Failed(f"the build failed (all of it in .image/build.log):\n{tail}")
    built = eng.image_id(image)
    if previous and previous != built:  # the image this one replaces, if nothing else uses it
        eng("image", "rm", previous, check=False)
    say(
        f"build: {image} built in {time.monotonic() - building:.1f} s "
        f"({time.monotonic() - started:.1f} s with base and wheels): "
        f"{size_mb(eng, image):.0f} MB, on {base} ({size_mb(eng, base):.0f} MB, "
        f"Python {target['version']})"
    )


# -- the CronJobs as engine options --------------------------------------------------------------


def render(directory: Path) -> list[dict[str, Any]]:
    """The resources of a kustomization that lists `resources` only (what ours do)."""
    import yaml

    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - {"apiVersion", "kind", "resources"}
    if unknown:
        raise ValueError(f"{directory}: cannot render {sorted(unknown)}")
    out: list[dict[str, Any]] = []
    for entry in kustomization["resources"]:
        path = (directory / entry).resolve()
        if path.is_dir():
            out.extend(render(path))
        else:
            out.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return out


def _fields(mapping: dict[str, Any], known: set[str], where: str) -> dict[str, Any]:
    unknown = set(mapping) - known
    if unknown:
        raise ValueError(f"{where}: {sorted(unknown)} not translated to the engine: add it here")
    return mapping


@dataclass(frozen=True)
class Volume:
    name: str
    kind: str  # configMap, secret or emptyDir
    source: str  # the ConfigMap's or Secret's name
    mode: int | None


@dataclass(frozen=True)
class Mount:
    volume: Volume
    path: str
    read_only: bool


@dataclass(frozen=True)
class PodRun:
    """What a CronJob's pod asks of its one container, in the engine's terms."""

    user: int
    group: int
    fs_group: int | None
    read_only_root: bool
    no_new_privileges: bool
    cap_drop: tuple[str, ...]
    memory_bytes: int | None
    cpus: float | None
    stop_timeout: int | None
    env: dict[str, str]
    args: list[str]
    mounts: tuple[Mount, ...]


_POD = {
    "serviceAccountName",  # followup never calls the Kubernetes API
    "automountServiceAccountToken",  # must be false: nothing is mounted here either
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "securityContext",
    "containers",
    "volumes",
}
_POD_SECURITY = {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile"}
_CONTAINER = {
    "name",
    "image",  # replaced by the image under test
    "imagePullPolicy",
    "args",
    "env",
    "resources",
    "securityContext",
    "volumeMounts",
}
_CONTAINER_SECURITY = {
    "runAsNonRoot",
    "allowPrivilegeEscalation",
    "readOnlyRootFilesystem",
    "capabilities",
    "seccompProfile",
}
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}


def quantity_bytes(text: str) -> int:
    """A Kubernetes memory quantity ("512Mi", "1G", "1000") in bytes."""
    found = re.fullmatch(r"(\d+)(Ki|Mi|Gi|k|M|G)?", str(text))
    if not found:
        raise ValueError(f"memory quantity {text!r} not understood")
    return int(found.group(1)) * _UNITS.get(found.group(2) or "", 1)


def quantity_cpus(text: str) -> float:
    """A Kubernetes CPU quantity ("1", "500m", "0.5") in CPUs."""
    value = str(text)
    return int(value[:-1]) / 1000 if value.endswith("m") else float(value)


def pod_run(cronjob: dict[str, Any]) -> PodRun:
    """The CronJob's pod as a PodRun; a field not translated here is an error."""
    name = cronjob["metadata"]["name"]
    pod = _fields(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"], _POD, name)
    if pod.get("automountServiceAccountToken") is not False:
        raise ValueError(f"{name}: the pod would get a Kubernetes API token")
    pod_security = _fields(pod.get("securityContext", {}), _POD_SECURITY, f"{name} pod")
    (container,) = pod["containers"]
    container = _fields(container, _CONTAINER, f"{name} container")
    security = _fields(container.get("securityContext", {}), _CONTAINER_SECURITY, name)
    for context in (pod_security, security):
        seccomp = context.get("seccompProfile", {"type": "RuntimeDefault"})
        if seccomp != {"type": "RuntimeDefault"}:  # the engine's default profile
            raise ValueError(f"{name}: seccomp {seccomp} not translated")
    user = int(pod_security.get("runAsUser", 0))
    if (pod_security.get("runAsNonRoot") or security.get("runAsNonRoot")) and user == 0:
        raise ValueError(f"{name}: runAsNonRoot without a non-root runAsUser")
    capabilities = _fields(security.get("capabilities", {}), {"drop"}, f"{name} capabilities")
    volumes = {}
    for volume in pod.get("volumes", []):
        (kind,) = set(volume) - {"name"}
        spec = volume[kind]
        if kind == "configMap":
            volumes[volume["name"]] = Volume(
                volume["name"], kind, _fields(spec, {"name"}, kind)["name"], None
            )
        elif kind == "secret":
            spec = _fields(spec, {"secretName", "defaultMode"}, kind)
            volumes[volume["name"]] = Volume(
                volume["name"], kind, spec["secretName"], spec.get("defaultMode", 0o644)
            )
        elif kind == "emptyDir":
            _fields(spec or {}, {"sizeLimit", "medium"}, kind)
            volumes[volume["name"]] = Volume(volume["name"], kind, "", 0o777)
        else:
            raise ValueError(f"{name}: volume kind {kind} not translated")
    mounts = tuple(
        Mount(
            volumes[m["name"]],
            _fields(m, {"name", "mountPath", "readOnly"}, "volumeMount")["mountPath"],
            bool(m.get("readOnly", False)),
        )
        for m in container.get("volumeMounts", [])
    )
    env = {}
    for variable in container.get("env", []):
        _fields(variable, {"name", "value"}, f"{name} env")
        env[variable["name"]] = str(variable["value"])
    resources = _fields(container.get("resources", {}), {"requests", "limits"}, "resources")
    limits = _fields(resources.get("limits", {}), {"cpu", "memory"}, "limits")
    grace = pod.get("terminationGracePeriodSeconds")
    return PodRun(
        user=user,
        group=int(pod_security.get("runAsGroup", user)),
        fs_group=pod_security.get("fsGroup"),
        read_only_root=bool(security.get("readOnlyRootFilesystem", False)),
        no_new_privileges=security.get("allowPrivilegeEscalation") is False,
        cap_drop=tuple(capabilities.get("drop", ())),
        memory_bytes=quantity_bytes(limits["memory"]) if "memory" in limits else None,
        cpus=quantity_cpus(limits["cpu"]) if "cpu" in limits else None,
        stop_timeout=int(grace) if grace is not None else None,
        env=env,
        args=[str(a) for a in container.get("args", [])],
        mounts=mounts,
    )


def engine_options(
    run: PodRun, volumes: dict[str, Path], *, engine_name: str, network: str
) -> list[str]:
    """`run` options that give the container what the pod spec asks for."""
    options = ["--rm", "--network", network, "--user", f"{run.user}:{run.group}"]
    if run.fs_group is not None:
        options += ["--group-add", str(run.fs_group)]  # as Kubernetes adds fsGroup
    if run.read_only_root:
        options.append("--read-only")
        if engine_name == "podman":  # podman would add its own tmpfs on /tmp, /run, /var/tmp
            options.append("--read-only-tmpfs=false")
    for capability in run.cap_drop:
        options += ["--cap-drop", capability]
    if run.no_new_privileges:
        options += ["--security-opt", "no-new-privileges"]
    if run.memory_bytes is not None:
        options += ["--memory", f"{run.memory_bytes}b"]
    if run.cpus is not None:
        options += ["--cpus", f"{run.cpus:g}"]
    if run.stop_timeout is not None:
        options += ["--stop-timeout", str(run.stop_timeout)]
    for mount in run.mounts:
        suffix = ":ro" if mount.read_only else ""
        options += ["--volume", f"{volumes[mount.volume.name]}:{mount.path}{suffix}"]
    for name, value in run.env.items():
        options += ["--env", f"{name}={value}"]
    return options


def make_volumes(
    run: PodRun,
    into: Path,
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> dict[str, Path]:
    """Host folders for the pod's volumes, as the kubelet lays them out: ConfigMap files
    0644, Secret files with their defaultMode and the fsGroup, an emptyDir 0777 (setgid
    to the fsGroup). Each call makes new ones, as each pod gets its own."""
    into.mkdir(parents=True, exist_ok=True)
    made = {}
    group = run.fs_group if run.fs_group is not None else -1
    for mount in run.mounts:
        volume = mount.volume
        folder = Path(tempfile.mkdtemp(prefix=f"{volume.name}-", dir=into))
        folder.chmod(0o755)
        if volume.kind in ("configMap", "secret"):
            data = (config_maps if volume.kind == "configMap" else secrets)[volume.source]
            for key, value in data.items():
                path = folder / key
                path.write_text(value)
                if volume.kind == "secret":
                    if is_root():
                        os.chown(path, 0, group)
                    path.chmod(volume.mode or 0o644)
                else:
                    path.chmod(0o644)
        else:  # emptyDir
            if is_root():
                os.chown(folder, 0, group)
            folder.chmod(0o777 | (0o2000 if run.fs_group is not None else 0))
        made[volume.name] = folder
    return made


# -- the sandbox on the host ---------------------------------------------------------------------


@dataclass
class Sandbox:
    url: str
    process: subprocess.Popen[bytes]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as answer:  # noqa: S310
            return json.loads(answer.read())

    def writes(self) -> int:
        return int(self.get("/_sandbox/stats")["writes"])


@contextlib.contextmanager
def sandbox(flavor: str, folder: Path) -> Iterator[Sandbox]:
    """`followup`'s sandbox on this host's loopback, seeded with the demo, in memory;
    stopped (and waited for) on the way out, whatever happens."""
    ready = folder / f"sandbox-{flavor}.url"
    log = folder / f"sandbox-{flavor}.log"
    command = [
        *(sys.executable, "-m", "followup.sandbox.server", "--host", "127.0.0.1"),
        *("--port", "0", "--flavor", flavor, "--seed", "demo", "--state-path", ":memory:"),
        *("--ready-file", str(ready)),
    ]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise Failed(f"the {flavor} sandbox did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield Sandbox(ready.read_text().strip(), process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the checks ----------------------------------------------------------------------------------


class CheckFailed(Exception):
    pass


@dataclass
class Checks:
    passed: int = 0
    failed: int = 0

    def run(self, name: str, check: Callable[[], str]) -> None:
        started = time.monotonic()
        try:
            detail = check()
        except (CheckFailed, Failed, ValueError) as exc:
            self.failed += 1
            say(f"FAIL {name}\n     " + str(exc).replace("\n", "\n     "))
            return
        self.passed += 1
        say(f"ok   {name}: {detail} ({time.monotonic() - started:.1f} s)")


@dataclass
class Containers:
    """Runs containers under names of its own, and removes any that outlive their run."""

    eng: Engine
    image: str
    names: list[str] = field(default_factory=list)

    def run(
        self, options: list[str], args: Sequence[str], *, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        name = f"followup-image-test-{os.getpid()}-{len(self.names)}"
        self.names.append(name)
        command = [self.eng.name, "run", "--name", name, *options, self.image, *args]
        try:
            return subprocess.run(
                command, capture_output=True, text=True, env=self.eng.env, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"the container ran over {timeout:.0f} s and was stopped") from None
        finally:
            self.remove(name)

    def remove(self, name: str) -> None:
        if self.eng("container", "inspect", name, check=False).returncode == 0:
            self.eng("rm", "--force", name, check=False)

    def remove_all(self) -> None:
        for name in self.names:
            self.remove(name)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def output_of(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\nstdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}"


_SECRET_CONTENT = re.compile(
    rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\s+[A-Za-z0-9+/=]{40}"  # a PEM key with a body
    rb"|ATATT3[A-Za-z0-9_\-=]{40,}"  # an Atlassian Cloud API token
    rb"|\bgh[pousr]_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{40,}"
    rb"|\bAKIA[0-9A-Z]{16}\b"
    rb"|\bxox[abprs]-[0-9A-Za-z-]{10,}"
)
_SECRET_NAMES = re.compile(
    r"(^|/)(\.netrc|\.pypirc|\.git-credentials|\.env|id_(rsa|dsa|ecdsa|ed25519)|"
    r"followup\.toml|jira-token|confluence-token|sandbox\.sqlite3|\.docker/config\.json)$"
)
_BUILD_TOOLS = re.compile(
    r"^(usr/(local/)?)?s?bin/((x86_64|aarch64)-linux-gnu-)?"
    r"(gcc|g\+\+|c\+\+|cc|cpp|clang|clang\+\+|ld|as|make|cmake|git|rustc|go)(-[\d.]+)?$"
)
_SOURCE_TREE = re.compile(
    r"(^src/|(^|/)\.git/|(^|/)pyproject\.toml$|(^|/)requirements\.lock$|"
    r"(^|/)tests/test_deploy\.py$|(^|/)deploy/Dockerfile$|(^|/)\.venv/)"
)


@dataclass
class Files:
    names: dict[str, tarfile.TarInfo]
    secret_hits: list[str]


def read_files(stream: IO[bytes]) -> Files:
    """Every path in a tar stream of an image's files, and the files whose content
    looks like a secret."""
    names: dict[str, tarfile.TarInfo] = {}
    hits: list[str] = []
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            path = member.name.removeprefix("./")
            names[path] = member
            if member.isfile() and member.size <= 8 * 2**20:
                handle = archive.extractfile(member)
                content = handle.read() if handle else b""
                # Compiled libraries carry their self-test keys (libgnutls does): what
                # leaks into an image by mistake is a file, not a binary.
                binary = content.startswith(b"\x7fELF")
                found = None if binary else _SECRET_CONTENT.search(content)
                if found:
                    hits.append(f"{path}: {found.group(0)[:24]!r}...")
    return Files(names, hits)


def image_files(eng: Engine, image: str) -> Files:
    """The image's files, read from `export` of a container that never runs."""
    name = f"followup-image-files-{os.getpid()}"
    eng("create", "--name", name, image)
    try:
        exported = eng.name, "export", name
        process = subprocess.Popen(exported, stdout=subprocess.PIPE, env=eng.env)
        assert process.stdout is not None
        files = read_files(process.stdout)
        if process.wait() != 0:
            raise Failed(f"`{eng.name} export` failed")
    finally:
        eng("rm", "--force", name, check=False)
    return files


_WHO_AM_I = """
import json, os
def writable(path):
    try:
        with open(os.path.join(path, ".followup-probe"), "w"):
            pass
    except OSError:
        return False
    os.remove(os.path.join(path, ".followup-probe"))
    return True
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "groups": sorted(os.getgroups()),
    "cap_eff": status["CapEff"].strip(), "no_new_privs": status["NoNewPrivs"].strip(),
    "seccomp": status["Seccomp"].strip(),
    "writable": sorted({p for p in ("/", "/opt/followup", "/etc", "/etc/followup",
        "/var/run/secrets/followup", "/var/tmp", "/run", "/tmp", os.path.expanduser("~"))
        if os.path.isdir(p) and writable(p)}),
}))
"""


def test(eng: Engine, image: str) -> int:
    """Run every check on `image`; the number of checks that failed."""
    started = time.monotonic()
    if not eng.has(image):
        raise Failed(f"no image {image}: build it first (make image)")
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    docs = render(KUBE / "overlays" / "dry-run")
    cronjobs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "CronJob"}
    config_maps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    sync_pod, dry_run_pod = pod_run(cronjobs["followup"]), pod_run(cronjobs["followup-dry-run"])
    WORK.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="test-", dir=WORK))
    scratch.chmod(0o755)
    containers = Containers(eng, image)
    checks = Checks()
    say(f"image-test: {image} ({size_mb(eng, image):.0f} MB) with {eng.version()}")
    try:
        dummy = {"followup-tokens": {"jira-token": "not-a-token\n"}}

        def runs_as_the_pod() -> str:
            volumes = make_volumes(sync_pod, scratch / "who", config_maps, dummy)
            options = engine_options(sync_pod, volumes, engine_name=eng.name, network="none")
            options += ["--entrypoint", "/opt/followup/bin/python"]
            done = containers.run(options, ["-c", _WHO_AM_I])
            expect(done.returncode == 0, output_of(done))
            seen = json.loads(done.stdout)
            expect(seen["uid"] == sync_pod.user and seen["gid"] == sync_pod.group, str(seen))
            expect(sync_pod.fs_group in seen["groups"], f"fsGroup missing: {seen}")
            expect(int(seen["cap_eff"], 16) == 0, f"capabilities left: {seen['cap_eff']}")
            expect(seen["no_new_privs"] == "1", "no_new_privs is not set")
            expect(seen["seccomp"] == "2", f"no seccomp filter (Seccomp: {seen['seccomp']})")
            only_tmp = ["/tmp"]  # noqa: S108 (the container's, not this host's)
            expect(seen["writable"] == only_tmp, f"writable: {seen['writable']}, not only /tmp")
            return (
                f"uid {seen['uid']}, gid {seen['gid']}, groups {seen['groups']}, no "
                "capabilities, no new privileges, seccomp on, only /tmp writable"
            )

        def prints_its_version() -> str:
            volumes = make_volumes(sync_pod, scratch / "version", config_maps, dummy)
            options = engine_options(sync_pod, volumes, engine_name=eng.name, network="none")
            done = containers.run(options, ["--version"])
            expect(done.returncode == 0, output_of(done))
            expect(done.stdout.strip() == f"followup {version}", output_of(done))
            return done.stdout.strip()

        checks.run("the container runs as the CronJob's pod", runs_as_the_pod)
        checks.run("followup --version", prints_its_version)
        files = image_files(eng, image)
        checks.run("no build tools in the image", lambda: no_build_tools(files))
        checks.run("no source tree in the image", lambda: no_source_tree(files))
        checks.run("no secrets in the image's files", lambda: no_secret_files(files))
        checks.run(
            "no secrets in the image's settings and history",
            lambda: no_secrets_in_config(eng, image),
        )
        for flavor in ("cloud", "datacenter"):
            with sandbox(flavor, scratch) as site:
                against_the_sandbox(
                    checks, containers, flavor, site, sync_pod, dry_run_pod, config_maps, scratch
                )
    finally:
        containers.remove_all()
        shutil.rmtree(scratch, ignore_errors=True)
    say(f"image-test: done in {time.monotonic() - started:.0f} s")
    say(f"image-test: {checks.passed} passed, {checks.failed} failed")
    return checks.failed


def no_build_tools(files: Files) -> str:
    tools = sorted(p for p in files.names if _BUILD_TOOLS.match(p))
    headers = sorted(p for p in files.names if re.search(r"include/python3[.\d]*/Python\.h$", p))
    venv = sorted(
        p
        for p in files.names
        if re.match(r"opt/followup/(bin/pip|lib/python3[.\d]*/site-packages/(pip|setuptools)/)", p)
    )
    expect(not tools, f"build tools: {tools}")
    expect(not headers, f"C headers for Python: {headers}")
    expect(not venv, f"pip or setuptools in followup's environment: {venv[:5]}")
    return "no compiler, make or git, no Python headers, no pip in /opt/followup"


def no_source_tree(files: Files) -> str:
    found = sorted(p for p in files.names if _SOURCE_TREE.search(p))
    expect(not found, f"source files: {found[:10]}")
    package = [p for p in files.names if re.search(r"site-packages/followup/cli\.py$", p)]
    expect(len(package) == 1, f"followup is not installed as a package: {package}")
    compiled = [p for p in files.names if re.search(r"site-packages/followup/__pycache__/cli\.", p)]
    expect(bool(compiled), "followup's bytecode was not compiled at build time")
    editable = [p for p in files.names if re.search(r"__editable__|followup\.egg-link$", p)]
    expect(not editable, f"an editable install: {editable}")
    return f"only the installed package ({Path(package[0]).parent}), compiled"


def no_secret_files(files: Files) -> str:
    named = sorted(p for p in files.names if _SECRET_NAMES.search(p))
    expect(not named, f"files that hold secrets: {named}")
    expect(not files.secret_hits, "secret-shaped content: " + "; ".join(files.secret_hits))
    return f"no credential file or key material in {len(files.names)} paths"


_SECRETISH = re.compile(r"TOKEN|PASSWORD|SECRET|API_KEY|CREDENTIAL", re.IGNORECASE)


def no_secrets_in_config(eng: Engine, image: str) -> str:
    config = eng.inspect(image).get("Config", {})
    env = [e.split("=", 1)[0] for e in config.get("Env") or []]
    labels = list(config.get("Labels") or {})
    expect(not [e for e in env + labels if _SECRETISH.search(e)], f"env/labels: {env + labels}")
    history = eng("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    expect(not _SECRETISH.search(history), "a build step names a secret:\n" + history)
    return f"{len(env)} variables, {len(labels)} labels, {len(history.splitlines())} build steps"


# The counts of a sync-summary that change a ticket or a page (docs/logging.md).
CHANGES = ("create", "adopt", "update", "transition", "page_writes", "comment")


def against_the_sandbox(
    checks: Checks,
    containers: Containers,
    flavor: str,
    site: Sandbox,
    sync_pod: PodRun,
    dry_run_pod: PodRun,
    config_maps: dict[str, dict[str, str]],
    scratch: Path,
) -> None:
    """doctor, the dry run, the sync and the sync again, each in its CronJob's pod, with
    the ConfigMap's followup.toml and the sites pointed at the sandbox."""
    env = site.get("/_sandbox/env")
    token = env["FOLLOWUP_JIRA__TOKEN"]
    secrets = {"followup-tokens": {"jira-token": token + "\n"}}
    # The ConfigMap names acme's sites: the environment, which wins over the file,
    # points them at the sandbox (the Confluence account is the Jira one, as there).
    site_env = {
        name: env[name]
        for name in (
            "FOLLOWUP_JIRA__URL",
            "FOLLOWUP_JIRA__EMAIL",
            "FOLLOWUP_JIRA__PROJECT",
            "FOLLOWUP_CONFLUENCE__URL",
        )
    }
    counter = itertools.count()

    def pod(
        run: PodRun, args: list[str] | None = None
    ) -> tuple[subprocess.CompletedProcess[str], int, Path]:
        run = PodRun(**{**run.__dict__, "env": {**run.env, **site_env}})
        volumes = make_volumes(run, scratch / f"{flavor}-{next(counter)}", config_maps, secrets)
        options = engine_options(run, volumes, engine_name=containers.eng.name, network="host")
        before = site.writes()
        done = containers.run(options, run.args if args is None else args)
        expect(token not in done.stdout + done.stderr, "the token is in the output")
        (tmp,) = [volumes[m.volume.name] for m in run.mounts if m.path == "/tmp"]  # noqa: S108
        left = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))
        expect(not left, f"files left in the emptyDir at /tmp: {left}")
        return done, site.writes() - before, tmp

    def doctor() -> str:
        done, _writes, _ = pod(sync_pod, ["doctor"])
        expect(done.returncode == 0, output_of(done))
        found = re.search(r"(\d+) passed, 0 failed", done.stdout)
        expect(found is not None, output_of(done))
        assert found is not None
        return f"{found.group(1)} checks passed"

    def dry_run() -> str:
        done, writes, _ = pod(dry_run_pod)
        expect(done.returncode == 0, output_of(done))
        expect(writes == 0, f"the dry run wrote {writes} time(s)")
        expect(done.stdout.lstrip().startswith("#"), "no Markdown report:\n" + output_of(done))
        expect("error" not in done.stderr.lower(), "errors logged:\n" + done.stderr[-2000:])
        plan = re.search(r"dry run: (would make \d+ create\(s\))", done.stdout)
        expect(plan is not None, "the report has no plan:\n" + done.stdout[:2000])
        assert plan is not None
        return f"{plan.group(1)} in a Markdown report, nothing written"

    def sync() -> str:
        done, writes, _ = pod(sync_pod)
        expect(done.returncode == 0, output_of(done))
        expect(writes > 0, "the sync wrote nothing")
        summary = [line for line in done.stderr.splitlines() if '"sync-summary"' in line]
        expect(len(summary) == 1, "no sync-summary log line:\n" + done.stderr[-2000:])
        expect(json.loads(summary[0]).get("outcome") == "ok", summary[0])
        return f"{writes} writes to the sandbox, outcome ok"

    def sync_again() -> str:
        done, writes, _ = pod(sync_pod)
        expect(done.returncode == 0, output_of(done))
        summary = [line for line in done.stderr.splitlines() if '"sync-summary"' in line]
        expect(len(summary) == 1, "no sync-summary log line:\n" + done.stderr[-2000:])
        counts = json.loads(summary[0])
        changed = {k: counts.get(k) for k in CHANGES if counts.get(k)}
        expect(not changed, f"the second sync changed tickets or pages again: {changed}")
        expect(writes == 0, f"the second sync wrote {writes} time(s) (properties or leases)")
        return "nothing changed, nothing written"

    checks.run(f"{flavor}: doctor in the sync CronJob's pod", doctor)
    checks.run(f"{flavor}: the dry-run CronJob ({' '.join(dry_run_pod.args)})", dry_run)
    checks.run(f"{flavor}: the sync CronJob ({' '.join(sync_pod.args)})", sync)
    checks.run(f"{flavor}: the sync CronJob again", sync_again)


# -- main ----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("host", "build", "test"))
    parser.add_argument("--image", default=IMAGE, help=f"the image's name (default {IMAGE})")
    parser.add_argument("--engine", choices=("podman", "docker"), default=None)
    parser.add_argument("--base", default=None, help="the base image (default: see above)")
    args = parser.parse_args(argv)
    try:
        if args.command == "host":
            host()
            try:  # a base is the host's part too: without one there is nothing to build on
                say(f"host: base image {base_image(engine(args.engine), args.base)}")
            except Failed as exc:
                raise Cannot(f"no base image: {exc}") from None
            return 0
        eng = engine(args.engine)
        if args.command == "build":
            build(eng, args.image, args.base)
            return 0
        return 1 if test(eng, args.image) else 0
    except Cannot as exc:
        say(f"this host cannot build or run the image: {exc}")
        return CANNOT
    except Failed as exc:
        say(f"image {args.command} failed: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
