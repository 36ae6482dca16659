// SPDX-License-Identifier: MIT
#include "config_template.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <map>
#include <string>

#include "config.hpp"
#include "version.hpp"

namespace hellod {
namespace {

constexpr const char* kFile = "t.yaml";

TemplateVariables test_variables() {
  return TemplateVariables{
      "web-7", "1.2.3", [](const std::string& name) {
        static const std::map<std::string, std::string> kEnv{{"REGION", "eu-west"}, {"EMPTY", ""}};
        const auto found = kEnv.find(name);
        return found == kEnv.end() ? std::nullopt : std::optional<std::string>(found->second);
      }};
}

std::string expand(std::string_view text) {
  const TemplateExpansion out = expand_template(text, test_variables());
  EXPECT_TRUE(out.ok()) << out.error;
  return out.text;
}

TemplateExpansion expand_error(std::string_view text) {
  TemplateExpansion out = expand_template(text, test_variables());
  EXPECT_FALSE(out.ok()) << "expected an error for " << text;
  return out;
}

TEST(Template, Variables) {
  EXPECT_EQ(expand("served by ${hostname} (hellod ${version}) in ${env:REGION}\n"),
            "served by web-7 (hellod 1.2.3) in eu-west\n");
  EXPECT_EQ(expand("${hostname}${hostname}"), "web-7web-7");
  EXPECT_EQ(expand("[${env:EMPTY}]"), "[]");  // set but empty is defined
}

TEST(Template, DollarsThatAreNotVariables) {
  EXPECT_EQ(expand("no variables"), "no variables");
  EXPECT_EQ(expand(""), "");
  EXPECT_EQ(expand("$5 and $ and $x and {x} and $"), "$5 and $ and $x and {x} and $");
  EXPECT_EQ(expand("$${hostname}"), "${hostname}");
  EXPECT_EQ(expand("$${"), "${");
  EXPECT_EQ(expand("a $$ b"), "a $$ b");
  EXPECT_EQ(expand("$$${hostname}"), "$${hostname}");  // the leftmost "$${" is the literal
  EXPECT_EQ(expand(std::string_view("\0${version}\xff", 12)), std::string("\0"
                                                                          "1.2.3\xff",
                                                                          7));
}

TEST(Template, UnsetEnvironmentVariableIsAnError) {
  const auto out = expand_error("abc ${env:NOPE} def");
  EXPECT_EQ(out.error,
            "template variable \"${env:NOPE}\" is undefined: NOPE is not set in hellod's "
            "environment");
  EXPECT_EQ(out.error_offset, 4U);
  EXPECT_TRUE(out.text.empty());
}

TEST(Template, UnknownVariableAndBadNames) {
  EXPECT_EQ(expand_error("${host}").error,
            "unknown template variable \"${host}\" (known: ${hostname}, ${version}, "
            "${env:NAME}; write $${ for a literal ${)");
  EXPECT_EQ(expand_error("x${}").error_offset, 1U);
  EXPECT_EQ(expand_error("${HOSTNAME}").error.rfind("unknown template variable", 0), 0U);
  EXPECT_EQ(expand_error("${env:}").error,
            "template variable \"${env:}\": expected an environment variable name (letters, "
            "digits and _)");
  EXPECT_FALSE(expand_template("${env:1A}", test_variables()).ok());
  EXPECT_FALSE(expand_template("${env:A-B}", test_variables()).ok());
  EXPECT_FALSE(expand_template("${ hostname}", test_variables()).ok());
}

TEST(Template, UnterminatedIsAnError) {
  const auto out = expand_error("ok ${hostname} then ${hostname");
  EXPECT_EQ(out.error, "\"${\" without its \"}\" (write $${ for a literal ${)");
  EXPECT_EQ(out.error_offset, 20U);
}

TEST(Template, TextPosition) {
  EXPECT_EQ(text_position("abc", 0).line, 1U);
  EXPECT_EQ(text_position("abc", 0).column, 1U);
  EXPECT_EQ(text_position("abc", 2).column, 3U);
  EXPECT_EQ(text_position("a\nbc\nd${x}", 6).line, 3U);
  EXPECT_EQ(text_position("a\nbc\nd${x}", 6).column, 2U);
  EXPECT_EQ(text_position("a\n", 2).line, 2U);
  EXPECT_EQ(text_position("a\n", 2).column, 1U);
}

TEST(Template, FromProcess) {
  std::array<char, 256> name{};
  ASSERT_EQ(::gethostname(name.data(), name.size() - 1), 0);
  const TemplateVariables variables = TemplateVariables::from_process();
  EXPECT_EQ(variables.hostname, name.data());
  EXPECT_EQ(variables.version, kVersion);
  ASSERT_EQ(::setenv("HELLOD_TEMPLATE_TEST", "v", 1), 0);
  EXPECT_EQ(variables.env("HELLOD_TEMPLATE_TEST"), "v");
  ASSERT_EQ(::unsetenv("HELLOD_TEMPLATE_TEST"), 0);
  EXPECT_FALSE(variables.env("HELLOD_TEMPLATE_TEST").has_value());
}

// --- in a configuration file --------------------------------------------------

std::string parse_error(std::string_view yaml) {
  auto result = parse_config(yaml, kFile);
  EXPECT_FALSE(result.ok()) << "expected an error for:\n" << yaml;
  return result.ok() ? "" : result.error().message;
}

Config parse_ok(std::string_view yaml) {
  auto result = parse_config(yaml, kFile);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? result.value() : Config{};
}

class TemplateConfig : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::setenv("HELLOD_TEST_BACKEND", "blue", 1), 0); }
  void TearDown() override {
    ::unsetenv("HELLOD_TEST_BACKEND");
    ::unsetenv("HELLOD_TEST_CRLF");
  }
};

