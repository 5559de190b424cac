//===- CsvLoader.h - Data sets from comma-separated text -------------------------------------===//
//
// One example per line: numeric feature columns and one label column, which holds numbers or
// class names. Errors name the file and the 1-based line: "iris.csv:17: field 3 ...".
//
//===----------------------------------------------------------------------------------------===//
#pragma once

#include "runtime/data/Dataset.h"

#include <string>
#include <string_view>

namespace nnc {

struct CsvOptions {
  enum class Header : uint8_t {
    Auto,    ///< the first line is a header when one of its feature fields is not a number
    Present, ///< the first line is a header
    Absent,  ///< every line is data
  };
  enum class Labels : uint8_t {
    Auto,    ///< class names if any label is not a number; else class indices if all labels
             ///< are integers >= 0; else float targets
    Classes, ///< class names or indices (class names when any label is not an integer)
    Targets, ///< float regression targets (target shape {})
  };
  enum class ClassOrder : uint8_t {
    FirstAppearance, ///< class names get indices in the order they first appear in the file
    Sorted,          ///< class names get indices in byte-wise sorted order
  };
  Header header = Header::Auto;
  Labels labels = Labels::Auto;
  ClassOrder classOrder = ClassOrder::FirstAppearance;
  /// The label column's header name; empty means the last column. Naming one requires a header.
  std::string labelColumn;
  char delimiter = ',';
};

/// Loads the CSV file at `path`. The features of each example form a vector (featureShape {F});
/// class names, when the labels are names, land in Dataset::classNames.
///
/// Lines end in LF or CRLF; blank lines are skipped. Fields are trimmed of spaces and tabs; a
/// field may be quoted ("a,b" or "say ""hi"""), but may not span lines. Every data line must
/// have as many fields as the first line. Feature values must be finite numbers.
Result<Dataset> loadCsv(const std::string &path, const CsvOptions &options = {});

/// Parses CSV `text` as if read from a file named `name` (used in error messages).
Result<Dataset> parseCsv(std::string_view text, std::string_view name, const CsvOptions &options = {});

} // namespace nnc
