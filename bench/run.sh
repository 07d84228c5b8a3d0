#!/usr/bin/env bash
# bench/run.sh: build the release binary, seed a fresh store, and measure with wrk the
# /health baseline, corpus reads by id, corpus list pages, the chat, the corpus search and
# durable corpus writes (64 connections), then a CSV import, start-up after a clean stop and
# resident memory; each figure is checked against its target. Writes bench/results.md
# (committed, overwritten) and bench/out/results-<stamp>.md (archive, with raw wrk output).
# Loopback only; see bench/README.md.
#
# Backends (BENCH_BACKENDS, default "redb pg1 pg3"): the embedded redb store, and PostgreSQL
# (a throwaway PostgreSQL 15 cluster this script starts) behind 1 and 3 replicas. Each backend
# is measured by a run of this script in "one backend" mode (BENCH_ONE), each on a fresh
# store; results.md then opens with one table, a column per backend.
#
#   bash bench/run.sh
#   BENCH_ENTRIES=2000 BENCH_SECONDS=5 bash bench/run.sh     # quick mode
#   BENCH_BACKENDS=redb bash bench/run.sh                    # redb only, as before
#
# Knobs (environment): see bench/README.md.
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
WRITE_CONNECTIONS=${BENCH_WRITE_CONNECTIONS:-64}
IMPORT_ENTRIES=${BENCH_IMPORT_ENTRIES:-$ENTRIES}
SEED_IN_FLIGHT=${BENCH_SEED_IN_FLIGHT:-16}
SEED_VIA=${BENCH_SEED_VIA:-auto}
PROFILE=${BENCH_PROFILE:-0}
PROFILE_SECONDS=${BENCH_PROFILE_SECONDS:-10}
BACKENDS=${BENCH_BACKENDS:-redb pg1 pg3}
# Internal: set by the driver for each backend's own run (see run_backends below).
ONE=${BENCH_ONE:-}
WRITES_TENANT=writes
IMPORT_TENANT=import
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

die() {
  echo "bench: $*" >&2
  exit 1
}
log() { echo "== $*" >&2; }

for knob in ENTRIES DURATION THREADS CONNECTIONS SEED_TIMEOUT WRITE_CONNECTIONS IMPORT_ENTRIES \
  SEED_IN_FLIGHT PROFILE_SECONDS; do
  [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer (got '${!knob}')"
done
((CONNECTIONS >= THREADS && WRITE_CONNECTIONS >= THREADS)) ||
  die "BENCH_CONNECTIONS and BENCH_WRITE_CONNECTIONS must be >= BENCH_THREADS"
[[ $SEED_VIA =~ ^(auto|api|import)$ ]] || die "BENCH_SEED_VIA must be auto, api or import"
[[ $PROFILE =~ ^(0|1|all)$ ]] || die "BENCH_PROFILE must be 0, 1 or all"
read -ra BACKEND_LIST <<<"$BACKENDS"
((${#BACKEND_LIST[@]} > 0)) || die "BENCH_BACKENDS is empty"
for b in "${BACKEND_LIST[@]}"; do
  [[ $b =~ ^(redb|pg1|pg3)$ ]] || die "BENCH_BACKENDS: unknown backend '$b' (redb, pg1, pg3)"
done
[[ -z $ONE || $ONE =~ ^(redb|pg1|pg3)$ ]] || die "BENCH_ONE must be redb, pg1 or pg3"
# redb alone is the single-backend run of before: no driver, same report.
[[ -n $ONE || $BACKENDS != redb ]] || ONE=redb
backend_label() {
  case $1 in
    redb) echo "redb" ;;
    pg1) echo "postgres, 1 replica" ;;
    pg3) echo "postgres, 3 replicas" ;;
  esac
}

# What is measured: the commit, and whether the tree differs from it (results.md aside: each
# run rewrites it).
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "none")
DIRTY=""
if [[ -n $(git -C "$ROOT" status --porcelain -- . ':!bench/results.md' 2>/dev/null || true) ]]; then
  DIRTY=" (uncommitted changes)"
fi

# ---------------------------------------------------------------- tools
if ! command -v wrk >/dev/null 2>&1; then
  [[ $(id -u) -eq 0 ]] || die "wrk is missing: install it (apt-get install wrk)"
  log "installing wrk"
  apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }
fi
command -v curl >/dev/null 2>&1 || die "curl is missing"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "python3 >= 3.11 is needed"
if [[ $PROFILE != 0 ]] && ! command -v perf >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]]; then
    log "installing perf (BENCH_PROFILE=1)"
    apt-get install -y linux-perf >&2 || apt-get install -y perf >&2 ||
      { apt-get update >&2 && { apt-get install -y linux-perf >&2 || apt-get install -y perf >&2; }; } ||
      log "perf could not be installed: no profiles"
  fi
fi

