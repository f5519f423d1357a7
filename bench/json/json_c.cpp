// The JSON cost of a topic contract with C/C++ libraries (docs/contracts.md, "Cost"): the seed's
// envelope (bench/workload.h --envelope, 224 bytes), its six contract fields read
//   - through the gateway's own shim (Sources/CSimdJSON: simdjson's DOM parser, one per thread),
//   - with simdjson's DOM parser directly, and its parse alone,
//   - with jansson (json_loadb and six json_object_get).
// Build: g++ -O2 -std=c++17 -I../../Sources/CSimdJSON/include json_c.cpp ../../Sources/CSimdJSON/sluice_json.cpp
//            -lsimdjson -ljansson
#include <chrono>
#include <cstdio>
#include <cstring>

#include <jansson.h>
#include <simdjson.h>

#include "sluice_json.h"

static const char *text =
    R"({"eventId":"00000000-0000-4000-8000-000001234567","eventType":"MY_NEW_EVENT",)"
    R"("eventTimestamp":"2024-05-01T12:00:00.000Z","brandId":"brand-7","userId":"player-002410",)"
    R"("metadata":{"source":"bench"},"payload":{"data":"N1P_XN"}})";
static const int rounds = 1000000;

template <typename F> static void measure(const char *name, F body) {
    double best = 1e18;
    for (int r = 0; r < 3; r++) {
        long kept = 0;
        auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < rounds; i++) kept += body();
        double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / rounds;
        if (kept != rounds) { fprintf(stderr, "%s: a check failed\n", name); }
        if (ns < best) best = ns;
    }
    printf("%s: %zu bytes, %.0f ns per event (best of 3)\n", name, strlen(text), best);
}

int main() {
    size_t length = strlen(text);
    printf("simdjson %s\n", sluice_json_version());
    const char pointers[] = "/userId/eventType/eventId/eventTimestamp/brandId/payload";
    const uint32_t lengths[] = {7, 10, 8, 15, 8, 8};
    measure("sluice_json_find (the gateway's shim), 6 pointers", [&] {
        sluice_json_found found[6];
        if (sluice_json_find(reinterpret_cast<const uint8_t *>(text), length, pointers, lengths, 6, found) != 0) return 0;
        return int(found[0].length == 13 && memcmp(found[0].text, "player-002410", 13) == 0 &&
                   found[5].kind == SLUICE_JSON_OBJECT);
    });
    simdjson::dom::parser parser;
    const char *names[] = {"/userId", "/eventType", "/eventId", "/eventTimestamp", "/brandId", "/payload"};
    measure("simdjson DOM, parse + 6 at_pointer", [&] {
        simdjson::dom::element root;
        if (parser.parse(text, length).get(root)) return 0;
        int ok = 1;
        for (const char *name : names) {
            simdjson::dom::element field;
            ok &= root.at_pointer(name).get(field) == simdjson::SUCCESS;
        }
        return ok;
    });
    measure("simdjson DOM, parse only", [&] {
        simdjson::dom::element root;
        return int(!parser.parse(text, length).get(root) && root.is_object());
    });
    measure("jansson, json_loadb + 6 json_object_get", [&] {
        json_error_t error;
        json_t *root = json_loadb(text, length, 0, &error);
        if (root == nullptr) return 0;
        int ok = 1;
        for (const char *name : {"userId", "eventType", "eventId", "eventTimestamp", "brandId", "payload"})
            ok &= json_object_get(root, name) != nullptr;
        json_decref(root);
        return ok;
    });
}
