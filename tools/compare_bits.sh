#!/usr/bin/env bash
# Compares every output of the library at a git revision (default HEAD) with the working tree's, bit for bit:
# builds the library twice (Release), runs tools/output_digest.cpp against each, and diffs the digests.
# Usage: bash tools/compare_bits.sh [REV]        exit 0: identical; 1: some output differs (the diff is printed)
set -euo pipefail
source "$(dirname "$0")/revision_tree.sh"
start_in_repository bits
rev=${1:-HEAD}

digest_of() {  # source tree, build folder, output file
  build_tool "$1" "$2" output_digest
  "$2/output_digest" >"$3"
}

checkout_revision "$rev"
digest_of "$work/base-src" "$work/base" "$work/base.txt"
digest_of "$root" "$work/current" "$work/current.txt"
lines=$(wc -l <"$work/current.txt")
if diff "$work/base.txt" "$work/current.txt"; then
  echo "compare_bits: $lines calls, every output bitwise identical to $rev"
else
  echo "compare_bits: outputs differ from $rev (above: < $rev, > working tree)"
  exit 1
fi
