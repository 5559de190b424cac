//===- Initializers.h - Initial values of parameters and state ------------------------------===//
//
// A state argument of the IR records how it starts as text: `zeros`, `constant(0.1)`,
// `glorot_uniform`, `normal(0,0.01)`, ... This file turns that text into numbers. Draws are
// counter-based (ir/Random.h) from the run's seed mixed with the parameter's name, so a
// parameter's initial value depends on the seed and its name only — not on the order of
// declarations, the batch size or the thread count.
//
// Fan-in and fan-out follow the usual conventions: a matrix [in, out]; a convolution kernel
// [out_channels, in_channels, kh, kw] has fan_in = in_channels*kh*kw and fan_out =
// out_channels*kh*kw; a vector of n has fan_in = fan_out = n.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "ir/Type.h"
#include "support/Result.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nnc {

/// The values of a tensor of type `type` initialized by `init` (the text recorded in the IR).
/// Returns an error for an unknown initializer or malformed arguments.
Result<std::vector<double>> initialValues(const std::string &init, const TensorType &type, uint64_t seed,
                                          const std::string &name);

/// The same values written straight into `zeroed`, a zero-filled buffer of storageSize(type)
/// bytes in the tensor's own element type: elements that start at zero are not written, so a
/// buffer of fresh pages stays untouched where the state starts at zero.
Result<void> initializeZeroed(const std::string &init, const TensorType &type, uint64_t seed,
                              const std::string &name, void *zeroed);

} // namespace nnc
