"""A local apt repository for nodes that have no route out (the bare_nodes scenario, air-gapped users).

    python hack/apt_repo.py build DIR [--image IMAGE] [--package corosync ...]

`build` starts a throwaway container from the node image with the host's normal podman network, asks
apt inside it which packages the image lacks for the given ones (`apt-get install --download-only`
resolves exactly that set) and copies those .deb files to DIR, then indexes DIR (`apt-ftparchive`),
so DIR is a flat repository: `deb [trusted=yes] http://ADDRESS:PORT/ ./`. The downloads come from the
Debian registry, as debootstrap's do; nothing else leaves the host. A DIR that already holds an index
for the same packages is kept (built once per checkout).

`build-upgrade` makes the upgrade scenario's repository: the package the full node image already has
(corosync), downloaded again and repackaged with a higher version (the same files under version
``<installed>+quorate1``), so that apt on the nodes sees a newer corosync to upgrade to. This is a
test stand-in for a real point release; it changes no file inside the package.

`serve()` / `stop()` run a plain HTTP server for DIR on one address (the nodes' bridge) and stop it
by the PID it was started with.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from podman_cluster import BARE_IMAGE, IMAGE, podman, podman_env

MIRROR = os.environ.get("QUORATE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
STAMP = ".packages"  # which packages the index was built for


def build(repo: Path, image: str = BARE_IMAGE, packages: tuple[str, ...] = ("corosync",)) -> None:
    wanted = " ".join(sorted(packages)) + "\n"
    if (repo / "Packages").is_file() and (repo / STAMP).is_file() and (repo / STAMP).read_text() == wanted:
        return
    image_script = Path(__file__).resolve().parent / "node-image.sh"
    subprocess.run([str(image_script), "--bare", image], check=True, env=podman_env())
    repo.mkdir(parents=True, exist_ok=True)
    for old in repo.glob("*.deb"):
        old.unlink()
    script = (
        f"echo 'deb {MIRROR} bookworm main' > /etc/apt/sources.list"
        " && apt-get -qq update"
        f" && apt-get -qq install --download-only --no-install-recommends -y {' '.join(packages)} >/dev/null"
        " && cp /var/cache/apt/archives/*.deb /repo/"
    )
    start = time.monotonic()
    proc = podman("run", "--rm", "-v", f"{repo}:/repo", image, "sh", "-c", script, check=False, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"apt-repo: downloading {' '.join(packages)} failed: {proc.stderr.strip()}")
    index = subprocess.run(["apt-ftparchive", "packages", "."], cwd=repo, capture_output=True, text=True, check=True)
    (repo / "Packages").write_text(index.stdout)
    (repo / STAMP).write_text(wanted)
    debs = len(list(repo.glob("*.deb")))
    sys.stderr.write(f"apt-repo: {debs} packages in {repo} ({time.monotonic() - start:.0f} s)\n")


UPGRADE_SUFFIX = "+quorate1"


def build_upgrade(repo: Path, image: str = IMAGE, package: str = "corosync", suffix: str = UPGRADE_SUFFIX) -> str:
    """A repository holding ``package`` of ``image`` repackaged as ``<its version><suffix>``; returns that version."""
    wanted = f"upgrade {package}{suffix}\n"
    if (repo / "Packages").is_file() and (repo / STAMP).is_file() and (repo / STAMP).read_text() == wanted:
        return (repo / "version").read_text().strip()
    image_script = Path(__file__).resolve().parent / "node-image.sh"
    subprocess.run([str(image_script), image], check=True, env=podman_env())
    repo.mkdir(parents=True, exist_ok=True)
    for old in repo.glob("*.deb"):
        old.unlink()
    script = (
        f"echo 'deb {MIRROR} bookworm main' > /etc/apt/sources.list"
        " && apt-get -qq update"
        f" && cd /repo && apt-get -qq download {package}"
        f" && dpkg-query -W -f='${{Version}}' {package} > /repo/installed"
    )
    start = time.monotonic()
    proc = podman("run", "--rm", "-v", f"{repo}:/repo", image, "sh", "-c", script, check=False, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"apt-repo: downloading {package} failed: {proc.stderr.strip()}")
    installed = (repo / "installed").read_text().strip()
    (original,) = repo.glob(f"{package}_*.deb")
    version = installed + suffix
    with tempfile.TemporaryDirectory(prefix="quorate-repack.") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["dpkg-deb", "-R", str(original), str(tree)], check=True)
        control = tree / "DEBIAN" / "control"
        lines = control.read_text().splitlines()
        control.write_text(
            "\n".join(f"Version: {version}" if line.startswith("Version:") else line for line in lines) + "\n"
        )
        target = repo / f"{package}_{version.replace(':', '%3a')}_amd64.deb"
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-b", str(tree), str(target)], check=True, capture_output=True
        )
    original.unlink()
    index = subprocess.run(["apt-ftparchive", "packages", "."], cwd=repo, capture_output=True, text=True, check=True)
    (repo / "Packages").write_text(index.stdout)
    (repo / "version").write_text(version + "\n")
    (repo / STAMP).write_text(wanted)
    sys.stderr.write(
        f"apt-repo: {package} {installed} repackaged as {version} in {repo} ({time.monotonic() - start:.0f} s)\n"
    )
    return version


def serve(repo: Path, address: str, port: int, pidfile: Path) -> None:
    """Start an HTTP server for ``repo`` on ``address:port`` and record its PID."""
    log = open(pidfile.with_suffix(".log"), "w")  # the server's output, kept by the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", address, "--directory", str(repo), str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pidfile.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"apt-repo: the HTTP server on {address}:{port} exited: see {log.name}")
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"apt-repo: the HTTP server on {address}:{port} did not answer in 10 s")


def stop(pidfile: Path) -> None:
    """Stop the server started by serve(), by the PID it recorded (nothing else)."""
    try:
        pid = int(pidfile.read_text())
    except (FileNotFoundError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    pidfile.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("build", "build-upgrade"))
    parser.add_argument("repo", type=Path)
    parser.add_argument("--image", default=BARE_IMAGE)
    parser.add_argument("--package", action="append", dest="packages", help="default: corosync")
    args = parser.parse_args()
    if args.action == "build-upgrade":
        sys.stdout.write(build_upgrade(args.repo.resolve()) + "\n")
        return 0
    build(args.repo.resolve(), args.image, tuple(args.packages or ("corosync",)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
