#!/bin/sh
# Runs one system test kernel and checks its verdict.
#   run_kernel.sh EMULATOR KERNEL.elf
# EMULATOR is qemu-system-x86_64 (the reference, run with -accel tcg) or umbra. The kernel
# passes when the emulator exits with status 33 (isa-debug-exit, value 0x10) and the serial
# output has "PASS <name>". A hang is a failure (timeout).
set -u
if [ $# -ne 2 ]; then
  echo "usage: $0 EMULATOR KERNEL.elf" >&2
  exit 2
fi
emulator=$1
kernel=$2
name=$(basename "$kernel" .elf)
timeout_s=${GUEST_TIMEOUT:-60}

set -- -kernel "$kernel" -m 64M -device isa-debug-exit,iobase=0xf4,iosize=0x4 \
  -serial stdio -display none -no-reboot
case $(basename "$emulator") in
  qemu-system-*)
    # QEMU TCG is the reference; the command line lets the kernel tolerate the few documented
    # places where TCG deviates from the Intel SDM (docs/guest-tests.md).
    set -- -accel tcg -append "tolerate=qemu-tcg" "$@"
    # QEMU_CPU (optional): the -cpu model, for kernels that need more than QEMU's default.
    if [ -n "${QEMU_CPU:-}" ]; then set -- -cpu "$QEMU_CPU" "$@"; fi ;;
esac

output=$(timeout "$timeout_s" "$emulator" "$@" </dev/null 2>&1)
status=$?
printf '%s\n' "$output" | tr -d '\r'
if [ "$status" -eq 124 ]; then
  echo "run_kernel: $name: timed out after ${timeout_s}s"
  exit 1
fi
if [ "$status" -ne 33 ]; then
  echo "run_kernel: $name: exit status $status, expected 33 (isa-debug-exit 0x10)"
  exit 1
fi
if ! printf '%s\n' "$output" | tr -d '\r' | grep -q "^PASS $name\b"; then
  echo "run_kernel: $name: no 'PASS $name' line in the output"
  exit 1
fi
exit 0
