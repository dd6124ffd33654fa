#!/usr/bin/env bash
# The container health check of the cacheme image (installed as /usr/local/bin/cacheme-healthcheck):
# exits 0 when GET PATH on 127.0.0.1:PORT answers 200 within 3 seconds, 1 otherwise. The image has no
# HTTP client (only the runtime libraries), so this speaks HTTP/1.0 over bash's /dev/tcp.
#
# Usage: cacheme-healthcheck [PORT [PATH]]
#   PORT defaults to $PORT (the API port, 8000), PATH to /health, which answers 200 while PostgreSQL
#   is reachable (also when Redis is not: the service then answers from PostgreSQL) and 503 otherwise.
#   The dashboard container checks its own port instead: cacheme-healthcheck 3000 /
set -euo pipefail

port=${1:-${PORT:-8000}}
path=${2:-/health}

# shellcheck disable=SC2016 # $0 and $1 are expanded by the inner shell.
status_line=$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: cacheme-healthcheck\r\n\r\n" "$1" >&3
    IFS= read -r line <&3
    printf "%s\n" "$line"
' "$port" "$path" 2>/dev/null) || {
    echo "cacheme-healthcheck: no answer from 127.0.0.1:$port" >&2
    exit 1
}
status_line=${status_line%$'\r'}
if [[ "$status_line" =~ ^HTTP/1\.[01]\ 200( |$) ]]; then
    exit 0
fi
echo "cacheme-healthcheck: GET $path on port $port: ${status_line:-no status line}" >&2
exit 1
