// Minimal JSON text helpers for the CLI's output: escaped strings and round-trip numbers.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

// UTF-8 passes through unchanged (valid JSON); quotes, backslashes and control bytes are escaped.
inline std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char ch : text) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  return out + "\"";
}

// Nine significant digits round-trip a float32; JSON has no NaN or infinity.
inline std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", value);
  return buf;
}

inline std::string json_shape(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// The value of member `key` of the top-level object in `json`, with the whitespace between tokens
// removed (strings kept byte for byte); false when `json` has no such member. A scanner, not a
// validator: it only has to find the member in a file edgesdk wrote.
inline bool json_compact_member(const std::string& json, const std::string& key, std::string& value) {
  int depth = 0;
  bool in_string = false, capturing = false;
  std::string last_string, current;
  int capture_depth = 0;
  std::string out;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char ch = json[i];
    if (in_string) {
      if (capturing) out += ch;
      current += ch;
      if (ch == '\\' && i + 1 < json.size()) {
        if (capturing) out += json[i + 1];
        current += json[++i];
      } else if (ch == '"') {
        in_string = false;
        last_string = current.substr(0, current.size() - 1);
      }
      continue;
    }
    if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') continue;
    if (capturing) {
      if ((ch == ',' || ch == '}') && depth == capture_depth) return value = out, true;
      out += ch;
    }
    if (ch == '"') {
      in_string = true;
      current.clear();
    } else if (ch == '{' || ch == '[') {
      ++depth;
    } else if (ch == '}' || ch == ']') {
      --depth;
    } else if (ch == ':' && depth == 1 && !capturing && last_string == key) {
      capturing = true;
      capture_depth = 1;
    }
  }
  return false;
}
