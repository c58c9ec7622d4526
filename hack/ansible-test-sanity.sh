#!/usr/bin/env bash
# Run `ansible-test sanity` for the quorate.cluster collection without Docker and without
# reaching any host but the Python package index (or none at all: see --wheelhouse, and
# note that a second run reuses ansible-test's cached venvs and needs no network).
#
# Usage:
#   hack/ansible-test-sanity.sh [SRC_DIR] [-o|--out SCRATCH_DIR] [--python X.Y]
#                               [--wheelhouse DIR] [--fetch-wheelhouse DIR]
#                               [-- EXTRA ansible-test sanity ARGS...]
#
#   SRC_DIR      collection source (default: the repo root this script lives in)
#   -o, --out    where ansible_collections/<ns>/<name>/ is built
#                (default: SRC_DIR/build/sanity; env QC_SANITY_OUT also sets it)
#   --python     Python version for ansible-test (default: the version of the
#                interpreter that runs ansible-test, i.e. the active venv's)
#   --wheelhouse DIR        create ansible-test's venvs from DIR only (pip no-index):
#                           a cold run with no network at all
#   --fetch-wheelhouse DIR  (online) download what --wheelhouse needs into DIR, then exit
#   --copy-only  only build the scratch copy (hack/ansible-lint.sh uses this), then exit
#   EXTRA        e.g. -- --test validate-modules -v
#
# Env: ANSIBLE_TEST   path of ansible-test (default: the first on PATH)
#      QC_SANITY_SKIP extra space-separated sanity test names to skip
#
# Exit status: ansible-test's, so non-zero when any sanity test fails.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src=""
out="${QC_SANITY_OUT:-}"
py_version=""
wheelhouse=""
fetch_wheelhouse=""
copy_only=""
extra=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        -o|--out) out="$2"; shift 2 ;;
        --python) py_version="$2"; shift 2 ;;
        --wheelhouse) wheelhouse="$2"; shift 2 ;;
        --fetch-wheelhouse) fetch_wheelhouse="$2"; shift 2 ;;
        --copy-only) copy_only=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        -*) echo "unknown option: $1 (put ansible-test options after --)" >&2; exit 2 ;;
        *)
            if [[ -n "$src" ]]; then echo "only one SRC_DIR may be given" >&2; exit 2; fi
            src="$1"; shift ;;
    esac
done

src="$(cd "${src:-$script_dir/..}" && pwd)"
out="${out:-$src/build/sanity}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

ansible_test="${ANSIBLE_TEST:-$(command -v ansible-test || true)}"
if [[ -z "$ansible_test" ]]; then
    echo "ansible-test not found: activate the dev venv (pip install -r requirements-dev.txt)" >&2
    exit 2
fi
# Use the interpreter from ansible-test's shebang for the helpers below: it is the one that
# can import ansible_test, so the pip version we read is the one this ansible-test wants.
python="$(head -n1 "$ansible_test" | sed -e 's/^#! *//' -e 's/ .*//')"
[[ -x "$python" ]] || python="$(command -v python3)"
if [[ -z "$py_version" ]]; then
    py_version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
fi

# The pip version ansible-test installs into each venv it creates (24.2 for ansible-core
# 2.18/2.19): ansible_test/_internal/python_requirements.py:get_venv_packages(python)['pip'],
# which may be overridden per Python version, hence the version argument.
pip_version_for() {
    "$python" - "$1" <<'PY'
import sys, types
try:
    from ansible_test._internal.python_requirements import get_venv_packages
    print(get_venv_packages(types.SimpleNamespace(version=sys.argv[1]))["pip"])
except Exception:  # internal API moved: fall back to the literal in the source
    import os, re, ansible_test
    src = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
    print(re.search(r"pip=['\"]([0-9.]+)['\"]", open(src).read()).group(1))
PY
}
pip_version="$(pip_version_for "$py_version")"

