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
  std::string first = "tanh";   ///< the activation of the pointwise convolution before it
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
      // The GEMM epilogue of each activation with and without the bias (forward), and of each
      // activation's derivative on the input gradient (the first convolution's activation).
      {"k3_sigmoid_bias_after_relu", 2, 6, 7, "3, kernel = 3, pad = 1, act = sigmoid", "", "relu"},
      {"k2_relu_nobias_after_sigmoid", 2, 5, 6, "4, kernel = 2, pad = 1, act = relu, bias = false", "", "sigmoid"},
      // ReLU after 2x2 max pooling that tiles the input but for a row and a column
      // (fuse-pool-relu), next to the overlapping and padded windows above.
      {"k3_relu_maxpool_tiles", 2, 7, 9, "3, kernel = 3, pad = 1, act = relu", "maxpool(c1, 2)"},
      {"k1_tanh_nobias_after_relu", 2, 4, 5, "3, kernel = 1, act = tanh, bias = false", "avgpool(c1, 2)", "relu"},
      // An unpadded kernel, whose input gradient is col2im(wᵀ·dy), on rows wider than one
      // vector: dx is gathered in whole vectors and a masked tail, times the sigmoid's
      // derivative as it is stored (codegen/EmitConv.cpp).
      {"k5_valid_wide_col2im", 2, 7, 37, "3, kernel = 5, act = relu", "", "sigmoid"},
  };
}

/// The model of `c`: x → pointwise conv (c.first) → the configured conv → pooling → dense → loss.
inline std::string convConfigModel(const ConvConfig &c) {
  return fmt::format(R"(
model conv_{0} {{
  input  x : f32[B, 2, {1}, {2}]
  target y : i32[B]
  c0 = conv2d(x, 3, kernel = 1, act = {5})
  c1 = conv2d(c0, {3})
  p  = {4}
  logits = dense(flatten(p), 3)
  loss mean(softmax_cross_entropy(logits, y))
}}
train {{
  optimizer adam(lr = 0.01)
}}
)",
                     c.label, c.height, c.width, c.conv, c.pool.empty() ? "c1" : c.pool, c.first);
}

} // namespace nnc::testing
