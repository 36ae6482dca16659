// Walks a YAML document into a validated Config. This is the only file that
// includes yaml-cpp; its exceptions are caught in parse_config() and never
// leave it. The value rules themselves live in config_values.cpp.

#include "config.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "config_values.hpp"

namespace hellod {
namespace {

// A config file may carry an inline body of up to kMaxBodyBytes, plus YAML
// quoting overhead.
constexpr std::size_t kMaxConfigBytes = 2 * kMaxBodyBytes;
constexpr unsigned kMaxWorkers = 256;

// The walker stops at the first problem. Throwing this keeps every reader a
// straight line; parse_config() turns it back into an Error.
struct ConfigError {
  Error error;
};

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

  [[nodiscard]] const YAML::Node& node() const { return node_; }
  [[nodiscard]] const std::string& path() const { return path_; }

  [[nodiscard]] Field child(const YAML::Node& node, std::string_view name) const {
    return {node, path_.empty() ? std::string(name) : path_ + "." + std::string(name), file_,
            mark_};
  }
  // The same key path at another node, e.g. a map's key rather than its value.
  [[nodiscard]] Field at(const YAML::Node& node) const { return {node, path_, file_, mark_}; }
  [[nodiscard]] Field element(const YAML::Node& node, std::size_t index) const {
    return {node, path_ + "[" + std::to_string(index) + "]", file_, mark_};
  }

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

// Reads a whole file; on failure the Error carries strerror() and errno.
Result<std::string> read_file(const std::string& path, std::size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return system_error(errno);
  auto data = read_all(fd, max_bytes);
  ::close(fd);
  return data;
}

using Handler = std::function<void(const Field&)>;
using Handlers = std::initializer_list<std::pair<std::string_view, Handler>>;

[[noreturn]] void fail_unknown_key(const Field& key, std::string_view name, Handlers handlers) {
  std::vector<std::string_view> known;
  for (const auto& handler : handlers) known.push_back(handler.first);
  if (const auto nearest = nearest_name(name, known)) {
    key.fail("unknown key " + quote(name) + ", did you mean " + quote(*nearest) + "?");
  }
  std::string list;
  for (const std::string_view k : known) list.append(list.empty() ? "" : ", ").append(k);
  key.fail("unknown key " + quote(name) + " (known keys: " + list + ")");
}

// Dispatches each key of a map to its handler; unknown and repeated keys are
// errors, since yaml-cpp would silently accept both.
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

template <typename T>
T read_number(const Field& field, std::int64_t low, std::int64_t high) {
  return static_cast<T>(read_integer(field, low, high));
}

std::chrono::milliseconds read_duration(const Field& field) {
  auto value = parse_duration(field.scalar("a duration such as \"10s\""));
  if (!value) field.fail(value.error().message);
  return value.value();
}

ListenAddress read_address(const Field& field) {
  auto address = parse_listen_address(field.scalar("an address such as \"0.0.0.0:8080\""));
  if (!address) field.fail(address.error().message);
  return std::move(address).value();
}

std::vector<ListenAddress> read_listen(const Field& field) {
  if (field.node().IsScalar()) return {read_address(field)};
  if (!field.node().IsSequence()) {
    field.fail("expected an address or a list of addresses, got " + describe(field.node()));
  }
  if (field.node().size() == 0) field.fail("expected at least one address");
  std::vector<ListenAddress> addresses;
  for (std::size_t i = 0; i < field.node().size(); ++i) {
    const Field element = field.element(field.node()[i], i);
    ListenAddress address = read_address(element);
    const auto same = std::find(addresses.begin(), addresses.end(), address);
    if (same != addresses.end()) {
      element.fail("duplicate address " + quote(address.to_string()) + " (already " + field.path() +
                   "[" + std::to_string(same - addresses.begin()) + "])");
    }
    addresses.push_back(std::move(address));
  }
  return addresses;
}

unsigned read_workers(const Field& field) {
  if (field.node().IsScalar() && field.node().Scalar() == "auto") {
    // hardware_concurrency() may return 0 when it cannot tell.
    return std::clamp(std::thread::hardware_concurrency(), 1U, kMaxWorkers);
  }
  const auto value = field.node().IsScalar() ? parse_integer(field.node().Scalar()) : std::nullopt;
  if (!value || *value < 1 || *value > kMaxWorkers) {
    field.fail("expected an integer 1.." + std::to_string(kMaxWorkers) + " or \"auto\", got " +
               describe(field.node()));
  }
  return static_cast<unsigned>(*value);
}

// A value hellod copies into a response header field.
std::string read_field_value(const Field& field) {
  const std::string& value = field.scalar("a string");
  if (const auto problem = field_value_problem(value)) field.fail(*problem);
  return value;
}

std::string read_body(const Field& field) {
  const std::string& body = field.scalar("a string (write \"\" for an empty body)");
  if (body.size() > kMaxBodyBytes) field.fail("larger than 64 MiB");
  return body;
}

std::string read_body_file(const Field& field) {
  const std::string& path = field.scalar("a file path");
  if (path.empty()) field.fail("expected a file path, got \"\"");
  auto content = read_file(path, kMaxBodyBytes);
  if (!content) {
    field.fail("cannot read " + quote(path) + ": " + content.error().message,
               content.error().errno_value);
  }
  return std::move(content).value();
}

std::vector<std::pair<std::string, std::string>> read_headers(const Field& field) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (field.node().IsNull()) return headers;
  if (!field.node().IsMap()) field.fail("expected a map of header names to values");
  for (const auto& item : field.node()) {
    const std::string name = field.at(item.first).scalar("a header name");
    const Field key = field.child(item.first, name);
    if (const auto problem = header_name_problem(name)) key.fail(*problem);
    const bool repeated = std::any_of(headers.begin(), headers.end(),
                                      [&](const auto& h) { return iequals(h.first, name); });
    if (repeated) key.fail("duplicate header " + quote(name) + " (names are case-insensitive)");
    headers.emplace_back(name, read_field_value(key.at(item.second)));
  }
  return headers;
}

ResponseConfig read_response(const Field& field) {
  ResponseConfig response;
  std::optional<std::string> body_source;  // "body" or "body_file", whichever came first
  const auto read_body_from = [&](const Field& value, std::string_view key, auto reader) {
    if (body_source) {
      value.fail("\"body\" and \"body_file\" are exclusive; remove one (\"" + *body_source +
                 "\" is also set)");
    }
    body_source = key;
    response.body = reader(value);
  };
  read_map(field,
           {{"status", [&](const Field& v) { response.status = read_number<int>(v, 200, 599); }},
            {"content_type",
             [&](const Field& v) {
               response.content_type = read_field_value(v);
               if (response.content_type.empty()) v.fail("must not be empty");
             }},
            {"body", [&](const Field& v) { read_body_from(v, "body", read_body); }},
            {"body_file", [&](const Field& v) { read_body_from(v, "body_file", read_body_file); }},
            {"headers", [&](const Field& v) { response.headers = read_headers(v); }}});
  return response;
}

Timeouts read_timeouts(const Field& field) {
  Timeouts t;
  read_map(field, {{"header", [&](const Field& v) { t.header = read_duration(v); }},
                   {"keepalive", [&](const Field& v) { t.keepalive = read_duration(v); }},
                   {"send", [&](const Field& v) { t.send = read_duration(v); }},
                   {"shutdown", [&](const Field& v) { t.shutdown = read_duration(v); }}});
  return t;
}

Limits read_limits(const Field& field) {
  Limits l;
  read_map(
      field,
      {{"max_connections",
        [&](const Field& v) { l.max_connections = read_number<std::uint32_t>(v, 1, 1'000'000); }},
       {"max_header_bytes",
        [&](const Field& v) { l.max_header_bytes = read_number<std::uint32_t>(v, 256, 1 << 20); }},
       {"max_body_bytes",
        [&](const Field& v) {
          l.max_body_bytes = read_number<std::uint64_t>(v, 0, std::int64_t{1} << 40);
        }},
       {"keepalive_requests", [&](const Field& v) {
          l.keepalive_requests = read_number<std::uint32_t>(v, 1, 1'000'000'000);
        }}});
  return l;
}

LogLevel read_log_level(const Field& field) {
  const auto level = parse_log_level(field.scalar("a log level"));
  if (!level) {
    field.fail("expected one of trace, debug, info, warn, error, critical, off, got " +
               describe(field.node()));
  }
  return *level;
}

LogTarget read_log_target(const Field& field) {
  const auto target = parse_log_target(field.scalar("a log target"));
  if (!target) field.fail("expected one of auto, stderr, journal, got " + describe(field.node()));
  return *target;
}

AccessLogFormat read_access_log_format(const Field& field) {
  const auto format = parse_access_log_format(field.scalar("false, true, text or json"));
  if (!format) field.fail("expected false, true, text or json, got " + describe(field.node()));
  return *format;
}

LogConfig read_log(const Field& field) {
  LogConfig log;
  read_map(field, {{"level", [&](const Field& v) { log.level = read_log_level(v); }},
                   {"access", [&](const Field& v) { log.access = read_access_log_format(v); }},
                   {"target", [&](const Field& v) { log.target = read_log_target(v); }}});
  return log;
}

// metrics.listen must not take an address of listen: (the public
// listeners never serve metrics), checked once both are read; elements keep
// their Field so the error points at the metrics address.
void check_metrics_overlap(const Config& config, const std::vector<Field>& elements) {
  for (std::size_t i = 0; i < config.metrics.listen.size(); ++i) {
    for (const ListenAddress& public_address : config.listen) {
      if (addresses_overlap(config.metrics.listen[i], public_address)) {
        elements[i].fail("overlaps " + quote(public_address.to_string()) +
                         " in listen: metrics need an address of their own");
      }
    }
  }
}

MetricsConfig read_metrics(const Field& field, std::vector<Field>& listen_elements) {
  MetricsConfig metrics;
  if (field.node().IsNull()) return metrics;  // "metrics:" alone: off, as if absent
  read_map(field,
           {{"listen",
             [&](const Field& v) {
               metrics.listen = read_listen(v);
               for (std::size_t i = 0; i < metrics.listen.size(); ++i)
                 listen_elements.push_back(v.node().IsSequence() ? v.element(v.node()[i], i) : v);
             }},
            {"path", [&](const Field& v) {
               metrics.path = v.scalar("a path such as \"/metrics\"");
               if (const auto problem = metrics_path_problem(metrics.path)) v.fail(*problem);
             }}});
  if (metrics.listen.empty()) field.fail("listen: is required (e.g. listen: [\"127.0.0.1:9464\"])");
  return metrics;
}

Config read_config(const Field& root) {
  Config config;
  std::vector<Field> metrics_listen;
  read_map(root, {{"listen", [&](const Field& v) { config.listen = read_listen(v); }},
                  {"workers", [&](const Field& v) { config.workers = read_workers(v); }},
                  {"response", [&](const Field& v) { config.response = read_response(v); }},
                  {"timeouts", [&](const Field& v) { config.timeouts = read_timeouts(v); }},
                  {"limits", [&](const Field& v) { config.limits = read_limits(v); }},
                  {"log", [&](const Field& v) { config.log = read_log(v); }},
                  {"metrics",
                   [&](const Field& v) { config.metrics = read_metrics(v, metrics_listen); }}});
  check_metrics_overlap(config, metrics_listen);
  return config;
}

// Counts the documents of a YAML stream and where the second one starts.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 1) first_ = mark;
    if (documents_ == 2) second_ = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& /*mark*/, YAML::anchor_t /*anchor*/) override {}
  void OnAlias(const YAML::Mark& /*mark*/, YAML::anchor_t /*anchor*/) override {}
  void OnScalar(const YAML::Mark& /*mark*/, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                const std::string& /*value*/) override {}
  void OnSequenceStart(const YAML::Mark& /*mark*/, const std::string& /*tag*/,
                       YAML::anchor_t /*anchor*/, YAML::EmitterStyle::value /*style*/) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& /*mark*/, const std::string& /*tag*/, YAML::anchor_t /*anchor*/,
                  YAML::EmitterStyle::value /*style*/) override {}
  void OnMapEnd() override {}

  [[nodiscard]] int documents() const { return documents_; }
  [[nodiscard]] const YAML::Mark& second() const { return second_; }
  // yaml-cpp 0.7 reads some junk (a lone ",") as endless empty documents
  // that all start at the same place.
  [[nodiscard]] bool stuck() const { return second_.pos <= first_.pos; }

 private:
  int documents_ = 0;
  YAML::Mark first_ = YAML::Mark::null_mark();
  YAML::Mark second_ = YAML::Mark::null_mark();
};