# --- optional wheelhouse (fully offline cold run) ---------------------------------------
if [[ -n "$fetch_wheelhouse" ]]; then
    # What ansible-test's sanity venvs install: pip itself (see the stand-in below) plus
    # ansible-test's frozen per-test requirement files.
    data_dir="$("$python" -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_data", "requirements"))')"
    mkdir -p "$fetch_wheelhouse"
    "$python" -m pip download --disable-pip-version-check -d "$fetch_wheelhouse" "pip==$pip_version"
    for f in "$data_dir"/sanity.*.txt; do
        "$python" -m pip download --disable-pip-version-check -d "$fetch_wheelhouse" -r "$f"
    done
    echo "sanity: wheelhouse ready: $fetch_wheelhouse"
    exit 0
fi
if [[ -n "$wheelhouse" ]]; then
    wheelhouse="$(cd "$wheelhouse" && pwd)"
fi

# --- deterministic scratch copy ---------------------------------------------------------
# ansible-test only works on a collection at .../ansible_collections/<ns>/<name>/; read
# <ns>/<name> from galaxy.yml rather than hard-coding quorate/cluster.
if [[ ! -f "$src/galaxy.yml" ]]; then echo "no galaxy.yml in $src" >&2; exit 2; fi
read -r ns name < <("$python" - "$src/galaxy.yml" <<'PY'
import sys, yaml
with open(sys.argv[1]) as f:
    g = yaml.safe_load(f)
print(g["namespace"], g["name"])
PY
)
dest="$out/ansible_collections/$ns/$name"

