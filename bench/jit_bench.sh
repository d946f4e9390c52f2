#!/usr/bin/env bash
# Tier 1 vs QEMU (docs/bench.md): the same guest workloads on Umbra tier 0, Umbra jit (tier 0 +
# the LLVM tier 1), qemu-system-x86_64 -accel tcg (plain TCG, no icount) and, where it applies,
# natively on the host, side by side in one run.
#
#   bench/jit_bench.sh [BUILD_DIR] [cpu] [mem] [linux]     (default: build, all three)
#
#   cpu    bench/guest/cpu_int64.c: sha256, crc32, a small sieve, multiply/divide chains
#          (bare-metal 64-bit multiboot kernel); native: the same C code on the host.
#   mem    bench/guest/mem_sieve64.c: a sieve over 100 MB mapped with 4-KiB pages (4-level
#          paging), 256 MiB of guest RAM; native: the same sieve over a malloc'd array.
#   linux  the boot test's Debian kernel (tests/boot) with bench/jit_bench_init: boot to /init,
#          then sha256sum of 64 MiB twice (first and second run), timed by the guest's clock and
#          by the host as the console lines arrive.
#
# cpu and mem run each engine with a small and a large count; the figures are the differences
# (boot, setup and process start cancel out). Every run's result line must equal the native
# program's for the same count, and the emulator must exit through isa-debug-exit with the
# kernel's PASS, so a wrong run cannot report a time. Times: CPU time (user + system) of the
# whole emulator process, every thread (QEMU's TCG and I/O threads, Umbra's compiler thread),
# and wall time. Umbra's side runs bench/jit_bench_umbra (the PC machine as `umbra -kernel`
# builds it), which also reports the guest instructions retired (MIPS), the share run by tier 1
# and the compiler's time (wall and the compiler thread's CPU).
#
# Environment: CPU_SMALL/CPU_LARGE (iterations, default 100/2100), MEM_SMALL/MEM_LARGE (sieve
# passes, default 0/1: the small run only sets up the page tables), REPEAT (runs of each count of
# cpu and mem per engine, default 3: the fastest counts, as others' load only slows a run down),
# UMBRA_MODES (default "tier0 jit"), BOOT_CACHE (the boot test's kernel and initramfs, default
# BUILD_DIR/boot, filled by tests/boot/prepare.sh), QEMU (binary). Exit status 1 if any run failed
# its checks.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=build
workloads=()
for arg in "$@"; do
  case $arg in
    cpu | mem | linux) workloads+=("$arg") ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) build=$arg ;;
  esac
