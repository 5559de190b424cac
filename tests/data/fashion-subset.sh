#!/bin/bash
# Writes the first N training and M test examples of Fashion-MNIST (Debian package
# dataset-fashion-mnist) as IDX files: DIR/train-images.idx, DIR/train-labels.idx,
# DIR/test-images.idx, DIR/test-labels.idx — for runs shorter than a whole epoch.
# Usage: fashion-subset.sh DIR N M
set -eu
dir=$1 n=$2 m=$3
src=/usr/share/datasets/fashion-mnist
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
subset() { # gz file, count, out, header bytes, per-example bytes, magic
  { be32 "$6"; be32 "$2"; if [ "$4" = 16 ]; then be32 28; be32 28; fi
    zcat "$1" | tail -c +$(($4 + 1)) | head -c $(($2 * $5)); } > "$3"
}
mkdir -p "$dir"
subset $src/train-images-idx3-ubyte.gz "$n" "$dir/train-images.idx" 16 784 2051
subset $src/train-labels-idx1-ubyte.gz "$n" "$dir/train-labels.idx" 8 1 2049
subset $src/t10k-images-idx3-ubyte.gz "$m" "$dir/test-images.idx" 16 784 2051
subset $src/t10k-labels-idx1-ubyte.gz "$m" "$dir/test-labels.idx" 8 1 2049
