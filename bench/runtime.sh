#!/usr/bin/env bash
# Side-by-side benchmark of berth-runtime, crun and runc on one busybox bundle
# (issues 2 and 3, "Speed"). See bench/README.md for what each row measures.
#
# Everything runs in ONE invocation, on the SAME rootfs, inside the SAME kind of
# private mount namespace (with /sys/fs/cgroup/unified unmounted: crun 1.8
# refuses hybrid cgroup hosts), under a shell that is a child subreaper (so
# detached containers are reaped at once, not by a slow PID 1). Each runtime
# gets its own --root; every container id starts with "bt<pid>" and every
# container lives in cgroup /bt-bench/<id>. Everything is removed at exit.
set -Eeuo pipefail
export LC_ALL=C
trap 'echo "runtime.sh: line $LINENO: exit status $? from: $BASH_COMMAND" >&2' ERR

SCRIPT=$(readlink -f "$0")
REPO=$(cd "$(dirname "$SCRIPT")/.." && pwd)
RUNTIMES=(berth crun runc)

usage() {
	cat <<'EOF'
usage: bench/runtime.sh [--quick] [--no-limits] [--strace] [--profile] [--help]

Benchmarks berth-runtime against crun and runc on one busybox bundle and prints
tables with ratios berth/crun and berth/runc. Needs root.

  --quick      few iterations (a smoke test; the figures are noisy)
  --strace     also print `strace -f -c` syscall summaries of one `run` each
  --profile    also profile `run` with `perf record -e cpu-clock` (linux-perf):
               CPU per run split kernel/user and by syscall (inclusive)
  --no-limits  skip the second pass (memory + pids limits in the spec)
  --help       this text

Environment:
  BERTH_RUNTIME  berth-runtime binary (default: the static build scripts/build.sh
                 makes, target/static/<arch>-unknown-linux-gnu/release/berth-runtime;
                 a dynamically linked binary is refused unless BT_ALLOW_DYNAMIC=1)
  CRUN, RUNC     crun and runc binaries (default: from PATH)
  BT_HANG_SECS   a runtime call running longer is reported and killed (30); any
                 such kill fails the benchmark (exit 1)
EOF
}

die() {
	echo "runtime.sh: $*" >&2
	exit 1
}

# Runs "$@" in a private mount namespace without the cgroup2 mount of a hybrid
# host (crun 1.8 refuses hybrid hosts; every runtime gets the same treatment).
in_ns() {
	unshare -m --propagation private sh -c \
		'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 1; fi; exec "$@"' \
		ns "$@"
}

# ---------------------------------------------------------------------------
# Inner part: runs inside the namespace, as a subreaper, and measures.
# ---------------------------------------------------------------------------

