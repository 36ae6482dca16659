// SPDX-License-Identifier: MIT
// The generic pieces of the YAML walker: positions, maps, scalars, files.

#include "config_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include "config_values.hpp"
#include "unique_fd.hpp"

namespace hellod::config_reader {
namespace {

[[noreturn]] void fail_unknown_key(const Field& key, std::string_view name, Handlers handlers) {
  std::vector<std::string_view> known;
  known.reserve(handlers.size());
  for (const auto& handler : handlers) known.push_back(handler.first);
  if (const auto nearest = nearest_name(name, known)) {
    key.fail("unknown key " + quote(name) + ", did you mean " + quote(*nearest) + "?");
  }
  std::string list;
  for (const std::string_view k : known) list.append(list.empty() ? "" : ", ").append(k);
  key.fail("unknown key " + quote(name) + " (known keys: " + list + ")");
}

Error system_error(int errno_value) {
  return Error{std::strerror(errno_value), errno_value};
}

Result<std::string> read_all(int fd, std::size_t max_bytes) {
  std::string data;
  std::array<char, 65536> buffer{};
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n == 0) return data;
    if (n < 0 && errno == EINTR) continue;
    // A directory opens fine but fails here with EISDIR.
    if (n < 0) return system_error(errno);
    if (data.size() + static_cast<std::size_t>(n) > max_bytes) {
      return Error{"larger than " + std::to_string(max_bytes >> 20) + " MiB", EFBIG};
    }
    data.append(buffer.data(), static_cast<std::size_t>(n));
  }
}

}  // namespace

std::string locate(std::string_view file, const YAML::Mark& mark, std::string_view path,
                   std::string_view message) {
  std::string out(file);
  // yaml-cpp marks are 0-based; editors count lines and columns from 1.
  if (!mark.is_null()) {
    out += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  out += ": ";
  if (!path.empty()) out.append(escape_controls(path)).append(": ");
  return out.append(escape_controls(message));
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Scalar:
      return quote(node.Scalar());
    default:
      return "nothing";
  }
}

std::string Field::where() const {
  std::string out(file_);
  if (!mark_.is_null()) {
    out += ":" + std::to_string(mark_.line + 1) + ":" + std::to_string(mark_.column + 1);
  }
  return out;
}

void read_map(const Field& map, Handlers handlers) {
  if (map.node().IsNull()) return;  // An empty section, e.g. all commented out.
  if (!map.node().IsMap()) map.fail("expected a map of settings, got " + describe(map.node()));
  std::vector<std::string> seen;
  for (const auto& item : map.node()) {
    const std::string name = map.at(item.first).scalar("a key name");
    const Field key = map.child(item.first, name);
    const auto* handler = std::find_if(handlers.begin(), handlers.end(),
                                       [&](const auto& h) { return h.first == name; });
    if (handler == handlers.end()) fail_unknown_key(key, name, handlers);
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      key.fail("duplicate key " + quote(name));
    }
    seen.push_back(name);
    handler->second(key.at(item.second));
  }
}

std::int64_t read_integer(const Field& field, std::int64_t low, std::int64_t high) {
  const auto value = field.node().IsScalar() ? parse_integer(field.node().Scalar()) : std::nullopt;
  if (!value || *value < low || *value > high) {
    field.fail("expected an integer " + std::to_string(low) + ".." + std::to_string(high) +
               ", got " + describe(field.node()));
  }
  return *value;
}

bool read_bool(const Field& field) {
  const auto value = parse_bool(field.scalar("true or false"));
  if (!value) field.fail("expected true or false, got " + describe(field.node()));
  return *value;
}

std::chrono::milliseconds read_duration(const Field& field, bool allow_zero) {
  auto value = parse_duration(field.scalar("a duration such as \"10s\""), allow_zero);
  if (!value) field.fail(value.error().message);
  return value.value();
}

Result<std::string> read_file(const std::string& path, std::size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return system_error(errno);
  auto data = read_all(fd, max_bytes);
  ::close(fd);
  return data;
}

// Opened with O_NONBLOCK, so that a FIFO fails here instead of holding the
// reload (or --check-config) in open(2) until some process writes to it.
Result<std::string> read_regular_file(const std::string& path, std::size_t max_bytes) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) return system_error(errno);
  struct stat info {};
  if (::fstat(fd.get(), &info) < 0) return system_error(errno);
  if (S_ISDIR(info.st_mode)) return system_error(EISDIR);
  if (!S_ISREG(info.st_mode)) return Error{"not a regular file", EINVAL};
  return read_all(fd.get(), max_bytes);
}

}  // namespace hellod::config_reader
