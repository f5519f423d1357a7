package io.sluice.client;

import java.nio.charset.StandardCharsets;

/** Strict UTF-8 (RFC 3629) encoding and validation, as PROTOCOL.md section 1 defines str16 text. */
final class Utf8 {
    private Utf8() {}

    /** The UTF-8 bytes of {@code s}, or null when it holds an unpaired surrogate (not encodable). */
    static byte[] encode(String s) {
        for (int i = 0; i < s.length(); i++) { // getBytes would replace a lone surrogate by '?' silently
            char c = s.charAt(i);
            if ((c & 0xF800) != 0xD800) continue;
            if (Character.isHighSurrogate(c)) {
                if (i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) i++;
                else return null;
            } else if (Character.isLowSurrogate(c)) {
                return null;
            }
        }
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Whether {@code b[off, off+len)} is well-formed UTF-8: no overlong forms, surrogates or code points over U+10FFFF. */
    static boolean valid(byte[] b, int off, int len) {
        int i = off, end = off + len;
        while (i < end) {
            int c = b[i] & 0xff;
            if (c < 0x80) {
                i++;
                continue;
            }
            int n;
            int lo = 0x80, hi = 0xbf;
            if (c >= 0xc2 && c <= 0xdf) {
                n = 1;
            } else if (c >= 0xe0 && c <= 0xef) {
                n = 2;
                if (c == 0xe0) lo = 0xa0;
                if (c == 0xed) hi = 0x9f;
            } else if (c >= 0xf0 && c <= 0xf4) {
                n = 3;
                if (c == 0xf0) lo = 0x90;
                if (c == 0xf4) hi = 0x8f;
            } else {
                return false;
            }
            if (end - i - 1 < n) return false;
            int second = b[i + 1] & 0xff;
            if (second < lo || second > hi) return false;
            for (int k = 2; k <= n; k++) {
                int cc = b[i + k] & 0xff;
                if (cc < 0x80 || cc > 0xbf) return false;
            }
            i += n + 1;
        }
        return true;
    }

    static boolean valid(byte[] b) {
        return valid(b, 0, b.length);
    }
}
