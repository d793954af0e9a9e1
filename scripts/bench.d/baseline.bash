# Sourced by scripts/bench: --baseline REV, the mcp-oauth of an earlier
# revision measured beside the current tree's in one run.
#
# REV is checked out with `git worktree add --detach` into the work folder
# (removed again at exit) and built in release under `nice`, in a target
# folder of its own under the bench cache, so the two builds never share
# one. Its binaries are kept in $CACHE/baseline/<commit> (what --no-build
# uses). Its `mcp-oauth` runs in the same loops as the current one, each of
# its runs right after the current's (base-ping after ours-ping, base-proxy
# after ours-proxy), with a token cache of its own. The in-process bench
# alternates: current, baseline, current, baseline...
#
# Uses the bench's variables (REPO_ROOT, WORK, RES, CACHE, BUILD, INPROCESS,
# CALLS, ROUNDS, BASELINE, INPROCESS_RUNS) and functions (log, die, stats,
# rss, classify, requests_cell, label, loadavg, run_inprocess).

# shellcheck disable=SC2034 # BASE_MCP_OAUTH is for the bench's argv
BASELINE_COMMIT=""
BASELINE_SHORT=""
BASELINE_TREE="" # the worktree, while it exists
BASE_MCP_OAUTH=""
BASE_INPROC_BIN=""
BASE_INPROC_NOTE="" # why the in-process bench runs without the baseline
CURRENT_DESC=""

# baseline_resolve: checks REV, names both sides, and puts the baseline's
# clients into RUN_CLIENTS, each right after the current one's.
baseline_resolve() {
  BASELINE_COMMIT=$(git -C "$REPO_ROOT" rev-parse --verify --quiet "$BASELINE^{commit}") ||
    die "--baseline $BASELINE: no such revision"
  BASELINE_SHORT=$(git -C "$REPO_ROOT" rev-parse --short "$BASELINE_COMMIT")
  CURRENT_DESC="working tree at $(git -C "$REPO_ROOT" rev-parse --short HEAD)"
  if [[ -n $(timeout 60 git -C "$REPO_ROOT" status --porcelain --untracked-files=no 2>/dev/null || echo '?') ]]; then
    CURRENT_DESC+=" with uncommitted changes"
  fi
  ((BUILD)) || CURRENT_DESC="the binary already built, not rebuilt (--no-build); the $CURRENT_DESC"
  local client
  RUN_CLIENTS=()
  for client in "${CLIENTS[@]}"; do
    RUN_CLIENTS+=("$client")
    case $client in
      ours-ping) RUN_CLIENTS+=(base-ping) ;;
      ours-proxy) RUN_CLIENTS+=(base-proxy) ;;
    esac
  done
}

baseline_cleanup() {
  [[ -n $BASELINE_TREE ]] || return 0
  if ! timeout 60 git -C "$REPO_ROOT" worktree remove --force "$BASELINE_TREE" </dev/null >/dev/null 2>&1; then
    log "bench: could not remove the worktree $BASELINE_TREE (\`git worktree prune\` forgets it once it is gone)"
  fi
  BASELINE_TREE=""
}

