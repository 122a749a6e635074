// Escaping for the admin renderings: JSON string contents and HTML text and attribute values.
#pragma once

#include <string>
#include <string_view>

namespace saker::admin {

// The contents of a JSON string (no quotes added): `"`, `\` and control characters escaped.
std::string JsonEscape(std::string_view s);
// Text safe inside HTML elements and double-quoted attributes: `<`, `>`, `&` and `"`.
std::string HtmlEscape(std::string_view s);

}  // namespace saker::admin
