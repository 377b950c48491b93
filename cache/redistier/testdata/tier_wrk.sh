#!/usr/bin/env bash
# The shared cache tier on and off (BENCHMARKS.md, "Shared cache tier"):
# smartproxy_cache's handler with and without cache.shared, for one URL and
# for 5,000 URLs over a 64-entry memory, wrk -t1 -c64 -d5s after a 1 s
# warm-up, 5 interleaved rounds. Needs wrk, redis-server and curl; run from
# the project root: bash cache/redistier/testdata/tier_wrk.sh
set -u
ROOT=$(pwd)
WORK=$(mktemp -d)
go build -o "$WORK/caddy" ./cmd/smartproxy || exit 1
(cd ../shared/bench/backend && go build -trimpath -o "$WORK/backend" .) || exit 1
cd "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap 'cleanup; rm -rf "$WORK"' EXIT
./backend -addr 127.0.0.1:19001 & PIDS+=($!)
./backend -addr 127.0.0.1:19002 & PIDS+=($!)
redis-server --port 16379 --bind 127.0.0.1 --save "" --appendonly no --loglevel warning & PIDS+=($!)
sleep 1
B='[{"url":"http://127.0.0.1:19001","weight":1},{"url":"http://127.0.0.1:19002","weight":1}]'
SH='"shared":{"store":"redis","redis":{"address":"127.0.0.1:16379"}}'
declare -A H=(
  [one_local]='{"handler":"smartproxy","backends":'$B',"load_balancer":{"algorithm":"round_robin"},"cache":{"max_size":1000,"ttl":"300s"}}'
  [one_shared]='{"handler":"smartproxy","backends":'$B',"load_balancer":{"algorithm":"round_robin"},"cache":{"max_size":1000,"ttl":"300s",'$SH'}}'
  [many_local]='{"handler":"smartproxy","backends":'$B',"load_balancer":{"algorithm":"round_robin"},"cache":{"max_size":64,"ttl":"300s"}}'
  [many_shared]='{"handler":"smartproxy","backends":'$B',"load_balancer":{"algorithm":"round_robin"},"cache":{"max_size":64,"ttl":"300s",'$SH'}}'
)
cat > many.lua <<'LUA'
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/u/" .. (counter * 7919 % 5000))
end
LUA
for round in 1 2 3 4 5; do
  for s in one_local one_shared many_local many_shared; do
    cat > cfg.json <<JSON
{"admin":{"disabled":true},"logging":{"logs":{"default":{"level":"ERROR"}}},
 "apps":{"http":{"servers":{"b":{"listen":["127.0.0.1:18080"],"automatic_https":{"disable":true},"routes":[{"handle":[${H[$s]}]}]}}}}}
JSON
    ./caddy run --config cfg.json >/dev/null 2>&1 & cp=$!
    for i in $(seq 50); do curl -s -o /dev/null 127.0.0.1:18080/ && break; sleep 0.1; done
    script=""; [[ $s == many_* ]] && script="-s many.lua"
    timeout 20 wrk -t1 -c64 -d1s $script http://127.0.0.1:18080/ >/dev/null 2>&1   # warm-up
    out=$(timeout 20 wrk -t1 -c64 -d5s --latency $script http://127.0.0.1:18080/)
    rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
    p50=$(echo "$out" | awk '$1=="50%"{print $2}')
    p99=$(echo "$out" | awk '$1=="99%"{print $2}')
    echo "round $round $s rps $rps p50 $p50 p99 $p99"
    kill $cp; wait $cp 2>/dev/null
  done
done