baseline_build() {
  local keep="$CACHE/baseline/$BASELINE_COMMIT" target="$CACHE/baseline-target"
  local cargo=(nice -n 10 cargo) bin
  if ((BUILD)); then
    BASELINE_TREE="$WORK/baseline-src"
    log "checking out $BASELINE ($BASELINE_SHORT) into $BASELINE_TREE"
    timeout 300 git -C "$REPO_ROOT" worktree add --detach --quiet "$BASELINE_TREE" "$BASELINE_COMMIT" \
      </dev/null >"$WORK/baseline-worktree.log" 2>&1 ||
      { cat "$WORK/baseline-worktree.log" >&2; die "git worktree add $BASELINE_SHORT failed"; }
    log "building mcp-oauth $BASELINE_SHORT (release) in $target"
    (cd -- "$BASELINE_TREE" && CARGO_TARGET_DIR=$target "${cargo[@]}" build --release --locked -p mcp-oauth-cli) </dev/null >/dev/null 2>"$WORK/baseline-build.log" ||
      { tail -n 40 "$WORK/baseline-build.log" >&2; die "cargo build of $BASELINE_SHORT failed"; }
    mkdir -p -- "$keep"
    cp -f -- "$target/release/mcp-oauth" "$keep/mcp-oauth"
    if ((INPROCESS)); then
      rm -f -- "$keep/auth_overhead"
      if [[ ! -f $BASELINE_TREE/crates/mcp-oauth/benches/auth_overhead.rs ]]; then
        BASE_INPROC_NOTE="$BASELINE_SHORT has no crates/mcp-oauth/benches/auth_overhead.rs"
      # As cargo bench builds it, like the current tree's (a revision without
      # a [profile.bench] gets its release profile, as cargo does).
      elif (cd -- "$BASELINE_TREE" && CARGO_TARGET_DIR=$target "${cargo[@]}" build --profile bench --locked -p mcp-oauth \
          --bench auth_overhead --message-format=json-render-diagnostics \
          >"$WORK/baseline-bench-build.json") </dev/null 2>>"$WORK/baseline-build.log"; then
        bin=$(grep '"name":"auth_overhead"' "$WORK/baseline-bench-build.json" |
          sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
        if [[ -n $bin && -x $bin ]]; then
          cp -f -- "$bin" "$keep/auth_overhead"
        else
          BASE_INPROC_NOTE="the build of $BASELINE_SHORT's auth_overhead bench left no binary"
        fi
      else
        BASE_INPROC_NOTE="the build of $BASELINE_SHORT's auth_overhead bench failed: $(tail -n 1 "$WORK/baseline-build.log")"
      fi
    fi
  fi
  [[ -x $keep/mcp-oauth ]] || die "no mcp-oauth built from $BASELINE_SHORT in $keep (run without --no-build)"
  BASE_MCP_OAUTH="$keep/mcp-oauth"
  if ((INPROCESS)); then
    if [[ -x $keep/auth_overhead ]]; then
      BASE_INPROC_BIN="$keep/auth_overhead"
    elif [[ -z $BASE_INPROC_NOTE ]]; then
      BASE_INPROC_NOTE="no auth_overhead bench of $BASELINE_SHORT in $keep (run without --no-build)"
    fi
    [[ -z $BASE_INPROC_NOTE ]] || log "bench: in process without the baseline: $BASE_INPROC_NOTE"
  fi
}

# --- in process -------------------------------------------------------------

# Current, baseline, current, baseline...: INPROCESS_RUNS runs each; one
# run of the current alone when the baseline has no bench. The first
# current run is also the one the usual in-process section shows.
baseline_inprocess() {
  local k runs=1
  [[ -z $BASE_INPROC_BIN ]] || runs=$INPROCESS_RUNS
  for ((k = 1; k <= runs; k++)); do
    run_inprocess "$INPROC_BIN" "$RES/inprocess.cur.$k" "current, run $k of $runs" || true
    loadavg >"$RES/inprocess.cur.$k.load"
    if [[ -n $BASE_INPROC_BIN ]]; then
      run_inprocess "$BASE_INPROC_BIN" "$RES/inprocess.base.$k" "baseline $BASELINE_SHORT, run $k of $runs" || true
      loadavg >"$RES/inprocess.base.$k.load"
    fi
  done
  if [[ -s $RES/inprocess.cur.1.out ]]; then
    cp -f -- "$RES/inprocess.cur.1.out" "$RES/inprocess.out"
  fi
}

# inproc_fields FILE: "OAuth% bearer% layer% control% oauth_ms rmcp_ms" from
# the bench's result line, or nothing when it has none in that format.
inproc_fields() {
  local line
  line=$(grep '^result ' "$1" 2>/dev/null | tail -n 1 || true)
  [[ -n $line ]] || return 0
  awk -v l=" $line " '
    function f(k) {
      if (match(l, " " k "=[0-9.]+ ")) return substr(l, RSTART + length(k) + 2, RLENGTH - length(k) - 3)
      return ""
    }
    BEGIN {
      o = f("oauth_paired"); b = f("bearer_paired"); y = f("layer_paired"); c = f("rmcp2_paired")
      om = f("oauth_ms"); rm = f("rmcp_ms")
      if (o == "" || b == "" || y == "" || c == "") exit
      printf "%+.1f %+.1f %+.1f %+.1f %s %s\n", (o - 1) * 100, (b - 1) * 100, (y - 1) * 100, (c - 1) * 100,
        (om == "" ? "-" : om), (rm == "" ? "-" : rm)
    }'
}

ip_row() { printf '%-4s %-22s %8s %16s %8s %10s %9s %9s  %s\n' "$@"; }

print_baseline_inprocess() {
  printf '\n== in process, current and baseline alternating: %s concurrent call_tool x %s rounds a run\n' "$CALLS" "$ROUNDS"
  printf 'paired medians over rmcp with a static header; control: a second rmcp client (the noise floor of the run)\n'
  if [[ -n $BASE_INPROC_NOTE ]]; then
    printf 'no baseline here: %s\n' "$BASE_INPROC_NOTE"
  fi
  ip_row run revision "OAuth %" "static bearer %" "layer %" "control %" "oauth ms" "rmcp ms" "load after"
  local k side name f fields all=""
  for k in $(seq 1 "$INPROCESS_RUNS"); do
    for side in cur base; do
      f="$RES/inprocess.$side.$k.out"
      [[ -e $f ]] || continue
      if [[ $side == cur ]]; then name="current"; else name="baseline $BASELINE_SHORT"; fi
      fields=$(inproc_fields "$f")
      if [[ -z $fields ]]; then
        if [[ -s $f ]]; then
          printf '%-4s %-22s no result line in the expected format: skipped\n' "$k" "$name"
        else
          printf '%-4s %-22s failed: %s\n' "$k" "$name" "$(tail -n 1 "$RES/inprocess.$side.$k.err" 2>/dev/null)"
        fi
        continue
      fi
      # shellcheck disable=SC2086 # fields: six words
      ip_row "$k" "$name" $fields "$(cat "$RES/inprocess.$side.$k.load" 2>/dev/null || echo -)"
      all+="$side $fields"$'\n'
    done
  done
  [[ -n $all ]] || return 0
  # The median of the runs, per column and revision.
  local row
  while IFS=$'\t' read -r -a row; do
    ip_row "${row[@]}"
  done < <(printf '%s' "$all" | awk -v bname="baseline $BASELINE_SHORT" '
    { n[$1]++; for (i = 2; i <= 7; i++) v[$1, i, n[$1]] = $i }
    function med(s, i,   a, k, j, t, m) {
      m = n[s]
      for (k = 1; k <= m; k++) a[k] = v[s, i, k]
      for (k = 2; k <= m; k++) { t = a[k]; for (j = k - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    END {
      for (s = 0; s < 2; s++) {
        side = s ? "base" : "cur"
        if (!(side in n) || n[side] < 2) continue
        printf "med\t%s\t%+.1f\t%+.1f\t%+.1f\t%+.1f\t%.2f\t%.2f\t(median of %d runs)\n", (s ? bname : "current"),
          med(side, 2), med(side, 3), med(side, 4), med(side, 5), med(side, 6), med(side, 7), n[side]
      }
    }')
}

# --- whole processes --------------------------------------------------------

# bl_time KEY: "median (min-max)" in ms, or "-".
bl_time() {
  local m lo hi
  read -r m lo hi < <(stats "$1")
  if [[ $m == - ]]; then echo "-"; else echo "$m ($lo-$hi)"; fi
}

# bl_runs KEY: the runs in the figures, and the failed ones.
bl_runs() {
  local n=0 failed=""
  [[ -f $RES/$1.ms ]] && n=$(wc -l <"$RES/$1.ms")
  [[ -s $RES/$1.failed ]] && failed="+$(wc -l <"$RES/$1.failed")F"
  echo "$n$failed"
}

bl_req() {
  if [[ -f $RES/$1.req ]]; then requests_cell "$RES/$1.req"; else echo "-"; fi
}

bl_req_total() {
  local t
  [[ -f $RES/$1.req ]] || { echo "-"; return; }
  read -r t _ < <(classify "$RES/$1.req")
  echo "$t"
}

# bl_ratio A B: A / B to two places, or "-".
bl_ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && b + 0 > 0) printf "%.2f\n", a / b; else print "-" }'
}

# The requests of one counted run as one line, for comparing the revisions.
bl_req_line() {
  awk '{ r = ($3 == "-") ? "" : " " $3; printf "%s%s %s%s %s", (NR > 1 ? "; " : ""), $1, $2, r, $4 }' "$1"
}

bl_row() { printf '%-38s %-22s %-22s %9s  %s\n' "$@"; }

print_baseline_table() {
  local server=$1 row kind what phase cur base a b
  printf '\n== %s: mcp-oauth, current (%s) / baseline %s (%s)\n' "$server" "$CURRENT_DESC" "$BASELINE" "$BASELINE_COMMIT"
  bl_row figure current baseline "cur/base" "runs cur/base (+nF: failed)"
  for row in time:ping:warm time:ping:cold time:proxy:warm time:proxy:cold \
    rss:ping:warm rss:ping:cold rss:proxy:warm rss:proxy:cold \
    req:ping:warm req:ping:cold req:proxy:warm req:proxy:cold; do
    IFS=: read -r kind what phase <<<"$row"
    cur="$server.ours-$what.$phase"
    base="$server.base-$what.$phase"
    case $kind in
      time)
        read -r a _ < <(stats "$cur")
        read -r b _ < <(stats "$base")
        bl_row "$phase $what ms, median (min-max)" "$(bl_time "$cur")" "$(bl_time "$base")" \
          "$(bl_ratio "$a" "$b")" "$(bl_runs "$cur") / $(bl_runs "$base")"
        ;;
      rss)
        a=$(rss "$cur")
        b=$(rss "$base")
        bl_row "peak RSS MiB, $what $phase (median)" "$a" "$b" "$(bl_ratio "$a" "$b")" ""
        ;;
      req)
        bl_row "requests, $what $phase (counted run)" "$(bl_req "$cur")" "$(bl_req "$base")" \
          "$(bl_ratio "$(bl_req_total "$cur")" "$(bl_req_total "$base")")" ""
        ;;
    esac
  done
  printf '(ping: mcp-oauth ping; proxy: mcp-oauth proxy behind the stdio host, RSS the larger of the two)\n'
  local differ=0
  for what in ping proxy; do
    for phase in cold warm; do
      cur="$RES/$server.ours-$what.$phase.req"
      base="$RES/$server.base-$what.$phase.req"
      [[ -f $cur && -f $base ]] || continue
      # The same requests in another order (a proxy's GET stream and its
      # ping are under way together) are no difference.
      if [[ $(sort "$cur") != "$(sort "$base")" ]]; then
        differ=1
        printf '%s %s, baseline: %s\n' "$phase" "$what" "$(bl_req_line "$base")"
      fi
    done
  done
  ((differ)) || printf 'the baseline sent the same requests as the current tree in every counted run (order aside)\n'
}

print_baseline_header() {
  local size
  size=$(stat -c %s "$BASE_MCP_OAUTH")
  local name=$BASELINE
  [[ $BASELINE == "$BASELINE_SHORT" ]] || name+=" = $BASELINE_SHORT"
  printf 'baseline: %s "%s", mcp-oauth %s, release binary %.1f MiB (%s bytes); current: %s\n' \
    "$name" "$(git -C "$REPO_ROOT" log -1 --format=%s "$BASELINE_COMMIT" | cut -c1-60)" \
    "$("$BASE_MCP_OAUTH" --version 2>/dev/null | awk '{ print $NF }')" \
    "$(awk -v s="$size" 'BEGIN { print s / 1048576 }')" "$size" "$CURRENT_DESC"
  printf 'each baseline run right after the current one in the same loop; ratios current/baseline (< 1: current smaller)\n'
}