done
[[ ${#workloads[@]} -gt 0 ]] || workloads=(cpu mem linux)
cpu_small=${CPU_SMALL:-100} cpu_large=${CPU_LARGE:-2100} repeat=${REPEAT:-3}
mem_small=${MEM_SMALL:-0} mem_large=${MEM_LARGE:-1}
read -r -a modes <<<"${UMBRA_MODES:-tier0 jit}"
qemu=${QEMU:-$(command -v qemu-system-x86_64 || true)}
driver=$build/bench/jit_bench_umbra
native=$build/bench/guest/jit_bench_native
umbra=$build/umbra
for f in "$driver" "$native" "$build/bench/guest/jit_bench_cpu.elf" \
  "$build/bench/guest/jit_bench_mem.elf"; do
  [[ -x $f || -f $f ]] || {
    echo "missing $f (ninja -C $build umbra jit_bench_umbra jit_bench_guests)" >&2
    exit 2
  }
done
[[ -n $qemu ]] || echo "jit_bench: no qemu-system-x86_64: QEMU columns stay empty" >&2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# timed OUT ERR CMD...: runs CMD (stdin /dev/null); sets T_STATUS, T_WALL, T_CPU (user + system
# of the process and all its threads and children).
timed() {
  local out=$1 err=$2 TIMEFORMAT='%R %U %S' w u s
  shift 2
  { time "$@" >"$out" 2>"$err" </dev/null; } 2>"$tmp/time"
  T_STATUS=$?
  read -r w u s <"$tmp/time"
  T_WALL=$(awk -v w="$w" 'BEGIN { printf "%.3f", w }')
  T_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.3f", u + s }')
}

stat_of() { awk -v k="$1" '$1 == "stat" && $2 == k { print $3 }' "$2"; }

# bare_run ENGINE WORKLOAD COUNT: one run of a bare-metal workload; sets T_* and, for Umbra,
# R_INSNS and R_COMPILE. Prints a reason and returns 1 when the run is not valid.
bare_run() {
  local engine=$1 w=$2 n=$3 kernel key ram cmdline result
  case $w in
    cpu) kernel=$build/bench/guest/jit_bench_cpu.elf key=iters ram=64 ;;
    mem) kernel=$build/bench/guest/jit_bench_mem.elf key=passes ram=256 ;;
  esac
  cmdline="$key=$n"
  R_INSNS=0 R_COMPILE=0 R_T1=0 R_COMPILE_CPU=0
  case $engine in
    native) timed "$tmp/out" "$tmp/err" "$native" "$w" "$n"; want=0 ;;
    qemu)
      timed "$tmp/out" "$tmp/err" "$qemu" -accel tcg -kernel "$kernel" -m "${ram}M" \
        -append "$cmdline" -display none -serial stdio -no-reboot -nodefaults \
        -device isa-debug-exit,iobase=0xf4,iosize=0x4
      want=33 ;;
    *)
      timed "$tmp/out" "$tmp/err" env UMBRA_ACCEL="$engine" "$driver" "$kernel" "$cmdline" "$ram"
      want=0
      R_INSNS=$(stat_of guest_insns "$tmp/err")
      R_COMPILE=$(stat_of compile_seconds "$tmp/err")
      R_COMPILE=${R_COMPILE:-0}
      R_COMPILE_CPU=$(awk -v p="$(stat_of cpu_process "$tmp/err")" \
        -v m="$(stat_of cpu_main_thread "$tmp/err")" 'BEGIN { printf "%.2f", p - m }')
      R_T1=$(awk -v a="$(stat_of tier1_insns "$tmp/err")" -v b="$R_INSNS" \
        'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }') ;;
  esac
  result=$(tr -d '\r' <"$tmp/out" | grep -m1 "^jit_bench $w ")
  if [[ $T_STATUS -ne $want ]]; then
    echo "  $engine $w $cmdline: exit status $T_STATUS (expected $want)" >&2
    tail -n 5 "$tmp/out" "$tmp/err" >&2
    return 1
  fi
  if [[ $engine == native ]]; then
    native_result[$w,$n]=$result
  elif [[ -z ${native_result[$w,$n]:-} || $result != "${native_result[$w,$n]}" ]]; then
    echo "  $engine $w $cmdline: result '$result', native '${native_result[$w,$n]:-}'" >&2
    return 1
  fi
  [[ $engine == native ]] || tr -d '\r' <"$tmp/out" | grep -q "^PASS jit_bench_$w" || {
    echo "  $engine $w $cmdline: no PASS line" >&2
    return 1
  }
}

# Results, keyed "workload,engine": seconds of CPU and wall for the measured part.
declare -A cpu_s wall_s mips compile compile_cpu native_result tier1_share insn_delta
rows=()

min_of() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (a == "" || b + 0 < a + 0) ? b : a }'; }

