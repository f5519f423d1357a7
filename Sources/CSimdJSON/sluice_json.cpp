// simdjson behind the C functions of sluice_json.h: one DOM parser per thread, reused.
#include "sluice_json.h"

#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace {

// A parser keeps its buffers between documents; one per thread, as simdjson requires.
thread_local simdjson::dom::parser parser;

int kind_of(simdjson::dom::element element) {
    switch (element.type()) {
    case simdjson::dom::element_type::OBJECT: return SLUICE_JSON_OBJECT;
    case simdjson::dom::element_type::ARRAY: return SLUICE_JSON_ARRAY;
    case simdjson::dom::element_type::STRING: return SLUICE_JSON_STRING;
    case simdjson::dom::element_type::INT64: return SLUICE_JSON_INTEGER;
    case simdjson::dom::element_type::UINT64: return SLUICE_JSON_INTEGER;
    case simdjson::dom::element_type::DOUBLE: return SLUICE_JSON_NUMBER;
    case simdjson::dom::element_type::BOOL: return SLUICE_JSON_BOOLEAN;
    case simdjson::dom::element_type::NULL_VALUE: return SLUICE_JSON_NULL;
    }
    return SLUICE_JSON_MISSING;
}

void describe(simdjson::dom::element element, sluice_json_found *found) {
    found->kind = kind_of(element);
    found->text = nullptr;
    found->length = 0;
    if (found->kind == SLUICE_JSON_STRING) {
        std::string_view text = element.get_string().value_unsafe();
        found->text = text.data();
        found->length = text.size();
    } else if (found->kind == SLUICE_JSON_INTEGER) {
        char *end = found->digits + sizeof(found->digits);
        std::to_chars_result written = element.type() == simdjson::dom::element_type::INT64
            ? std::to_chars(found->digits, end, element.get_int64().value_unsafe())
            : std::to_chars(found->digits, end, element.get_uint64().value_unsafe());
        found->text = found->digits;
        found->length = static_cast<size_t>(written.ptr - found->digits);
    }
}

}  // namespace

extern "C" int sluice_json_find(const uint8_t *document, size_t length, const char *pointers, const uint32_t *lengths,
                                size_t count, sluice_json_found *found) {
    simdjson::dom::element root;
    simdjson::error_code error = parser.parse(document, length, true).get(root);
    if (error != simdjson::SUCCESS) { return -static_cast<int>(error); }
    if (root.type() != simdjson::dom::element_type::OBJECT) { return kind_of(root); }
    size_t offset = 0;
    for (size_t index = 0; index < count; index++) {
        simdjson::dom::element element;
        std::string_view pointer(pointers + offset, lengths[index]);
        offset += lengths[index];
        if (root.at_pointer(pointer).get(element) != simdjson::SUCCESS) {
            found[index].kind = SLUICE_JSON_MISSING;
            found[index].text = nullptr;
            found[index].length = 0;
        } else {
            describe(element, &found[index]);
        }
    }
    return 0;
}

extern "C" const char *sluice_json_error_text(int result) {
    return simdjson::error_message(static_cast<simdjson::error_code>(-result));
}

extern "C" const char *sluice_json_version(void) {
    static const std::string version =
        std::to_string(simdjson::SIMDJSON_VERSION_MAJOR) + "." + std::to_string(simdjson::SIMDJSON_VERSION_MINOR) + "." +
        std::to_string(simdjson::SIMDJSON_VERSION_REVISION) + " " + simdjson::get_active_implementation()->name();
    return version.c_str();
}
