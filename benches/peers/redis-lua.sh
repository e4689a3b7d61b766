#!/usr/bin/env bash
# The peer figure the flash-sale numbers are compared with: the classic Redis +
# Lua reservation of one hot SKU (replay if the reservation id exists, else
# check stock, DECRBY, record the id), driven by redis-benchmark at 50
# connections on loopback. Needs redis-server and redis-benchmark (Debian:
# redis-server). Run it in the same session as the Mercato figure and report
# the ratio.
# Usage: benches/peers/redis-lua.sh [always|everysec|none] [REQUESTS]
set -euo pipefail
fsync="${1:-always}"
requests="${2:-300000}"
port=16390
work="$(mktemp -d)"
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
case "$fsync" in
  none) persistence=(--appendonly no --save "") ;;
  always | everysec) persistence=(--appendonly yes --appendfsync "$fsync" --save "") ;;
  *) echo "usage: $0 [always|everysec|none] [REQUESTS]" >&2; exit 2 ;;
esac
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --daemonize yes \
  --logfile "$work/redis.log" "${persistence[@]}" >/dev/null
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
script='if redis.call("EXISTS", KEYS[2]) == 1 then return 1 end
local stock = tonumber(redis.call("GET", KEYS[1]) or "0")
local wanted = tonumber(ARGV[1])
if stock < wanted then return 0 end
redis.call("DECRBY", KEYS[1], wanted)
redis.call("SET", KEYS[2], wanted)
return 1'
sha="$(redis-cli -p "$port" script load "$script")"
redis-cli -p "$port" set stock:hot 100000000 >/dev/null
echo "== Redis + Lua reservation, appendfsync $fsync, 50 connections"
redis-benchmark -p "$port" -c 50 -n "$requests" -r 100000000 -q --precision 3 \
  evalsha "$sha" 2 stock:hot "res:__rand_int__" 1 2>/dev/null | tr '\r' '\n' | grep -v '^$' | tail -1
echo "stock left: $(redis-cli -p "$port" get stock:hot)"
