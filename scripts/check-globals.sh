#!/usr/bin/env bash
# `make lint`: no mutable state shared between loops outside src/core/. Every object file of the
# layers above core (and main.o) must have nothing in .data, .bss, .tdata or .tbss: no mutable
# global, no static variable in a function, no _Thread_local. (Constant tables live in .rodata or
# .data.rel.ro and are fine.) Core's own globals, the counters and settings that every loop shares
# through atomics, are listed for the reader.
# Usage: scripts/check-globals.sh OBJ_DIR     (the build's object folder, e.g. build/obj)
set -euo pipefail

obj=${1:?usage: check-globals.sh OBJ_DIR}
status=0
found=0
for layer in model store cache http api server; do
    for o in "$obj/$layer"/*.o; do
        [[ -e "$o" ]] || continue
        found=1
        bad=$(objdump -t "$o" | awk '$2 != "d" && $3 != "d" && / (\.data|\.bss|\.tdata|\.tbss)[ \t]/ {print $NF}')
        if [[ -n "$bad" ]]; then
            echo "check-globals: mutable state in ${o#"$obj"/}: $(echo "$bad" | tr '\n' ' ')" >&2
            status=1
        fi
    done
done
if [[ "$found" == 0 ]]; then
    echo "check-globals: no objects under $obj (build first)" >&2
    exit 1
fi
bad=$(objdump -t "$obj/main.o" | awk '$2 != "d" && $3 != "d" && / (\.data|\.bss|\.tdata|\.tbss)[ \t]/ {print $NF}')
if [[ -n "$bad" ]]; then
    echo "check-globals: mutable state in main.o: $(echo "$bad" | tr '\n' ' ')" >&2
    status=1
fi
core=$(for o in "$obj"/core/*.o; do
    objdump -t "$o" | awk '$2 != "d" && $3 != "d" && / (\.data|\.bss|\.tdata|\.tbss)[ \t]/ {print $NF}'
done | sort | tr '\n' ' ')
echo "check-globals: shared state only in core/: ${core}"
exit "$status"
