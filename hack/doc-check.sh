#!/usr/bin/env bash
# Every module, plugin and role of the installed collection must render in ansible-doc.
# Usage: hack/doc-check.sh COLLECTIONS_PATH   (the tree `ansible-galaxy collection install -p` wrote)
set -euo pipefail
export ANSIBLE_COLLECTIONS_PATH="$1"
root="$1/ansible_collections/quorate/cluster"
if [[ ! -f "$root/MANIFEST.json" ]]; then
    echo "doc-check: no installed collection at $root (MANIFEST.json missing)" >&2
    exit 1
fi
count=0
check() {  # TYPE NAME
    if ! out=$(ansible-doc -t "$1" "quorate.cluster.$2" 2>&1) || [[ -z "$out" ]] || grep -q "WARNING\|ERROR" <<<"$out"; then
        echo "doc-check: ansible-doc -t $1 quorate.cluster.$2 failed:" >&2
        echo "$out" | head -20 >&2
        exit 1
    fi
    count=$((count + 1))
}
for kind in modules:module lookup:lookup filter:filter callback:callback; do
    dir=${kind%%:*} type=${kind##*:}
    for file in "$root/plugins/$dir"/*.py; do
        [[ -e "$file" ]] || continue
        name=$(basename "$file" .py)
        [[ "$name" == __init__ ]] && continue
        if [[ $type == filter ]]; then
            # A filter file documents the filters it defines; here one filter per file, same name.
            check filter "$name"
        else
            check "$type" "$name"
        fi
    done
done
for role in "$root"/roles/*/; do
    check role "$(basename "$role")"
done
echo "doc-check: $count modules, plugins and roles render in ansible-doc"
