#!/usr/bin/env bash
# `make lint`: checks the service's layering (see docs/architecture.md). The folders of src/ are
# layers, lowest first:
#
#   core  model  store  cache  http  api  server        (and src/main.c above them all)
#
# A file may include headers of its own layer and of the layers below it, never above; and the
# modules (a .c and its .h, and a private "<module>_internal.h" if it has one) must not include
# each other in a cycle, inside a layer either.
# Prints every upward include and every cycle; exits 1 when there is any.
set -euo pipefail

cd "$(dirname "$0")/../src"
layers=(core model store cache http api server)
declare -A rank=()
for i in "${!layers[@]}"; do
    rank[${layers[$i]}]=$i
done
rank[main]=${#layers[@]}

status=0
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT

for file in main.c */*.c */*.h; do
    [[ -e "$file" ]] || continue
    if [[ "$file" == main.c ]]; then
        layer=main
        module=main
    else
        layer=${file%%/*}
        module=${file%.*}
        module=${module%_internal}
        if [[ -z "${rank[$layer]:-}" ]]; then
            echo "check-layers: $file: $layer/ is not a layer (${layers[*]})" >&2
            status=1
            continue
        fi
    fi
    while IFS= read -r target; do
        tlayer=${target%%/*}
        [[ "$tlayer" == cacheme ]] && continue # include/cacheme/: shared with the load generator
        if [[ "$target" != */* || -z "${rank[$tlayer]:-}" ]]; then
            echo "check-layers: $file includes \"$target\": name the header's layer folder" >&2
            status=1
            continue
        fi
        if ((rank[$tlayer] > rank[$layer])); then
            echo "check-layers: $file includes \"$target\": $tlayer is above $layer" >&2
            status=1
        fi
        tmodule=${target%.h}
        tmodule=${tmodule%_internal}
        [[ "$tmodule" != "$module" ]] && echo "$module $tmodule" >>"$edges"
    done < <(sed -n 's/^#include "\([^"]*\)"/\1/p' "$file")
done

# tsort reports every cycle of the module graph on stderr.
if ! cycles=$(tsort "$edges" 2>&1 >/dev/null) || [[ -n "$cycles" ]]; then
    echo "check-layers: modules include each other in a cycle:" >&2
    echo "$cycles" | sed -e '/input contains a loop/d' -e 's/^tsort: /  /' -e 's/^/  /' >&2
    status=1
fi
exit "$status"
