# Deterministic test data for the Linux boot test (about 3 MiB): run by busybox sh both in the
# guest (/gen_data.sh) and on the host (to know the expected sha256 digest). Mostly cheap bulk
# (seq), with smaller awk (integer arithmetic, printf) and sed (regex) parts.
seq 1 350000
seq 1 30000 | awk '{ s = (s * 31 + $1) % 1000003; printf "%d %d %x\n", $1, s, $1 * 7 }'
seq 1 20000 | sed 's/\([0-9]\)/<\1>/g'
