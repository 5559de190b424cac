//===- Npy.cpp - NumPy .npy arrays -------------------------------------------------------------===//
//
// The header dict is read by a small recursive-descent parser over exactly the literals numpy
// writes: quoted strings, True/False and tuples of integers. Every error reports its byte offset
// from the start of the file.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/data/Npy.h"

#include "support/AtomicFile.h"
#include "support/ReadFile.h"

#include <cctype>
#include <fmt/format.h>
#include <cmath>
#include <fmt/ranges.h>
#include <optional>

namespace nnc {

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";

std::optional<ElementType> dtypeFromDescr(std::string_view d) {
  if (d == "<f4") return ElementType::F32;
  if (d == "<f8") return ElementType::F64;
  if (d == "<i4") return ElementType::I32;
  if (d == "<i8") return ElementType::I64;
  if (d == "|u1") return ElementType::U8;
  return std::nullopt;
}

std::string_view descrOf(ElementType t) {
  switch (t) {
  case ElementType::F32: return "<f4";
  case ElementType::F64: return "<f8";
  case ElementType::I32: return "<i4";
  case ElementType::I64: return "<i8";
  case ElementType::U8: return "|u1";
  }
  return "?";
}

/// grammar: dict := '{' (string ':' value ',')* (string ':' value)? '}'
///          value := string | 'True' | 'False' | '(' (int ',')* int? ')'
class HeaderParser {
public:
  HeaderParser(std::string_view text, size_t base, std::string_view name)
      : s_(text), base_(base), name_(name) {}

  struct Fields {
    std::optional<std::string> descr;
    std::optional<bool> fortranOrder;
    std::optional<std::vector<int64_t>> shape;
  };

  Result<Fields> parse() {
    Fields f;
    skipSpace();
    if (!eat('{'))
      return fail("expected '{' to open the header dict");
    for (;;) {
      skipSpace();
      if (eat('}'))
        break;
      size_t keyAt = i_;
      auto key = string();
      if (!key)
        return key.error();
      skipSpace();
      if (!eat(':'))
        return fail("expected ':' after a key");
      skipSpace();
      if (*key == "descr") {
        auto v = string();
        if (!v)
          return v.error();
        f.descr = *v;
      } else if (*key == "fortran_order") {
        if (word("True"))
          f.fortranOrder = true;
        else if (word("False"))
          f.fortranOrder = false;
        else
          return fail("expected True or False for 'fortran_order'");
      } else if (*key == "shape") {
        auto v = tuple();
        if (!v)
          return v.error();
        f.shape = *v;
      } else {
        i_ = keyAt;
        return fail(fmt::format("unexpected key '{}' in the header", *key));
      }
      skipSpace();
      if (eat(','))
        continue;
      skipSpace();
      if (eat('}'))
        break;
      return fail("expected ',' or '}' in the header dict");
    }
    skipSpace();
    if (i_ != s_.size())
      return fail("unexpected text after the header dict");
    if (!f.descr || !f.fortranOrder || !f.shape) {
      i_ = 0;
      return fail("the header lacks one of 'descr', 'fortran_order', 'shape'");
    }
    return f;
  }

  /// Error at the current position.
  Error fail(std::string_view what) const {
    return Error{fmt::format("{}: byte {}: {}", name_, base_ + i_, what)};
  }

private:
  void skipSpace() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_])))
      ++i_;
  }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w)
      return false;
    i_ += w.size();
    return true;
  }
  Result<std::string> string() {
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"'))
      return fail("expected a quoted string");
    char quote = s_[i_++];
    size_t end = s_.find(quote, i_);
    if (end == std::string_view::npos)
      return fail("unterminated string");
    std::string out(s_.substr(i_, end - i_));
    i_ = end + 1;
    return out;
  }
  Result<std::vector<int64_t>> tuple() {
    if (!eat('('))
      return fail("expected '(' to open the shape tuple");
    std::vector<int64_t> dims;
    for (;;) {
      skipSpace();
      if (eat(')'))
        return dims;
      if (i_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[i_])))
        return fail("expected a non-negative integer in the shape tuple");
      int64_t d = 0;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
        if (d > (INT64_MAX - 9) / 10)
          return fail("a dimension is too large");
        d = d * 10 + (s_[i_++] - '0');
      }
      dims.push_back(d);
      skipSpace();
      if (eat(','))
        continue;
      skipSpace();
      if (eat(')'))
        return dims;
      return fail("expected ',' or ')' in the shape tuple");
    }
  }

  std::string_view s_;
  size_t base_;
  std::string_view name_;
  size_t i_ = 0;
};

uint32_t littleEndian(std::string_view b, size_t at, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i)
    v |= static_cast<uint32_t>(static_cast<uint8_t>(b[at + i])) << (8 * i);
  return v;
}

} // namespace

