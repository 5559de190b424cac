#!/usr/bin/env bash
# Runs one golden-text test: every line of FILE that contains "RUN:" is a shell pipeline in which
# %s is FILE, %nnc the nnc binary, FileCheck the FileCheck binary and %t a path prefix in a
# scratch folder of this test (removed afterwards) for files the lines pass on, e.g. %t.nnir.
# `not CMD` inverts the exit status of CMD, as in LLVM's lit. The test passes when every RUN
# line succeeds.
set -uo pipefail
file=$1 nnc=$2 filecheck=$3
not() { if "$@"; then return 1; else return 0; fi; }
export -f not
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
found=0
while IFS= read -r line; do
  cmd=${line#*RUN:}
  cmd=${cmd//%s/$file}
  cmd=${cmd//%nnc/$nnc}
  cmd=${cmd//%t/$scratch/t}
  cmd=${cmd//FileCheck/$filecheck}
  found=1
  echo "RUN: $cmd"
  if ! bash -o pipefail -c "$cmd"; then
    echo "FAILED: $cmd" >&2
    exit 1
  fi
done < <(grep -a 'RUN:' "$file")
if [ $found = 0 ]; then echo "no RUN: line in $file" >&2; exit 1; fi
