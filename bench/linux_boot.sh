#!/usr/bin/env bash
# Linux boot benchmark (issue 6): boots the boot test's Debian kernel + busybox initramfs on Umbra
# and on qemu-system-x86_64 -accel tcg, alternating (umbra, qemu, umbra, qemu, ...) so both see
# the same host load, N runs each. Reports per run and the mean of: host time from start to the
# "init reached" marker, and total time to poweroff; then Umbra/QEMU ratios. Each run is the full
# acceptance test (tests/boot/run_boot_test.sh), so a failed check is reported next to the times;
# runs that did not reach poweroff are left out of the means.
#
# Usage: bench/linux_boot.sh [-n RUNS] [--umbra PATH] [--qemu PATH] [--cache DIR]
#                            [--qemu-icount auto|N|off]
#   defaults: 3 runs, build/umbra, qemu-system-x86_64 on PATH, build/boot, and QEMU with
#   -icount shift=auto as in the acceptance test (off: plain TCG on host time, whose runs can fail
#   the kernel-log checks on a loaded host; see tests/boot/run_boot_test.sh).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=3 umbra=$root/build/umbra qemu=$(command -v qemu-system-x86_64 || true) cache=$root/build/boot
while [[ $# -gt 0 ]]; do
  case $1 in
    -n) runs=$2; shift 2 ;;
    --umbra) umbra=$2; shift 2 ;;
    --qemu) qemu=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --qemu-icount) export BOOT_QEMU_ICOUNT=$2; shift 2 ;;
    *) echo "usage: $0 [-n RUNS] [--umbra PATH] [--qemu PATH] [--cache DIR] [--qemu-icount X]" >&2
       exit 2 ;;
  esac
done
kinds=()
[[ -x $umbra ]] && kinds+=(umbra) || echo "linux_boot: no Umbra binary at $umbra; QEMU only" >&2
[[ -n $qemu && -x $qemu ]] && kinds+=(qemu) || echo "linux_boot: no qemu-system-x86_64" >&2
[[ ${#kinds[@]} -gt 0 ]] || exit 2
"$root/tests/boot/prepare.sh" "$cache" || exit 1

declare -A init_sum total_sum ok_runs
for k in "${kinds[@]}"; do init_sum[$k]=0 total_sum[$k]=0 ok_runs[$k]=0; done

for ((i = 1; i <= runs; ++i)); do
  for k in "${kinds[@]}"; do
    bin=$umbra; [[ $k == qemu ]] && bin=$qemu
    out=$(BOOT_QUIET=1 "$root/tests/boot/run_boot_test.sh" "$k" "$bin" "$cache" 2>&1)
    status=$?
    t_init=$(sed -n 's/^boot-time-to-init: //p' <<<"$out")
    t_total=$(sed -n 's/^boot-total-time: //p' <<<"$out")
    # A run counts for timing when the guest got through the whole script and powered off,
    # even if a log or cpuinfo check failed (reported next to it).
    if [[ $status -eq 0 ]]; then verdict=pass; else verdict="FAIL ($(grep -m1 '^FAIL' <<<"$out"))"; fi
    if [[ $t_init != n/a && -n $t_init ]] &&
       ! grep -q '^FAIL: \(timed out\|emulator exit status\|missing\)' <<<"$out"; then
      ok_runs[$k]=$((ok_runs[$k] + 1))
      init_sum[$k]=$(echo "${init_sum[$k]} + $t_init" | bc -l)
      total_sum[$k]=$(echo "${total_sum[$k]} + $t_total" | bc -l)
    fi
    printf 'run %d %-5s to-init %8s s  total %8s s  %s\n' "$i" "$k" "$t_init" "$t_total" "$verdict"
  done
done

echo
declare -A init_mean total_mean
for k in "${kinds[@]}"; do
  n=${ok_runs[$k]}
  if [[ $n -eq 0 ]]; then echo "$k: no run reached poweroff"; continue; fi
  init_mean[$k]=$(echo "scale=2; ${init_sum[$k]} / $n" | bc -l)
  total_mean[$k]=$(echo "scale=2; ${total_sum[$k]} / $n" | bc -l)
  printf '%-5s mean of %d: to-init %s s, total %s s\n' "$k" "$n" "${init_mean[$k]}" "${total_mean[$k]}"
done
if [[ -n ${init_mean[umbra]:-} && -n ${init_mean[qemu]:-} ]]; then
  printf 'ratio umbra/qemu: to-init %.2f, total %.2f\n' \
    "$(echo "${init_mean[umbra]} / ${init_mean[qemu]}" | bc -l)" \
    "$(echo "${total_mean[umbra]} / ${total_mean[qemu]}" | bc -l)"
fi
