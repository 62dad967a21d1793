#!/usr/bin/env bash
# Check that every BPF object in DIR loads in the running kernel.
#
#   scripts/check_corpus_loads.sh DIR
#
# For each DIR/*.o runs `bpftool prog loadall OBJ PINDIR/NAME` (all programs of the object and
# their maps are created and verified), prints OK or FAIL per object (with the tail of the
# verifier log on failure), removes its pins, and exits 1 if any object failed (2 on usage
# errors). Needs root (or CAP_BPF + CAP_SYS_ADMIN) and bpftool; mounts bpffs on /sys/fs/bpf if it
# is not mounted. BPFTOOL and LOG_LINES may be overridden from the environment.
set -u

BPFTOOL=${BPFTOOL:-$(command -v bpftool || echo /usr/sbin/bpftool)}
LOG_LINES=${LOG_LINES:-25}
BPFFS=/sys/fs/bpf
PIN_ROOT=$BPFFS/tristate_corpus_check

usage() { echo "usage: $0 DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
dir=$1
[ -d "$dir" ] || { echo "$0: $dir: not a directory" >&2; exit 2; }
[ -x "$BPFTOOL" ] || { echo "$0: bpftool not found (set BPFTOOL)" >&2; exit 2; }

if [ "$(stat -f -c %T "$BPFFS" 2>/dev/null)" != "bpf_fs" ]; then
  mkdir -p "$BPFFS"
  mount -t bpf bpffs "$BPFFS" || { echo "$0: cannot mount bpffs on $BPFFS" >&2; exit 2; }
fi

tmp=$(mktemp -d)
cleanup() {
  rm -rf "$PIN_ROOT" "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

shopt -s nullglob
objects=("$dir"/*.o)
if [ ${#objects[@]} -eq 0 ]; then
  echo "$0: no .o files in $dir" >&2
  exit 2
fi

rm -rf "$PIN_ROOT"
mkdir -p "$PIN_ROOT"
ok=0
failed=0
for obj in "${objects[@]}"; do
  name=$(basename "$obj" .o)
  pin=$PIN_ROOT/${name//./_} # bpffs refuses names with a dot (EPERM)
  log=$tmp/$name.log
  if "$BPFTOOL" prog loadall "$obj" "$pin" >"$log" 2>&1; then
    nprogs=$(find "$pin" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    printf 'OK    %s (%d program(s))\n' "$name" "$nprogs"
    ok=$((ok + 1))
  else
    printf 'FAIL  %s\n' "$name"
    tail -n "$LOG_LINES" "$log" | sed 's/^/      | /'
    failed=$((failed + 1))
  fi
  rm -rf "$pin"
done

echo "$ok loaded, $failed failed (of ${#objects[@]} in $dir)"
[ "$failed" -eq 0 ]
