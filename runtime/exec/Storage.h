//===- Storage.h - Tensor elements in the layout compiled code reads and writes -------------===//
//
// Compiled functions take one buffer per argument and result, each element stored in its
// dtype's storage form (codegen/Emitter.h: f32 4 bytes, f64 8, i32 4, i1 one byte). The host
// side — the Trainer's state and minibatches, the tests that compare compiled code with the
// interpreter — reads and writes those buffers element by element through these functions, the
// one place that converts between a dtype's storage and a double.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Type.h"

#include <cstddef>

namespace nnc {

/// Bytes of storage for a tensor of `type` as compiled code lays it out (at least 1, so that a
/// buffer of no elements still has an address).
size_t storageSize(const TensorType &type);

/// Element `i` of `buffer`, laid out for `dtype`, as a double.
double readElement(const void *buffer, DType dtype, size_t i);

/// Stores `value` as element `i` of `buffer`, laid out for `dtype`: f32 rounds, i32 truncates
/// toward zero, i1 is `value != 0`.
void writeElement(void *buffer, DType dtype, size_t i, double value);

} // namespace nnc