// One document, or an error. YAML::LoadAll never returns on some inputs
// (yaml-cpp 0.7 loops on a lone ","), so the stream is walked for at most two
// documents and the first is loaded on its own.
YAML::Node load_one_document(const std::string& text, std::string_view file_name) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentCounter counter;
  for (int i = 0; i < 2 && parser.HandleNextDocument(counter); ++i) {
  }
  if (counter.documents() > 1) {
    Field(YAML::Node(), "", file_name, counter.second())
        .fail(counter.stuck() ? "invalid YAML: unexpected character"
                              : "a config file holds one YAML document, found a second");
  }
  return YAML::Load(text);
}

Config read_document(const YAML::Node& document, std::string_view file_name) {
  // An empty file (or one holding only comments) means all defaults.
  if (!document.IsDefined() || document.IsNull()) return Config{};
  return read_config(Field(document, "", file_name, YAML::Mark()));
}

}  // namespace

Result<Config> parse_config(std::string_view yaml_text, std::string_view file_name) {
  try {
    const std::string text(yaml_text);
    return read_document(load_one_document(text, file_name), file_name);
  } catch (const ConfigError& e) {
    return e.error;
  } catch (const YAML::Exception& e) {
    return Error{locate(file_name, e.mark, "", "invalid YAML: " + e.msg)};
  }
}

Result<Config> load_config_file(const std::string& path) {
  auto text = read_file(path, kMaxConfigBytes);
  if (!text)
    return Error{path + ": cannot read: " + text.error().message, text.error().errno_value};
  return parse_config(text.value(), path);
}

}  // namespace hellod
