#!/usr/bin/env bash
# Compares two builds of Mercato under the same loads, alternating them round
# by round on one machine (its speed drifts, so only ratios within a round
# mean much), and prints every figure and the ratio B/A of each round:
#
#   flash sale over HTTP   claims/s, 10,000 customers on 5,000 units, 64 connections (strict)
#   checkout over HTTP     placed orders/s, 64 connections for 10 s (strict, fraud rules off)
#   flash sale, embedded   claims/s, 200,000 customers on 100,000 units, 256 callers (strict)
#
# Usage: [LOADS="flash_http checkout_http flash_embedded"] loadtest/compare.sh A_DIR B_DIR [ROUNDS]
#   A_DIR, B_DIR: directories holding a release `mercato` and `mercato-loadtest`
#   (for instance two target/release directories). The HTTP loads come from
#   B's load generator for both servers; the embedded load is each build's own
#   (it links that build's engine).
# Needs curl and python3. Servers listen on 127.0.0.1 only.
set -euo pipefail

a_dir=${1:?A_DIR}
b_dir=${2:?B_DIR}
rounds=${3:-3}
port=18195
work=$(mktemp -d)
server_pid=

stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
trap 'stop_server; rm -rf "$work"' EXIT

# figure FILE NAME: the named figure of a load generator's JSON report.
figure() {
    python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["figures"][sys.argv[2]]))' "$1" "$2"
}

# serve BIN_DIR FLAGS...: a fresh server on $port, waited for.
serve() {
    local bin_dir=$1
    shift
    rm -rf "$work/data" && mkdir -p "$work/data"
    # The load-test mode by its environment variable: a build from before the
    # flag existed ignores it.
    MERCATO_LOAD_TEST_MODE=true MERCATO_AUTH_LIMIT_ADDRESS=1000000/1000000 "$bin_dir/mercato" serve --addr "127.0.0.1:$port" --data-dir "$work/data" \
        --admin-token T --password-cost fast "$@" >"$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 200); do
        if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.05
    done
    echo "the server of $bin_dir did not start:" >&2
    cat "$work/server.log" >&2
    exit 2
}

flash_http() {
    serve "$1" --claim-limit-address 1000000/1000000
    "$b_dir/mercato-loadtest" flash-sale --url "http://127.0.0.1:$port" --admin-token T --customers 10000 \
        --deal-quantity 5000 --connections 64 --json "$work/report.json" >/dev/null 2>&1
    stop_server
    figure "$work/report.json" claims_per_s
}

checkout_http() {
    serve "$1" --fraud-rules off
    "$b_dir/mercato-loadtest" checkout --url "http://127.0.0.1:$port" --admin-token T --connections 64 \
        --duration 10s --json "$work/report.json" >/dev/null 2>&1
    stop_server
    figure "$work/report.json" orders_per_s
}

flash_embedded() {
    "$1/mercato-loadtest" flash-sale --embedded --durability strict --customers 200000 --deal-quantity 100000 \
        --connections 256 --json "$work/report.json" >/dev/null 2>&1
    figure "$work/report.json" claims_per_s
}

printf '%-22s %5s %10s %10s %7s\n' load round A B B/A
for load in ${LOADS:-flash_http checkout_http flash_embedded}; do
    for round in $(seq 1 "$rounds"); do
        a=$($load "$a_dir")
        b=$($load "$b_dir")
        ratio=$(python3 -c "print(f'{$b / $a:.3f}')")
        printf '%-22s %5s %10s %10s %7s\n' "$load" "$round" "$a" "$b" "$ratio"
    done
done
