#!/usr/bin/env bash
# One command for the load benchmarks: builds ninepd and ninepd-loadgen
# (release, in build-bench), prepares one export directory that ninepd and
# diod both serve, runs every workload against both (alternating, several
# repetitions) and against plain pread/pwrite threads, sweeps queue depth
# and connections, measures memory and latency with 1,000 connections and
# 100,000 fids, profiles ninepd with perf, and regenerates the part of
# docs/benchmarks.md between its "bench.sh" markers plus docs/benchmarks.png.
#
#   scripts/bench.sh                 the full run (about 5 minutes)
#   QUICK=1 scripts/bench.sh         one short repetition, no scale test (a smoke test)
#
# Environment: BENCH_DIR (default /var/tmp/ninepd-bench: the export, the
# sockets and the raw results in $BENCH_DIR/out), REPS (5), SECS (0.6, the
# measured seconds per run), SCALE=0 / PROFILE=0 to skip those parts.
# At the end it runs scripts/bench-guest.sh (fio in the e2e guest against
# ninepd, diod and QEMU's virtio-9p, about 13 more minutes; QUICK=1 is
# passed on): GUEST=0 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

BENCH_DIR=${BENCH_DIR:-/var/tmp/ninepd-bench}
REPS=${REPS:-5}
SECS=${SECS:-0.6}
SCALE=${SCALE:-1}
PROFILE=${PROFILE:-1}
if [ "${QUICK:-0}" = 1 ]; then
  REPS=1 SECS=0.3 SCALE=0 PROFILE=0
fi
export_dir=$BENCH_DIR/export
out=$BENCH_DIR/out
build=$top/build-bench
lg=$build/bench/ninepd-loadgen
msize=$((1048576 + 4096)) # 1 MiB of payload plus room for the headers
started=$(date +%s)

say() { printf '\n== %s (%ds)\n' "$*" $(($(date +%s) - started)) >&2; }

# --- build ------------------------------------------------------------------
scripts/deps.sh
command -v diod >/dev/null || { echo "bench: diod is not installed" >&2; exit 1; }
say "build (release) in build-bench"
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release >/dev/null
fi
# Only what the benchmark runs: a half-edited test elsewhere must not stop it.
ninja -C "$build" ninepd bench/ninepd-loadgen >/dev/null

