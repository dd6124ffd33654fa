#!/usr/bin/env bash
# `make test`: builds cacheme (plain and sanitized), runs the C unit tests and the node integration
# suites against real PostgreSQL and Redis servers, and ends with one line `N passed, N failed`.
# Exits non-zero when a test failed or a step (build, set-up, a whole suite) went wrong; such a step
# counts as one failure.
#
# Usage: scripts/test.sh [SUITE...]
#   Runs the named suites only (shell patterns allowed, e.g. 'integration*'); TEST_FILTER="a b" does
#   the same. Suites: lint, unit, integration, integration-asan, contract, e2e, deploy.
# Environment:
#   TEST_TIMEOUT       seconds allowed to each step and suite (default 900)
#   TEST_NAME_PATTERN  passed to node --test-name-pattern, to run only matching integration tests
# Reports are kept in test-results/: unit.log and one TAP file per node suite.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
results=$root/test-results
services=$root/scripts/services.sh
timeout_s=${TEST_TIMEOUT:-900}

# ---------------------------------------------------------------------------------------------------
# The suites. To add one: append its name to `suites`, list what it needs in `suite_needs` (build:
# build/cacheme; asan: build/asan/cacheme; pg-template: a PostgreSQL template cluster), and write
# suite_<name, with '-' as '_'>, which runs it and calls `record`.
# ---------------------------------------------------------------------------------------------------

# build: build/cacheme; asan: build/asan/cacheme; pg-template: a PostgreSQL template cluster;
# node: npm packages of tests/ and the built dashboard (web/dist, which also brings Swagger UI);
# ui: the built dashboard alone (scripts/build-ui.sh: web/dist with its .br/.gz variants);
# browser, lint, deploy and admin: the Debian packages of those groups in scripts/deps.sh.
suites=(lint unit integration integration-asan contract e2e deploy)
declare -A suite_needs=(
    [lint]="lint"
    [unit]="pg-template"
    [integration]="build pg-template metrics ui"
    [integration-asan]="asan pg-template metrics ui"
    [contract]="build pg-template node browser metrics"
    [e2e]="build pg-template node browser"
    [deploy]="build pg-template node deploy admin"
)