# bare_workload WORKLOAD SMALL LARGE: every engine, small then large count.
bare_workload() {
  local w=$1 small=$2 large=$3 engine c1 w1 i1 c2 w2 i2 comp2 t1 cc2
  rows+=("$w")
  # native first: its results are what every emulator run must print.
  for engine in native "${modes[@]}" ${qemu:+qemu}; do
    # The fastest of `repeat` runs of each count: on a shared machine a run is only ever slowed
    # down by others, so the minimum is the best estimate of the engine's own time.
    local rep ok=1
    c1='' w1='' c2='' w2=''
    for ((rep = 0; rep < repeat; ++rep)); do
      bare_run "$engine" "$w" "$small" || { ok=0; break; }
      c1=$(min_of "$c1" "$T_CPU") w1=$(min_of "$w1" "$T_WALL") i1=$R_INSNS
      bare_run "$engine" "$w" "$large" || { ok=0; break; }
      c2=$(min_of "$c2" "$T_CPU") w2=$(min_of "$w2" "$T_WALL") i2=$R_INSNS
      comp2=$R_COMPILE t1=$R_T1 cc2=$R_COMPILE_CPU
    done
    [[ $ok == 1 ]] || { failed=1; continue; }
    cpu_s[$w,$engine]=$(awk -v a="$c1" -v b="$c2" 'BEGIN { printf "%.3f", b - a }')
    wall_s[$w,$engine]=$(awk -v a="$w1" -v b="$w2" 'BEGIN { printf "%.3f", b - a }')
    if [[ $engine != native && $engine != qemu ]]; then
      insn_delta[$w]=$((i2 - i1))
      mips[$w,$engine]=$(awk -v a="$i1" -v b="$i2" -v t="${cpu_s[$w,$engine]}" \
        'BEGIN { printf "%.0f", (t > 0 ? (b - a) / t / 1e6 : 0) }')
      compile[$w,$engine]=$comp2
      tier1_share[$w,$engine]=$t1
      compile_cpu[$w,$engine]=$cc2
    fi
    printf '  %-5s %-6s small %s: cpu %6.2f s wall %6.2f s | large %s: cpu %6.2f s wall %6.2f s%s\n' \
      "$w" "$engine" "$small" "$c1" "$w1" "$large" "$c2" "$w2" \
      "$([[ $engine == native || $engine == qemu ]] || echo " | insns $i1 / $i2, compile ${comp2}s")"
  done
}

# ---- Linux ----

# proc_cpu PID: CPU seconds (user + system, all threads) of a running process.
proc_cpu() {
  awk -v tck="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / tck }' \
    "/proc/$1/stat" 2>/dev/null || echo nan
}

# linux_run ENGINE: boots the Debian kernel with /jit_bench_init; records, per console mark, the
# host's clock and the emulator's CPU time; checks the digests.
linux_run() {
  local engine=$1 initrd=$tmp/initrd.gz log=$tmp/linux_$1.log fifo=$tmp/fifo pid start line now
  local append="console=ttyS0 panic=-1 no_timer_check rdinit=/jit_bench_init"
  local args=(-m 512M -nographic -no-reboot -kernel "$cache/vmlinuz" -initrd "$initrd"
    -append "$append")
  local cmd
  case $engine in
    qemu) cmd=("$qemu" -accel tcg "${args[@]}") ;;
    *) cmd=("$umbra" -accel "$engine" --stats "${args[@]}") ;;
  esac
  rm -f "$fifo"
  mkfifo "$fifo"
  : >"$log"
  start=$EPOCHREALTIME
  timeout -k 10 600 "${cmd[@]}" </dev/null >"$fifo" 2>&1 &
  pid=$!
  local epid=
  while IFS= read -r line; do
    line=${line%$'\r'}
    # The emulator is the child of timeout.
    [[ -n $epid ]] || epid=$(pgrep -P "$pid" | head -n1)
    if [[ $line == JIT-BENCH:* ]]; then
      now=$EPOCHREALTIME
      printf '%s host %.3f cpu %s main %s\n' "$line" "$(awk -v a="$start" -v b="$now" \
        'BEGIN { print b - a }')" "$(proc_cpu "${epid:-$pid}")" \
        "$(proc_cpu "${epid:-$pid}/task/${epid:-$pid}")" >>"$log"
    elif [[ $line == umbra:* ]]; then
      printf '%s\n' "$line" >>"$log"
    fi
  done <"$fifo"
  wait "$pid"
  local status=$?
  [[ $status -eq 0 ]] || { echo "  linux $engine: exit status $status" >&2; cat "$log" >&2; return 1; }
  local n
  n=$(grep -c "JIT-BENCH: sha256 end .* digest $linux_digest" "$log")
  [[ $n -eq 2 ]] || { echo "  linux $engine: wrong or missing digests" >&2; cat "$log" >&2; return 1; }
  # host seconds, CPU seconds and guest seconds of each phase.
  awk -v e="$engine" '
    function f(k) { for (i = 1; i <= NF; ++i) if ($i == k) return $(i + 1); return "nan" }
    /init reached/ { printf "boot %s %s - %.3f\n", f("host"), f("cpu"), f("cpu") - f("main") }
    /sha256 start/ { hs = f("host"); cs = f("cpu"); us = f("uptime"); os = f("cpu") - f("main") }
    /sha256 end/ {
      printf "sha%s %.3f %.3f %.2f %.3f\n", $4, f("host") - hs, f("cpu") - cs, f("uptime") - us,
             f("cpu") - f("main") - os
    }
    /tier 1 compiler:/ { for (i = 1; i <= NF; ++i) if ($i == "total,") printf "compile %s\n", $(i - 2) }
  ' "$log" >"$tmp/linux_$engine.phases"
}

