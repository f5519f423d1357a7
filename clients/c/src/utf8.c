#include "utf8.h"

#include <stdint.h>

int sluice_utf8_valid(const void *data, size_t len) {
    const uint8_t *p = data;
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) n = 2;
        else if (c == 0xE0) n = 3, lo = 0xA0;
        else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) n = 3;
        else if (c == 0xED) n = 3, hi = 0x9F;
        else if (c == 0xF0) n = 4, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) n = 4;
        else if (c == 0xF4) n = 4, hi = 0x8F;
        else return 0;
        if (len - i < n || p[i + 1] < lo || p[i + 1] > hi) return 0;
        for (size_t k = 2; k < n; k++)
            if ((p[i + k] & 0xC0) != 0x80) return 0;
        i += n;
    }
    return 1;
}
