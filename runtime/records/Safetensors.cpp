//===- Safetensors.cpp - Checkpoints in the safetensors format -------------------------------===//
//
// nlohmann-json builds and parses the header, used so that it never throws: strings are
// checked to be UTF-8 before they are encoded, and the header is parsed through a SAX handler
// that records a syntax error instead of throwing it. Reading follows the reference
// implementation's checks: header size within the file and below 100 MB, a JSON object
// starting with '{', known dtypes, shapes whose byte size matches data_offsets, and offsets
// that tile the data block exactly (in range, no overlap, no gap, nothing left over).
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/records/Safetensors.h"

#include "support/AtomicFile.h"
#include "support/ReadFile.h"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace nnc {

namespace {

constexpr uint64_t kMaxHeaderSize = 100'000'000; // as in the reference implementation

/// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past
/// U+10FFFF), which is what a JSON encoder requires.
bool isUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size())
      return false;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      if ((byte(i + k) & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    static constexpr uint32_t kMinFor[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinFor[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

/// Builds the header as nlohmann's DOM parser does, but records a syntax error (the byte where
/// it was found and the parser's message) instead of throwing it.
struct HeaderParser : nlohmann::detail::json_sax_dom_parser<nlohmann::json> {
  explicit HeaderParser(nlohmann::json &out) : json_sax_dom_parser(out, /*allow_exceptions=*/false) {}
  bool parse_error(std::size_t position, const std::string &, const nlohmann::detail::exception &e) {
    failed = true;
    byte = position;
    message = e.what();
    return false;
  }
  bool failed = false;
  std::size_t byte = 0;
  std::string message;
};

struct Entry {
  std::string name;
  ElementType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

} // namespace

Result<std::string> encodeSafetensors(const Checkpoint &ckpt) {
  std::vector<const std::pair<const std::string, HostTensor> *> order;
  for (const auto &entry : ckpt.tensors) {
    const HostTensor &t = entry.second;
    if (entry.first == "__metadata__")
      return Error{"a tensor may not be named '__metadata__'"};
    if (!isUtf8(entry.first))
      return Error{"cannot encode the checkpoint header: a tensor name is not valid UTF-8"};
    auto n = shapeElements(t.shape);
    if (!n || *n * elementSize(t.dtype) != t.bytes.size())
      return Error{fmt::format("tensor '{}' has {} bytes, which does not match its shape and dtype "
                               "{}", entry.first, t.bytes.size(), elementTypeName(t.dtype))};
    order.push_back(&entry);
  }
  std::stable_sort(order.begin(), order.end(), [](auto *a, auto *b) {
    return elementSize(a->second.dtype) > elementSize(b->second.dtype);
  });

  for (const auto &[key, value] : ckpt.metadata)
    if (!isUtf8(key) || !isUtf8(value))
      return Error{fmt::format("cannot encode the checkpoint header: metadata '{}' is not valid UTF-8",
                               isUtf8(key) ? key : std::string("?"))};
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!ckpt.metadata.empty())
    header["__metadata__"] = ckpt.metadata;
  uint64_t offset = 0;
  for (const auto *entry : order) {
    const HostTensor &t = entry->second;
    header[entry->first] = {{"dtype", elementTypeName(t.dtype)},
                            {"shape", t.shape},
                            {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  // Every string was checked above, so the strict encoding cannot fail; `replace` only makes
  // that certain without an exception.
  std::string json = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  json.append((8 - json.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + json.size() + offset);
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((static_cast<uint64_t>(json.size()) >> (8 * i)) & 0xFF);
  out += json;
  for (const auto *entry : order)
    out.append(reinterpret_cast<const char *>(entry->second.bytes.data()), entry->second.bytes.size());
  return out;
}

Result<void> writeSafetensors(const std::string &path, const Checkpoint &ckpt) {
  auto bytes = encodeSafetensors(ckpt);
  if (!bytes)
    return Error{fmt::format("{}: {}", path, bytes.message())};
  return writeFileAtomically(path, *bytes);
}

Result<Checkpoint> parseSafetensors(std::string_view bytes, std::string_view name) {
  auto fail = [&](std::string what) { return Error{fmt::format("{}: {}", name, what)}; };
  if (bytes.size() < 8)
    return fail(fmt::format("truncated: {} bytes, less than the 8-byte header size", bytes.size()));
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[static_cast<size_t>(i)])) << (8 * i);
  if (n > kMaxHeaderSize)
    return fail(fmt::format("byte 0: header size {} is above the limit of {}", n, kMaxHeaderSize));
  if (n > bytes.size() - 8)
    return fail(fmt::format("byte 0: header size {} exceeds the {} bytes after it (truncated "
                            "file?)", n, bytes.size() - 8));
  std::string_view text = bytes.substr(8, n);
  if (text.empty() || text.front() != '{')
    return fail("byte 8: the header is not a JSON object");
  std::string_view data = bytes.substr(8 + n);

  nlohmann::json header;
  HeaderParser parser(header);
  if (!nlohmann::json::sax_parse(text.begin(), text.end(), &parser) || parser.failed)
    return fail(fmt::format("byte {}: the header is not valid JSON: {}", 8 + std::max<size_t>(parser.byte, 1) - 1,
                            parser.failed ? parser.message : std::string("parse error")));
  if (!header.is_object())
    return fail("byte 8: the header is not a JSON object");

  Checkpoint ckpt;
  std::vector<Entry> entries;
  for (const auto &[key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object())
        return fail("'__metadata__' is not an object");
      for (const auto &[mk, mv] : value.items()) {
        if (!mv.is_string())
          return fail(fmt::format("metadata '{}' is not a string", mk));
        ckpt.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    auto bad = [&](std::string_view what) { return fail(fmt::format("tensor '{}': {}", key, what)); };
    if (!value.is_object())
      return bad("the entry is not an object");
    auto dt = value.find("dtype");
    auto sh = value.find("shape");
    auto off = value.find("data_offsets");
    if (dt == value.end() || sh == value.end() || off == value.end())
      return bad("the entry lacks one of 'dtype', 'shape', 'data_offsets'");
    if (!dt->is_string())
      return bad("'dtype' is not a string");
    auto dtype = elementTypeFromName(dt->get<std::string>());
    if (!dtype)
      return bad(fmt::format("unsupported dtype '{}' (supported: F32 F64 I32 I64 U8)",
                             dt->get<std::string>()));
    Entry e{key, *dtype, {}, 0, 0};
    if (!sh->is_array())
      return bad("'shape' is not an array");
    for (const auto &d : *sh) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        return bad("'shape' holds something other than a non-negative integer");
      e.shape.push_back(d.get<int64_t>());
    }
    if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      return bad("'data_offsets' is not a pair of non-negative integers");
    e.begin = (*off)[0].get<uint64_t>();
    e.end = (*off)[1].get<uint64_t>();
    if (e.begin > e.end || e.end > data.size())
      return bad(fmt::format("data_offsets [{}, {}] are outside the {} data bytes (truncated "
                             "file?)", e.begin, e.end, data.size()));
    auto numel = shapeElements(e.shape, data.size());
    if (!numel || *numel * elementSize(e.dtype) != e.end - e.begin)
      return bad(fmt::format("shape [{}] of {} needs a different byte count than data_offsets "
                             "[{}, {}]", fmt::join(e.shape, ", "), elementTypeName(e.dtype), e.begin,
                             e.end));
    entries.push_back(std::move(e));
  }

  std::sort(entries.begin(), entries.end(),
            [](const Entry &a, const Entry &b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  uint64_t covered = 0;
  for (const Entry &e : entries) {
    if (e.begin < covered)
      return fail(fmt::format("tensor '{}': data_offsets [{}, {}] overlap another tensor's data",
                              e.name, e.begin, e.end));
    if (e.begin > covered)
      return fail(fmt::format("tensor '{}': bytes [{}, {}) before its data belong to no tensor",
                              e.name, covered, e.begin));
    covered = e.end;
  }
  if (covered != data.size())
    return fail(fmt::format("{} bytes after the last tensor's data belong to no tensor",
                            data.size() - covered));

  for (Entry &e : entries) {
    HostTensor t;
    t.dtype = e.dtype;
    t.shape = std::move(e.shape);
    auto first = reinterpret_cast<const uint8_t *>(data.data()) + e.begin;
    t.bytes.assign(first, first + (e.end - e.begin));
    ckpt.tensors.emplace(e.name, std::move(t));
  }
  return ckpt;
}

Result<Checkpoint> readSafetensors(const std::string &path) {
  auto bytes = readFile(path);
  if (!bytes)
    return bytes.error();
  return parseSafetensors(*bytes, path);
}

} // namespace nnc
