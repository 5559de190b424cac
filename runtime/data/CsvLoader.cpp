//===- CsvLoader.cpp - Data sets from comma-separated text -----------------------------------===//
//
// Two passes: split every non-blank line into fields (checking quotes and the field count),
// then decide whether line one is a header and how to read the labels, and convert.
//
//===----------------------------------------------------------------------------------------===//
#include "runtime/data/CsvLoader.h"

#include "support/ReadFile.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <map>
#include <optional>

namespace nnc {

namespace {

struct Row {
  size_t line; ///< 1-based line number in the file
  std::vector<std::string> fields;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// Splits one line into fields; a quoted field keeps its delimiters and unescapes "".
Result<std::vector<std::string>> splitFields(std::string_view line, char delim, std::string_view name,
                                             size_t lineNo) {
  std::vector<std::string> fields;
  size_t i = 0;
  for (;;) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
      ++i;
    std::string field;
    if (i < line.size() && line[i] == '"') {
      size_t open = i++;
      for (;;) {
        if (i >= line.size())
          return Error{fmt::format("{}:{}: the quoted field starting at column {} is not closed",
                                   name, lineNo, open + 1)};
        if (line[i] == '"' && i + 1 < line.size() && line[i + 1] == '"') {
          field += '"';
          i += 2;
        } else if (line[i] == '"') {
          ++i;
          break;
        } else {
          field += line[i++];
        }
      }
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
        ++i;
      if (i < line.size() && line[i] != delim)
        return Error{fmt::format("{}:{}: unexpected text after the quoted field at column {}", name,
                                 lineNo, open + 1)};
    } else {
      size_t end = line.find(delim, i);
      if (end == std::string_view::npos)
        end = line.size();
      field = trim(line.substr(i, end - i));
      i = end;
    }
    fields.push_back(std::move(field));
    if (i >= line.size())
      return fields;
    ++i; // the delimiter
  }
}

std::optional<double> parseNumber(std::string_view s) {
  if (!s.empty() && s.front() == '+')
    s.remove_prefix(1);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size())
    return std::nullopt;
  return v;
}

bool isClassIndex(std::optional<double> v) {
  return v && *v >= 0 && *v < (1 << 24) && *v == std::floor(*v);
}

} // namespace

Result<Dataset> parseCsv(std::string_view text, std::string_view name, const CsvOptions &options) {
  // 1. Lines to fields.
  std::vector<Row> rows;
  size_t lineNo = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++lineNo;
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (trim(line).empty())
      continue;
    auto fields = splitFields(line, options.delimiter, name, lineNo);
    if (!fields)
      return fields.error();
    if (!rows.empty() && fields->size() != rows.front().fields.size())
      return Error{fmt::format("{}:{}: expected {} fields as on line {}, found {}", name, lineNo,
                               rows.front().fields.size(), rows.front().line, fields->size())};
    rows.push_back({lineNo, std::move(*fields)});
  }
  if (rows.empty())
    return Error{fmt::format("{}: the file has no data lines", name)};
  const size_t columns = rows.front().fields.size();
  if (columns < 2)
    return Error{fmt::format("{}:{}: need at least one feature column and a label column, found {} "
                             "field", name, rows.front().line, columns)};

  // 2. Header and label column.
  bool header = options.header == CsvOptions::Header::Present || !options.labelColumn.empty();
  if (!options.labelColumn.empty() && options.header == CsvOptions::Header::Absent)
    return Error{fmt::format("{}: the label column '{}' is named, but the file is read without a "
                             "header", name, options.labelColumn)};
  size_t labelCol = columns - 1;
  if (!options.labelColumn.empty()) {
    const auto &names = rows.front().fields;
    auto it = std::find(names.begin(), names.end(), options.labelColumn);
    if (it == names.end())
      return Error{fmt::format("{}:{}: the header has no column named '{}' (columns: {})", name,
                               rows.front().line, options.labelColumn, fmt::join(names, ", "))};
    labelCol = static_cast<size_t>(it - names.begin());
  }
  if (options.header == CsvOptions::Header::Auto && !header)
    for (size_t c = 0; c < columns; ++c)
      if (c != labelCol && !parseNumber(rows.front().fields[c]))
        header = true;
  std::span<const Row> data(rows.data() + (header ? 1 : 0), rows.size() - (header ? 1 : 0));
  if (data.empty())
    return Error{fmt::format("{}: the file has a header but no data lines", name)};
  auto columnName = [&](size_t c) {
    return header ? fmt::format("field {} ('{}')", c + 1, rows.front().fields[c])
                  : fmt::format("field {}", c + 1);
  };

  // 3. Features.
  Dataset ds;
  ds.featureShape = {static_cast<int64_t>(columns - 1)};
  ds.features.reserve(data.size() * (columns - 1));
  ds.featureSource = ds.labelSource = std::string(name);
  for (const Row &row : data)
    ds.exampleLines.push_back(static_cast<uint32_t>(row.line));
  for (const Row &row : data)
    for (size_t c = 0; c < columns; ++c) {
      if (c == labelCol)
        continue;
      auto v = parseNumber(row.fields[c]);
      if (!v)
        return Error{fmt::format("{}:{}: {}: '{}' is not a number", name, row.line, columnName(c),
                                 row.fields[c])};
      if (!std::isfinite(static_cast<float>(*v)))
        return Error{fmt::format("{}:{}: {}: '{}' is not a finite float", name, row.line,
                                 columnName(c), row.fields[c])};
      ds.features.push_back(static_cast<float>(*v));
    }

  // 4. Labels: names, indices or targets.
  bool allNumbers = true, allIndices = true;
  for (const Row &row : data) {
    auto v = parseNumber(row.fields[labelCol]);
    allNumbers = allNumbers && v.has_value();
    allIndices = allIndices && isClassIndex(v);
  }
  using Labels = CsvOptions::Labels;
  if (options.labels == Labels::Targets ||
      (options.labels == Labels::Auto && allNumbers && !allIndices)) {
    ds.labelKind = LabelKind::Target;
    for (const Row &row : data) {
      auto v = parseNumber(row.fields[labelCol]);
      if (!v || !std::isfinite(static_cast<float>(*v)))
        return Error{fmt::format("{}:{}: label {}: '{}' is not a finite number", name, row.line,
                                 columnName(labelCol), row.fields[labelCol])};
      ds.targets.push_back(static_cast<float>(*v));
    }
    return ds;
  }
  ds.labelKind = LabelKind::Class;
  if (allIndices) {
    for (const Row &row : data)
      ds.classLabels.push_back(static_cast<int32_t>(*parseNumber(row.fields[labelCol])));
    return ds;
  }
  std::map<std::string, int32_t> index;
  for (const Row &row : data) {
    const std::string &label = row.fields[labelCol];
    if (label.empty())
      return Error{fmt::format("{}:{}: the label ({}) is empty", name, row.line, columnName(labelCol))};
    if (index.emplace(label, static_cast<int32_t>(ds.classNames.size())).second)
      ds.classNames.push_back(label);
  }
  if (options.classOrder == CsvOptions::ClassOrder::Sorted) {
    std::sort(ds.classNames.begin(), ds.classNames.end());
    for (size_t i = 0; i < ds.classNames.size(); ++i)
      index[ds.classNames[i]] = static_cast<int32_t>(i);
  }
  for (const Row &row : data)
    ds.classLabels.push_back(index.at(row.fields[labelCol]));
  return ds;
}

Result<Dataset> loadCsv(const std::string &path, const CsvOptions &options) {
  auto text = readFile(path);
  if (!text)
    return text.error();
  return parseCsv(*text, path, options);
}

} // namespace nnc