inner_main() {
	WORK=$BT_WORK
	TAG=$BT_TAG
	declare -gA BIN=([berth]=$BT_BERTH [crun]=$BT_CRUN [runc]=$BT_RUNC)
	if ((BT_QUICK)); then
		N_RUN=10 HF_RUNS=5 HF_WARMUP=1 N_LIFE=5 N_EXEC=10 N_DEL=3 N_RSS=2 N_DETACHED=10 ROUNDS=1
	else
		N_RUN=100 HF_RUNS=40 HF_WARMUP=5 N_LIFE=50 N_EXEC=100 N_DEL=15 N_RSS=5 N_DETACHED=50 ROUNDS=5
	fi
	# A FIFO nobody writes to: `read -t` on it sleeps without a fork.
	mkfifo "$WORK/sleep.fifo"
	# CPU[key] (ms), WALL[key] (us), CNT[key]: totals per "variant,metric,runtime";
	# VAL[key]: other results; FAIL[key]: why a measurement failed.
	declare -gA CPU=() WALL=() CNT=() VAL=() FAIL=()

	watchdog "$$" &
	local watchdog_pid=$!
	local variants=(plain) v
	if ((BT_LIMITS)); then variants+=(limits); fi
	for v in "${variants[@]}"; do
		measure_variant "$v"
		print_table "$v"
	done
	if ((BT_STRACE)); then strace_compare; fi
	if ((BT_PROFILE)); then profile_compare; fi
	kill "$watchdog_pid" 2>/dev/null || true
	wait "$watchdog_pid" 2>/dev/null || true
	if [[ -s $WORK/watchdog.kills ]]; then
		echo
		echo "runtime.sh: the watchdog killed runtime call(s), so the figures above are not to be trusted:" >&2
		sed 's/^/  /' "$WORK/watchdog.kills" >&2
		exit 1
	fi
	if ((${#FAIL[@]})); then
		echo
		echo "runtime.sh: ${#FAIL[@]} measurement(s) FAILED (variant,metric,runtime): ${!FAIL[*]}" >&2
		exit 1
	fi
}

# Kills any runtime call of this benchmark (found by its --root under $WORK)
# that runs longer than BT_HANG_SECS, after printing where it is stuck, so a
# hang becomes a FAIL cell instead of a benchmark that never ends. The age
# of a call is counted here, from when the watchdog first saw that process
# (pid and start time), never from `ps -o etimes`: ps computes it from the
# boot time and the process's start, and for a process that starts while
# ps reads /proc that difference can wrap (a live call once read 4123168608 s
# and was killed). Every kill is written to $WORK/watchdog.kills, and
# inner_main fails the benchmark when that file exists.
watchdog() {
	local parent=$1 limit=${BT_HANG_SECS:-30} d pid stat start key age args
	local -A first_seen=()
	local -a argv
	while sleep 2; do
		kill -0 "$parent" 2>/dev/null || exit 0
		local -A alive=()
		for d in /proc/[0-9]*; do
			pid=${d#/proc/}
			# Braced: a process gone meanwhile fails the redirection itself.
			{ mapfile -d '' argv <"$d/cmdline"; } 2>/dev/null || continue
			args=${argv[*]}
			[[ " $args " == *" --root $WORK/root-"* ]] || continue
			{ read -r stat <"$d/stat"; } 2>/dev/null || continue
			# Field 22 (start time), counted after the ")" that ends the name.
			stat=${stat##*) }
			read -r -a argv <<<"$stat"
			start=${argv[19]:-0}
			key=$pid:$start
			alive[$key]=1
			[[ -n ${first_seen[$key]:-} ]] || first_seen[$key]=$SECONDS
			age=$((SECONDS - first_seen[$key]))
			((age > limit)) || continue
			{
				echo "runtime.sh: watchdog: runtime call hung for over ${age}s (pid $pid), killing it:"
				echo "  $args"
				echo "  state: $(awk '/^State:/ {print $2, $3}' "/proc/$pid/status" 2>/dev/null)," \
					"wchan: $(cat "/proc/$pid/wchan" 2>/dev/null)," \
					"blocked signals: $(awk '/^SigBlk:/ {print $2}' "/proc/$pid/status" 2>/dev/null)"
				ps --ppid "$pid" -o pid=,stat=,args= 2>/dev/null | sed 's/^/  child: /'
			} >&2
			echo "pid $pid after ${age}s: $args" >>"$WORK/watchdog.kills"
			kill -KILL "$pid" 2>/dev/null || true
		done
		for key in "${!first_seen[@]}"; do
			[[ -n ${alive[$key]:-} ]] || unset "first_seen[$key]"
		done
		unset alive
	done
}

# Creates bundle $WORK/bundles/<id> for container <id>: the shared rootfs, the
# given process args (a JSON array), cgroupsPath /bt-bench/<id>, and with
# variant "limits" a memory limit of 256 MiB and a pids limit of 128.
mkbundle() {
	local id=$1 args=$2 variant=$3 dir=$WORK/bundles/$1 limits=false
	[[ $variant == limits ]] && limits=true
	mkdir -p "$dir"
	jq --arg root "$WORK/rootfs" --argjson args "$args" --arg cg "/bt-bench/$id" \
		--argjson limits "$limits" '
		.root.path = $root | .process.terminal = false | .process.args = $args
		| .linux.cgroupsPath = $cg
		| if $limits then
			.linux.resources.memory = {limit: 268435456}
			| .linux.resources.pids = {limit: 128}
		  else . end' "$WORK/base.json" >"$dir/config.json" || die "jq failed making $dir"
}

# bundle ID ARGS VARIANT: sets BUNDLE, making it on first use.
bundle() {
	BUNDLE=$WORK/bundles/$1
	[[ -d $BUNDLE ]] || mkbundle "$@"
}

# rt NAME ARGS...: runs runtime NAME with its private --root.
rt() {
	local n=$1
	shift
	"${BIN[$n]}" --root "$WORK/root-$n" "$@"
}

# Runs a command with stdio on files (detached containers inherit them and
# must not hold a pipe); on failure prints the command and its output.
q() {
	if ! "$@" </dev/null >"$WORK/out" 2>&1; then
		echo "runtime.sh: command failed: $*" >&2
		sed 's/^/  | /' "$WORK/out" >&2
		return 1
	fi
}

# Sets CHILD_MS to the user+sys CPU (ms) of all children this shell has
# reaped, without forking (a fork would itself add to the figure).
child_cpu() {
	local line
	times >"$WORK/times"
	{
		read -r line
		read -r line
	} <"$WORK/times"
	[[ $line =~ ^([0-9]+)m([0-9]+)\.([0-9]{3})s\ ([0-9]+)m([0-9]+)\.([0-9]{3})s$ ]] ||
		die "cannot parse bash's times output: $line"
	local r=("${BASH_REMATCH[@]}")
	CHILD_MS=$(((10#${r[1]} + 10#${r[4]}) * 60000 + (10#${r[2]} + 10#${r[5]}) * 1000 + 10#${r[3]} + 10#${r[6]}))
}

now_us() { NOW_US=${EPOCHREALTIME/./}; }

# read_pid FILE: sets PID from a pid file (runtimes write it without a newline).
read_pid() {
	PID=
	read -r PID <"$1" || true
	[[ $PID =~ ^[0-9]+$ ]] || {
		echo "runtime.sh: bad pid file $1: '$PID'" >&2
		return 1
	}
}

# Waits until process $1 is gone, without a fork and without spinning: this
# shell is a subreaper, so it reaps an orphaned container init itself.
wait_gone() {
	local pid=$1 polls=0
	while [[ -e /proc/$pid ]]; do
		read -r -t 0.001 _ <>"$WORK/sleep.fifo" || true
		if ((++polls > 20000)); then
			echo "runtime.sh: container process $pid did not exit" >&2
			return 1
		fi
	done
}

# account KEY CPU_MS WALL_US COUNT: adds to the totals of KEY.
account() {
	CPU[$1]=$((${CPU[$1]:-0} + $2))
	WALL[$1]=$((${WALL[$1]:-0} + $3))
	CNT[$1]=$((${CNT[$1]:-0} + $4))
}

# The measured loops: NAME VARIANT COUNT. Each brackets only runtime calls
# with child_cpu/now_us. Called in `if` context (errexit is off there), so
# every step checks its own status.

loop_run() { # `run` of /bin/true
	local n=$1 v=$2 k=$3 id=bt${TAG}${2:0:1}-$1-run i c0 t0
	bundle "$id" '["/bin/true"]' "$v"
	child_cpu && c0=$CHILD_MS && now_us && t0=$NOW_US
	for ((i = 0; i < k; i++)); do
		q rt "$n" run --bundle "$BUNDLE" "$id" || return 1
	done
	child_cpu && now_us
	account "$v,run,$n" $((CHILD_MS - c0)) $((NOW_US - t0)) "$k"
}

loop_life() { # create + start + wait for exit + delete, of /bin/true
	local n=$1 v=$2 k=$3 id=bt${TAG}${2:0:1}-$1-life i c0 t0
	bundle "$id" '["/bin/true"]' "$v"
	child_cpu && c0=$CHILD_MS && now_us && t0=$NOW_US
	for ((i = 0; i < k; i++)); do
		q rt "$n" create --bundle "$BUNDLE" --pid-file "$WORK/$id.pid" "$id" || return 1
		read_pid "$WORK/$id.pid" || return 1
		q rt "$n" start "$id" || return 1
		wait_gone "$PID" || return 1
		q rt "$n" delete "$id" || return 1
	done
	child_cpu && now_us
	account "$v,life,$n" $((CHILD_MS - c0)) $((NOW_US - t0)) "$k"
}

# start_sleeper NAME ID VARIANT: create + start a container running sleep; sets PID.
start_sleeper() {
	local n=$1 id=$2 v=$3
	bundle "$id" '["/bin/sleep", "3600"]' "$v"
	q rt "$n" create --bundle "$BUNDLE" --pid-file "$WORK/$id.pid" "$id" || return 1
	read_pid "$WORK/$id.pid" || return 1
	q rt "$n" start "$id" || return 1
}

loop_exec() { # exec /bin/true into a running container
	local n=$1 v=$2 k=$3 id=bt${TAG}${2:0:1}-$1-exec i c0 t0 pid
	start_sleeper "$n" "$id" "$v" || return 1
	pid=$PID
	child_cpu && c0=$CHILD_MS && now_us && t0=$NOW_US
	for ((i = 0; i < k; i++)); do
		q rt "$n" exec "$id" /bin/true || return 1
	done
	child_cpu && now_us
	account "$v,exec,$n" $((CHILD_MS - c0)) $((NOW_US - t0)) "$k"
	q rt "$n" delete --force "$id" || return 1
	wait_gone "$pid"
}

loop_delete() { # delete --force of a running sleep container (one timed call each)
	local n=$1 v=$2 k=$3 id=bt${TAG}${2:0:1}-$1-del i c0 t0 pid
	for ((i = 0; i < k; i++)); do
		start_sleeper "$n" "$id" "$v" || return 1
		pid=$PID
		child_cpu && c0=$CHILD_MS && now_us && t0=$NOW_US
		q rt "$n" delete --force "$id" || return 1
		child_cpu && now_us
		account "$v,del,$n" $((CHILD_MS - c0)) $((NOW_US - t0)) 1
		VAL[$v,del_list,$n]+="$((NOW_US - t0)) "
		wait_gone "$pid" || return 1
	done
}

# COUNT detached sleep containers by `run --detach`, then `delete --force` of
# all of them (timed separately).
loop_detached() {
	local n=$1 v=$2 k=$3 i c0 t0 ids=() pids=()
	for ((i = 0; i < k; i++)); do
		ids+=("bt${TAG}${v:0:1}-$n-d$i")
		bundle "${ids[i]}" '["/bin/sleep", "3600"]' "$v"
	done
	child_cpu && c0=$CHILD_MS && now_us && t0=$NOW_US
	for ((i = 0; i < k; i++)); do
		q rt "$n" run --detach --pid-file "$WORK/${ids[i]}.pid" --bundle "$WORK/bundles/${ids[i]}" "${ids[i]}" ||
			return 1
	done
	child_cpu && now_us
	account "$v,d50,$n" $((CHILD_MS - c0)) $((NOW_US - t0)) 1
	for ((i = 0; i < k; i++)); do
		read_pid "$WORK/${ids[i]}.pid" || return 1
		pids[i]=$PID
		if [[ ! -e /proc/$PID ]]; then
			echo "runtime.sh: $n: detached container ${ids[i]} (pid $PID) is not running" >&2
			return 1
		fi
	done
	child_cpu && c0=$CHILD_MS && now_us && t0=$NOW_US
	for ((i = 0; i < k; i++)); do
		q rt "$n" delete --force "${ids[i]}" || return 1
	done
	child_cpu && now_us
	account "$v,d50del,$n" $((CHILD_MS - c0)) $((NOW_US - t0)) 1
	for ((i = 0; i < k; i++)); do wait_gone "${pids[i]}" || return 1; done
}

# Peak RSS (KiB, max over COUNT) of one `run` of /bin/true, by /usr/bin/time:
# the maximum over the call and everything it waited for, and over both
# images of a memfd re-exec (the kernel keeps the high-water mark over exec).
measure_rss() {
	local n=$1 v=$2 k=$3 id=bt${TAG}${2:0:1}-$1-run i kib max=0
	bundle "$id" '["/bin/true"]' "$v"
	for ((i = 0; i < k; i++)); do
		q /usr/bin/time -o "$WORK/rss" -f %M "${BIN[$n]}" --root "$WORK/root-$n" run --bundle "$BUNDLE" "$id" ||
			return 1
		read -r kib <"$WORK/rss" || return 1
		if ((kib > max)); then max=$kib; fi
	done
	VAL[$v,rss,$n]=$max
}

# Wall time per `run` of /bin/true with hyperfine (its own warm-up and runs).
measure_hyperfine() {
	local n=$1 v=$2 id=bt${TAG}${2:0:1}-$1-run
	bundle "$id" '["/bin/true"]' "$v"
	q hyperfine -N --style none --warmup "$HF_WARMUP" --runs "$HF_RUNS" --export-json "$WORK/hf.json" \
		-n "$n" "${BIN[$n]} --root $WORK/root-$n run --bundle $BUNDLE $id" || return 1
	VAL[$v,hf,$n]=$(jq -r '.results[0] | [.mean, .stddev, .median, .max] | map(. * 10000 | round / 10)
		| "\(.[0]) ± \(.[1]) (median \(.[2]), max \(.[3]))"' "$WORK/hf.json")
	VAL[$v,hfmean,$n]=$(jq -r '.results[0].mean * 1000' "$WORK/hf.json")
}

# attempt METRIC NAME VARIANT FUNC ARGS...: runs one measurement unless it
# already failed for this runtime; on failure records it, says so, and
# force-deletes whatever that runtime still has, then the benchmark goes on.
attempt() {
	local metric=$1 n=$2 v=$3 d
	shift 3
	[[ -z ${FAIL[$v,$metric,$n]:-} ]] || return 0
	if ! "$@"; then
		FAIL[$v,$metric,$n]=1
		echo "runtime.sh: $n: \"$metric\" ($v) FAILED (details above); continuing without it" >&2
		for d in "$WORK/root-$n/bt$TAG"*; do
			[[ -d $d ]] || continue
			rt "$n" delete --force "${d##*/}" </dev/null >/dev/null 2>&1 || true
		done
	fi
}

measure_variant() {
	local v=$1 r n i order
	echo "== pass \"$v\": measuring ($ROUNDS round(s), runtime order rotates each round) ..." >&2
	for n in "${RUNTIMES[@]}"; do
		attempt run "$n" "$v" loop_run "$n" "$v" 2 # warm-up: page cache, bundle
	done
	for key in "${!CPU[@]}"; do
		[[ $key == "$v,"* ]] && unset "CPU[$key]" "WALL[$key]" "CNT[$key]"
	done
	for ((r = 0; r < ROUNDS; r++)); do
		order=()
		for ((i = 0; i < ${#RUNTIMES[@]}; i++)); do
			order+=("${RUNTIMES[(i + r) % ${#RUNTIMES[@]}]}")
		done
		for n in "${order[@]}"; do attempt run "$n" "$v" loop_run "$n" "$v" $((N_RUN / ROUNDS)); done
		for n in "${order[@]}"; do attempt life "$n" "$v" loop_life "$n" "$v" $((N_LIFE / ROUNDS)); done
		for n in "${order[@]}"; do attempt exec "$n" "$v" loop_exec "$n" "$v" $((N_EXEC / ROUNDS)); done
		for n in "${order[@]}"; do attempt del "$n" "$v" loop_delete "$n" "$v" $(((N_DEL + ROUNDS - 1) / ROUNDS)); done
	done
	echo "   hyperfine, peak RSS, $N_DETACHED detached containers ..." >&2
	for n in "${RUNTIMES[@]}"; do attempt hf "$n" "$v" measure_hyperfine "$n" "$v"; done
	for n in "${RUNTIMES[@]}"; do attempt rss "$n" "$v" measure_rss "$n" "$v" "$N_RSS"; done
	for n in "${RUNTIMES[@]}"; do attempt d50 "$n" "$v" loop_detached "$n" "$v" "$N_DETACHED"; done
}

# Median of the whitespace-separated numbers in $1.
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }

# fmt FORMAT EXPR [NAME=VALUE...]: evaluates an awk expression.
fmt() {
	local f=$1 e=$2 a=()
	shift 2
	for x in "$@"; do a+=(-v "$x"); done
	awk "${a[@]}" "BEGIN {printf \"$f\", $e}"
}

print_table() {
	local v=$1 n
	declare -A cell=()
	for n in "${RUNTIMES[@]}"; do
		if [[ -z ${FAIL[$v,run,$n]:-} ]]; then
			cell[cpu_run,$n]=$(fmt %.2f 'c / k' c="${CPU[$v,run,$n]}" k="${CNT[$v,run,$n]}")
		fi
		if [[ -z ${FAIL[$v,hf,$n]:-} ]]; then
			cell[wall_run,$n]=$(fmt %.1f m m="${VAL[$v,hfmean,$n]}")
		fi
		if [[ -z ${FAIL[$v,rss,$n]:-} ]]; then
			cell[rss,$n]=$(fmt %.2f 'k / 1024' k="${VAL[$v,rss,$n]}")
		fi
		if [[ -z ${FAIL[$v,life,$n]:-} ]]; then
			cell[cpu_life,$n]=$(fmt %.2f 'c / k' c="${CPU[$v,life,$n]}" k="${CNT[$v,life,$n]}")
			cell[wall_life,$n]=$(fmt %.1f 'w / k / 1000' w="${WALL[$v,life,$n]}" k="${CNT[$v,life,$n]}")
		fi
		if [[ -z ${FAIL[$v,exec,$n]:-} ]]; then
			cell[cpu_exec,$n]=$(fmt %.2f 'c / k' c="${CPU[$v,exec,$n]}" k="${CNT[$v,exec,$n]}")
			cell[wall_exec,$n]=$(fmt %.1f 'w / k / 1000' w="${WALL[$v,exec,$n]}" k="${CNT[$v,exec,$n]}")
		fi
		if [[ -z ${FAIL[$v,del,$n]:-} ]]; then
			cell[del,$n]=$(fmt %.1f 'm / 1000' m="$(median "${VAL[$v,del_list,$n]}")")
			cell[cpu_del,$n]=$(fmt %.2f 'c / k' c="${CPU[$v,del,$n]}" k="${CNT[$v,del,$n]}")
		fi
		if [[ -z ${FAIL[$v,d50,$n]:-} ]]; then
			cell[d50,$n]=$(fmt %.3f 'w / 1e6' w="${WALL[$v,d50,$n]}")
			cell[cpu_d50,$n]=$(fmt %.3f 'c / 1000' c="${CPU[$v,d50,$n]}")
			cell[d50del,$n]=$(fmt %.3f 'w / 1e6' w="${WALL[$v,d50del,$n]}")
		fi
	done
	echo
	if [[ $v == plain ]]; then
		echo "### Pass \"plain\": runc's default spec; process /bin/true (sleep 3600 where running)"
	else
		echo "### Pass \"limits\": the same plus linux.resources memory.limit 256 MiB and pids.limit 128"
	fi
	echo
	local line='|----------------------------------------------|----------:|----------:|----------:|-----------:|-----------:|-------------------|'
	printf '| %-44s | %9s | %9s | %9s | %10s | %10s | %-17s |\n' \
		"metric" berth crun runc berth/crun berth/runc "target"
	echo "$line"
	row cpu_run "run true: CPU user+sys per run (ms)" 0.8
	row wall_run "run true: wall per run, hyperfine mean (ms)" ""
	row rss "run true: peak RSS (MiB)" 1.0
	row cpu_life "create+start+wait+delete: CPU (ms)" ""
	row wall_life "create+start+wait+delete: wall (ms)" ""
	row cpu_exec "exec true: CPU per exec (ms)" ""
	row wall_exec "exec true: wall per exec (ms)" ""
	row del "delete --force of running: wall, median (ms)" 1.0
	row cpu_del "delete --force of running: CPU (ms)" ""
	row d50 "$N_DETACHED x run -d sleep: wall, total (s)" 1.0
	row cpu_d50 "$N_DETACHED x run -d sleep: CPU, total (s)" ""
	row d50del "delete --force of those $N_DETACHED: wall (s)" ""
	echo
	echo "hyperfine wall per run (ms, mean ± sd of $HF_RUNS): berth ${VAL[$v,hf,berth]:-FAIL};" \
		"crun ${VAL[$v,hf,crun]:-FAIL}; runc ${VAL[$v,hf,runc]:-FAIL}"
	echo "iterations per runtime: run ${CNT[$v,run,crun]:-0}, create+start+wait+delete ${CNT[$v,life,crun]:-0}," \
		"exec ${CNT[$v,exec,crun]:-0}, delete --force ${CNT[$v,del,crun]:-0}; RSS: max of $N_RSS runs"
}

# row KEY LABEL TARGET: one table line from cell[KEY,runtime]; TARGET is the
# largest allowed berth/crun ratio ("" for none).
row() {
	local b=${cell[$1,berth]:-FAIL} c=${cell[$1,crun]:-FAIL} r=${cell[$1,runc]:-FAIL}
	local rc=- rr=- target=""
	[[ $b != FAIL && $c != FAIL ]] && rc=$(fmt %.2fx 'b / c' b="$b" c="$c")
	[[ $b != FAIL && $r != FAIL ]] && rr=$(fmt %.2fx 'b / r' b="$b" r="$r")
	if [[ -n $3 ]]; then
		local what="<=crun"
		[[ $3 == 1.0 ]] || what="<=${3}x crun"
		if [[ $rc == - ]]; then
			target="$what: ?"
		else
			target="$what: $(fmt %s '(b <= t * c ? "ok" : "MISS")' b="$b" c="$c" t="$3")"
		fi
	fi
	printf '| %-44s | %9s | %9s | %9s | %10s | %10s | %-17s |\n' "$2" "$b" "$c" "$r" "$rc" "$rr" "$target"
}

# strace -f -c of one `run` of /bin/true per runtime: top syscalls by count
# and by (system) time.
strace_compare() {
	command -v strace >/dev/null || die "--strace needs strace (apt-get install strace)"
	local n id
	echo
	echo "### strace -f -c of one \`run\` of /bin/true (system time per syscall; strace inflates it)"
	for n in "${RUNTIMES[@]}"; do
		id=bt${TAG}p-$n-run
		bundle "$id" '["/bin/true"]' plain
		if ! q strace -f -c -o "$WORK/strace.$n" "${BIN[$n]}" --root "$WORK/root-$n" run --bundle "$BUNDLE" "$id"; then
			echo "runtime.sh: $n: strace run FAILED" >&2
			FAIL[plain,strace,$n]=1
			continue
		fi
		echo
		echo "#### $n: $(awk '$NF == "total" {print $4 " syscalls (" $5 + 0 " failed), " $2 " s"}' "$WORK/strace.$n")"
		echo
		echo '```'
		printf '%-40s   %s\n' "top by count: syscall calls seconds" "top by time: syscall calls seconds"
		paste -d'|' \
			<(awk 'NR > 2 && $1 !~ /^-/ && $NF != "total" {printf "%-22s %6d %9.6f\n", $NF, $4, $2}' "$WORK/strace.$n" | sort -k2,2nr | head -15) \
			<(awk 'NR > 2 && $1 !~ /^-/ && $NF != "total" {printf "%-22s %6d %9.6f\n", $NF, $4, $2}' "$WORK/strace.$n" | sort -k3,3nr | head -15) |
			sed 's/|/      /'
		echo '```'
	done
}

# perf record -e cpu-clock of a loop of `run`s of /bin/true per runtime (valgrind
# cannot follow the memfd/O_PATH re-exec of berth-runtime and crun, and VMs
# often lack hardware counters): CPU per run split by code (kernel, dynamic
# loader, libc, the runtime) and the kernel's main cost centres, inclusive.
profile_compare() {
	command -v perf >/dev/null || die "--profile needs perf (apt-get install linux-perf)"
	local n id k=$((N_RUN / 2)) freq=10000 comms all
	((k >= 20)) || k=20
	# kernel functions (+ separated, summed)|what they stand for (inclusive CPU;
	# rows overlap; frame-pointer call chains can miss some callers)
	local centres=(
		"copy_namespaces+unshare_nsproxy_namespaces|new namespaces (clone, unshare)"
		"setup_net|  of which the network namespace"
		"do_sendfile|sendfile (memfd copy of the binary)"
		"bprm_execve|execve, execveat"
		"path_mount|mount"
		"__x64_sys_umount|umount"
		"__do_sys_pivot_root|pivot_root"
		"cgroup_mkdir|cgroup mkdir"
		"cgroup_rmdir|cgroup rmdir"
		"kernfs_fop_write_iter|cgroup (kernfs) file writes"
		"__ext4_new_inode|new ext4 inodes (state dir, temp files)"
		"do_unlinkat|unlink"
		"vfs_mknod|mknod"
		"exit_mmap|address-space teardown (exit, exec)"
		"asm_exc_page_fault|page faults"
	)
	echo
	echo "### perf record -e cpu-clock -F $freq -g: CPU per \`run\` of /bin/true, $k runs (the loop's bash excluded; inclusive, rows overlap)"
	for n in "${RUNTIMES[@]}"; do
		id=bt${TAG}p-$n-run
		bundle "$id" '["/bin/true"]' plain
		# shellcheck disable=SC2016 # the loop's own arguments
		if ! q perf record -q -e cpu-clock -F "$freq" -g -o "$WORK/perf.$n" -- \
			bash -c 'for ((i = 0; i < $1; i++)); do "${@:2}" || exit 1; done' loop "$k" \
			"${BIN[$n]}" --root "$WORK/root-$n" run --bundle "$BUNDLE" "$id"; then
			echo "runtime.sh: $n: perf record FAILED" >&2
			FAIL[plain,profile,$n]=1
			continue
		fi
		# Samples by process name and code; the loop's bash is left out
		# (`--comms` would drop kernel samples with this perf, so awk filters).
		perf report -i "$WORK/perf.$n" --no-children -n -q --sort comm,dso -g none 2>/dev/null |
			awk 'NF >= 4 && $3 != "bash" {d = $4; for (i = 5; i <= NF; i++) d = d " " $i; print $2 "\t" $3 "\t" d}' \
				>"$WORK/perf.$n.dso"
		all=$(awk -F'\t' '{s += $1} END {print s + 0}' "$WORK/perf.$n.dso")
		comms=$(awk -F'\t' '!seen[$2]++ {printf "%s%s", sep, $2; sep = ", "}' "$WORK/perf.$n.dso")
		echo
		echo "#### $n: $(fmt %.2f 's / f * 1000 / k' s="$all" f="$freq" k="$k") ms per run (processes: $comms)"
		echo
		echo '```'
		awk -F'\t' -v f="$freq" -v k="$k" '{ms[$3] += $1 / f * 1000 / k}
			END {for (d in ms) if (ms[d] >= 0.01) printf "%.2f\t%s\n", ms[d], d}' "$WORK/perf.$n.dso" |
			sort -k1,1nr | awk -F'\t' '{printf "%s%s %s ms", sep, $2, $1; sep = ", "} END {print ""}' | fold -s -w 100
		# Inclusive samples per kernel function, summed over the processes.
		local total_all
		total_all=$(perf report -i "$WORK/perf.$n" --no-children -n -q --sort comm -g none 2>/dev/null |
			awk 'NF >= 3 {s += $2} END {print s + 0}')
		perf report -i "$WORK/perf.$n" --children -q --sort comm,sym -g none 2>/dev/null |
			awk -v t="$total_all" 'NF >= 5 && $3 != "bash" {p = $1; sub("%", "", p); s[$NF] += p / 100 * t}
				END {for (x in s) print x, s[x]}' >"$WORK/perf.$n.sym"
		local entry samples
		for entry in "${centres[@]}"; do
			samples=$(awk -v fns="${entry%%|*}" 'BEGIN {split(fns, a, "+"); for (i in a) want[a[i]] = 1}
				$1 in want {s += $2} END {print s + 0}' "$WORK/perf.$n.sym")
			printf '  %-42s %6s ms  (%s)\n' "${entry#*|}" \
				"$(fmt %.2f 'x / f * 1000 / k' x="${samples:-0}" f="$freq" k="$k")" "${entry%%|*}"
		done
		echo '```'
	done
}

# perf record -e cpu-clock of a loop of `run`s of /bin/true per runtime (valgrind
# cannot follow the memfd/O_PATH re-exec of berth-runtime and crun, and VMs
# often lack hardware counters): CPU per run split by code (kernel, dynamic
# loader, libc, the runtime) and the kernel's main cost centres, inclusive.

# ---------------------------------------------------------------------------
# Outer part: checks, the bundle, namespace + subreaper, cleanup.
# ---------------------------------------------------------------------------

cleanup() {
	local rc=$? n d id pid
	trap - EXIT INT TERM ERR
	set +e
	if [[ -n ${WORK:-} && -d $WORK ]]; then
		for n in "${RUNTIMES[@]}"; do
			for d in "$WORK/root-$n/bt$TAG"*; do
				[[ -d $d ]] || continue
				id=${d##*/}
				in_ns "${BIN[$n]}" --root "$WORK/root-$n" delete --force "$id" </dev/null >/dev/null 2>&1 ||
					echo "runtime.sh: cleanup: $n delete --force $id failed" >&2
			done
		done
		# Runtime calls of ours still alive (the run was interrupted): by pid.
		local argv=()
		for d in /proc/[0-9]*; do
			pid=${d#/proc/}
			[[ $pid == "$$" ]] && continue
			mapfile -d '' argv <"$d/cmdline" 2>/dev/null || continue
			[[ " ${argv[*]} " == *" --root $WORK/root-"* ]] && kill -KILL "$pid" 2>/dev/null
		done
	fi
	# Last resort for containers a runtime failed to delete: their processes
	# (found through their cgroups, named with our tag), then the cgroups.
	for d in /sys/fs/cgroup/*/bt-bench/"bt$TAG"*; do
		[[ -d $d ]] || continue
		if [[ -f $d/cgroup.procs ]]; then
			while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$d/cgroup.procs"
		fi
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			rmdir "$d" 2>/dev/null && break
			sleep 0.1
		done
		[[ -d $d ]] && echo "runtime.sh: cleanup: could not remove cgroup $d" >&2
	done
	for d in /sys/fs/cgroup/*/bt-bench; do
		[[ -d $d ]] && rmdir "$d" 2>/dev/null # only when empty: another run may use it
	done
	[[ -n ${WORK:-} ]] && rm -rf "$WORK"
	exit "$rc"
}

outer_main() {
	local quick=0 strace=0 limits=1 profile=0 rc=0
	while (($#)); do
		case $1 in
		--quick) quick=1 ;;
		--strace) strace=1 ;;
		--profile) profile=1 ;;
		--no-limits) limits=0 ;;
		-h | --help)
			usage
			exit 0
			;;
		*) die "unknown argument: $1 (see --help)" ;;
		esac
		shift
	done
	((EUID == 0)) || die "must run as root (containers need namespaces and cgroups)"
	# The static build (scripts/build.sh), by its own path: target/release's
	# berth-runtime is whatever the last `cargo build --release` left there,
	# the dynamic build as often as not, and the figures are the static one's.
	local berth=${BERTH_RUNTIME:-$REPO/target/static/$(uname -m)-unknown-linux-gnu/release/berth-runtime}
	[[ -x $berth ]] ||
		die "berth-runtime not found or not executable: $berth (build it with scripts/build.sh, or set BERTH_RUNTIME)"
	berth=$(readlink -f "$berth")
	if [[ ${BT_ALLOW_DYNAMIC:-0} != 1 ]] && ! LC_ALL=C ldd "$berth" 2>&1 | grep -q 'statically linked'; then
		die "$berth is dynamically linked; the benchmark measures the static build (scripts/build.sh), or set BT_ALLOW_DYNAMIC=1"
	fi
	local crun=${CRUN:-$(command -v crun || true)} runc=${RUNC:-$(command -v runc || true)}
	[[ -n $crun && -x $crun ]] || die "crun not found (apt-get install crun, or set CRUN)"
	[[ -n $runc && -x $runc ]] || die "runc not found (apt-get install runc, or set RUNC)"
	local tool
	for tool in jq hyperfine unshare mountpoint perl awk ps chroot; do
		command -v "$tool" >/dev/null || die "$tool not found (apt-get install jq hyperfine util-linux perl gawk procps coreutils)"
	done
	[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (apt-get install time)"
	local busybox=/bin/busybox
	[[ -x $busybox ]] || die "$busybox not found (apt-get install busybox-static)"
	local prctl_nr
	case $(uname -m) in
	x86_64) prctl_nr=157 ;;
	aarch64) prctl_nr=167 ;;
	*) die "unsupported architecture $(uname -m) (prctl syscall number unknown)" ;;
	esac
	[[ $berth$crun$runc != *[[:space:]]* ]] || die "runtime paths must not contain white space"

	TAG=$$
	declare -gA BIN=([berth]=$berth [crun]=$crun [runc]=$runc)
	WORK=$(mktemp -d /tmp/bt-bench.XXXXXX)
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	# The bundle: busybox-static plus a link per applet, passwd, group; runc's spec.
	mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc" "$WORK/bundles" "$WORK/spec"
	cp "$busybox" "$WORK/rootfs/bin/busybox"
	local applet n
	for applet in $("$busybox" --list); do
		[[ $applet == busybox ]] || ln -s busybox "$WORK/rootfs/bin/$applet"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$WORK/rootfs/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$WORK/rootfs/etc/group"
	chroot "$WORK/rootfs" /bin/true ||
		die "$busybox does not run in a rootfs without libraries: install busybox-static"
	(cd "$WORK/spec" && "$runc" spec)
	mv "$WORK/spec/config.json" "$WORK/base.json"
	for n in "${RUNTIMES[@]}"; do mkdir -p "$WORK/root-$n"; done

	echo "## berth-runtime vs crun vs runc ($(date -u +%FT%TZ))"
	echo
	echo "- host: $(uname -srm), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg) at start"
	echo "- berth-runtime: $berth ($("$berth" --version | sed -n 1p), $(($(stat -c %s "$berth") / 1024)) KiB)"
	echo "- crun: $crun ($("$crun" --version | sed -n 1p)); runc: $runc ($("$runc" --version | sed -n 1p))"
	echo "- mode: $(if ((quick)); then echo "--quick (a smoke test: few iterations, noisy)"; else echo full; fi)"
	echo "- every runtime runs in a private mount namespace without /sys/fs/cgroup/unified, under a subreaper shell"

	export BT_WORK=$WORK BT_TAG=$TAG BT_BERTH=$berth BT_CRUN=$crun BT_RUNC=$runc \
		BT_QUICK=$quick BT_STRACE=$strace BT_LIMITS=$limits BT_PROFILE=$profile
	# shellcheck disable=SC2016 # perl code, not shell
	in_ns perl -e 'syscall($ARGV[0], 36, 1, 0, 0, 0) == 0 or die "prctl(PR_SET_CHILD_SUBREAPER): $!\n";
			shift; exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n"' \
		"$prctl_nr" bash "$SCRIPT" --inner || rc=$?
	echo
	echo "- load $(cut -d' ' -f1-3 /proc/loadavg) at end"
	exit "$rc"
}

if [[ ${1:-} == --inner ]]; then
	inner_main
else
	outer_main "$@"
fi
