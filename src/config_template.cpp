// SPDX-License-Identifier: MIT
#include "config_template.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdlib>

#include "config_values.hpp"
#include "version.hpp"

namespace hellod {
namespace {

constexpr std::string_view kOpen = "${";
constexpr std::string_view kEscapedOpen = "$${";
constexpr std::string_view kEnvPrefix = "env:";

// POSIX.1-2017 §8.1: portable environment variable names are letters,
// digits and '_', not starting with a digit. Anything else is a typo here.
bool is_env_name(std::string_view name) {
  const auto name_char = [](char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  return !name.empty() && !(name.front() >= '0' && name.front() <= '9') &&
         std::all_of(name.begin(), name.end(), name_char);
}

std::string current_hostname() {
  std::array<char, HOST_NAME_MAX + 1> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return {};
  return std::string(name.data());
}

// The value of one "${name}", or an error message.
std::optional<std::string> resolve(std::string_view name, const TemplateVariables& variables,
                                   std::string& error) {
  const std::string variable = "${" + std::string(name) + "}";
  if (name == "hostname") return variables.hostname;
  if (name == "version") return variables.version;
  if (name.starts_with(kEnvPrefix)) {
    const std::string env_name(name.substr(kEnvPrefix.size()));
    if (!is_env_name(env_name)) {
      error = "template variable " + quote(variable) +
              ": expected an environment variable name (letters, digits and _)";
      return std::nullopt;
    }
    auto value = variables.env ? variables.env(env_name) : std::nullopt;
    if (!value) {
      error = "template variable " + quote(variable) + " is undefined: " + env_name +
              " is not set in hellod's environment";
    }
    return value;
  }
  error = "unknown template variable " + quote(variable) +
          " (known: ${hostname}, ${version}, ${env:NAME}; write $${ for a literal ${)";
  return std::nullopt;
}

}  // namespace

TemplateVariables TemplateVariables::from_process() {
  return TemplateVariables{current_hostname(), kVersion,
                           [](const std::string& name) -> std::optional<std::string> {
                             // NOLINTNEXTLINE(concurrency-mt-unsafe): read once at load, on the
                             // main thread.
                             const char* value = std::getenv(name.c_str());
                             if (value == nullptr) return std::nullopt;
                             return std::string(value);
                           }};
}

TemplateExpansion expand_template(std::string_view text, const TemplateVariables& variables) {
  TemplateExpansion out;
  out.text.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t dollar = text.find('$', i);
    out.text.append(text.substr(i, dollar - i));
    if (dollar == std::string_view::npos) break;
    const std::string_view rest = text.substr(dollar);
    if (rest.starts_with(kEscapedOpen)) {
      out.text.append(kOpen);
      i = dollar + kEscapedOpen.size();
    } else if (rest.starts_with(kOpen)) {
      const std::size_t close = rest.find('}');
      if (close == std::string_view::npos) {
        return {{}, "\"${\" without its \"}\" (write $${ for a literal ${)", dollar};
      }
      auto value = resolve(rest.substr(kOpen.size(), close - kOpen.size()), variables, out.error);
      if (!value) return {{}, std::move(out.error), dollar};
      out.text.append(*value);
      i = dollar + close + 1;
    } else {
      out.text += '$';
      i = dollar + 1;
    }
  }
  return out;
}

TextPosition text_position(std::string_view text, std::size_t offset) {
  const std::string_view before = text.substr(0, offset);
  const auto line_start = before.rfind('\n');
  const std::size_t column =
      line_start == std::string_view::npos ? offset + 1 : offset - line_start;
  return {static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n')) + 1, column};
}

}  // namespace hellod
