// SPDX-License-Identifier: MIT
#pragma once

// The YAML side of the configuration reader, shared by config.cpp,
// config_response.cpp and config_routes.cpp: the only files that include
// yaml-cpp. Its exceptions, and ConfigError, never leave parse_config().

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config.hpp"
#include "result.hpp"

namespace hellod::config_reader {

// The walker stops at the first problem. Throwing this keeps every reader a
// straight line; parse_config() turns it back into an Error.
struct ConfigError {
  Error error;
};

// "file:line:column: key.path: message", 1-based as editors count.
std::string locate(std::string_view file, const YAML::Mark& mark, std::string_view path,
                   std::string_view message);
// "a map", "a sequence", "nothing" or the quoted scalar.
std::string describe(const YAML::Node& node);

// A node with its key path and position, so that any value can say where it
// came from.
class Field {
 public:
  Field(const YAML::Node& node, std::string path, std::string_view file, YAML::Mark fallback)
      : node_(node), path_(std::move(path)), file_(file), mark_(node_.Mark()) {
    // yaml-cpp places an empty value ("key:") where the next token starts,
    // often the following line; its key is where the user will look.
    if (mark_.is_null() || node_.IsNull()) mark_ = fallback;
  }
  Field(const Field&) = default;
  Field(Field&&) = default;
  // YAML::Node's assignment may throw (and would alias, not copy, the node):
  // a Field is set once, by construction or emplace().
  Field& operator=(const Field&) = delete;
  Field& operator=(Field&&) = delete;
  ~Field() = default;

  [[nodiscard]] const YAML::Node& node() const { return node_; }
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string_view file() const { return file_; }

  [[nodiscard]] Field child(const YAML::Node& node, std::string_view name) const {
    return {node, path_.empty() ? std::string(name) : path_ + "." + std::string(name), file_,
            mark_};
  }
  // The same key path at another node, e.g. a map's key rather than its value.
  [[nodiscard]] Field at(const YAML::Node& node) const { return {node, path_, file_, mark_}; }
  [[nodiscard]] Field element(const YAML::Node& node, std::size_t index) const {
    return {node, path_ + "[" + std::to_string(index) + "]", file_, mark_};
  }

  // "file:line:column" of this node, for messages that point at two places.
  [[nodiscard]] std::string where() const;

  [[noreturn]] void fail(std::string_view message, int errno_value = 0) const {
    throw ConfigError{Error{locate(file_, mark_, path_, message), errno_value}};
  }

  // The scalar's text, or an error saying what was expected instead.
  [[nodiscard]] const std::string& scalar(std::string_view expected) const {
    if (!node_.IsScalar()) fail("expected " + std::string(expected) + ", got " + describe(node_));
    return node_.Scalar();
  }

 private:
  YAML::Node node_;
  std::string path_;
  std::string_view file_;
  YAML::Mark mark_;
};

using Handler = std::function<void(const Field&)>;
using Handlers = std::initializer_list<std::pair<std::string_view, Handler>>;

// Dispatches each key of a map to its handler; unknown and repeated keys are
// errors, since yaml-cpp would silently accept both.
void read_map(const Field& map, Handlers handlers);

std::int64_t read_integer(const Field& field, std::int64_t low, std::int64_t high);

template <typename T>
T read_number(const Field& field, std::int64_t low, std::int64_t high) {
  return static_cast<T>(read_integer(field, low, high));
}

bool read_bool(const Field& field);
// A duration in (0, 24h], or [0, 24h] with allow_zero.
std::chrono::milliseconds read_duration(const Field& field, bool allow_zero = false);

// Reads a whole file; on failure the Error carries strerror() and errno.
Result<std::string> read_file(const std::string& path, std::size_t max_bytes);
// The same for a regular file only (a body file): anything else, a FIFO
// or a device, is an error.
Result<std::string> read_regular_file(const std::string& path, std::size_t max_bytes);

// config_response.cpp: `response:` and every route's `response:`.
ResponseConfig read_response(const Field& field);

// config_routes.cpp: `routes:` (validated as a whole: names, shadowing),
// `health:`, and the rule that binds them.
std::vector<RouteConfig> read_routes(const Field& field);
struct HealthField {
  HealthConfig health;
  std::optional<Field> path;  // where health.path was given, if it was
};
// Fills `out`, which the caller keeps: a HealthField is not assignable.
void read_health(const Field& field, HealthField& out);
void check_health(const HealthField& health, const std::vector<RouteConfig>& routes);

}  // namespace hellod::config_reader
