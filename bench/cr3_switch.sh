#!/bin/bash
# CR3-switch benchmark (docs/bench.md): the kernel tests/guest/sys/paging_cr3_switch.elf on Umbra
# (bench/cr3_switch_umbra, which also prints the MMU counters) and on qemu-system-x86_64 -accel
# tcg, side by side. Each workload runs twice, with a small and a large count; the difference
# removes boot and setup, so the figures are per CR3 switch (per system call for pti):
#   ns per switch (Umbra, QEMU) and, for Umbra, the fast-TLB refills per switch split into those
#   served by the shadow page tables (shadow hits) and those that walked the guest's tables
#   (hidden faults: guest walks).
# Times are CPU time (user + system) of the emulator process, not wall time, so that a loaded
# machine does not distort them (QEMU: its whole process, every thread).
#
#   bench/cr3_switch.sh [BUILD_DIR]     (default: build)
set -eu
build=${1:-build}
kernel=$build/tests/guest/sys/paging_cr3_switch.elf
driver=$build/bench/cr3_switch_umbra
qemu=$(command -v qemu-system-x86_64 || true)
for f in "$kernel" "$driver"; do
  [ -e "$f" ] || { echo "missing $f (ninja -C $build guest_sys_kernels cr3_switch_umbra)" >&2; exit 2; }
done

# umbra_run CMDLINE -> "seconds hidden_faults shadow_hits"
umbra_run() {
  out=$(UMBRA_ACCEL=${UMBRA_ACCEL:-tier0} "$driver" "$kernel" "$1") ||
    { echo "umbra run failed: $1" >&2; exit 1; }
  secs=$(printf '%s\n' "$out" | awk '$1 == "cpu_seconds" { print $2 }')
  walks=$(printf '%s\n' "$out" | awk -F' = ' '/^counter hidden faults/ { print $2 }')
  hits=$(printf '%s\n' "$out" | awk -F' = ' '/^counter shadow hits/ { print $2 }')
  echo "$secs $walks $hits"
}

# qemu_run CMDLINE -> CPU seconds (user + system) of the QEMU process
qemu_run() {
  local TIMEFORMAT='%U %S' t st
  set +e
  t=$( { time "$qemu" -accel tcg -kernel "$kernel" -m 64M -append "$1" -display none \
    -serial none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x4 </dev/null \
    >/dev/null 2>&1; echo "status $?" >&2; } 2>&1 )
  set -e
  st=$(printf '%s\n' "$t" | awk '$1 == "status" { print $2 }')
  [ "$st" = 33 ] || { echo "qemu run failed ($st): $1" >&2; exit 1; }
  printf '%s\n' "$t" | awk '$1 != "status" { printf "%.6f\n", $1 + $2 }'
}

# workload NAME UNIT SMALL_CMDLINE LARGE_CMDLINE DELTA
workload() {
  name=$1 unit=$2 small=$3 large=$4 delta=$5
  set -- $(umbra_run "$small")
  us=$1 uw=$2 uh=$3
  set -- $(umbra_run "$large")
  ul=$1 ulw=$2 ulh=$3
  if [ -n "$qemu" ]; then
    qs=$(qemu_run "$small")
    ql=$(qemu_run "$large")
  else
    qs=0 ql=0
  fi
  echo "$us $ul $uw $ulw $qs $ql $delta $uh $ulh" | awk -v name="$name" -v unit="$unit" '{
    n = $7
    umbra_ns = ($2 - $1) / n * 1e9
    walks = ($4 - $3) / n
    hits = ($9 - $8) / n
    qemu_ns = ($6 - $5) / n * 1e9
    printf "%-30s %-8s %10.1f %10.2f %10.2f %10.1f %8.2f\n", name, unit, umbra_ns, hits, walks,
           qemu_ns, (umbra_ns > 0 ? qemu_ns / umbra_ns : 0)
  }'
}

printf '%-30s %-8s %10s %10s %10s %10s %8s\n' workload per "umbra ns" "shadow" "walks" \
  "qemu ns" qemu/umb
S1=20000
S2=220000
for spaces in 2 4 8 16 64; do
  for pages in 4; do
    workload "switch spaces=$spaces pages=$pages" switch \
      "spaces=$spaces pages=$pages switches=$S1 syscalls=1" \
      "spaces=$spaces pages=$pages switches=$S2 syscalls=1" $((S2 - S1))
  done
done
workload "pti syscall kpages=4" syscall "switches=1 syscalls=$S1 kpages=4" \
  "switches=1 syscalls=$S2 kpages=4" $((S2 - S1))
