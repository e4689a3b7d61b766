#!/usr/bin/env bash
# Durable flash-deal claims over HTTP, side by side in one run, the same load for both:
#   peer    = warp 0.4 + Redis 7 Lua reservation, Redis AOF `appendfsync always` (warp_redis/ beside this script)
#   mercato = the given `mercato` binary, strict durability, claims on one deal
# Two shapes, alternated for ROUNDS rounds, wrk -t2 -c64 -d10s each, every request a new id:
#   granted  - every claim succeeds (a huge deal, a huge per-customer limit): the write path
#   sold-out - the deal has nothing left: the answer path a stampede is mostly made of
# Usage: benches/peers/claims/run_claims.sh target/release/mercato [ROUNDS]
#        SUSTAINED=300 CLAIM_TTL=30 benches/peers/claims/run_claims.sh target/release/mercato
#          (one long granted run instead: SUSTAINED seconds, claims held CLAIM_TTL s, per-minute
#           figures from wrk runs of 60 s back to back, and the server's RSS at the end)
# Server settings come through environment variables (API.md, Command line), so builds with and
# without a flag start the same way. Needs: redis-server, redis-cli and wrk (Debian packages),
# python3, cargo. Loopback only; servers are stopped by PID at the end.
set -euo pipefail
MERCATO="$(realpath "${1:?usage: run_claims.sh MERCATO_BINARY [ROUNDS]}")"
ROUNDS="${2:-3}"
SUSTAINED="${SUSTAINED:-0}"
CLAIM_TTL="${CLAIM_TTL:-600}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
W="$(mktemp -d)"
PEER_TARGET="${PEER_TARGET:-${XDG_CACHE_HOME:-$HOME/.cache}/mercato-peer-target}"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; redis-cli -p 16401 shutdown nosave >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT
(cd "$HERE/warp_redis" && CARGO_TARGET_DIR="$PEER_TARGET" cargo build --release -q)
python3 -c "print('\n'.join('c%d' % i for i in range(10000)))" > "$W/peer_tokens"
redis-server --port 16401 --bind 127.0.0.1 --dir "$W" --daemonize yes --logfile "$W/redis.log" \
  --appendonly yes --appendfsync always --save "" >/dev/null
until redis-cli -p 16401 ping >/dev/null 2>&1; do sleep 0.1; done
REDIS_URL=redis://127.0.0.1:16401/ PORT=18401 "$PEER_TARGET/release/warp_redis" > "$W/peer.out" 2>&1 &
pids+=($!)
MERCATO_LOAD_TEST_MODE=true MERCATO_PASSWORD_COST=fast MERCATO_AUTH_LIMIT_ADDRESS=1000000/1000000 \
MERCATO_CLAIM_LIMIT_CUSTOMER=1000000/1000000 MERCATO_CLAIM_LIMIT_ADDRESS=1000000/1000000 \
  "$MERCATO" serve --addr 127.0.0.1:18402 --data-dir "$W/mdata" --admin-token T > "$W/m.out" 2> "$W/m.err" &
server=$!
pids+=($server)
until grep -q listening "$W/m.out" 2>/dev/null; do
  kill -0 "$server" 2>/dev/null || { echo "mercato exited before listening:"; tail -5 "$W/m.err"; exit 1; }
  sleep 0.2
done
sleep 1
if [ "$SUSTAINED" -gt 0 ]; then
  GRANTED=$(DEAL_QUANTITY=400000000 CLAIM_TTL="$CLAIM_TTL" python3 "$HERE/setup_mercato.py" http://127.0.0.1:18402 T "$W/m_tokens" 10000 granted)
  minute=0
  while [ $((minute * 60)) -lt "$SUSTAINED" ]; do
    minute=$((minute + 1))
    printf 'minute %-3d ' "$minute"
    RUN_ID=$((500 + minute)) TOKENS_FILE="$W/m_tokens" CLAIM_PATH="$GRANTED" BODY_KIND=mercato \
      wrk -t2 -c64 -d60s -s "$HERE/claims.lua" http://127.0.0.1:18402 2>&1 | grep -E 'Requests/sec|p50=|Non-2xx' | tr -s ' ' | tr '\n' ' '
    echo
  done
  echo "mercato RSS at the end: $(grep VmRSS /proc/$server/status | tr -s ' ')"
  exit 0
fi
GRANTED=$(CLAIM_TTL="$CLAIM_TTL" python3 "$HERE/setup_mercato.py" http://127.0.0.1:18402 T "$W/m_tokens" 10000 granted)
SOLDOUT=$(python3 "$HERE/setup_mercato.py" http://127.0.0.1:18402 T "$W/m_tokens2" 10 soldout)
run() { # label run_id tokens path kind url
  printf '%-26s ' "$1"
  RUN_ID="$2" TOKENS_FILE="$3" CLAIM_PATH="$4" BODY_KIND="$5" wrk -t2 -c64 -d10s -s "$HERE/claims.lua" "$6" 2>&1 \
    | grep -E 'Requests/sec|p50=|Non-2xx' | tr -s ' ' | tr '\n' ' '
  echo
}
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round"
  redis-cli -p 16401 set stock:HOT 1000000000 >/dev/null
  run "peer granted" $((round * 10 + 1)) "$W/peer_tokens" /claims peer http://127.0.0.1:18401
  run "mercato granted" $((round * 10 + 2)) "$W/m_tokens" "$GRANTED" mercato http://127.0.0.1:18402
  redis-cli -p 16401 set stock:HOT 0 >/dev/null
  run "peer sold-out" $((round * 10 + 3)) "$W/peer_tokens" /claims peer http://127.0.0.1:18401
  run "mercato sold-out" $((round * 10 + 4)) "$W/m_tokens" "$SOLDOUT" mercato http://127.0.0.1:18402
  kill -0 "$server" 2>/dev/null || { echo "mercato died:"; tail -5 "$W/m.err"; exit 1; }
done
