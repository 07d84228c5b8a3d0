#!/usr/bin/env bash
# bench/run.sh: build the release binary, seed a fresh data dir, and measure throughput and
# latency of /health (baseline), POST /chat/{tenant} and GET .../corpus?search= with wrk, plus
# seed rate, start-up time and resident memory. Loopback only; see bench/README.md.
#
#   bash bench/run.sh
#
# Knobs (environment): BENCH_ENTRIES (100000), BENCH_SECONDS (20), BENCH_THREADS (2),
# BENCH_CONNECTIONS (8), BENCH_SEARCH (1 = also run the search scenario), BENCH_SEED_TIMEOUT
# (3600 s), BENCH_KEEP (1 = keep the temp dir), CARGO_TARGET_DIR (target), TMPDIR (/tmp).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
TENANT=bench
ENTRIES=${BENCH_ENTRIES:-100000}
DURATION=${BENCH_SECONDS:-20}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-8}
RUN_SEARCH=${BENCH_SEARCH:-1}
SEED_TIMEOUT=${BENCH_SEED_TIMEOUT:-3600}
KEEP=${BENCH_KEEP:-0}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

die() {
  echo "bench: $*" >&2
  exit 1
}
log() { echo "== $*" >&2; }

for knob in ENTRIES DURATION THREADS CONNECTIONS SEED_TIMEOUT; do
  [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer (got '${!knob}')"
done
((CONNECTIONS >= THREADS)) || die "BENCH_CONNECTIONS must be >= BENCH_THREADS"

# ---------------------------------------------------------------- tools
if ! command -v wrk >/dev/null 2>&1; then
  [[ $(id -u) -eq 0 ]] || die "wrk is missing: install it (apt-get install wrk)"
  log "installing wrk"
  apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }
fi
command -v curl >/dev/null 2>&1 || die "curl is missing"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "python3 >= 3.11 is needed"