# Static analysis: clang-tidy and cppcheck on the C sources, shellcheck on the scripts.
suite_lint() {
    local log=$results/lint.log passed=0 failed=0 rc=0
    : >"$log"
    if limited make lint >>"$log" 2>&1; then passed=$((passed + 1)); else failed=$((failed + 1)); rc=1; fi
    if limited shellcheck scripts/*.sh .ci/run bench/*.sh deploy/docker/*.sh >>"$log" 2>&1; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        rc=1
    fi
    ((rc == 0)) || tail -n 40 "$log"
    record lint "$passed" "$failed" 0
}

# The C unit tests; those of the async core (tests/unit/README.md) start their own PostgreSQL, from
# the template, and Redis.
suite_unit() {
    local log=$results/unit.log rc=0 passed failed
    # shellcheck disable=SC2016 # expanded by the inner shell.
    limited bash -c 'set -o pipefail; make unit 2>&1 | tee "$0"' "$log" || rc=$?
    passed=$(sum_matches '^\[  PASSED  \] [0-9]+ test\(s\)' "$log")
    failed=$(sum_matches '^\[  FAILED  \] [0-9]+ test\(s\)' "$log")
    record unit "$passed" "$failed" "$rc"
}

suite_integration() {
    run_node_suite integration tests/integration CACHEME_BIN="$root/build/cacheme"
}

suite_contract() {
    run_node_suite contract tests/contract CACHEME_BIN="$root/build/cacheme"
}

suite_e2e() {
    run_node_suite e2e tests/e2e CACHEME_BIN="$root/build/cacheme"
}

# The Docker deployment without a Docker engine: docker-compose.yml through docker-compose config, the
# Dockerfile's build steps in clean directories, the nginx load balancer in front of three instances,
# Prometheus and Grafana files through promtool, and the admin tools of `make run`.
suite_deploy() {
    run_node_suite deploy tests/deploy CACHEME_BIN="$root/build/cacheme"
}

suite_integration_asan() {
    run_node_suite integration-asan tests/integration \
        CACHEME_BIN="$root/build/asan/cacheme" \
        CACHEME_SANITIZED=1 \
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
}

# ---------------------------------------------------------------------------------------------------
# Book-keeping
# ---------------------------------------------------------------------------------------------------

total_passed=0
total_failed=0
summary=()      # one line per step or suite, printed at the end
tmp=""          # private temporary directory, removed on exit
current_pid=""  # the `timeout` running the current step, stopped if we are interrupted

say() {
    printf '\n==> %s\n' "$*"
}

# record NAME PASSED FAILED RC: adds a suite's counts. A suite that exited non-zero without reporting
# a failed test (it crashed, timed out, or found no tests) counts as one failure.
record() {
    local name=$1 passed=$2 failed=$3 rc=$4 note=""
    if ((rc == 124 || rc == 137)); then
        note="timed out after ${timeout_s}s"
    elif ((rc != 0)); then
        note="exited with status $rc"
    fi
    if ((rc != 0 && failed == 0)); then
        failed=1
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    summary+=("$(printf '%-18s %5d passed %5d failed  %s' "$name" "$passed" "$failed" "$note")")
}

# step_error NAME MESSAGE: a step that is not a test went wrong; it counts as one failure.
step_error() {
    total_failed=$((total_failed + 1))
    summary+=("$(printf '%-18s %5s        %5d failed  %s' "$1" "" 1 "$2")")
    echo "test: $1: $2" >&2
}

# sum_matches REGEX FILE: the sum of the first number on each line of FILE that matches REGEX.
sum_matches() {
    [[ -f "$2" ]] || {
        echo 0
        return
    }
    RE=$1 awk '$0 ~ ENVIRON["RE"] {
        for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) { n += $i; break }
    } END { print n + 0 }' "$2"
}

# Value of the last top-level TAP comment `# KEY N` in FILE, 0 when absent.
tap_count() {
    local n
    n=$(grep -E "^# $1 [0-9]+$" "$2" 2>/dev/null | tail -n 1 | awk '{ print $3 }') || true
    echo "${n:-0}"
}

# Runs "$@" with the time limit, in the background so that an interrupt can stop it (timeout puts it
# in its own process group and passes our SIGTERM on to the whole group).
limited() {
    local rc=0
    timeout --kill-after=30 "$timeout_s" "$@" &
    current_pid=$!
    wait "$current_pid" || rc=$?
    current_pid=""
    return "$rc"
}

# run_node_suite NAME DIR [VAR=VALUE...]: runs DIR's *.test.{mjs,js,cjs} with node's test runner.
run_node_suite() {
    local name=$1 dir=$2 tap=$results/$1.tap rc=0 passed failed cancelled
    shift 2
    local files=()
    if [[ -d "$dir" ]]; then
        mapfile -t files < <(find "$dir" -type f \( -name '*.test.mjs' -o -name '*.test.js' -o -name '*.test.cjs' \) | sort)
    fi
    if ((${#files[@]} == 0)); then
        step_error "$name" "no test files (*.test.mjs) in $dir"
        return
    fi
    local args=(--test
        --test-reporter=spec --test-reporter-destination=stdout
        --test-reporter=tap --test-reporter-destination="$tap")
    if [[ -n "${TEST_NAME_PATTERN:-}" ]]; then
        args+=(--test-name-pattern="$TEST_NAME_PATTERN")
    fi
    limited env "$@" node "${args[@]}" "${files[@]}" || rc=$?
    if grep -qE '^# pass [0-9]+$' "$tap" 2>/dev/null; then
        passed=$(tap_count pass "$tap")
        failed=$(tap_count fail "$tap")
        cancelled=$(tap_count cancelled "$tap")
        failed=$((failed + cancelled))
    else
        # No summary (the run was cut short): count the top-level results that were reported.
        passed=$(grep -cE '^ok [0-9]+' "$tap" 2>/dev/null) || passed=0
        failed=$(grep -cE '^not ok [0-9]+' "$tap" 2>/dev/null) || failed=0
        ((rc != 0)) || rc=1
    fi
    record "$name" "$passed" "$failed" "$rc"
}

# Stops any server a suite left behind in the temporary directory, then removes it.
cleanup() {
    local rc=$? f
    trap - EXIT INT TERM
    if [[ -n "$current_pid" ]]; then
        kill -TERM "$current_pid" 2>/dev/null || true
        wait "$current_pid" 2>/dev/null || true
    fi
    if [[ -n "$tmp" && -d "$tmp" ]]; then
        while IFS= read -r f; do
            "$services" pg-stop "$(dirname "$f")" immediate || true
        done < <(find "$tmp" -name postmaster.pid 2>/dev/null)
        while IFS= read -r f; do
            "$services" redis-stop "$(dirname "$f")" || true
        done < <(find "$tmp" -name redis.pid 2>/dev/null)
        rm -rf "$tmp"
    fi
    exit "$rc"
}

# ---------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------

trap cleanup EXIT
trap 'echo "test: interrupted" >&2; exit 130' INT TERM

# The suites to run: arguments, else TEST_FILTER, else all.
filter=${*:-${TEST_FILTER:-}}
read -r -a patterns <<<"${filter//,/ }"
selected=()
for suite in "${suites[@]}"; do
    if ((${#patterns[@]} == 0)); then
        selected+=("$suite")
        continue
    fi
    for pattern in "${patterns[@]}"; do
        # shellcheck disable=SC2053 # the pattern is meant to be matched as a glob.
        if [[ "$suite" == $pattern ]]; then
            selected+=("$suite")
            break
        fi
    done
done
if ((${#selected[@]} == 0)); then
    echo "test: no suite matches '${patterns[*]}' (suites: ${suites[*]})" >&2
    exit 2
fi
needs=" "
for suite in "${selected[@]}"; do
    needs+="${suite_needs[$suite]} "
done

mkdir -p "$results"
for suite in "${selected[@]}"; do
    rm -f "$results/$suite.tap" "$results/$suite.log"
done

groups=()
[[ "$needs" == *" browser "* ]] && groups+=(browser)
[[ "$needs" == *" lint "* ]] && groups+=(lint)
[[ "$needs" == *" deploy "* ]] && groups+=(deploy)
[[ "$needs" == *" admin "* ]] && groups+=(admin)
[[ "$needs" == *" metrics "* ]] && groups+=(metrics)
say "dependencies"
scripts/deps.sh "${groups[@]}" || step_error deps "scripts/deps.sh failed"

have_node=1
if [[ "$needs" == *" node "* ]]; then
    say "npm packages and the dashboard"
    # tests/ holds the test-only packages; web/ is the dashboard, built into web/dist.
    if ! { [[ tests/node_modules/.install-stamp -nt tests/package-lock.json ]] ||
        { (cd tests && npm ci --no-audit --no-fund --loglevel=error) &&
            touch tests/node_modules/.install-stamp; }; } ||
        ! scripts/build-ui.sh; then
        step_error node "npm ci or the dashboard build failed"
        have_node=0
    fi
fi

have_ui=$have_node
if [[ "$needs" == *" ui "* && "$needs" != *" node "* ]]; then
    say "the dashboard"
    scripts/build-ui.sh || {
        step_error ui "the dashboard build failed"
        have_ui=0
    }
fi

say "build: make"
have_build=1
limited make -j2 || {
    step_error build "make failed"
    have_build=0
}

have_asan=1
if [[ "$needs" == *" asan "* ]]; then
    say "build: make asan"
    limited make -j2 asan || {
        step_error asan-build "make asan failed"
        have_asan=0
    }
fi

have_template=1
if [[ "$needs" == *" pg-template "* ]]; then
    say "PostgreSQL template cluster"
    tmp=$(mktemp -d -t cacheme-test.XXXXXX)
    # When we are root, PostgreSQL runs as the postgres OS user, which must be able to enter here.
    chmod o+x "$tmp"
    export CACHEME_PG_FAST=1
    # Starting the template once creates the cacheme database in it, so every copy starts ready.
    if CACHEME_PG_TEMPLATE="" "$services" pg-init "$tmp/pg-template" &&
        port=$("$services" free-port) &&
        "$services" pg-start "$tmp/pg-template" "$port" >/dev/null &&
        "$services" pg-stop "$tmp/pg-template"; then
        export CACHEME_PG_TEMPLATE=$tmp/pg-template
        # Suites' own temporary files go here too, so that nothing outlives the run.
        mkdir -m 0711 "$tmp/tmp"
        export TMPDIR=$tmp/tmp
    else
        step_error pg-template "could not create the PostgreSQL template cluster"
        have_template=0
    fi
fi

for suite in "${selected[@]}"; do
    missing=""
    for need in ${suite_needs[$suite]}; do
        case "$need" in
            build) ((have_build)) || missing+=" build/cacheme" ;;
            asan) ((have_asan)) || missing+=" build/asan/cacheme" ;;
            pg-template) ((have_template)) || missing+=" PostgreSQL template" ;;
            node) ((have_node)) || missing+=" npm packages" ;;
            ui) ((have_ui)) || missing+=" the built dashboard" ;;
        esac
    done
    if [[ -n "$missing" ]]; then
        step_error "$suite" "not run: missing$missing"
        continue
    fi
    say "suite: $suite"
    "suite_${suite//-/_}"
done

echo
echo "==> summary"
printf '%s\n' "${summary[@]}"
echo "$total_passed passed, $total_failed failed"
((total_failed == 0))
