// SPDX-License-Identifier: MIT
// Walks a YAML document into a validated Config: the document, the top-level
// map and the small sections. Responses are read in config_response.cpp,
// routes and health in config_routes.cpp, the generic walker pieces are in
// config_reader.cpp; the value rules themselves live in config_values.cpp.
// yaml-cpp's exceptions are caught in parse_config() and never leave it.

#include "config.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "config_reader.hpp"
#include "config_values.hpp"

namespace hellod {
namespace {

using config_reader::ConfigError;
using config_reader::describe;
using config_reader::Field;
using config_reader::read_duration;
using config_reader::read_map;
using config_reader::read_number;
using config_reader::read_response;

// A config file may carry an inline body of up to kMaxBodyBytes, plus YAML
// quoting overhead.
constexpr std::size_t kMaxConfigBytes = 2 * kMaxBodyBytes;
constexpr unsigned kMaxWorkers = 256;

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

Timeouts read_timeouts(const Field& field) {
  Timeouts t;
  read_map(field, {{"header", [&](const Field& v) { t.header = read_duration(v); }},
                   {"keepalive", [&](const Field& v) { t.keepalive = read_duration(v); }},
                   {"send", [&](const Field& v) { t.send = read_duration(v); }},
                   {"shutdown", [&](const Field& v) { t.shutdown = read_duration(v); }},
                   {"defer_accept", [&](const Field& v) {
                      t.defer_accept = read_duration(v, /*allow_zero=*/true);
                    }}});
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
  config_reader::HealthField health;
  std::vector<Field> metrics_listen;
  read_map(
      root,
      {{"listen", [&](const Field& v) { config.listen = read_listen(v); }},
       {"workers", [&](const Field& v) { config.workers = read_workers(v); }},
       {"response", [&](const Field& v) { config.response = read_response(v); }},
       {"routes", [&](const Field& v) { config.routes = config_reader::read_routes(v); }},
       {"health", [&](const Field& v) { config_reader::read_health(v, health); }},
       {"timeouts", [&](const Field& v) { config.timeouts = read_timeouts(v); }},
       {"limits", [&](const Field& v) { config.limits = read_limits(v); }},
       {"log", [&](const Field& v) { config.log = read_log(v); }},
       {"metrics", [&](const Field& v) { config.metrics = read_metrics(v, metrics_listen); }}});
  check_metrics_overlap(config, metrics_listen);
  // health.path names a route, wherever the two keys stand in the file.
  config_reader::check_health(health, config.routes);
  config.health = std::move(health.health);
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
    return Error{config_reader::locate(file_name, e.mark, "", "invalid YAML: " + e.msg)};
  }
}

Result<Config> load_config_file(const std::string& path) {
  auto text = config_reader::read_file(path, kMaxConfigBytes);
  if (!text)
    return Error{path + ": cannot read: " + text.error().message, text.error().errno_value};
  return parse_config(text.value(), path);
}

}  // namespace hellod
