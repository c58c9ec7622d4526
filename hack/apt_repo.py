"""A local apt repository for nodes that have no route out (the bare_nodes scenario, air-gapped users).

    python hack/apt_repo.py build DIR [--image IMAGE] [--package corosync ...]

`build` starts a throwaway container from the node image with the host's normal podman network, asks
apt inside it which packages the image lacks for the given ones (`apt-get install --download-only`
resolves exactly that set) and copies those .deb files to DIR, then indexes DIR (`apt-ftparchive`),
so DIR is a flat repository: `deb [trusted=yes] http://ADDRESS:PORT/ ./`. The downloads come from the
Debian registry, as debootstrap's do; nothing else leaves the host. A DIR that already holds an index
for the same packages is kept (built once per checkout).

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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from podman_cluster import BARE_IMAGE, podman, podman_env

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
    parser.add_argument("action", choices=("build",))
    parser.add_argument("repo", type=Path)
    parser.add_argument("--image", default=BARE_IMAGE)
    parser.add_argument("--package", action="append", dest="packages", help="default: corosync")
    args = parser.parse_args()
    build(args.repo.resolve(), args.image, tuple(args.packages or ("corosync",)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