TEST_F(TemplateConfig, BodyAndHeaderValuesAreExpandedOnce) {
  const Config c = parse_ok(
      "response:\n  template: true\n  body: \"${env:HELLOD_TEST_BACKEND} ${version} $${x}\"\n"
      "  headers: {X-Backend: \"${env:HELLOD_TEST_BACKEND}\"}\n  content_type: \"${x}\"\n");
  EXPECT_EQ(c.response.body, std::string("blue ") + kVersion + " ${x}");
  ASSERT_EQ(c.response.headers.size(), 1U);
  EXPECT_EQ(c.response.headers[0].second, "blue");
  EXPECT_EQ(c.response.content_type, "${x}");  // content_type is never a template
}

TEST_F(TemplateConfig, TemplateKeyMayComeLastAndDefaultsToOff) {
  EXPECT_EQ(parse_ok("response: {body: \"${hostname}\"}").response.body, "${hostname}");
  EXPECT_EQ(
      parse_ok("response: {body: \"${env:HELLOD_TEST_BACKEND}\", template: true}").response.body,
      "blue");
  EXPECT_EQ(parse_ok("response: {template: false, body: \"${nope}\"}").response.body, "${nope}");
  EXPECT_EQ(parse_ok("response: {template: true}").response.body, "Hello, World!\n");
}

TEST_F(TemplateConfig, RouteResponsesAreTemplatesToo) {
  const Config c =
      parse_ok("routes:\n  - response: {template: true, body: \"${env:HELLOD_TEST_BACKEND}\"}\n");
  ASSERT_EQ(c.routes.size(), 1U);
  EXPECT_EQ(c.routes[0].response.body, "blue");
}

TEST_F(TemplateConfig, ErrorsNameTheValue) {
  EXPECT_EQ(parse_error("response:\n  template: true\n  body: \"a ${env:HELLOD_TEST_UNSET}\"\n"),
            "t.yaml:3:9: response.body: template variable \"${env:HELLOD_TEST_UNSET}\" is "
            "undefined: HELLOD_TEST_UNSET is not set in hellod's environment");
  EXPECT_EQ(parse_error("response:\n  template: true\n  headers:\n    X-A: \"${nope}\"\n"),
            "t.yaml:4:10: response.headers.X-A: unknown template variable \"${nope}\" (known: "
            "${hostname}, ${version}, ${env:NAME}; write $${ for a literal ${)");
  EXPECT_EQ(parse_error("routes:\n  - response:\n      body: \"${hostname\"\n      template: "
                        "true\n"),
            "t.yaml:3:13: routes[0].response.body: \"${\" without its \"}\" (write $${ for a "
            "literal ${)");
  EXPECT_EQ(parse_error("response: {template: yes}"),
            "t.yaml:1:22: response.template: expected true or false, got \"yes\"");
}

TEST_F(TemplateConfig, ExpandedHeaderValuesAreCheckedAgain) {
  ASSERT_EQ(::setenv("HELLOD_TEST_CRLF", "a\r\nSet-Cookie: x", 1), 0);
  EXPECT_EQ(
      parse_error("response:\n  template: true\n  headers: {X-A: \"${env:HELLOD_TEST_CRLF}\"}\n"),
      "t.yaml:3:18: response.headers.X-A: after template expansion: must not contain CR, "
      "LF or NUL (RFC 9110 §5.5)");
}

TEST_F(TemplateConfig, BodyFileErrorsNameTheLineInTheFile) {
  std::array<char, 32> name{"/tmp/hellod-template-XXXXXX"};
  const int fd = ::mkstemp(name.data());
  ASSERT_GE(fd, 0);
  const std::string content = "<p>${hostname}</p>\n<p>${env:HELLOD_TEST_UNSET}</p>\n";
  ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ::close(fd);
  const std::string path = name.data();
  EXPECT_EQ(parse_error("response:\n  template: true\n  body_file: " + path + "\n"),
            "t.yaml:3:14: response.body_file: " + path +
                ":2:4: template variable \"${env:HELLOD_TEST_UNSET}\" is undefined: "
                "HELLOD_TEST_UNSET is not set in hellod's environment");
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace hellod