# ---------------------------------------------------------------- build
log "building release binary (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
(cd "$ROOT" && cargo build --release)
case $CARGO_TARGET_DIR in
  /*) BIN=$CARGO_TARGET_DIR/release/animam ;;
  *) BIN=$ROOT/$CARGO_TARGET_DIR/release/animam ;;
esac
[[ -x $BIN ]] || die "no binary at $BIN"

# ---------------------------------------------------------------- driver (several backends)
# Each backend is measured by its own run of this script (BENCH_ONE=backend) on a fresh store,
# one after the other, so they never share the CPUs; this part starts the PostgreSQL cluster
# the postgres backends use, and merges the reports.
PG_BIN=${BENCH_PG_BIN:-/usr/lib/postgresql/15/bin}
if [[ -z $ONE ]]; then
  STAMP=$(date -u +%Y%m%dT%H%M%SZ)
  DTMP=$(mktemp -d "${TMPDIR:-/tmp}/animam-bench-driver.XXXXXX")
  PG_RUN=()
  pg_stop() {
    if [[ -f $DTMP/pg/data/postmaster.pid ]]; then
      "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$DTMP/pg/data" -m fast stop >/dev/null 2>&1 || true
    fi
    if [[ $KEEP == 1 ]]; then echo "bench: kept $DTMP" >&2; else rm -rf "$DTMP"; fi
  }
  trap pg_stop EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  PG_NOTE=""
  if [[ " ${BACKEND_LIST[*]} " == *" pg"* ]]; then
    if [[ ! -x $PG_BIN/initdb ]]; then
      [[ $(id -u) -eq 0 ]] || die "PostgreSQL 15 is missing: install it (apt-get install postgresql-15)"
      log "installing postgresql-15"
      apt-get install -y postgresql-15 >&2 ||
        { apt-get update >&2 && apt-get install -y postgresql-15 >&2; }
    fi
    # A throwaway cluster: initdb refuses root, so as `postgres` when root. Durable (fsync
    # and synchronous_commit on, the defaults); sized so that checkpoints do not land in the
    # middle of a scenario: a large max_wal_size and checkpoint_timeout, shared_buffers 256 MB.
    mkdir -p "$DTMP/pg"
    if [[ $(id -u) -eq 0 ]]; then
      id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
      chown postgres: "$DTMP/pg"
      chmod 755 "$DTMP"
      PG_RUN=(runuser -u postgres --)
    fi
    PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    PG_SETTINGS="-c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB \
-c fsync=on -c synchronous_commit=on -c wal_level=minimal -c max_wal_senders=0 \
-c max_wal_size=8GB -c checkpoint_timeout=30min -c wal_buffers=16MB"
    log "starting a throwaway PostgreSQL 15 cluster on 127.0.0.1:$PG_PORT"
    (cd "$DTMP/pg" && "${PG_RUN[@]}" "$PG_BIN/initdb" -D "$DTMP/pg/data" -U postgres \
      --auth=trust -E UTF8 --locale=C >/dev/null) || die "initdb failed"
    (cd "$DTMP/pg" && "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$DTMP/pg/data" -l "$DTMP/pg/server.log" \
      -w -o "-p $PG_PORT -k $DTMP/pg $PG_SETTINGS" start >/dev/null) ||
      { cat "$DTMP/pg/server.log" >&2; die "PostgreSQL did not start"; }
    PG_VERSION=$("$PG_BIN/postgres" --version | awk '{print $3}')
    PG_NOTE="PostgreSQL $PG_VERSION on the same machine (loopback), $(sed 's/-c //g; s/ \+/, /g; s/listen_addresses=127.0.0.1, //' <<<"$PG_SETTINGS"); each replica at its default pool of 16 connections"
  fi

  for b in "${BACKEND_LIST[@]}"; do
    url=""
    if [[ $b == pg* ]]; then
      "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "bench_$b" ||
        die "cannot create database bench_$b"
      url="postgres://postgres@127.0.0.1:$PG_PORT/bench_$b"
    fi
    log "backend $b ($(backend_label "$b"))"
    BENCH_ONE=$b BENCH_PG_URL=$url BENCH_STAMP=$STAMP BENCH_RESULTS_MD=$DTMP/results-$b.md \
      BENCH_SUMMARY=$DTMP/summary-$b.tsv bash "${BASH_SOURCE[0]}" ||
      die "the $b run failed (see above)"
  done

  # The comparison: one row per figure, a column per backend, from each run's summary.
  declare -A SUM=()
  for b in "${BACKEND_LIST[@]}"; do
    while IFS=$'\t' read -r key value; do SUM[$b:$key]=$value; done <"$DTMP/summary-$b.tsv"
  done
  first=${BACKEND_LIST[0]}
  cell() { # cell BACKEND SCENARIO: "N/s, p99 X ms" (+ errors)
    local b=$1 s=$2 rate
    [[ -n ${SUM[$b:rps:$s]:-} ]] || { echo "-"; return; }
    rate=${SUM[$b:rps:$s]}
    [[ $s != post ]] || rate=${SUM[$b:created:post]}
    printf '%s/s, p99 %s ms' "$rate" "${SUM[$b:p99:$s]}"
    [[ ${SUM[$b:errors:$s]} == 0 ]] || printf ' (%s errors)' "${SUM[$b:errors:$s]}"
  }
  compare() {
    local -a header=("scenario") row
    local s b key
    for b in "${BACKEND_LIST[@]}"; do header+=("$(backend_label "$b")"); done
    printf '| %s ' "${header[@]}"
    echo "|"
    printf '|---%.0s' "${header[@]}"
    echo "|"
    for s in health get list chat search post; do
      [[ -n ${SUM[$first:label:$s]:-} ]] || continue
      row=("${SUM[$first:label:$s]} (${SUM[$first:conns:$s]} conn.)")
      for b in "${BACKEND_LIST[@]}"; do row+=("$(cell "$b" "$s")"); done
      printf '| %s ' "${row[@]}"
      echo "|"
    done
    for key in import seed startup rss store needle; do
      case $key in
        import) row=("CSV import (entries/s)") ;;
        seed) row=("seed (entries/s)") ;;
        startup) row=("start-up with the corpus (ms, slowest replica)") ;;
        rss) row=("RSS after the load (MiB, per replica)") ;;
        store) row=("store size after seeding (MiB)") ;;
        needle) row=("needle check") ;;
      esac
      for b in "${BACKEND_LIST[@]}"; do row+=("${SUM[$b:$key]:--}"); done
      printf '| %s ' "${row[@]}"
      echo "|"
    done
  }
  combined() {
    echo "# Animam benchmark results"
    echo
    echo "Written by \`bash bench/run.sh\` (see bench/README.md); each run overwrites this file and"
    echo "archives a copy with the raw wrk output in bench/out/."
    echo
    sed -n '/^## /q; /^- /p' "$DTMP/results-$first.md"
    [[ -z $PG_NOTE ]] || echo "- postgres: $PG_NOTE"
    echo
    echo "## Backends compared"
    echo
    echo "The same scenarios, one backend after the other, each on a fresh store. Cells: req/s"
    echo "(for the POST row: 201s/s) and p99 latency; with 3 replicas, one wrk per replica with a"
    echo "third of the connections each: req/s summed, the worst replica's percentiles."
    echo
    compare
    for b in "${BACKEND_LIST[@]}"; do
      echo
      echo "## $(backend_label "$b"): details"
      echo
      sed -n '/^## Targets/,$p' "$DTMP/results-$b.md" | sed 's/^### /#### /; s/^## /### /'
    done
  }
  echo
  compare | column -t -s '|'
  mkdir -p "$BENCH_DIR/out"
  combined >"$BENCH_DIR/results.md"
  cp "$BENCH_DIR/results.md" "$BENCH_DIR/out/results-$STAMP.md"
  echo
  echo "written to bench/results.md and bench/out/results-$STAMP.md (per backend, with the raw"
  echo "wrk output: bench/out/results-$STAMP-<backend>.md)"
  exit 0
fi

# ---------------------------------------------------------------- temp dir, cleanup
TMP=$(mktemp -d "${TMPDIR:-/tmp}/animam-bench.XXXXXX")
DATA=$TMP/data
CONFIG=$TMP/animam.toml # empty: defaults, whatever ./animam.toml says
# The replicas of this run: one for redb and pg1, three for pg3, each its own process, data dir
# (what a postgres replica keeps there: its admin socket) and loopback port. server_pid and
# ADDR are the first replica's (the one that seeds, imports, is profiled).
REPLICAS=1
[[ $ONE != pg3 ]] || REPLICAS=3
SERVER_PIDS=()
ADDRS=()
server_pid=""
data_dir_of() { # data_dir_of N (0-based)
  if (($1 == 0)); then echo "$DATA"; else echo "$TMP/data-$1"; fi
}

# SIGTERM to every replica, wait for the exits (STOP_MS: signal to the last exit).
STOP_MS=""
stop_server() {
  ((${#SERVER_PIDS[@]})) || return 0
  local t0 pid i
  t0=$(now_us)
  for pid in "${SERVER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do
    for ((i = 0; i < 400; i++)); do # the server's own grace period is 30 s
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "bench: server $pid ignored SIGTERM for 40 s, killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  STOP_MS=$((($(now_us) - t0) / 1000))
  SERVER_PIDS=()
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
# The import endpoint's own body limit (unknown ANIMAM_* variables are ignored by config.rs).
export ANIMAM_IMPORT_MAX_BODY_MIB=512
if [[ $ONE == pg* ]]; then
  [[ -n ${BENCH_PG_URL:-} ]] || die "BENCH_ONE=$ONE needs BENCH_PG_URL (run bench/run.sh without BENCH_ONE)"
  export ANIMAM_STORE_BACKEND=postgres ANIMAM_STORE_URL=$BENCH_PG_URL
  # Sealed secrets must open on every replica: one key for all, not a secret.key each.
  ANIMAM_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  export ANIMAM_SECRET_KEY
  if [[ $PROFILE != 0 ]]; then
    log "BENCH_PROFILE applies to the redb run only"
    PROFILE=0
  fi
fi

now_us() { echo "${EPOCHREALTIME/./}"; }

# Starts every replica on a free loopback port, all at once, and waits until GET /health
# answers 200 on each, polling every 10 ms. Sets ADDRS, SERVER_PIDS (ADDR, server_pid: the
# first) and STARTUP_MS (spawn to the last replica's first 200). Each start of each replica
# logs to its own file, $TMP/server-N.log.
starts=0
SERVER_PREFIX=() # e.g. (perf record -g -o FILE --): then server_pid is the prefix's pid
start_server() {
  local t0 deadline code r pid addr
  local -a logs=()
  t0=$(now_us)
  deadline=$((t0 + 120000000))
  SERVER_PIDS=()
  ADDRS=()
  for ((r = 0; r < REPLICAS; r++)); do
    starts=$((starts + 1))
    logs[r]=$TMP/server-$starts.log
    : >"${logs[r]}"
    "${SERVER_PREFIX[@]}" "$BIN" serve --listen 127.0.0.1:0 --data-dir "$(data_dir_of "$r")" \
      --config "$CONFIG" >/dev/null 2>"${logs[r]}" &
    SERVER_PIDS[r]=$!
    ADDRS[r]=""
  done
  server_pid=${SERVER_PIDS[0]}
  for ((r = 0; r < REPLICAS; r++)); do
    pid=${SERVER_PIDS[r]}
    while :; do
      if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
        tail -20 "${logs[r]}" >&2
        die "server exited during start-up (log above)"
      fi
      addr=${ADDRS[r]}
      if [[ -z $addr ]]; then
        addr=$(sed -n 's#.*animam listening on http://\(127\.0\.0\.1:[0-9]*\).*#\1#p' \
          "${logs[r]}" | head -1)
        ADDRS[r]=$addr
      fi
      if [[ -n $addr ]]; then
        code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "http://$addr/health" || true)
        [[ $code == 200 ]] && break
      fi
      (($(now_us) < deadline)) || die "server not healthy after 120 s (log: ${logs[r]})"
      sleep 0.01
    done
  done
  ADDR=${ADDRS[0]}
  STARTUP_MS=$((($(now_us) - t0) / 1000))
}

# VmRSS of the first replica; rss_all: of each, "a / b / c"; rss_max: the largest.
rss_of() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
rss_mib() { rss_of "$server_pid"; }
rss_all() {
  local pid out=""
  for pid in "${SERVER_PIDS[@]}"; do out+="${out:+ / }$(rss_of "$pid")"; done
  echo "$out"
}
rss_max() { tr '/' '\n' <<<"$1" | awk '$1 > m { m = $1 } END { printf "%.1f", m }'; }

# "anonymous X MiB, file-backed Y MiB" from smaps_rollup (where the resident memory is).
rss_split() {
  awk '/^Anonymous:/ { a = $2 } /^Rss:/ { r = $2 }
    END { printf "anonymous %.1f MiB, other %.1f MiB", a / 1024, (r - a) / 1024 }' \
    "/proc/$server_pid/smaps_rollup" 2>/dev/null || echo "smaps_rollup unreadable"
}

# The store's size: the data dir for redb, the database for postgres.
store_mib() {
  if [[ $ONE == pg* ]]; then
    "$PG_BIN/psql" "$BENCH_PG_URL" -Atc 'SELECT pg_database_size(current_database()) / 1048576'
  else
    du -sm "$DATA" | cut -f1
  fi
}

# ---------------------------------------------------------------- bootstrap, seed
# One tenant per purpose, each with its own `*` token: `bench` holds the seeded corpus the
# reads, chat and search use; `writes` takes the POST load; `import` the CSV import.
bootstrap() { # bootstrap SLUG: prints the token
  local token
  token=$("$BIN" bootstrap --tenant "$1" --data-dir "$DATA" --config "$CONFIG" \
    2>>"$TMP/bootstrap.log") || {
    cat "$TMP/bootstrap.log" >&2
    die "bootstrap of tenant '$1' failed"
  }
  [[ $token == ak_* ]] || die "bootstrap printed no token for '$1'"
  echo "$token"
}
if [[ $ONE == pg* ]]; then
  log "animam migrate (the schema, into the empty database)"
  "$BIN" migrate --config "$CONFIG" >/dev/null 2>"$TMP/migrate.log" ||
    { cat "$TMP/migrate.log" >&2; die "animam migrate failed"; }
  log "bootstrap tenants '$TENANT', '$WRITES_TENANT', '$IMPORT_TENANT' in the database"
else
  log "bootstrap tenants '$TENANT', '$WRITES_TENANT', '$IMPORT_TENANT' in $DATA"
fi
BENCH_TOKEN=$(bootstrap "$TENANT")
WRITES_TOKEN=$(bootstrap "$WRITES_TENANT")
IMPORT_TOKEN=$(bootstrap "$IMPORT_TENANT")
export BENCH_TOKEN BENCH_TENANT=$TENANT

start_server
FIRST_STARTUP_MS=$STARTUP_MS
log "$(backend_label "$ONE"): server on ${ADDRS[*]} (empty store: up in $FIRST_STARTUP_MS ms)"

# Is there a CSV import endpoint? A header-only CSV imports nothing; 404/405 = no route.
IMPORT_PROBE=$(printf 'title,content,segment,priority,tags\n' |
  curl -s -o "$TMP/import-probe.txt" -w '%{http_code}' --max-time 30 -X POST \
    -H "Authorization: Bearer $IMPORT_TOKEN" -H 'Content-Type: text/csv' --data-binary @- \
    "http://$ADDR/tenants/$IMPORT_TENANT/corpus/import" || echo 000)
case $IMPORT_PROBE in
  404 | 405) IMPORT_AVAILABLE=0 ;;
  *) IMPORT_AVAILABLE=1 ;;
esac
log "import endpoint probe: HTTP $IMPORT_PROBE ($([[ $IMPORT_AVAILABLE == 1 ]] && echo available || echo "not available"))"
if [[ $SEED_VIA == auto ]]; then
  SEED_VIA=api
  [[ $IMPORT_AVAILABLE == 1 ]] && SEED_VIA=import
fi
[[ $SEED_VIA == api || $IMPORT_AVAILABLE == 1 ]] || die "BENCH_SEED_VIA=import but the import endpoint answers $IMPORT_PROBE"

log "seeding $ENTRIES entries via $SEED_VIA"
timeout "$SEED_TIMEOUT" python3 "$BENCH_DIR/seed.py" seed --base-url "http://$ADDR" \
  --tenant "$TENANT" --entries "$ENTRIES" --out-dir "$TMP" --via "$SEED_VIA" \
  --in-flight "$SEED_IN_FLIGHT" --import-timeout "$SEED_TIMEOUT" >&2 ||
  die "seeding failed or took over $SEED_TIMEOUT s (see above)"
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$1" "$2"; }
SEED_RATE=$(json_field "$TMP/seed.json" rate)
SEED_SECONDS=$(json_field "$TMP/seed.json" seconds)
SEED_IN_FLIGHT_USED=$(json_field "$TMP/seed.json" in_flight)
AVG_BYTES=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["bytes"] // d["entries"])' "$TMP/seed.json")

if [[ $IMPORT_AVAILABLE == 1 ]]; then
  # Generated now, so that the generator does not compete with the measured server later.
  log "generating the import CSV ($IMPORT_ENTRIES fresh entries)"
  python3 "$BENCH_DIR/seed.py" csv --entries "$IMPORT_ENTRIES" --seed 4242 \
    --out "$TMP/import.csv" >&2 || die "CSV generation failed"
fi

# ---------------------------------------------------------------- restart: start-up, memory
log "clean stop (SIGTERM) and restart with the full corpus"
stop_server
SEED_STOP_MS=$STOP_MS
DATA_MIB=$(store_mib)
start_server
FULL_STARTUP_MS=$STARTUP_MS # start_server overwrites STARTUP_MS (profiled start-up)
RSS_START=$(rss_all)
log "stopped in $SEED_STOP_MS ms; up in $STARTUP_MS ms, RSS $RSS_START MiB, store $DATA_MIB MiB"

log "needle check (one chat per needle question)"
NEEDLE_CHECK=$(python3 "$BENCH_DIR/seed.py" check --base-url "http://$ADDR" --tenant "$TENANT" \
  --out-dir "$TMP" | tail -1) || true
[[ -n $NEEDLE_CHECK ]] || NEEDLE_CHECK="needle check: failed (see above)"

# ---------------------------------------------------------------- load
export BENCH_QUESTIONS=$TMP/questions.txt BENCH_SEARCH_WORDS=$TMP/search.txt BENCH_IDS=$TMP/ids.txt
export BENCH_PAGES=$(((ENTRIES + 19) / 20))
BENCH_RUN_ID=$(date +%s)
export BENCH_RUN_ID

declare -A RPS P50 P90 P99 NON2XX SOCKERR FIRST_ERROR LABEL CONNS SCRIPT URLPATH CREATED
SCENARIOS=()

# wrk_replicas LABEL SCRIPT PATH CONNECTIONS SECONDS OUT: the load spread over the replicas
# with no balancer in between (it would be one more process on the same 2 cores, and its cost
# would be counted as the replicas'): one wrk per replica, started together, each with its
# share of the connections and of the threads (at least one), its own run id (unique titles
# and session ids) and thread offset (its own walk through ids, pages and questions). OUT gets
# one merged BENCH line (requests and errors summed, the longest duration, the worst replica's
# percentiles), then each wrk's output.
wrk_replicas() {
  local label=$1 script=$2 path=$3 conns=$4 secs=$5 out=$6
  local r c t line kv
  local -a pids=()
  for ((r = 0; r < REPLICAS; r++)); do
    c=$((conns / REPLICAS + (r < conns % REPLICAS ? 1 : 0)))
    t=$((THREADS / REPLICAS))
    ((t >= 1)) || t=1
    ((t <= c)) || t=$c
    log "wrk -t$t -c$c -d${secs}s --timeout 10s --latency $label (replica $((r + 1)), ${ADDRS[r]})"
    BENCH_RUN_ID=$BENCH_RUN_ID-r$r BENCH_THREAD_OFFSET=$((r * 100))       wrk -t"$t" -c"$c" -d"${secs}s" --timeout 10s --latency -s "$BENCH_DIR/$script"       "http://${ADDRS[r]}$path" >"$out.$r" 2>&1 &
    pids[r]=$!
  done
  for ((r = 0; r < REPLICAS; r++)); do
    wait "${pids[r]}" || { cat "$out.$r" >&2; die "wrk failed for $label (replica $((r + 1)))"; }
  done
  local -A sum=()
  local -a fields
  for ((r = 0; r < REPLICAS; r++)); do
    line=$(grep '^BENCH ' "$out.$r") ||
      { cat "$out.$r" >&2; die "no BENCH line from wrk ($label, replica $((r + 1)))"; }
    read -ra fields <<<"$line"
    for kv in "${fields[@]:1}"; do
      local k=${kv%%=*} v=${kv#*=}
      case $k in
        requests | non2xx | connect | read | write | timeout | created)
          sum[$k]=$((${sum[$k]:-0} + v)) ;;
        mean_us) ;; # not a maximum nor a sum: left out
        *) # durations and percentiles: the largest
          [[ -n ${sum[$k]:-} ]] && ((${sum[$k]} >= v)) || sum[$k]=$v ;;
      esac
    done
  done
  {
    printf 'BENCH'
    for kv in requests duration_us p50_us p90_us p99_us max_us non2xx connect read write timeout created; do
      printf ' %s=%s' "$kv" "${sum[$kv]:-0}"
    done
    echo
    for ((r = 0; r < REPLICAS; r++)); do
      sed -n 's/^BENCH_FIRST_ERROR /&/p' "$out.$r" | head -1
    done | head -1
    for ((r = 0; r < REPLICAS; r++)); do
      echo "== replica $((r + 1)) (${ADDRS[r]})"
      grep -v '^BENCH' "$out.$r"
    done
  } >"$out"
  rm -f "$out".[0-9]*
}

# run_wrk NAME LABEL SCRIPT PATH CONNECTIONS [SECONDS [OUT]]: one wrk run; its output goes to
# $TMP/wrk-NAME.txt (or OUT, which is then not parsed: profiling reruns).
run_wrk() {
  local name=$1 label=$2 script=$3 path=$4 conns=$5 secs=${6:-$DURATION} out=${7:-$TMP/wrk-$1.txt}
  local line kv
  local -a args=(-t"$THREADS" -c"$conns" -d"${secs}s" --timeout 10s --latency)
  if ((REPLICAS > 1)); then
    wrk_replicas "$label" "$script" "$path" "$conns" "$secs" "$out"
  else
    log "wrk ${args[*]} $label"
    wrk "${args[@]}" -s "$BENCH_DIR/$script" "http://$ADDR$path" >"$out" 2>&1 ||
      { cat "$out" >&2; die "wrk failed for $label"; }
  fi
  [[ -z ${7:-} ]] || return 0
  line=$(grep '^BENCH ' "$out") || { cat "$out" >&2; die "no BENCH line from wrk ($label)"; }
  # The BENCH line is "BENCH key=number ...".
  local -A w=()
  local -a fields
  read -ra fields <<<"$line"
  for kv in "${fields[@]:1}"; do
    w[${kv%%=*}]=${kv#*=}
  done
  RPS[$name]=$(awk -v r="${w[requests]}" -v d="${w[duration_us]}" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
  CREATED[$name]=$(awk -v r="${w[created]}" -v d="${w[duration_us]}" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
  P50[$name]=${w[p50_us]}
  P90[$name]=${w[p90_us]}
  P99[$name]=${w[p99_us]}
  NON2XX[$name]=${w[non2xx]}
  SOCKERR[$name]=$((w[connect] + w[read] + w[write] + w[timeout]))
  FIRST_ERROR[$name]=$(sed -n 's/^BENCH_FIRST_ERROR //p' "$out")
  SCENARIOS+=("$name")
  LABEL[$name]=$label
  CONNS[$name]=$conns
  SCRIPT[$name]=$script
  URLPATH[$name]=$path
  grep -E 'Requests/sec|Non-2xx|Socket errors' "$out" >&2 || true
}

run_wrk health "GET /health" health.lua /health "$CONNECTIONS"
run_wrk get "GET /tenants/$TENANT/corpus/{id}" get.lua / "$CONNECTIONS"
run_wrk list "GET /tenants/$TENANT/corpus?page=N&limit=20" list.lua / "$CONNECTIONS"
run_wrk chat "POST /chat/$TENANT" chat.lua / "$CONNECTIONS"
if [[ $RUN_SEARCH == 1 ]]; then
  run_wrk search "GET /tenants/$TENANT/corpus?search=" search.lua / "$CONNECTIONS"
fi
# The memory target is "with 100,000 entries, after the load": measured here, after the read,
# chat and search load and before the writes and the import add hundreds of thousands of
# entries to other tenants.
RSS_EACH=$(rss_all)
RSS_AFTER=$(rss_max "$RSS_EACH")
RSS_SPLIT=$(rss_split)
log "RSS after the load: $RSS_EACH MiB ($RSS_SPLIT)"

# Writes last among the wrk scenarios, into their own tenant: the 100k-entry corpus the
# reads use stays as seeded.
BENCH_TOKEN=$WRITES_TOKEN BENCH_TENANT=$WRITES_TENANT \
  run_wrk post "POST /tenants/$WRITES_TENANT/corpus" post.lua / "$WRITE_CONNECTIONS"

# ---------------------------------------------------------------- CSV import
IMPORT_RATE=""
IMPORT_NOTE=""
run_import() { # run_import [OUT_DIR]
  BENCH_TOKEN=$IMPORT_TOKEN python3 "$BENCH_DIR/seed.py" import --base-url "http://$ADDR" \
    --tenant "$IMPORT_TENANT" --file "$TMP/import.csv" --out-dir "${1:-$TMP}" \
    --timeout "$SEED_TIMEOUT" >&2
}
if [[ $IMPORT_AVAILABLE == 1 ]]; then
  log "CSV import of $IMPORT_ENTRIES entries into tenant '$IMPORT_TENANT'"
  import_rc=0
  run_import || import_rc=$?
  if ((import_rc == 0)); then
    IMPORT_RATE=$(json_field "$TMP/import.json" rate)
    IMPORT_NOTE="$(json_field "$TMP/import.json" imported) entries in $(json_field "$TMP/import.json" seconds) s (response after $(json_field "$TMP/import.json" answered_seconds) s)"
  elif ((import_rc == 2)); then
    IMPORT_NOTE="not available ($(json_field "$TMP/import.json" status))"
  else
    IMPORT_NOTE="failed: HTTP $(json_field "$TMP/import.json" status) $(json_field "$TMP/import.json" error) $(json_field "$TMP/import.json" body | head -c 300)"
  fi
else
  IMPORT_NOTE="not available ($IMPORT_PROBE)"
  log "CSV import: $IMPORT_NOTE"
fi


# ---------------------------------------------------------------- targets
STORE_WORD="data dir"
RSS_WHOSE=""
if [[ $ONE == pg* ]]; then
  STORE_WORD="database"
  ((REPLICAS == 1)) || RSS_WHOSE=" (largest replica)"
fi
# Each row: label, figure, target, verdict (PASS / FAIL / n/a).
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3gx", a / b; else print "-" }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
clean() { [[ ${NON2XX[$1]} == 0 && ${SOCKERR[$1]} == 0 ]]; }
verdict() { if "$@"; then echo PASS; else echo FAIL; fi; }
errs() { clean "$1" || echo ", ${NON2XX[$1]} non-2xx, ${SOCKERR[$1]} socket errors"; }

declare -A FAILED=()
TARGETS=()
target() { # target NAME LABEL FIGURE TARGET VERDICT
  TARGETS+=("$2"$'\t'"$3"$'\t'"$4"$'\t'"$5")
  [[ $5 != FAIL ]] || FAILED[$1]=1
}
# Verdicts: a throughput or latency figure only counts with 0 non-2xx and 0 socket errors.
at_least_x_health() { clean "$1" && ge "${RPS[$1]}" "$(awk -v h="${RPS[health]}" -v f="$2" 'BEGIN { print f * h }')"; }
p99_within() { clean "$1" && ((${P99[$1]} <= $2)); }
target get "authenticated GET /tenants/$TENANT/corpus/{id}" \
  "${RPS[get]} req/s = $(ratio "${RPS[get]}" "${RPS[health]}") /health$(errs get)" ">= 0.6x /health" \
  "$(verdict at_least_x_health get 0.6)"
target list "corpus list page (GET ...?page=N&limit=20)" \
  "${RPS[list]} req/s = $(ratio "${RPS[list]}" "${RPS[health]}") /health$(errs list)" ">= 0.5x /health" \
  "$(verdict at_least_x_health list 0.5)"
target post "durable POST /tenants/$WRITES_TENANT/corpus, $WRITE_CONNECTIONS connections" \
  "${CREATED[post]} created/s (201 only)$(errs post)" ">= 15,000/s, 0 non-2xx" \
  "$(verdict eval 'clean post && ge "${CREATED[post]}" 15000')"
if [[ -n $IMPORT_RATE ]]; then
  target import "CSV import of $IMPORT_ENTRIES entries" "$IMPORT_RATE entries/s ($IMPORT_NOTE)" \
    ">= 20,000 entries/s" "$(verdict ge "$IMPORT_RATE" 20000)"
elif [[ $IMPORT_NOTE == "not available"* ]]; then
  target import "CSV import of $IMPORT_ENTRIES entries" "$IMPORT_NOTE" ">= 20,000 entries/s" "n/a"
else
  target import "CSV import of $IMPORT_ENTRIES entries" "$IMPORT_NOTE" ">= 20,000 entries/s" FAIL
fi
target chat "chat answer (POST /chat/$TENANT), $ENTRIES entries, $CONNECTIONS connections" \
  "p99 $(ms "${P99[chat]}") ms$(errs chat)" "p99 <= 20 ms" \
  "$(verdict p99_within chat 20000)"
if [[ $RUN_SEARCH == 1 ]]; then
  target search "corpus search, $ENTRIES entries, $CONNECTIONS connections" \
    "p99 $(ms "${P99[search]}") ms$(errs search)" "p99 <= 20 ms" \
    "$(verdict p99_within search 20000)"
fi
target startup "start-up with $ENTRIES entries after SIGTERM" \
  "$FULL_STARTUP_MS ms ($STORE_WORD $DATA_MIB MiB)" "< 1 s to first /health 200" \
  "$(verdict test "$FULL_STARTUP_MS" -lt 1000)"
target rss "resident memory after the load$RSS_WHOSE" "$RSS_AFTER MiB" "<= 300 MiB" \
  "$(verdict ge 300 "$RSS_AFTER")"

# ---------------------------------------------------------------- profiles (BENCH_PROFILE=1)
# For each failed target, a CPU profile of the server while the scenario runs again for
# BENCH_PROFILE_SECONDS (the measured run itself is never profiled).
PROFILES=()
summarise_profile() { # summarise_profile NAME DATAFILE
  local txt=$TMP/profile-$1.txt
  local -a rep=(perf report -i "$2" --stdio --no-inline --sort symbol -g none)
  # Strips perf's padding and empty columns; cuts the long generic names.
  tidy() { grep -v '^#' | grep -v '^$' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | cut -c1-160; }
  {
    echo "== self time, top symbols (% of the server's samples; [k] = kernel)"
    "${rep[@]}" --no-children --percent-limit 1 2>/dev/null | tidy | head -20 || true
    echo
    echo "== inclusive time (children), selected frames"
    "${rep[@]}" --children --percent-limit 1.5 2>/dev/null | tidy |
      grep -E '\] <?(animam|redb|actix_web::(app_service|middleware)|actix_router|regex_lite|serde_json|frostem|unicode_normalization)' |
      head -30 || true
  } >"$txt"
  PROFILES+=("$1")
}
profile_wrk() { # profile_wrk NAME
  local name=$1 data=$TMP/perf-$1.data
  log "profiling the server during '${LABEL[$name]}' (${PROFILE_SECONDS}s rerun)"
  perf record --call-graph dwarf,16384 -F 199 -p "$server_pid" -o "$data" -- sleep "$PROFILE_SECONDS" \
    >"$TMP/perf-$name.log" 2>&1 &
  local perf_pid=$!
  sleep 0.3
  local token=$BENCH_TOKEN tenant=$TENANT
  if [[ $name == post ]]; then token=$WRITES_TOKEN tenant=$WRITES_TENANT; fi
  BENCH_TOKEN=$token BENCH_TENANT=$tenant run_wrk "$name" "${LABEL[$name]}" "${SCRIPT[$name]}" \
    "${URLPATH[$name]}" "${CONNS[$name]}" "$((PROFILE_SECONDS - 1))" "$TMP/wrk-$name-profiled.txt"
  wait "$perf_pid" || { cat "$TMP/perf-$name.log" >&2; log "perf failed for $name"; return 0; }
  summarise_profile "$name" "$data"
}
profile_import() {
  local data=$TMP/perf-import.data
  log "profiling the server during a second CSV import"
  perf record --call-graph dwarf,16384 -F 199 -p "$server_pid" -o "$data" >"$TMP/perf-import.log" 2>&1 &
  local perf_pid=$!
  sleep 0.3
  mkdir -p "$TMP/import-profiled"
  run_import "$TMP/import-profiled" || true
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" || true
  summarise_profile import "$data"
}
profile_startup() {
  local data=$TMP/perf-startup.data
  log "profiling a start-up"
  stop_server
  SERVER_PREFIX=(perf record --call-graph dwarf,16384 -F 999 -o "$data" --)
  start_server
  PERF_STARTUP_MS=$STARTUP_MS
  log "start-up under perf: $STARTUP_MS ms"
  # server_pid is perf's; the server is its child: SIGTERM the server, then perf ends.
  local child
  child=$(pgrep -P "$server_pid" | head -1 || true)
  [[ -n $child ]] && kill -TERM "$child" 2>/dev/null
  stop_server
  SERVER_PREFIX=()
  summarise_profile startup "$data"
}
PROFILE_NOTE=""
declare -A PROFILE_ALSO=()
want_profile() { [[ -n ${FAILED[$1]:-} || -n ${PROFILE_ALSO[$1]:-} ]]; }
if [[ $PROFILE == all ]]; then # every target, passed or not
  for name in get list chat search post import startup; do PROFILE_ALSO[$name]=1; done
fi
if [[ $PROFILE == 1 && ${#FAILED[@]} -gt 0 || $PROFILE == all ]]; then
  if ! command -v perf >/dev/null 2>&1; then
    PROFILE_NOTE="BENCH_PROFILE=1 but perf is not installed: no profiles"
  elif ! perf record -o "$TMP/perf-probe.data" -- true >"$TMP/perf-probe.log" 2>&1; then
    PROFILE_NOTE="perf cannot record in this environment: $(tail -1 "$TMP/perf-probe.log")"
  else
    for name in get list chat search post; do
      if want_profile "$name" && [[ -n ${LABEL[$name]:-} ]]; then profile_wrk "$name"; fi
    done
    if want_profile import && [[ -f $TMP/import.csv ]]; then profile_import; fi
    if want_profile startup; then profile_startup; fi
    [[ -z ${FAILED[rss]:-} ]] || PROFILE_NOTE="memory target failed: no CPU profile for it (see the RSS line: anonymous vs other)"
  fi
  [[ -z $PROFILE_NOTE ]] || log "$PROFILE_NOTE"
fi
stop_server

# ---------------------------------------------------------------- report
STAMP=${BENCH_STAMP:-$(date -u +%Y%m%dT%H%M%SZ)}
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
RAM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
KERNEL=$(uname -sr)
MACHINE="$CPU, $(nproc) cores, $RAM RAM, $KERNEL"
HEADER=("scenario" "connections" "req/s" "p50 ms" "p90 ms" "p99 ms" "non-2xx" "socket err" "p99 / health p99" "req/s / health")

rows() { # one tab-separated line per wrk scenario
  local s
  for s in "${SCENARIOS[@]}"; do
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${LABEL[$s]}" "${CONNS[$s]}" "${RPS[$s]}" \
      "$(ms "${P50[$s]}")" "$(ms "${P90[$s]}")" "$(ms "${P99[$s]}")" "${NON2XX[$s]}" \
      "${SOCKERR[$s]}" "$(ratio "${P99[$s]}" "${P99[health]}")" "$(ratio "${RPS[$s]}" "${RPS[health]}")"
  done
}
seed_how="through POST /tenants/$TENANT/corpus, $SEED_IN_FLIGHT_USED in flight"
[[ $SEED_VIA == api ]] || seed_how="through one CSV import"
FACTS=(
  "date: $DATE; commit: $COMMIT$DIRTY"
  "machine: $MACHINE"
  "load: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --timeout 10s --latency (writes: -c$WRITE_CONNECTIONS), loopback, client and server on the same CPUs"
  "corpus: $ENTRIES entries, ~$AVG_BYTES content bytes each; $STORE_WORD $DATA_MIB MiB after seeding"
  "seed: $SEED_SECONDS s, $SEED_RATE entries/s ($seed_how)"
  "start-up with the full corpus: $FULL_STARTUP_MS ms to first /health 200 after a clean stop taking $SEED_STOP_MS ms (empty store: $FIRST_STARTUP_MS ms)"
  "RSS: $RSS_START MiB after start-up, $RSS_EACH MiB after the load ($RSS_SPLIT)"
  "CSV import: $IMPORT_NOTE"
  "$NEEDLE_CHECK"
)
[[ -z $PROFILE_NOTE ]] || FACTS+=("profiles: $PROFILE_NOTE")
[[ -z ${PERF_STARTUP_MS:-} ]] || FACTS+=("start-up under perf record (profile below, not a measurement): $PERF_STARTUP_MS ms")

md_table() { sed 's/\t/ | /g; s/^/| /; s/$/ |/'; }
report() { # report WITH_RAW
  echo "# Animam benchmark results"
  echo
  echo "Written by \`bash bench/run.sh\` (see bench/README.md); each run overwrites this file and"
  echo "archives a copy with the raw wrk output in bench/out/."
  echo
  printf -- '- %s\n' "${FACTS[@]:0:3}"
  echo
  echo "## Targets"
  echo
  echo "| scenario | figure | target | result |"
  echo "|---|---|---|---|"
  printf '%s\n' "${TARGETS[@]}" | md_table
  echo
  echo "## Load (wrk)"
  echo
  printf '| %s ' "${HEADER[@]}"
  echo "|"
  printf '|---%.0s' "${HEADER[@]}"
  echo "|"
  rows | md_table
  echo
  echo "For the POST row, req/s counts every answer; only 201s count in the target row."
  echo
  echo "## Other figures"
  echo
  printf -- '- %s\n' "${FACTS[@]:3}"
  for s in "${SCENARIOS[@]}"; do
    [[ -z ${FIRST_ERROR[$s]} ]] || echo "- first error (${LABEL[$s]}): \`${FIRST_ERROR[$s]}\`"
  done
  if ((${#PROFILES[@]})); then
    echo
    echo "## CPU profiles ($([[ $PROFILE == all ]] && echo "every target" || echo "failed targets"))"
    echo
    echo "perf record --call-graph dwarf -F 199 on the server process while the scenario runs again"
    echo "for ${PROFILE_SECONDS}s (not during the measured run); full data in bench/out/perf-<stamp>-<name>.data."
    for p in "${PROFILES[@]}"; do
      echo
      echo "### $p"
      echo
      echo '```'
      cat "$TMP/profile-$p.txt"
      echo '```'
    done
  fi
  if [[ $1 == 1 ]]; then
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
  fi
}

{
  echo
  printf '%s\t' scenario figure target result
  echo
  printf '%s\n' "${TARGETS[@]}"
} | column -t -s $'\t'
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

mkdir -p "$BENCH_DIR/out"
SUFFIX=""
[[ -z ${BENCH_RESULTS_MD:-} ]] || SUFFIX=-$ONE
MD=$BENCH_DIR/out/results-$STAMP$SUFFIX.md
RESULTS_MD=${BENCH_RESULTS_MD:-$BENCH_DIR/results.md}
report 1 >"$MD"
report 0 >"$RESULTS_MD"
# For the driver's comparison table: key<TAB>value.
if [[ -n ${BENCH_SUMMARY:-} ]]; then
  {
    for s in "${SCENARIOS[@]}"; do
      printf 'label:%s\t%s\n' "$s" "${LABEL[$s]}"
      printf 'conns:%s\t%s\n' "$s" "${CONNS[$s]}"
      printf 'rps:%s\t%s\n' "$s" "${RPS[$s]}"
      printf 'created:%s\t%s\n' "$s" "${CREATED[$s]}"
      printf 'p99:%s\t%s\n' "$s" "$(ms "${P99[$s]}")"
      printf 'errors:%s\t%s\n' "$s" "$((NON2XX[$s] + SOCKERR[$s]))"
    done
    printf 'import\t%s\n' "${IMPORT_RATE:-${IMPORT_NOTE:0:40}}"
    printf 'seed\t%s\n' "$SEED_RATE"
    printf 'startup\t%s\n' "$FULL_STARTUP_MS"
    printf 'rss\t%s\n' "$RSS_EACH"
    printf 'store\t%s\n' "$DATA_MIB"
    printf 'needle\t%s\n' "${NEEDLE_CHECK#needle check: }"
  } >"$BENCH_SUMMARY"
fi
for p in "${PROFILES[@]}"; do
  cp "$TMP/profile-$p.txt" "$BENCH_DIR/out/profile-$STAMP-$p.txt"
  cp "$TMP/perf-$p.data" "$BENCH_DIR/out/perf-$STAMP-$p.data" 2>/dev/null || true
done
echo
echo "written to ${RESULTS_MD#"$ROOT"/} and ${MD#"$ROOT"/}"
