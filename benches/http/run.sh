#!/usr/bin/env bash
# HTTP figures of the README: product reads and cart writes at 64 connections
# against a release server with the demo catalog. Needs wrk (Debian: wrk).
# Usage: benches/http/run.sh [strict|relaxed|memory] [SKUS_PER_CART]
set -euo pipefail
cd "$(dirname "$0")/../.."
durability="${1:-strict}"
skus_per_cart="${2:-20}"
port=18080
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --quiet
./target/release/mercato serve --addr "127.0.0.1:$port" --data-dir "$work/data" \
  --durability "$durability" --admin-token bench ${MERCATO_BENCH_ARGS:-} > "$work/out" 2>/dev/null &
server=$!
until grep -q listening "$work/out" 2>/dev/null; do sleep 0.2; done
base="http://127.0.0.1:$port"
echo "== GET /v1/products/{id} ($durability)"
wrk -t2 -c64 -d10s --latency "$base/v1/products/P-1000" | grep -E "Requests/sec|50%|99%|Non-2xx"
for _ in $(seq 1 64); do
  curl -s -XPOST "$base/v1/carts" | sed -E 's/.*"cart_id":"([^"]+)".*/\1/'
  echo
done > "$work/carts"
sed -n "1,${skus_per_cart}s/.*\"variants\":\[{\"sku\":\"\([^\"]*\)\".*/\1/p" snapshots/demo-catalog.ndjson > "$work/skus"
echo "== POST /v1/carts/{id}/items ($durability, 64 carts x $skus_per_cart SKUs)"
CARTS_FILE="$work/carts" SKUS_FILE="$work/skus" \
  wrk -t2 -c64 -d10s --latency -s benches/http/cart-add.lua "$base" | grep -E "Requests/sec|50%|99%|Non-2xx"