linux_workload() {
  cache=${BOOT_CACHE:-$build/boot}
  "$root/tests/boot/prepare.sh" "$cache" || { failed=1; return; }
  [[ -x $umbra ]] || { echo "missing $umbra" >&2; failed=1; return; }
  # The boot test's initramfs plus a second archive with /jit_bench_init (the kernel unpacks
  # concatenated archives in order).
  mkdir -p "$tmp/extra"
  install -m 0755 "$root/bench/jit_bench_init" "$tmp/extra/jit_bench_init"
  (cd "$tmp/extra" && echo jit_bench_init | cpio -o -H newc --owner=0:0 --quiet) | gzip -n \
    >"$tmp/extra.cpio.gz"
  cat "$cache/initramfs.cpio.gz" "$tmp/extra.cpio.gz" >"$tmp/initrd.gz"
  linux_digest=$(head -c 64M /dev/zero | sha256sum | cut -d' ' -f1)
  rows+=(boot sha1 sha2)
  local engine phase h c g o run
  # Native: the guest's pipeline with the same busybox on the host.
  for run in 1 2; do
    timed "$tmp/out" "$tmp/err" sh -c \
      "dd if=/dev/zero bs=1M count=64 2>/dev/null | '$cache/busybox' sha256sum"
    if grep -q "^$linux_digest " "$tmp/out"; then
      cpu_s[sha$run,native]=$T_CPU wall_s[sha$run,native]=$T_WALL
    else
      echo "  native busybox sha256sum: wrong digest" >&2
      failed=1
    fi
  done
  for engine in "${modes[@]}" ${qemu:+qemu}; do
    linux_run "$engine" || { failed=1; continue; }
    while read -r phase h c g o; do
      if [[ $phase == compile ]]; then
        compile[linux,$engine]=$h
        continue
      fi
      wall_s[$phase,$engine]=$h cpu_s[$phase,$engine]=$c
      [[ $g == - ]] || guest_s[$phase,$engine]=$g
      # Umbra: CPU time of threads other than the CPU thread, i.e. the tier-1 compiler.
      [[ $engine == qemu || $engine == tier0 ]] || compile_cpu[$phase,$engine]=$o
      printf '  %-5s %-6s host %7.2f s cpu %7.2f s%s%s\n' "$phase" "$engine" "$h" "$c" \
        "$([[ $g == - ]] || echo " guest clock $g s")" \
        "$([[ $engine == qemu || $engine == tier0 ]] || echo " (compiler thread: $o s)")"
    done <"$tmp/linux_$engine.phases"
  done
}
declare -A guest_s

echo "jit_bench: $(date -u '+%F %T UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for w in "${workloads[@]}"; do
  case $w in
    cpu) bare_workload cpu "$cpu_small" "$cpu_large" ;;
    mem) bare_workload mem "$mem_small" "$mem_large" ;;
    linux) linux_workload ;;
  esac
done
echo "jit_bench: done $(date -u '+%T UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the table ----
describe() {
  case $1 in
    cpu) echo "cpu: integer mix, $((cpu_large - cpu_small)) iterations" ;;
    mem) echo "mem: 100 MB paged sieve, $((mem_large - mem_small)) pass(es)" ;;
    boot) echo "linux: boot to /init" ;;
    sha1) echo "linux: sha256sum 64 MiB, 1st" ;;
    sha2) echo "linux: sha256sum 64 MiB, 2nd" ;;
  esac
}
target() { case $1 in boot) echo 1.0 ;; *) echo 0.5 ;; esac; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b <= 0) print "-"; else printf "%.2f", a / b }'; }
val() { if [[ -n ${1:-} ]]; then printf '%.2f' "$1"; else echo -; fi; }

