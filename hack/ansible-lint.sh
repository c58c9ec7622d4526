#!/usr/bin/env bash
# Run ansible-lint (production profile) on the quorate.cluster collection, offline.
#
# Usage:
#   hack/ansible-lint.sh [SRC_DIR] [-o|--out SCRATCH_DIR] [-- EXTRA ansible-lint ARGS...]
#
#   SRC_DIR      collection source (default: the repo root this script lives in)
#   -o, --out    where the ansible_collections/<ns>/<name>/ copy used to resolve
#                quorate.cluster.* is built (default: SRC_DIR/build/lint; env QC_LINT_OUT)
#   EXTRA        e.g. -- roles/foo   or   -- --fix   or   -- -f codeclimate
#
# Config: SRC_DIR/.ansible-lint, else the one next to this script's repo root.
# Exit status: ansible-lint's (non-zero on any violation the profile makes fatal).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src=""
out="${QC_LINT_OUT:-}"
extra=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        -o|--out) out="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        -*) echo "unknown option: $1 (put ansible-lint options after --)" >&2; exit 2 ;;
        *)
            if [[ -n "$src" ]]; then echo "only one SRC_DIR may be given" >&2; exit 2; fi
            src="$1"; shift ;;
    esac
done

src="$(cd "${src:-$script_dir/..}" && pwd)"
out="${out:-$src/build/lint}"

config="$src/.ansible-lint"
[[ -f "$config" ]] || config="$script_dir/../.ansible-lint"

# Offline, ansible-lint does not install the collection it is run in (it only symlinks it into
# its cache when allowed to go online, together with fetching dependencies from Galaxy), so
# quorate.cluster.* modules/roles would be "unknown". Give ansible a collection root that
# holds the collection instead: the same git-file-list copy the sanity script builds.
# (A symlink to SRC would avoid the copy, but a link inside the repo that points back at the
# repo makes every tree-walking tool recurse.)
"$script_dir/ansible-test-sanity.sh" "$src" --out "$out" --copy-only >&2
out="$(cd "$out" && pwd)"
export ANSIBLE_COLLECTIONS_PATH="$out${ANSIBLE_COLLECTIONS_PATH:+:$ANSIBLE_COLLECTIONS_PATH}"

# ansible-lint resolves collections from ANSIBLE_HOME first, where molecule's prerun installs a copy of
# this collection as it was at that run: a later lint would see that copy's roles, not the checkout's.
# The collection has no dependencies, so lint gets an ANSIBLE_HOME of its own.
export ANSIBLE_HOME="$out/../lint-ansible-home"

# --offline is also in .ansible-lint; repeated so that a config without it stays offline.
# The env var is belt and braces for the schema refresh (a network call) in older releases.
export ANSIBLE_LINT_SKIP_SCHEMA_UPDATE=1

# Lint in place (not in the copy) so reported paths are the developer's files, and because
# the copy may sit inside the repo's build/, which ansible-lint's .gitignore/exclude handling
# would skip.
cd "$src"
exec ansible-lint --offline -c "$config" "${extra[@]+"${extra[@]}"}"
