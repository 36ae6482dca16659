// SPDX-License-Identifier: MIT
// Reads a `response:` map, the top-level one and every route's, including
// its optional templating (config_template.hpp).

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config_reader.hpp"
#include "config_template.hpp"
#include "config_values.hpp"

namespace hellod::config_reader {
namespace {

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
  auto content = read_regular_file(path, kMaxBodyBytes);
  if (!content) {
    field.fail("cannot read " + quote(path) + ": " + content.error().message,
               content.error().errno_value);
  }
  return std::move(content).value();
}

// One configured header, with where its value came from, so a template
// error can point at it.
struct HeaderField {
  std::string name;
  std::string value;
  Field where;
};

std::vector<HeaderField> read_headers(const Field& field) {
  std::vector<HeaderField> headers;
  if (field.node().IsNull()) return headers;
  if (!field.node().IsMap()) field.fail("expected a map of header names to values");
  for (const auto& item : field.node()) {
    const std::string name = field.at(item.first).scalar("a header name");
    const Field key = field.child(item.first, name);
    if (const auto problem = header_name_problem(name)) key.fail(*problem);
    const bool repeated = std::any_of(headers.begin(), headers.end(),
                                      [&](const auto& h) { return iequals(h.name, name); });
    if (repeated) key.fail("duplicate header " + quote(name) + " (names are case-insensitive)");
    const Field value = key.at(item.second);
    headers.push_back(HeaderField{name, read_field_value(value), value});
  }
  return headers;
}

// Where the body came from: the `body` or `body_file` value, and for a file
// its path, so that a template error can name the line in the file.
struct BodySource {
  Field field;
  std::optional<std::string> file;
};

std::string expand_body(const std::string& body, const std::optional<BodySource>& source,
                        const Field& response, const TemplateVariables& variables) {
  TemplateExpansion expanded = expand_template(body, variables);
  if (!expanded.ok()) {
    // The built-in body has no template variables, so a source exists here.
    const Field& at = source ? source->field : response;
    if (source && source->file) {
      const TextPosition in_file = text_position(body, expanded.error_offset);
      at.fail(*source->file + ":" + std::to_string(in_file.line) + ":" +
              std::to_string(in_file.column) + ": " + expanded.error);
    }
    at.fail(expanded.error);
  }
  if (expanded.text.size() > kMaxBodyBytes) {
    (source ? source->field : response).fail("larger than 64 MiB after template expansion");
  }
  return std::move(expanded.text);
}

std::string expand_header(const HeaderField& header, const TemplateVariables& variables) {
  TemplateExpansion expanded = expand_template(header.value, variables);
  if (!expanded.ok()) header.where.fail(expanded.error);
  if (const auto problem = field_value_problem(expanded.text)) {
    header.where.fail("after template expansion: " + *problem);
  }
  return std::move(expanded.text);
}

}  // namespace

ResponseConfig read_response(const Field& field) {
  ResponseConfig response;
  std::optional<BodySource> body_source;  // "body" or "body_file", whichever came first
  std::vector<HeaderField> headers;
  bool templated = false;
  const auto read_body_from = [&](const Field& value, std::optional<std::string> file,
                                  auto reader) {
    if (body_source) {
      value.fail(std::string("\"body\" and \"body_file\" are exclusive; remove one (\"") +
                 (body_source->file ? "body_file" : "body") + "\" is also set)");
    }
    body_source.emplace(BodySource{value, std::move(file)});
    response.body = reader(value);
  };
  read_map(field,
           {{"status", [&](const Field& v) { response.status = read_number<int>(v, 200, 599); }},
            {"content_type",
             [&](const Field& v) {
               response.content_type = read_field_value(v);
               if (response.content_type.empty()) v.fail("must not be empty");
             }},
            {"body", [&](const Field& v) { read_body_from(v, std::nullopt, read_body); }},
            {"body_file",
             [&](const Field& v) {
               read_body_from(v, v.node().IsScalar() ? v.node().Scalar() : "", read_body_file);
             }},
            {"headers", [&](const Field& v) { headers = read_headers(v); }},
            {"template", [&](const Field& v) { templated = read_bool(v); }}});
  // Substituted after the whole map is read: `template` may follow the body.
  const TemplateVariables variables =
      templated ? TemplateVariables::from_process() : TemplateVariables{};
  if (templated) {
    response.body = expand_body(std::string(response.body.view()), body_source, field, variables);
  }
  for (const HeaderField& header : headers) {
    response.headers.emplace_back(header.name,
                                  templated ? expand_header(header, variables) : header.value);
  }
  return response;
}

}  // namespace hellod::config_reader