# Copy exactly what git would ship (tracked + untracked-but-not-ignored) when SRC is a git
# work tree, else every file; in both cases without venvs, build output and caches.
rel_out=""
case "$out/" in "$src"/*) rel_out="${out#"$src"/}" ;; esac
list_files() {
    if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$src" ls-files -z --cached --others --exclude-standard -- .
    else
        (cd "$src" && find . \( -type f -o -type l \) -print0 | sed -z 's#^\./##')
    fi
}
filter_files() {
    local f
    while IFS= read -r -d '' f; do
        [[ -e "$src/$f" || -L "$src/$f" ]] || continue            # tracked but deleted
        [[ -n "$rel_out" && "$f/" == "$rel_out/"* ]] && continue   # the scratch dir itself
        case "/$f" in
            */.git/*|*/__pycache__/*|*.pyc|*/.tox/*|*/.nox/*|*/.venv*/*|*/venv/*|/build/*|/dist/*|\
            */.cache/*|*/.pytest_cache/*|*/.mypy_cache/*|*/.ruff_cache/*|/tests/output/*|\
            *.egg-info/*|/ansible_collections/*|/*.tar.gz) continue ;;
            # ansible-lint/molecule (ansible-compat) keep a project-local cache, including an
            # installed copy of this very collection, in .ansible/
            /.ansible/*) continue ;;
        esac
        printf '%s\0' "$f"
    done
}
rm -rf "$dest"
mkdir -p "$dest"
list_files | filter_files | tar -C "$src" --null --no-recursion -T - -cf - | tar -C "$dest" -xf -
echo "sanity: copied $(find "$dest" -type f | wc -l) files to $dest"
if [[ -n "$copy_only" ]]; then exit 0; fi

# --- get-pip.py stand-in ----------------------------------------------------------------
# Every venv ansible-test creates (`python -m venv --without-pip`) gets pip from get-pip.py,
# downloaded from ci-files.testing.ansible.com, which is unreachable here. But
# ansible_test/_util/target/setup/requirements.py:bootstrap() first looks for
#   ~/.ansible/test/cache/get_pip_<pip version with "." -> "_">.py    (get_pip_24_2.py)
# and runs it as __main__ (via quiet_pip.py, GET_PIP=<that path>) with argv like
#   --disable-pip-version-check pip==24.2 --no-setuptools --no-wheel
# A stand-in that bootstraps the pip wheel bundled with Python (ensurepip, offline) and
# then `pip install`s those arguments gives ansible-test the very pip it asked for.
cache_dir="$HOME/.ansible/test/cache"
get_pip="$cache_dir/get_pip_${pip_version//./_}.py"
marker="# quorate-cluster get-pip stand-in v1"
mkdir -p "$cache_dir"
tmp_get_pip="$(mktemp "$cache_dir/.get_pip.XXXXXX")"
cat > "$tmp_get_pip" <<PY
$marker
"""Offline stand-in for get-pip.py, written by quorate.cluster's hack/ansible-test-sanity.sh."""
import os
import subprocess
import sys

DROP = {"--no-setuptools", "--no-wheel"}
# ansible-test runs pip with a scrubbed environment (PATH, HOME, LC_ALL and little else), so
# PIP_NO_INDEX / PIP_FIND_LINKS never reach it. A --wheelhouse run therefore bakes the
# wheelhouse in here, and it goes into the new venv's own pip.conf, which every later pip
# call in that venv (ansible-test's requirement installs) reads.
WHEELHOUSE = "$wheelhouse"


def main():
    args = [a for a in sys.argv[1:] if a not in DROP]
    if WHEELHOUSE:
        with open(os.path.join(sys.prefix, "pip.conf"), "w") as f:
            f.write("[global]\\nno-index = true\\nfind-links = %s\\n" % WHEELHOUSE)
    # ensurepip installs the pip wheel bundled with this Python: no network needed.
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    rc = subprocess.call([sys.executable, "-m", "pip", "install"] + args)
    if rc:
        # Carry on with the bundled pip: ansible-test only needs *a* pip to install its
        # pinned requirements, and stopping here would hide the real (network) error.
        sys.stderr.write("WARNING: get-pip stand-in: 'pip install %s' failed (rc=%d); "
                         "continuing with the pip bundled by ensurepip\\n" % (" ".join(args), rc))


if __name__ == "__main__":
    main()
PY
if [[ -f "$get_pip" ]] && ! grep -qF "$marker" "$get_pip"; then
    rm -f "$tmp_get_pip"        # a real get-pip.py saved by hand also works offline: keep it
    echo "sanity: using existing (not a stand-in) $get_pip"
elif [[ -f "$get_pip" ]] && cmp -s "$tmp_get_pip" "$get_pip"; then
    rm -f "$tmp_get_pip"        # idempotent: already in place
else
    mv -f "$tmp_get_pip" "$get_pip"
    echo "sanity: wrote get-pip stand-in $get_pip"
fi

# --- tests that cannot run here ---------------------------------------------------------
# All ansible-core 2.19 sanity tests run offline once their venvs exist. shellcheck and
# pslint need the `shellcheck` / `pwsh` binaries and ansible-test itself skips them (with a
# warning) when those are missing (`apt-get install shellcheck` enables the former).
for tool in shellcheck:shellcheck pwsh:pslint; do
    command -v "${tool%%:*}" >/dev/null ||
        echo "sanity: note: '${tool%%:*}' not installed, so ansible-test skips '${tool#*:}'"
done
skips=()
for t in ${QC_SANITY_SKIP:-}; do
    echo "sanity: skipping $t (QC_SANITY_SKIP)"
    skips+=(--skip-test "$t")
done

# --- run ----------------------------------------------------------------------------------
# ANSIBLE_TEST_CONTENT_ROOT stops ansible-test from walking up from the copy to an enclosing
# .git (SCRATCH_DIR defaults to inside the repo): it would then list files with
# `git ls-files` in the repo, where build/ may be ignored, i.e. test nothing. With it the
# copy (which has no .git) is walked, so what was copied above is exactly what is tested.
cd "$dest"
export ANSIBLE_TEST_CONTENT_ROOT="$dest"
start=$(date +%s)
set +e
"$ansible_test" sanity --requirements --python "$py_version" --color no \
    "${skips[@]+"${skips[@]}"}" "${extra[@]+"${extra[@]}"}"
rc=$?
set -e
echo "sanity: ansible-test exited $rc after $(( $(date +%s) - start ))s"
exit "$rc"
