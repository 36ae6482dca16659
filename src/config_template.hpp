// SPDX-License-Identifier: MIT
#pragma once

// `template: true` in a response: ${hostname}, ${version} and ${env:NAME}
// are replaced once, when the configuration is loaded, so serving a request
// costs nothing more. Pure text functions, unit-tested on plain strings;
// config_response.cpp adds the file position to the messages.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace hellod {

// The values a template may name.
struct TemplateVariables {
  std::string hostname;
  std::string version;
  // An environment variable's value, or nothing when it is not set.
  std::function<std::optional<std::string>(const std::string& name)> env;

  // gethostname(2), hellod's version and getenv(3).
  static TemplateVariables from_process();
};

struct TemplateExpansion {
  std::string text;
  std::string error;             // empty when the expansion succeeded
  std::size_t error_offset = 0;  // byte offset of the "${" the error is about
  [[nodiscard]] bool ok() const { return error.empty(); }
};

// Replaces every ${hostname}, ${version} and ${env:NAME} in `text` and turns
// every "$${" into a literal "${"; any other "$" is kept as it is. An
// unknown name, an unset environment variable or a "${" without its "}" is
// an error: a template never silently expands to something else.
TemplateExpansion expand_template(std::string_view text, const TemplateVariables& variables);

// The 1-based line and column of a byte offset in text, as editors count
// them (columns in bytes).
struct TextPosition {
  std::size_t line = 1;
  std::size_t column = 1;
};
TextPosition text_position(std::string_view text, std::size_t offset);

}  // namespace hellod