for kind in cpu wall; do
  echo
  echo "$kind seconds (user+sys of the whole process)" | sed 's/wall seconds.*/wall seconds/'
  printf '| %-36s | %8s | %8s | %8s | %8s | %9s | %10s | %6s |\n' workload "tier0" "jit" "qemu" \
    native "jit/qemu" "tier0/qemu" target
  printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------------------------------- ---------: \
    ---------: ---------: ---------: ----------: -----------: -------:
  for r in "${rows[@]}"; do
    if [[ $kind == cpu ]]; then
      t0=${cpu_s[$r,tier0]:-} tj=${cpu_s[$r,jit]:-} tq=${cpu_s[$r,qemu]:-} tn=${cpu_s[$r,native]:-}
    else
      t0=${wall_s[$r,tier0]:-} tj=${wall_s[$r,jit]:-} tq=${wall_s[$r,qemu]:-} tn=${wall_s[$r,native]:-}
    fi
    printf '| %-36s | %8s | %8s | %8s | %8s | %9s | %10s | %6s |\n' "$(describe "$r")" \
      "$(val "$t0")" "$(val "$tj")" "$(val "$tq")" "$(val "$tn")" "$(ratio "$tj" "$tq")" \
      "$(ratio "$t0" "$tq")" "<= $(target "$r")"
  done
done

echo
echo "Umbra details"
for r in "${rows[@]}"; do
  for m in "${modes[@]}"; do
    line=
    [[ -n ${mips[$r,$m]:-} ]] && line+=" guest MIPS ${mips[$r,$m]} (CPU time);"
    [[ -n ${compile[$r,$m]:-} && ${compile[$r,$m]} != 0 ]] &&
      line+=" tier-1 compiler in the large run: ${compile[$r,$m]} s wall, ${compile_cpu[$r,$m]:-?} s CPU;"
    [[ -n ${tier1_share[$r,$m]:-} && $m != tier0 ]] &&
      line+=" ${tier1_share[$r,$m]}% of the large run's instructions in tier 1;"
    [[ -n ${guest_s[$r,$m]:-} ]] && line+=" guest clock ${guest_s[$r,$m]} s;"
    [[ $r == boot || $r == sha? ]] && [[ $m != tier0 && -n ${compile_cpu[$r,$m]:-} ]] &&
      line+=" tier-1 compiler thread ${compile_cpu[$r,$m]} s CPU;"
    [[ -n $line ]] && echo "  $(describe "$r") [$m]:$line"
  done
  # The guest code is the same on every engine, so Umbra's instruction count is QEMU's too.
  [[ -n ${insn_delta[$r]:-} && -n ${cpu_s[$r,qemu]:-} ]] && echo "  $(describe "$r") [qemu]: guest MIPS \
$(awk -v n="${insn_delta[$r]}" -v t="${cpu_s[$r,qemu]}" 'BEGIN { printf "%.0f", (t > 0 ? n / t / 1e6 : 0) }') (CPU time, Umbra's instruction count)"
  [[ -n ${insn_delta[$r]:-} ]] && echo "  $(describe "$r"): $((insn_delta[$r])) guest instructions"
  [[ -n ${guest_s[$r,qemu]:-} ]] && echo "  $(describe "$r") [qemu]: guest clock ${guest_s[$r,qemu]} s"
done
for m in "${modes[@]}"; do
  [[ -n ${compile[linux,$m]:-} ]] &&
    echo "  linux [$m]: tier-1 compiler total ${compile[linux,$m]} s over the whole boot and run"
  [[ -f $tmp/linux_$m.log ]] && sed -n "s/^umbra: tier/  linux [$m] umbra --stats: tier/p" "$tmp/linux_$m.log"
done
exit $failed
