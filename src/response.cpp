// SPDX-License-Identifier: MIT
#include "response.hpp"

#include <fmt/format.h>

namespace hellod {
namespace {

constexpr std::string_view kDatePrefix = "Date: ";
// A body this small is also kept right after each head (Variant::whole), so
// a response is one buffer: the kernel takes one iovec, or a plain send(2)
// for a lone response, which measured 1.7% more keep-alive requests per
// CPU-second side by side. Larger bodies stay shared by the variants.
constexpr std::size_t kMaxWholeBody = 1024;

std::string_view connection_line(ConnectionHeader connection) {
  switch (connection) {
    case ConnectionHeader::close:
      return "Connection: close\r\n";
    case ConnectionHeader::keep_alive:
      return "Connection: keep-alive\r\n";
    case ConnectionHeader::none:
      break;
  }
  return "";
}

ResponseSpec error_spec(int status) {
  return ResponseSpec{
      status, "text/plain; charset=utf-8", fmt::format("{}\n", reason_phrase(status)), {}};
}

ResponseSpec spec_of(const ResponseConfig& config) {
  return ResponseSpec{config.status, config.content_type, config.body, config.headers};
}

// 204 and 304 responses end after their headers and carry no Content-Length
// that would describe a body (RFC 9110 §8.6, §15.3.5, §15.4.5).
bool status_allows_body(int status) {
  return status != 204 && status != 304;
}

}  // namespace

Response::Response(const ResponseSpec& spec, const HttpDate& date)
    : body_(status_allows_body(spec.status) ? spec.body : SharedBody()), status_(spec.status) {
  const bool has_body = status_allows_body(spec.status);
  for (std::size_t i = 0; i < variants_.size(); ++i) {
    std::string head = fmt::format("HTTP/1.1 {} {}\r\nServer: hellod\r\n", spec.status,
                                   reason_phrase(spec.status));
    variants_[i].date_offset = head.size() + kDatePrefix.size();
    head +=
        fmt::format("{}{}\r\nContent-Type: {}\r\n", kDatePrefix, to_view(date), spec.content_type);
    if (has_body) head += fmt::format("Content-Length: {}\r\n", spec.body.size());
    for (const auto& [name, value] : spec.headers) head += fmt::format("{}: {}\r\n", name, value);
    head += connection_line(static_cast<ConnectionHeader>(i));
    head += "\r\n";
    if (has_body && !spec.body.empty() && spec.body.size() <= kMaxWholeBody)
      variants_[i].whole = head + std::string(spec.body.view());
    variants_[i].head = std::move(head);
  }
}

ResponseBytes Response::bytes(ConnectionHeader connection, bool head_request) const {
  const Variant& variant = variants_[static_cast<std::size_t>(connection)];
  // A HEAD response carries the same headers, Content-Length included, and no
  // body (RFC 9110 §9.3.2).
  if (head_request) return {variant.head, {}};
  if (!variant.whole.empty()) return {variant.whole, {}};
  return {variant.head, body_.view(), &body_};
}

void Response::set_date(const HttpDate& date) {
  for (Variant& variant : variants_) {
    variant.head.replace(variant.date_offset, date.size(), to_view(date));
    if (!variant.whole.empty())
      variant.whole.replace(variant.date_offset, date.size(), to_view(date));
  }
}

ResponseSet::ResponseSet(const ResponseConfig& config, const HttpDate& date)
    : configured(spec_of(config), date), service_unavailable(error_spec(503), date) {
  errors.reserve(kErrorStatuses.size());
  for (const int status : kErrorStatuses) errors.emplace_back(error_spec(status), date);
}

ResponseSet::ResponseSet(const Config& config, const HttpDate& date)
    : ResponseSet(config.response, date) {
  routes.reserve(config.routes.size());
  for (const RouteConfig& route : config.routes) routes.emplace_back(spec_of(route.response), date);
}

const Response& ResponseSet::for_error(int status) const {
  for (std::size_t i = 0; i < kErrorStatuses.size(); ++i) {
    if (kErrorStatuses[i] == status) return errors[i];
  }
  return errors.front();  // 400
}

void ResponseSet::set_date(const HttpDate& date) {
  configured.set_date(date);
  service_unavailable.set_date(date);
  for (Response& response : errors) response.set_date(date);
  for (Response& route : routes) route.set_date(date);
}

}  // namespace hellod