# ---------------------------------------------------------------- build
log "building release binary (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
(cd "$ROOT" && cargo build --release)
case $CARGO_TARGET_DIR in
  /*) BIN=$CARGO_TARGET_DIR/release/animam ;;
  *) BIN=$ROOT/$CARGO_TARGET_DIR/release/animam ;;
esac
[[ -x $BIN ]] || die "no binary at $BIN"

# ---------------------------------------------------------------- temp dir, cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/animam-bench.XXXXXX")
DATA=$TMP/data
CONFIG=$TMP/animam.toml # empty: defaults, whatever ./animam.toml says
server_pid=""

stop_server() {
  [[ -n $server_pid ]] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 400; i++)); do # the server's own grace period is 30 s
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "bench: server $server_pid ignored SIGTERM for 40 s, killing it" >&2
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

cleanup() {
  stop_server
  if [[ $KEEP == 1 ]]; then
    echo "bench: kept $TMP" >&2
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$DATA"
: >"$CONFIG"
export ANIMAM_RATE_LIMIT_PER_MINUTE=0
export ANIMAM_CHAT_RATE_LIMIT_PER_IP_PER_MINUTE=0
export ANIMAM_CHAT_RATE_LIMIT_PER_TENANT_PER_MINUTE=0
export RUST_LOG=warn,animam=info

now_us() { echo "${EPOCHREALTIME/./}"; }

# Starts the server on a free loopback port and waits until GET /health answers 200, polling
# every 10 ms. Sets ADDR, server_pid and STARTUP_MS (spawn to first 200). Each start logs to
# its own file, $TMP/server-N.log.
starts=0
start_server() {
  local log_file t0 deadline code
  starts=$((starts + 1))
  log_file=$TMP/server-$starts.log
  : >"$log_file"
  t0=$(now_us)
  deadline=$((t0 + 120000000))
  "$BIN" serve --listen 127.0.0.1:0 --data-dir "$DATA" --config "$CONFIG" \
    >/dev/null 2>"$log_file" &
  server_pid=$!
  ADDR=""
  while :; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      wait "$server_pid" 2>/dev/null || true
      server_pid=""
      tail -20 "$log_file" >&2
      die "server exited during start-up (log above)"
    fi
    if [[ -z $ADDR ]]; then
      ADDR=$(sed -n 's#.*animam listening on http://\(127\.0\.0\.1:[0-9]*\).*#\1#p' "$log_file" |
        head -1)
    fi
    if [[ -n $ADDR ]]; then
      code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "http://$ADDR/health" || true)
      [[ $code == 200 ]] && break
    fi
    (($(now_us) < deadline)) || die "server not healthy after 120 s (log: $log_file)"
    sleep 0.01
  done
  STARTUP_MS=$((($(now_us) - t0) / 1000))
}

rss_mib() {
  awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$server_pid/status"
}

# ---------------------------------------------------------------- bootstrap, seed
log "bootstrap tenant '$TENANT' in $DATA"
BENCH_TOKEN=$("$BIN" bootstrap --tenant "$TENANT" --data-dir "$DATA" --config "$CONFIG" \
  2>>"$TMP/bootstrap.log") || {
  cat "$TMP/bootstrap.log" >&2
  die "bootstrap failed"
}
[[ $BENCH_TOKEN == ak_* ]] || die "bootstrap printed no token"
export BENCH_TOKEN BENCH_TENANT=$TENANT

start_server
FIRST_STARTUP_MS=$STARTUP_MS
log "server on $ADDR (empty store: up in $FIRST_STARTUP_MS ms); seeding $ENTRIES entries"
timeout "$SEED_TIMEOUT" python3 "$BENCH_DIR/seed.py" seed --base-url "http://$ADDR" \
  --tenant "$TENANT" --entries "$ENTRIES" --out-dir "$TMP" >&2 ||
  die "seeding failed or took over $SEED_TIMEOUT s (see above)"
SEED_RATE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rate"])' "$TMP/seed.json")
SEED_SECONDS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$TMP/seed.json")
AVG_BYTES=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["bytes"] // d["entries"])' "$TMP/seed.json")

# ---------------------------------------------------------------- restart: start-up, memory
log "restarting with the full corpus"
stop_server
DATA_MIB=$(du -sm "$DATA" | cut -f1)
start_server
RSS_START=$(rss_mib)
log "up in $STARTUP_MS ms, RSS $RSS_START MiB, data dir $DATA_MIB MiB"

log "needle check (one chat per needle question)"
NEEDLE_CHECK=$(python3 "$BENCH_DIR/seed.py" check --base-url "http://$ADDR" --tenant "$TENANT" \
  --out-dir "$TMP" | tail -1) || true
[[ -n $NEEDLE_CHECK ]] || NEEDLE_CHECK="needle check: failed (see above)"

# ---------------------------------------------------------------- load
export BENCH_QUESTIONS=$TMP/questions.txt BENCH_SEARCH_WORDS=$TMP/search.txt
BENCH_RUN_ID=$(date +%s)
export BENCH_RUN_ID
WRK_ARGS=(-t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency)

declare -A RPS P50 P90 P99 NON2XX SOCKERR FIRST_ERROR LABEL
SCENARIOS=()

# run_wrk NAME LABEL SCRIPT PATH: one wrk run; its output goes to $TMP/wrk-NAME.txt.
run_wrk() {
  local name=$1 label=$2 script=$3 path=$4 out=$TMP/wrk-$1.txt line kv
  log "wrk ${WRK_ARGS[*]} $label"
  wrk "${WRK_ARGS[@]}" -s "$BENCH_DIR/$script" "http://$ADDR$path" >"$out" 2>&1 ||
    { cat "$out" >&2; die "wrk failed for $label"; }
  line=$(grep '^BENCH ' "$out") || { cat "$out" >&2; die "no BENCH line from wrk ($label)"; }
  # The BENCH line is "BENCH key=number ...".
  local -A w=()
  local -a fields
  read -ra fields <<<"$line"
  for kv in "${fields[@]:1}"; do
    w[${kv%%=*}]=${kv#*=}
  done
  RPS[$name]=$(awk -v r="${w[requests]}" -v d="${w[duration_us]}" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
  P50[$name]=${w[p50_us]}
  P90[$name]=${w[p90_us]}
  P99[$name]=${w[p99_us]}
  NON2XX[$name]=${w[non2xx]}
  SOCKERR[$name]=$((w[connect] + w[read] + w[write] + w[timeout]))
  FIRST_ERROR[$name]=$(sed -n 's/^BENCH_FIRST_ERROR //p' "$out")
  SCENARIOS+=("$name")
  LABEL[$name]=$label
  grep -E 'Requests/sec|Non-2xx|Socket errors' "$out" >&2 || true
}

run_wrk health "GET /health" health.lua /health
run_wrk chat "POST /chat/$TENANT" chat.lua /
if [[ $RUN_SEARCH == 1 ]]; then
  run_wrk search "GET /tenants/$TENANT/corpus?search=" search.lua /
fi
RSS_AFTER=$(rss_mib)
stop_server

# ---------------------------------------------------------------- report
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3gx", a / b; else print "-" }'; }

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "none")
DIRTY=""
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null || true) ]]; then
  DIRTY=" (uncommitted changes)"
fi
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
HEADER=("scenario" "req/s" "p50 ms" "p90 ms" "p99 ms" "non-2xx" "socket err" "p99 / health p99" "req/s / health")

rows() { # one tab-separated line per scenario
  local s
  for s in "${SCENARIOS[@]}"; do
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${LABEL[$s]}" "${RPS[$s]}" \
      "$(ms "${P50[$s]}")" "$(ms "${P90[$s]}")" "$(ms "${P99[$s]}")" "${NON2XX[$s]}" \
      "${SOCKERR[$s]}" "$(ratio "${P99[$s]}" "${P99[health]}")" "$(ratio "${RPS[$s]}" "${RPS[health]}")"
  done
}

FACTS=(
  "corpus: $ENTRIES entries, ~$AVG_BYTES content bytes each; data dir $DATA_MIB MiB"
  "seed: $SEED_SECONDS s, $SEED_RATE entries/s (16 in flight)"
  "start-up with the full corpus: $STARTUP_MS ms to first /health 200 (empty store: $FIRST_STARTUP_MS ms)"
  "RSS: $RSS_START MiB after start-up, $RSS_AFTER MiB after the load"
  "$NEEDLE_CHECK"
  "load: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s on loopback; $(nproc) CPUs ($CPU)"
  "commit: $COMMIT$DIRTY"
)

{
  echo
  {
    printf '%s\t' "${HEADER[@]}"
    echo
    rows
  } | column -t -s $'\t'
  echo
  printf '%s\n' "${FACTS[@]}"
  for s in "${SCENARIOS[@]}"; do
    [[ -z ${FIRST_ERROR[$s]} ]] || echo "first error (${LABEL[$s]}): ${FIRST_ERROR[$s]}"
  done
}

mkdir -p "$BENCH_DIR/out"
MD=$BENCH_DIR/out/results-$STAMP.md
{
  echo "# animam benchmark $STAMP"
  echo
  printf '| %s ' "${HEADER[@]}"
  echo "|"
  printf '|---%.0s' "${HEADER[@]}"
  echo "|"
  rows | sed 's/\t/ | /g; s/^/| /; s/$/ |/'
  echo
  printf -- '- %s\n' "${FACTS[@]}"
  for s in "${SCENARIOS[@]}"; do
    [[ -z ${FIRST_ERROR[$s]} ]] || echo "- first error (${LABEL[$s]}): \`${FIRST_ERROR[$s]}\`"
  done
  echo
  echo "## wrk output"
  for s in "${SCENARIOS[@]}"; do
    echo
    echo "### ${LABEL[$s]}"
    echo
    echo '```'
    grep -v '^BENCH' "$TMP/wrk-$s.txt"
    echo '```'
  done
} >"$MD"
echo
echo "written to ${MD#"$ROOT"/}"