Result<HostTensor> parseNpy(std::string_view bytes, std::string_view name) {
  if (bytes.size() < 8)
    return Error{fmt::format("{}: byte {}: the file ends inside the .npy preamble", name, bytes.size())};
  if (bytes.substr(0, 6) != kMagic)
    return Error{fmt::format("{}: byte 0: not a .npy file (no \\x93NUMPY magic)", name)};
  unsigned major = static_cast<uint8_t>(bytes[6]), minor = static_cast<uint8_t>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    return Error{fmt::format("{}: byte 6: unsupported .npy version {}.{}", name, major, minor)};
  size_t lenBytes = major == 1 ? 2 : 4;
  if (bytes.size() < 8 + lenBytes)
    return Error{fmt::format("{}: byte {}: the file ends inside the header length", name, bytes.size())};
  size_t headerStart = 8 + lenBytes;
  size_t headerLen = littleEndian(bytes, 8, lenBytes);
  if (bytes.size() - headerStart < headerLen)
    return Error{fmt::format("{}: byte {}: the file ends inside the {}-byte header", name,
                             bytes.size(), headerLen)};
  auto fields = HeaderParser(bytes.substr(headerStart, headerLen), headerStart, name).parse();
  if (!fields)
    return fields.error();
  if (*fields->fortranOrder)
    return Error{fmt::format("{}: byte {}: fortran_order=True is not supported (save the array in "
                             "C order)", name, headerStart)};
  auto dtype = dtypeFromDescr(*fields->descr);
  if (!dtype)
    return Error{fmt::format("{}: byte {}: unsupported dtype '{}' (supported: <f4 <f8 <i4 <i8 |u1)",
                             name, headerStart, *fields->descr)};
  size_t dataStart = headerStart + headerLen;
  uint64_t have = bytes.size() - dataStart;
  auto numel = shapeElements(*fields->shape, have);
  if (!numel)
    return Error{fmt::format("{}: byte {}: the shape needs more data than the file has ({} bytes)",
                             name, headerStart, have)};
  uint64_t need = *numel * elementSize(*dtype);
  if (have != need)
    return Error{fmt::format("{}: byte {}: {}: the shape needs {} data bytes, the file has {}", name,
                             dataStart, have < need ? "truncated" : "wrong size", need, have)};
  HostTensor t;
  t.dtype = *dtype;
  t.shape = *fields->shape;
  t.bytes.assign(bytes.begin() + static_cast<ptrdiff_t>(dataStart), bytes.end());
  return t;
}

Result<HostTensor> readNpy(const std::string &path) {
  auto bytes = readFile(path);
  if (!bytes)
    return bytes.error();
  return parseNpy(*bytes, path);
}

std::string encodeNpy(const HostTensor &t) {
  std::string shape = "(";
  for (int64_t d : t.shape)
    shape += fmt::format("{}, ", d);
  if (t.shape.size() == 1)
    shape.pop_back(); // (3,)
  else if (!t.shape.empty())
    shape.resize(shape.size() - 2); // (2, 3)
  shape += ")";
  std::string dict =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descrOf(t.dtype), shape);
  // Pad with spaces so that the data starts at a multiple of 64 bytes; the header ends in '\n'.
  bool v1 = dict.size() + 1 + 10 <= 65535 + 10;
  size_t preamble = v1 ? 10 : 12;
  size_t total = (preamble + dict.size() + 1 + 63) / 64 * 64;
  size_t headerLen = total - preamble;
  dict.append(headerLen - dict.size() - 1, ' ');
  dict += '\n';
  std::string out(kMagic);
  out += static_cast<char>(v1 ? 1 : 2);
  out += '\0';
  for (size_t i = 0; i < (v1 ? 2u : 4u); ++i)
    out += static_cast<char>((headerLen >> (8 * i)) & 0xFF);
  out += dict;
  out.append(reinterpret_cast<const char *>(t.bytes.data()), t.bytes.size());
  return out;
}

Result<void> writeNpy(const std::string &path, const HostTensor &t) {
  return writeFileAtomically(path, encodeNpy(t));
}

Result<Dataset> loadNpyPair(const std::string &features, const std::string &labels) {
  auto x = readNpy(features);
  if (!x)
    return x.error();
  auto y = readNpy(labels);
  if (!y)
    return y.error();
  if (x->shape.empty())
    return Error{fmt::format("{}: the features must have a leading example dimension, the array is "
                             "a scalar", features)};
  if (y->shape.empty() || y->shape[0] != x->shape[0])
    return Error{fmt::format("{} has {} examples but {} has shape ({})", features, x->shape[0],
                             labels, fmt::join(y->shape, ", "))};
  Dataset ds;
  ds.featureShape.assign(x->shape.begin() + 1, x->shape.end());
  ds.features = x->toFloat();
  bool integral = y->dtype == ElementType::I32 || y->dtype == ElementType::I64 || y->dtype == ElementType::U8;
  if (integral) {
    ds.labelKind = LabelKind::Class;
    ds.classShape.assign(y->shape.begin() + 1, y->shape.end()); // e.g. a label per time step
    std::vector<int64_t> raw;
    if (y->dtype == ElementType::I64)
      raw = y->values<int64_t>();
    else if (y->dtype == ElementType::I32)
      for (int32_t v : y->values<int32_t>())
        raw.push_back(v);
    else
      for (uint8_t v : y->values<uint8_t>())
        raw.push_back(v);
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] < 0 || raw[i] > INT32_MAX)
        return Error{fmt::format("{}: row {}: label {} is not a class index", labels,
                                 i / std::max<size_t>(1, ds.labelsPerExample()), raw[i])};
      ds.classLabels.push_back(static_cast<int32_t>(raw[i]));
    }
  } else {
    ds.labelKind = LabelKind::Target;
    ds.targetShape.assign(y->shape.begin() + 1, y->shape.end());
    ds.targets = y->toFloat();
  }
  ds.featureSource = features;
  ds.labelSource = labels;
  // NaN or infinity in the data would train silently to a NaN model.
  for (size_t part = 0; part < 2; ++part) {
    const std::vector<float> &v = part == 0 ? ds.features : ds.targets;
    size_t per = part == 0 ? ds.featureSize() : ds.targetSize();
    for (size_t i = 0; i < v.size(); ++i)
      if (!std::isfinite(v[i]))
        return Error{fmt::format("{}: row {}: {} {} is not a finite number", part == 0 ? features : labels,
                                 i / std::max<size_t>(1, per), part == 0 ? "feature value" : "target value", v[i])};
  }
  if (auto ok = ds.validate(); !ok)
    return Error{fmt::format("{}, {}: {}", features, labels, ok.message())};
  return ds;
}

} // namespace nnc
