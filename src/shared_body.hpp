// SPDX-License-Identifier: MIT
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace hellod {

// A response body: immutable once read from the configuration and shared by
// every copy of that configuration, every rendered response, every worker and
// every connection that still has some of it to send. A 16 MiB body_file is
// held once, however many clients are slow to read it.
class SharedBody {
 public:
  SharedBody() : bytes_(no_bytes()) {}
  SharedBody(std::string bytes)  // NOLINT(google-explicit-constructor): a body is its bytes
      : bytes_(std::make_shared<const std::string>(std::move(bytes))) {}
  SharedBody(const char* bytes)  // NOLINT(google-explicit-constructor)
      : SharedBody(std::string(bytes)) {}

  [[nodiscard]] std::string_view view() const { return *bytes_; }
  [[nodiscard]] std::size_t size() const { return bytes_->size(); }
  [[nodiscard]] bool empty() const { return bytes_->empty(); }
  // The owner, for output that must outlive the configuration it came from.
  [[nodiscard]] const std::shared_ptr<const std::string>& owner() const { return bytes_; }

  // Two bodies are equal when their bytes are, wherever they are held.
  friend bool operator==(const SharedBody& a, const SharedBody& b) { return a.view() == b.view(); }
  friend std::ostream& operator<<(std::ostream& out, const SharedBody& body) {
    return out << body.view();
  }

 private:
  // All empty bodies share one string, so a default Config allocates nothing.
  static const std::shared_ptr<const std::string>& no_bytes() {
    static const auto kEmpty = std::make_shared<const std::string>();
    return kEmpty;
  }

  std::shared_ptr<const std::string> bytes_;
};

}  // namespace hellod