# --- data and servers -------------------------------------------------------
say "prepare $export_dir"
mkdir -p "$out"
rm -f "$out"/*.csv "$out"/*.md "$out"/*.txt "$out"/*.dat "$out"/perf-*
rm -rf "$export_dir/scratch"
"$lg" prepare "$export_dir"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_socket() { # wait_socket PATH PID
  for _ in $(seq 100); do
    [ -S "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

n_sock=$BENCH_DIR/ninepd.sock d_sock=$BENCH_DIR/diod.sock
rm -f "$n_sock" "$d_sock"
"$build/ninepd" -l "unix:$n_sock" -e "$export_dir" --msize "$msize" >"$out/ninepd.log" 2>&1 &
n_pid=$!
pids+=("$n_pid")
# diod: no auth (it runs as root here), no config file, in the foreground.
diod -f -n -c /dev/null -L stderr -l "$d_sock" -e "$export_dir" >"$out/diod.log" 2>&1 &
d_pid=$!
pids+=("$d_pid")
wait_socket "$n_sock" "$n_pid" || { echo "bench: ninepd did not start:" >&2; cat "$out/ninepd.log" >&2; exit 1; }
wait_socket "$d_sock" "$d_pid" || { echo "bench: diod did not start:" >&2; cat "$out/diod.log" >&2; exit 1; }

targets=(-t "ninepd=unix:$n_sock,pid=$n_pid" -t "diod=unix:$d_sock,aname=$export_dir,pid=$d_pid")
status=0
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the workloads, side by side --------------------------------------------
workloads=(
  getattr:q=16 walk3:q=16 mixed:q=16 mixed:c=4,q=16 create:q=16
  readdir10k readdir10k:msize=65560
  randread4k:q=1 randread4k:q=16 seqread1m:q=1 seqread1m:q=4 seqwrite1m:q=1
)
say "workloads: ${#workloads[@]} x (ninepd, diod, direct), $REPS repetitions of ${SECS}s"
"$lg" run "${targets[@]}" -D "$export_dir" -r "$REPS" -d "$SECS" \
  --csv "$out/runs.csv" --md "$out/main.md" --summary "$out/summary.csv" \
  "${workloads[@]}" | tee "$out/main.txt" || status=1

# --- sweeps for the plot ----------------------------------------------------
sweep_secs=$(awk -v s="$SECS" 'BEGIN { print (s < 0.7 ? s : 0.7) }')
say "sweeps: queue depth and connections"
depths=() conns=()
for n in 1 2 4 8 16 32 64; do
  depths+=("randread4k:q=$n")
  conns+=("randread4k:c=$n,q=1")
done
"$lg" run "${targets[@]}" -D "$export_dir" -r 1 -d "$sweep_secs" -W 0.2 \
  --summary "$out/sweep-depth.csv" "${depths[@]}" >"$out/sweep-depth.txt" 2>&1 || status=1
"$lg" run "${targets[@]}" -D "$export_dir" -r 1 -d "$sweep_secs" -W 0.2 \
  --summary "$out/sweep-conns.csv" "${conns[@]}" >"$out/sweep-conns.txt" 2>&1 || status=1

# --- scale ------------------------------------------------------------------
if [ "$SCALE" = 1 ]; then
  say "scale: 1000 connections, 100000 fids (per server)"
  "$lg" scale "${targets[@]}" -d "$SECS" --conns-scale 1000 --fids 100000 \
    --md "$out/scale.md" | tee "$out/scale.txt" || true
fi

# --- profiles of ninepd -----------------------------------------------------
perf_ok=0
if [ "$PROFILE" = 1 ] && command -v perf >/dev/null &&
   perf record -q -e cpu-clock -o /dev/null true >/dev/null 2>&1; then
  perf_ok=1
  for w in walk3:q=16 readdir10k randread4k:q=16 seqread1m:q=1; do
    name=$(echo "$w" | tr ':=,' '---')
    say "profile ninepd: $w"
    "$lg" run -t "ninepd=unix:$n_sock" -r 1 -d 2.5 -W 0.2 "$w" >/dev/null 2>&1 &
    lgp=$!
    sleep 0.3
    perf record -q -e cpu-clock -g -p "$n_pid" -o "$out/perf-$name.data" -- sleep 2 >/dev/null 2>&1 || true
    wait "$lgp" || true
    ( # head ends the pipes early: that is no failure here
      set +o pipefail
      echo "# perf record -e cpu-clock -g -p <ninepd> during: ninepd-loadgen run $w"
      echo "# self time by symbol (top 15)"
      perf report -i "$out/perf-$name.data" --no-children --sort sym -g none --stdio 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -15
      echo "# time including callees (top 25)"
      perf report -i "$out/perf-$name.data" --children --sort sym -g none --stdio 2>/dev/null |
        grep -v '^#' | grep -v '^$' | grep -v ' 0x0000' | head -25
    ) >"$out/profile-$name.txt"
    rm -f "$out/perf-$name.data"
  done
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cleanup
trap - EXIT

# --- docs/benchmarks.md and the plot ------------------------------------------
say "docs/benchmarks.md"
python3 - "$out" "$top/docs/benchmarks.md" "$REPS" "$SECS" "$export_dir" "$load_before" "$load_after" \
  "$perf_ok" "$SCALE" "${QUICK:-0}" <<'PY'
import csv, os, platform, re, subprocess, sys, datetime

out, doc, reps, secs, export_dir, load_before, load_after, perf_ok, scale, quick = sys.argv[1:]

def rows(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")

def fmt(v, nd=2):
    return "n/a" if v != v else f"{v:.{nd}f}"

summary = rows(f"{out}/summary.csv")
ratio = {(r["label"], r["a"], r["b"]): r for r in summary if r["kind"] == "ratio"}

# Targets of the issue.
targets = []
for (label, a, b), r in ratio.items():
    w = label.split()[0]
    if a == "ninepd" and b == "diod" and r["class"] == "meta":
        targets.append((f"metadata: {label}", "ninepd/diod ≥ 2", r, 2.0))
    if a == "ninepd" and b == "diod" and label == "randread4k c=1 q=16":
        targets.append((label, "ninepd/diod ≥ 1.5", r, 1.5))
    if a == "ninepd" and b == "direct" and w == "seqread1m":
        targets.append((label, "ninepd/pread ≥ 0.8", r, 0.8))
tlines = ["| target | goal | min | median | max | met (median) | CPU µs/op, b÷a |", "|---|---|---:|---:|---:|---|---:|"]
for name, goal, r, need in targets:
    med = num(r["median"])
    met = "n/a" if med != med else ("**yes**" if med >= need else "no")
    tlines.append(f"| {name} | {goal} | {fmt(num(r['min']))} | {fmt(med)} | {fmt(num(r['max']))} | {met} | {fmt(num(r['cpu_ratio']))} |")

# Sweeps: one .dat per sweep for gnuplot, and a table.
def sweep(name, key):
    res = [r for r in rows(f"{out}/sweep-{name}.csv") if r["kind"] == "result"]
    xs = sorted({int(r[key]) for r in res})
    table = {}
    for r in res:
        table[(int(r[key]), r["a"])] = num(r["ops_per_s"])
    with open(f"{out}/sweep-{name}.dat", "w") as f:
        for x in xs:
            f.write(f"{x} " + " ".join(fmt(table.get((x, t), float('nan')), 0) for t in ("ninepd", "diod", "direct")) + "\n")
    head = "queue depth" if key == "depth" else "connections"
    lines = [f"| {head} | ninepd ops/s | diod ops/s | pread threads ops/s | ninepd/diod |", "|---:|---:|---:|---:|---:|"]
    for x in xs:
        n, d, p = (table.get((x, t), float('nan')) for t in ("ninepd", "diod", "direct"))
        lines.append(f"| {x} | {fmt(n, 0)} | {fmt(d, 0)} | {fmt(p, 0)} | {fmt(n / d if d else float('nan'))} |")
    return "\n".join(lines)

depth_table, conns_table = sweep("depth", "depth"), sweep("conns", "conns")
png = os.path.join(os.path.dirname(doc), "benchmarks.png")
plotted = False
if subprocess.run(["sh", "-c", "command -v gnuplot"], capture_output=True).returncode == 0:
    gp = os.path.join(os.path.dirname(os.path.dirname(doc)), "bench", "plot.gp")
    r = subprocess.run(["gnuplot", "-e", f"depth='{out}/sweep-depth.dat'; conns='{out}/sweep-conns.dat'; out='{png}'", gp],
                       capture_output=True, text=True)
    plotted = r.returncode == 0
    if not plotted:
        print("bench: gnuplot failed: " + r.stderr, file=sys.stderr)

def read(path):
    return open(path).read().strip() if os.path.exists(path) else ""

lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
model = re.search(r"Model name:\s*(.*)", lscpu)
nproc = os.cpu_count()
mem = re.search(r"MemTotal:\s*(\d+)", open("/proc/meminfo").read())
fs = subprocess.run(["df", "-T", export_dir], capture_output=True, text=True).stdout.splitlines()[-1].split()
diod_ver = subprocess.run(["sh", "-c", "dpkg-query -W -f='${Version}' diod"], capture_output=True, text=True).stdout
now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")

g = []
g.append(f"Generated by `scripts/bench.sh` on {now}.\n")
g.append("| | |\n|---|---|")
command = "QUICK=1 scripts/bench.sh" if quick == "1" else f"REPS={reps} SECS={secs} scripts/bench.sh"
g.append(f"| command | `{command}` (scale test: {'yes' if scale == '1' else 'no'}, "
         f"profiles: {'yes' if perf_ok == '1' else 'no'}) |")
g.append(f"| machine | {nproc} CPUs (`nproc`), {model.group(1) if model else '?'}, {int(mem.group(1)) // 1024 // 1024 if mem else '?'} GiB RAM, kernel {platform.release()} (KVM guest) |")
g.append(f"| export | `{export_dir}` on {fs[1]} ({fs[0]}); both servers export the same directory; the data file (256 MiB) is in the page cache |")
g.append(f"| servers | ninepd (this tree, release build, `--msize {1048576 + 4096}`, default worker threads: 2 × CPUs, at least 4, so {max(4, min(64, 2 * nproc))} here); diod {diod_ver} (`-f -n -c /dev/null`, default 16 worker threads, msize capped at 65536 by diod) |")
g.append(f"| client | `ninepd-loadgen`, 2 client threads, unix sockets; {reps} repetitions of {secs} s (+0.3 s warm-up) per workload and server, servers alternating, order flipped every repetition |")
g.append(f"| load average | {load_before} before, {load_after} after |")
g.append("")
g.append("**Caveat:** the machine has 2 cores and other engineers were building and testing on it at the same time "
         "(see the load average), and the client shares those 2 cores with the server. Single numbers are noisy; "
         "read the medians and the paired ratios (both servers measured back to back within each repetition), "
         "and compare min and max before trusting a ratio.\n")
g.append("### Targets of the issue\n")
g.append("\n".join(tlines) + "\n")
g.append("### All workloads (medians over the repetitions)\n")
g.append("`c` connections, `q` requests in flight per connection; an operation is the whole chain "
         "(e.g. walk3 = Twalk + Tclunk, create = 5 requests); `direct` is the same I/O with pread/pwrite on the host, "
         "c × q threads. Latencies are per operation. *Server CPU µs/op* is the CPU time (user + system, all threads, "
         "from /proc/PID/stat in clock ticks) the server used during the measured window divided by the operations: it "
         "moves much less than ops/s when other processes take the CPU; for `direct` it is the pread threads' own CPU. "
         "Ratios a/b are of ops/s, paired per repetition (min, median, max); the last column divides b's median CPU per "
         "operation by a's (above 1: a needs less CPU for the same work).\n")
g.append(read(f"{out}/main.md") + "\n")
g.append("### Throughput against queue depth and connections (4 KiB random reads)\n")
g.append("One repetition of at most 0.6 s per point: read the shape, not single points.\n")
if plotted:
    g.append("![throughput vs queue depth and connections](benchmarks.png)\n")
g.append(depth_table + "\n")
g.append(conns_table + "\n")
if scale == "1" and read(f"{out}/scale.md"):
    g.append("### Scale: 1,000 connections and 100,000 fids\n")
    g.append("Memory is the daemon's VmRSS from /proc/PID/status (user-space memory only: kernel objects such as "
             "open files are not in it). Connections are idle sessions (Tversion + Tattach, msize 64 KiB); fids are "
             "walks of one name, all on one connection, 64 in flight.\n")
    g.append(read(f"{out}/scale.md") + "\n")
    txt = read(f"{out}/scale.txt")
    if txt:
        g.append("```\n" + txt + "\n```\n")
if perf_ok == "1":
    g.append("### Profiles of ninepd (perf, cpu-clock, whole process)\n")
    for f in sorted(os.listdir(out)):
        if f.startswith("profile-") and f.endswith(".txt"):
            g.append(f"<details><summary>{f[8:-4]}</summary>\n\n```\n{read(os.path.join(out, f))}\n```\n</details>\n")
g.append("Raw results: `" + out + "/runs.csv` (one line per workload, server and repetition) and `summary.csv`.")
generated = "\n".join(g)

begin, end = "<!-- bench.sh: begin (generated, do not edit) -->", "<!-- bench.sh: end -->"
text = read(doc) if os.path.exists(doc) else ""
if begin in text and end in text:
    pre, rest = text.split(begin, 1)
    post = rest.split(end, 1)[1]
    text = pre + begin + "\n" + generated + "\n" + end + post
else:
    text = ("# Benchmarks\n\n`scripts/bench.sh` regenerates the section between the markers below.\n\n"
            + begin + "\n" + generated + "\n" + end + "\n\n## Analysis\n\n(not written yet)\n")
with open(doc, "w") as f:
    f.write(text if text.endswith("\n") else text + "\n")
PY
say "done: docs/benchmarks.md$( [ -f docs/benchmarks.png ] && echo ', docs/benchmarks.png')"

# --- fio in the e2e guest: its own section of docs/benchmarks.md --------------
if [ "${GUEST:-1}" != 0 ]; then
  scripts/bench-guest.sh || status=1
fi
exit $status
