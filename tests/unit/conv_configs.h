//===- conv_configs.h - Convolution and pooling configurations for the differential tests ---===//
//
// Small models that each reach one configuration of conv2d (kernel 1 to 7, stride, padding,
// rectangular input, batch 1, with and without bias and activation) and of pooling (max and
// average, overlapping windows, padding). Every model starts with a pointwise convolution
// (1×1, stride 1, no padding: a plain product), so the configured convolution also has an
// input gradient. e2e_differential_test.cpp runs their train steps against the interpreter,
// passes_grad_check_test.cpp checks their gradients.
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nnc::testing {

struct ConvConfig {
  std::string label;
  int64_t batch, height, width; ///< the input [batch, 2, height, width]
  std::string conv;             ///< the configured layer's arguments after its input
  std::string pool;             ///< a pooling call on `c1`, or empty (k2 and k4 leave a row and a column no window covers)
};

/// Batch normalization in both layouts of its kernels (codegen/EmitBatchNorm.cpp): over a
/// convolution's channels (runs of 6×5 elements per channel and image) and over a dense layer's
/// features (channels contiguous), with its own momentum and eps, before relu and max pooling
/// and before tanh. The dense layer before the second batchnorm has no bias and an activation:
/// batchnorm's gradient sums to zero over the batch, so a bias there would get f32 noise for a
/// gradient, and through a linear layer the sums reaching the first batchnorm's beta would
/// cancel to noise too — which Adagrad, RMSprop and Adam turn into full-size steps.
inline const char *kBatchNormModel = R"(
model batchnorm {
  input  x : f32[B, 2, 6, 5]
  target y : i32[B]
  c1 = conv2d(x, 4, kernel = 3, pad = 1, bias = false)
  p1 = maxpool(relu(batchnorm(c1, momentum = 0.8, eps = 0.001)), 2)
  h  = dense(flatten(p1), 6, act = sigmoid, bias = false)  # see below
  logits = dense(tanh(batchnorm(h)), 3)
  output probs = softmax(logits)
  loss mean(softmax_cross_entropy(logits, y))
}
train {
  optimizer sgd(lr = 0.05, momentum = 0.9)
}
)";

inline std::vector<ConvConfig> convConfigs() {
  return {
      {"k1_pointwise", 3, 5, 6, "4, kernel = 1, act = relu", ""},
      {"k1_stride2_pad1", 2, 6, 7, "3, kernel = 1, stride = 2, pad = 1", ""},
      {"k2_sigmoid_nobias_maxpool", 2, 8, 5, "3, kernel = 2, act = sigmoid, bias = false", "maxpool(c1, 2)"},
      {"k3_stride2_rect_batch1", 1, 7, 10, "4, kernel = 3, stride = 2, pad = 1, act = relu", ""},
      {"k4_tanh_avgpool", 2, 8, 8, "3, kernel = 4, pad = 1, act = tanh", "avgpool(c1, 2)"},
      {"k5_maxpool_overlap_pad", 2, 9, 7, "3, kernel = 5, pad = 2, act = relu", "maxpool(c1, 3, stride = 2, pad = 1)"},
      {"k6_stride3", 2, 8, 9, "3, kernel = 6, stride = 3, pad = 2, act = relu", ""},
      {"k7_avgpool_overlap_pad", 2, 9, 9, "2, kernel = 7, pad = 3", "avgpool(c1, 3, stride = 2, pad = 1)"},
      {"k3_relu_maxpool_stride1", 2, 6, 6, "3, kernel = 3, pad = 1, act = relu", "maxpool(c1, 2, stride = 1)"},
  };
}

/// The model of `c`: x → pointwise conv (tanh) → the configured conv → pooling → dense → loss.
inline std::string convConfigModel(const ConvConfig &c) {
  return fmt::format(R"(
model conv_{0} {{
  input  x : f32[B, 2, {1}, {2}]
  target y : i32[B]
  c0 = conv2d(x, 3, kernel = 1, act = tanh)
  c1 = conv2d(c0, {3})
  p  = {4}
  logits = dense(flatten(p), 3)
  loss mean(softmax_cross_entropy(logits, y))
}}
train {{
  optimizer adam(lr = 0.01)
}}
)",
                     c.label, c.height, c.width, c.conv, c.pool.empty() ? "c1" : c.pool);
}

} // namespace nnc::testing
