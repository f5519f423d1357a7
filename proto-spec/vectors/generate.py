#!/usr/bin/env python3
"""Regenerates frames.tsv, the protocol test vectors (see ../PROTOCOL.md, section 8).

Independent of every implementation: frames are built here from the spec, compressed
payloads with the `zstd` command. Run from anywhere: python3 generate.py
"""
import os
import struct
import subprocess
import tempfile

HELLO, HELLO_OK, PUBLISH, ACK, ERROR, STATS, STATS_REPLY, PING, PONG = range(1, 10)
COMPRESSED = 1


def header(type_, length, request_id=0, version=1, flags=0, reserved=0, magic=b"SL"):
    return magic + struct.pack(">BBHHII", version, type_, flags, reserved, request_id, length)


def frame(type_, payload, request_id=0, **kw):
    return header(type_, len(payload), request_id, **kw) + payload


def str16(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def bytes32(b):
    b = b.encode() if isinstance(b, str) else b
    return struct.pack(">I", len(b)) + b


def record(topic="t", key="p1", event_type="", event_id=bytes(16), ts=0, headers=(), value="v"):
    out = str16(topic) + str16(key) + str16(event_type) + event_id + struct.pack(">qH", ts, len(headers))
    for name, val in headers:
        out += str16(name) + bytes32(val)
    return out + bytes32(value)


def publish_payload(records, ack=0, reserved=0, count=None):
    n = len(records) if count is None else count
    return struct.pack(">BBI", ack, reserved, n) + b"".join(records)


def zstd(data, content_size=True):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "in")
        with open(path, "wb") as f:
            f.write(data)
        if content_size:
            return subprocess.run(["zstd", "-q", "-c", "-3", path], check=True, capture_output=True).stdout
        # stdin input: the CLI cannot know the size, so the frame header omits it.
        with open(path, "rb") as f:
            return subprocess.run(["zstd", "-q", "-c", "-3", "--no-content-size"], stdin=f, check=True,
                                  capture_output=True).stdout


def compressed_publish(plain, request_id=3, **kw):
    z = zstd(plain, **kw)
    return frame(PUBLISH, z, request_id, flags=COMPRESSED), plain


vectors = []
CLOSING = {1, 2, 3, 4, 6, 41, 43, 44, 45}


def reply_of(direction, expect, data):
    """The ERROR a server sends for a c2s error vector: its request id and whether it closes.

    Section 3.4: BAD_MAGIC and a header's UNSUPPORTED_VERSION carry request id 0; every other
    error answering a frame echoes its request id. Any error answering HELLO closes.
    """
    if direction != "c2s" or not expect.startswith("error:"):
        return "-"
    code = int(expect[6:])
    header_ok = data[:2] == b"SL" and len(data) >= 16
    header_version = header_ok and data[2] == 1
    request_id = struct.unpack(">I", data[8:12])[0] if header_ok and header_version else 0
    closes = code in CLOSING or (header_ok and data[3] == HELLO)
    return "%d,%s" % (request_id, "close" if closes else "open")


def add(name, direction, expect, data, plain=None):
    vectors.append((name, direction, expect, data.hex(), plain.hex() if plain is not None else "-",
                    reply_of(direction, expect, data)))


# --- handshake -----------------------------------------------------------------------
hello = struct.pack(">HH", 1, 1) + str16("c")
add("hello_v1", "c2s", "ok", frame(HELLO, hello, 1))
add("hello_range_1_3", "c2s", "ok", frame(HELLO, struct.pack(">HH", 1, 3) + str16("libsluice/9"), 1))
add("hello_no_common_version", "c2s", "error:2", frame(HELLO, struct.pack(">HH", 2, 5) + str16(""), 1))
add("hello_truncated_payload", "c2s", "error:7", frame(HELLO, struct.pack(">HH", 1, 1) + b"\x00", 1))
add("hello_too_large", "c2s", "error:4", header(HELLO, 1025, 1))
# Found by fuzz/: a first frame of unknown type is "anything else" than HELLO (section 3.1),
# so it closes the connection with PROTOCOL_STATE rather than being skipped as UNKNOWN_TYPE.
add("hello_not_first_unknown_type", "c2s", "error:6", frame(0x7F, b"abc", 5))
# Section 2.1: the handshake state is checked before COMPRESSED and the payload length.
add("hello_not_first_ping", "c2s", "error:6", frame(PING, b"", 5))
add("hello_not_first_huge_publish", "c2s", "error:6", header(PUBLISH, 0xFFFFFFFF, 5))
add("hello_not_first_compressed_stats", "c2s", "error:6", frame(STATS, b"", 5, flags=COMPRESSED))
add("hello_compressed", "c2s", "error:3", frame(HELLO, hello, 1, flags=COMPRESSED))
# Section 3.1: any error answering HELLO closes the connection, MALFORMED_PAYLOAD included.
add("hello_trailing_bytes", "c2s", "error:7", frame(HELLO, hello + b"\x00", 1))
add("hello_name_not_utf8", "c2s", "error:7", frame(HELLO, struct.pack(">HH", 1, 1) + str16(b"\xc3\x28"), 1))
add("hello_max_below_min", "c2s", "error:2", frame(HELLO, struct.pack(">HH", 1, 0) + str16(""), 1))
add("second_hello", "c2s", "error:6", frame(HELLO, hello, 11))
# Section 3.1 (revision 3): the version range first; no common version is 2 whatever follows it.
add("hello_no_common_version_name_past_end", "c2s", "error:2",
    frame(HELLO, struct.pack(">HHH", 2, 5, 40) + b"libsluice/2", 1))
add("hello_no_common_version_trailing_bytes", "c2s", "error:2",
    frame(HELLO, struct.pack(">HH", 2, 5) + str16("c") + b"\x00\x07", 1))
add("hello_no_common_version_name_not_utf8", "c2s", "error:2",
    frame(HELLO, struct.pack(">HH", 3, 4) + str16(b"\xff"), 1))
add("hello_versions_truncated", "c2s", "error:7", frame(HELLO, struct.pack(">HB", 2, 5), 1))
limits = struct.pack(">HIIIIHHI", 1, 1048576, 4194304, 10000, 1000000, 1024, 64, 65536)
session = struct.pack(">IIII", 67108864, 5000, 600000, 1024)  # unacked bytes, timeouts, connections
add("hello_ok", "s2c", "ok", frame(HELLO_OK, limits + str16("sluice/0.1.0") + session, 1))
add("hello_ok_without_session_limits", "s2c", "ok", frame(HELLO_OK, limits + str16("sluice/0.1.0"), 1))
add("hello_ok_future_fields", "s2c", "ok",
    frame(HELLO_OK, limits + str16("sluice/9") + session + b"\x00\x00\x00\x07", 1))
add("hello_ok_truncated", "s2c", "error:7", frame(HELLO_OK, limits[:10], 1))
add("hello_ok_name_not_utf8", "s2c", "error:7", frame(HELLO_OK, limits + str16(b"sluice/\xff") + session, 1))
# Section 3.1 (revision 3): the four session limits come as a group; a part of them is broken.
add("hello_ok_partial_session_limits", "s2c", "error:7", frame(HELLO_OK, limits + str16("sluice/0.1.0") + session[:8], 1))
add("hello_ok_session_limits_cut", "s2c", "error:7", frame(HELLO_OK, limits + str16("sluice/0.1.0") + session[:15], 1))
# Section 6 (revision 3): the limits are the server's; the client goes by what HELLO_OK says.
add("hello_ok_own_limits", "s2c", "ok",
    frame(HELLO_OK, struct.pack(">HIIIIHHI", 1, 65536, 262144, 100, 60000, 64, 8, 4096) + str16("other/2")
          + struct.pack(">IIII", 16777216, 1000, 0, 10), 1))

# --- header errors -------------------------------------------------------------------
add("bad_magic", "c2s", "error:1", frame(PING, b"", 5, magic=b"XL"))
add("bad_magic_http", "c2s", "error:1", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
add("unsupported_version", "c2s", "error:2", frame(PING, b"", 5, version=2))
add("reserved_flag_bit", "c2s", "error:3", frame(PING, b"", 5, flags=0x0002))
add("reserved_field", "c2s", "error:3", frame(PING, b"", 5, reserved=1))
add("compressed_ping", "c2s", "error:3", frame(PING, b"", 5, flags=COMPRESSED))
add("frame_too_large", "c2s", "error:4", header(PUBLISH, 1048577, 5))
add("frame_too_large_max_u32", "c2s", "error:4", header(PUBLISH, 0xFFFFFFFF, 5))
add("unknown_type", "c2s", "error:5", frame(0x7F, b"abc", 5))
add("server_type_from_client", "c2s", "error:6", frame(ACK, struct.pack(">II", 0, 0), 5))
# Section 2.1: header checks in order; the first failure wins.
add("version_before_reserved_bits", "c2s", "error:2", frame(PING, b"", 5, version=2, flags=0x8000))
add("reserved_bits_before_length", "c2s", "error:3", header(PUBLISH, 0xFFFFFFFF, 5, reserved=1))
add("server_type_compressed", "c2s", "error:6", frame(ACK, struct.pack(">II", 0, 0), 5, flags=COMPRESSED))
add("compressed_before_length", "c2s", "error:3", header(PING, 0xFFFFFFFF, 5, flags=COMPRESSED))
add("unknown_type_compressed", "c2s", "error:5", frame(0x7F, b"abc", 5, flags=COMPRESSED))
add("unknown_type_too_large", "c2s", "error:4", header(0x7F, 1048577, 5))
add("unknown_type_empty", "c2s", "error:5", frame(0xFF, b"", 6))
add("truncated_header", "c2s", "incomplete", header(PING, 0, 5)[:9])
add("truncated_payload", "c2s", "incomplete", frame(PING, b"hello", 5)[:18])

# --- ping / stats --------------------------------------------------------------------
add("ping_hi", "c2s", "ok", frame(PING, b"hi", 7))
add("ping_empty", "c2s", "ok", frame(PING, b"", 8))
add("ping_too_long", "c2s", "error:7", frame(PING, b"x" * 257, 9))
# Section 2.3 (revision 3): request id 0 is an ordinary id on a request, echoed in the reply.
add("ping_request_id_0", "c2s", "ok", frame(PING, b"0", 0))
add("pong_hi", "s2c", "ok", frame(PONG, b"hi", 7))
add("stats", "c2s", "ok", frame(STATS, b"", 10))
add("stats_with_payload", "c2s", "error:7", frame(STATS, b"x", 10))
add("stats_reply", "s2c", "ok", frame(STATS_REPLY, b'{"uptimeSeconds":1}', 10))

# --- publish, uncompressed -----------------------------------------------------------
add("publish_one_plain", "c2s", "ok", frame(PUBLISH, publish_payload([record()]), 2))
full = record(topic="game.events-v1_x", key="player-42", event_type="login",
              event_id=bytes(range(1, 17)), ts=1764412800000,
              headers=[("source", "svc-a"), ("trace", b"\x00\x01")], value='{"level":3}')
add("publish_full_record", "c2s", "ok", frame(PUBLISH, publish_payload([full], ack=1), 2))
add("publish_ack_none", "c2s", "ok", frame(PUBLISH, publish_payload([record()], ack=2), 2))
add("publish_request_id_0", "c2s", "ok", frame(PUBLISH, publish_payload([record()]), 0))
# An ERROR answering request 0 carries id 0 and does not close: it is not about the connection.
add("publish_request_id_0_malformed", "c2s", "error:7", frame(PUBLISH, publish_payload([record()], ack=3), 0))
add("publish_bad_ack_level", "c2s", "error:7", frame(PUBLISH, publish_payload([record()], ack=3), 2))
add("publish_reserved_byte", "c2s", "error:3", frame(PUBLISH, publish_payload([record()], reserved=1), 2))
add("publish_zero_records", "c2s", "error:7", frame(PUBLISH, publish_payload([]), 2))
add("publish_count_exceeds_records", "c2s", "error:7", frame(PUBLISH, publish_payload([record()], count=2), 2))
add("publish_trailing_bytes", "c2s", "error:7", frame(PUBLISH, publish_payload([record()]) + b"\x00", 2))
add("publish_value_past_end", "c2s", "error:7", frame(PUBLISH, publish_payload([record()])[:-1], 2))
add("publish_too_many_records", "c2s", "error:11",
    frame(PUBLISH, publish_payload([record()], count=10001), 2))
# Section 3.2: payload fields in order; the count's limit before the records are read.
add("publish_count_max_u32", "c2s", "error:11", frame(PUBLISH, publish_payload([record()], count=0xFFFFFFFF), 2))
add("publish_bad_ack_and_reserved", "c2s", "error:7", frame(PUBLISH, publish_payload([record()], ack=3, reserved=1), 2))
add("publish_reserved_before_count", "c2s", "error:3", frame(PUBLISH, publish_payload([], reserved=1), 2))
add("publish_zero_records_empty", "c2s", "error:7", frame(PUBLISH, b"", 2))
add("publish_truncated_after_reserved", "c2s", "error:3", frame(PUBLISH, b"\x00\x01", 2))
add("publish_truncated_after_ack", "c2s", "error:7", frame(PUBLISH, b"\x01", 2))
add("publish_per_record_errors", "c2s", "records:0,20,21,20,20,0,23,0",
    frame(PUBLISH, publish_payload([
        record(),
        record(topic=""),
        record(key=""),
        record(topic="bad topic"),
        record(topic=".."),
        record(topic="a" * 249),
        record(headers=[("", "x")]),
        record(topic="ok.topic_-9"),
    ]), 2))
add("publish_topic_too_long", "c2s", "records:20", frame(PUBLISH, publish_payload([record(topic="a" * 250)]), 2))
add("publish_key_too_long", "c2s", "records:21,0",
    frame(PUBLISH, publish_payload([record(key="k" * 1025), record(key="k" * 1024)]), 2))
add("publish_too_many_headers", "c2s", "records:23,0",
    frame(PUBLISH, publish_payload([record(headers=[("h", "")] * 65), record(headers=[("h", "")] * 64)]), 2))
add("publish_reserved_headers", "c2s", "records:23,23,23,23,23,0,0",
    frame(PUBLISH, publish_payload([
        record(headers=[("event-id", "spoofed")]),
        record(headers=[("event-type", "spoofed")]),
        record(headers=[("sluice-uid", "0")]),
        record(headers=[("ok", "1"), ("sluice-pid", "1")]),
        record(headers=[("Sluice-Anything", "x")]),
        record(headers=[("x-sluice-uid", "0"), ("event-ids", "x")]),
        record(headers=[("sluice", "x")]),
    ]), 2))
add("publish_header_bytes_over", "c2s", "records:23",
    frame(PUBLISH, publish_payload([record(headers=[("h", "x" * 65536)])]), 2))
# Section 3.2: str16 fields must be UTF-8 (RFC 3629); header values (bytes32) may be any bytes.
add("publish_utf8", "c2s", "records:0,21,21,21,21,21,25,23,0",
    frame(PUBLISH, publish_payload([
        record(key="pl\u00e4yer-\u20ac-\U0001d11e", event_type="\u00fcber", headers=[("n\u00e4me", b"\xff\xfe")]),
        record(key=b"\xff"),
        record(key=b"\xc0\xaf"),            # overlong "/"
        record(key=b"\xed\xa0\x80"),        # a UTF-16 surrogate
        record(key=b"\xf4\x90\x80\x80"),    # over U+10FFFF
        record(key=b"p\xe2\x82"),           # truncated sequence
        record(event_type=b"login\x80"),
        record(headers=[(b"\xfe", "x")]),
        record(key="p\x00"),                # U+0000 is UTF-8
    ]), 2))
# Section 3.2: rules in field order (topic, key, event type, timestamp, headers), the size last.
f, _ = compressed_publish(publish_payload([
        record(topic="bad topic", key=""),
        record(key="", event_type=b"\xff"),
        record(event_type=b"\xff", ts=-1),
        record(ts=-5, headers=[("", "x")]),
        record(headers=[("", "x")], value="x" * 1000001),
    ]))
add("publish_rule_order", "c2s", "records:20,21,25,26,23", f)
# Section 3.2: a timestamp is 0 (the server's receive time) or positive.
add("publish_timestamps", "c2s", "records:26,26,0,0",
    frame(PUBLISH, publish_payload([
        record(ts=-1), record(ts=-(2 ** 63)), record(ts=1), record(ts=2 ** 63 - 1)]), 2))
# 1 + 2 + 999,999 bytes is over max record bytes (1,000,000); 1 + 2 + 999,997 is at it.
f, _ = compressed_publish(publish_payload([record(value="x" * 999999), record(value="x" * 999997)]))
add("publish_record_too_large", "c2s", "records:22,0", f)

# --- publish, compressed -------------------------------------------------------------
many = publish_payload([record(key="player-%d" % i, value="event %d" % i) for i in range(50)])
f, plain = compressed_publish(many)
add("publish_zstd_50", "c2s", "ok", f, plain)
f, plain = compressed_publish(publish_payload([record(), record(topic="")]))
add("publish_zstd_per_record_error", "c2s", "records:0,20", f, plain)
f, plain = compressed_publish(publish_payload([record()]), content_size=False)
add("publish_zstd_no_content_size", "c2s", "error:8", f, plain)
big = publish_payload([record(value="x" * 1000)] * 4200)  # ~4.3 MB, over 4 MiB
f, plain = compressed_publish(big)
add("publish_zstd_over_decompressed_limit", "c2s", "error:9", f)
z = zstd(many)
add("publish_zstd_truncated", "c2s", "error:10", frame(PUBLISH, z[:-6], 3, flags=COMPRESSED))
add("publish_zstd_garbage", "c2s", "error:10", frame(PUBLISH, b"\x28\xb5\x2f\xfd" + b"\xff" * 20, 3, flags=COMPRESSED))
add("publish_zstd_not_zstd", "c2s", "error:10", frame(PUBLISH, b"hello world, not zstd", 3, flags=COMPRESSED))
add("publish_zstd_trailing_bytes", "c2s", "error:10", frame(PUBLISH, z + b"\x00", 3, flags=COMPRESSED))
# A frame whose header declares 256 bytes while its content is 2,000: decompression must
# stop at the declared size and fail, not grow a buffer.
liar = bytearray(zstd(b"A" * 2000))
assert liar[4] & 0xE0 == 0x60, "expected a single-segment frame with a 2-byte content size"
liar[5:7] = b"\x00\x00"  # the 2-byte field stores size - 256: now it declares 256 bytes
add("publish_zstd_lying_size", "c2s", "error:10", frame(PUBLISH, bytes(liar), 3, flags=COMPRESSED))
# A zstd skippable frame (magic 0x184D2A50) is not a data frame: nothing to decompress.
add("publish_zstd_skippable_frame", "c2s", "error:10",
    frame(PUBLISH, struct.pack("<II", 0x184D2A50, 4) + b"abcd", 3, flags=COMPRESSED))
f, plain = compressed_publish(publish_payload([record()])[:-1])
add("publish_zstd_malformed_inside", "c2s", "error:7", f, plain)
# Section 2.2: exactly one zstd data frame, no dictionary. A frame that names dictionary 7:
one = publish_payload([record()])
plainframe = bytearray(zstd(one))
assert plainframe[4] & 0x23 == 0x20, "expected a single-segment frame without a dictionary id"
dictframe = bytes(plainframe[:4]) + bytes([plainframe[4] | 0x01, 7]) + bytes(plainframe[5:])
add("publish_zstd_dictionary", "c2s", "error:10", frame(PUBLISH, dictframe, 3, flags=COMPRESSED), one)
add("publish_zstd_two_frames", "c2s", "error:10", frame(PUBLISH, zstd(one) + zstd(one), 3, flags=COMPRESSED), one)


def with_window(data, descriptor):
    """`data` (one zstd frame) rewritten as a frame that is not single-segment, with the window
    `descriptor` byte and a 4-byte content size; its blocks are unchanged."""
    fhd = data[4]
    fcs_flag, single, checksum, did_flag = fhd >> 6, fhd & 0x20, fhd & 0x04, fhd & 0x03
    assert did_flag == 0, "no dictionary id"
    at = 5 if single else 6
    size_bytes = (1 if single else 0, 2, 4, 8)[fcs_flag]
    size = int.from_bytes(data[at:at + size_bytes], "little") + (256 if size_bytes == 2 else 0)
    head = bytes([0x80 | checksum, descriptor]) + size.to_bytes(4, "little")
    return data[:4] + head + data[at + size_bytes:]


# Section 2.2 (revision 3): a window of at most 8 MiB (max decompressed bytes is 4 MiB here).
# Window_Size = 2^(10 + exponent) * (1 + mantissa / 8): 0x68 is 2^23 (8 MiB), 0x69 9 MiB,
# 0xA8 2^31. A decoder that decompresses in one pass would take all three.
add("publish_zstd_window_8mib", "c2s", "ok", frame(PUBLISH, with_window(zstd(one), 0x68), 3, flags=COMPRESSED), one)
add("publish_zstd_window_9mib", "c2s", "error:10",
    frame(PUBLISH, with_window(zstd(one), 0x69), 3, flags=COMPRESSED), one)
add("publish_zstd_window_2gib", "c2s", "error:10",
    frame(PUBLISH, with_window(zstd(one), 0xA8), 3, flags=COMPRESSED), one)
badsum = bytearray(zstd(one))
assert badsum[4] & 0x04, "the zstd command writes a content checksum"
badsum[-1] ^= 0xFF
add("publish_zstd_bad_checksum", "c2s", "error:10", frame(PUBLISH, bytes(badsum), 3, flags=COMPRESSED), one)

# --- ack / error ---------------------------------------------------------------------
add("ack_all_ok", "s2c", "ok", frame(ACK, struct.pack(">II", 3, 0), 9))
add("ack_one_failed", "s2c", "ok", frame(ACK, struct.pack(">IIIH", 3, 1, 1, 21), 9))
add("ack_truncated_failures", "s2c", "error:7", frame(ACK, struct.pack(">IIIH", 3, 2, 1, 21), 9))
add("ack_failed_more_than_count", "s2c", "error:7", frame(ACK, struct.pack(">IIIH", 0, 1, 0, 21), 9))
add("ack_index_out_of_range", "s2c", "error:7", frame(ACK, struct.pack(">IIIH", 3, 1, 3, 21), 9))
# Section 3.3: record count at least 1, failures ascending and unique, nothing after them.
add("ack_zero_records", "s2c", "error:7", frame(ACK, struct.pack(">II", 0, 0), 9))
add("ack_index_not_ascending", "s2c", "error:7", frame(ACK, struct.pack(">IIIHIH", 3, 2, 2, 21, 1, 21), 9))
add("ack_index_repeated", "s2c", "error:7", frame(ACK, struct.pack(">IIIHIH", 3, 2, 1, 21, 1, 22), 9))
add("ack_unknown_code", "s2c", "ok", frame(ACK, struct.pack(">IIIH", 1, 1, 0, 999), 9))
add("ack_delivery_failed", "s2c", "ok", frame(ACK, struct.pack(">IIIHIH", 2, 2, 0, 30, 1, 31), 9))
# Revision 3: the codes of topic contracts, CONTRACT_VIOLATION (27) and UNKNOWN_TOPIC (28).
add("ack_contract_codes", "s2c", "ok", frame(ACK, struct.pack(">IIIHIH", 3, 2, 0, 27, 2, 28), 9))
add("error_bad_magic", "s2c", "ok", frame(ERROR, struct.pack(">HBB", 1, 1, 0) + str16("bad magic")))
add("error_overloaded", "s2c", "ok", frame(ERROR, struct.pack(">HBB", 40, 2, 0) + str16("slow down"), 4))
add("error_message_past_end", "s2c", "error:7", frame(ERROR, struct.pack(">HBBH", 1, 1, 0, 50) + b"short"))
add("error_message_not_utf8", "s2c", "error:7", frame(ERROR, struct.pack(">HBB", 7, 0, 0) + str16(b"bad \xff"), 4))
add("error_reserved_flag", "s2c", "error:3", frame(ERROR, struct.pack(">HBB", 7, 4, 0) + str16("x"), 4))
add("error_unknown_code", "s2c", "ok", frame(ERROR, struct.pack(">HBB", 999, 0, 0) + str16("new"), 4))
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "stats.json"), "rb") as stats_file:
    stats_document = stats_file.read().strip()
add("stats_reply_full", "s2c", "ok", frame(STATS_REPLY, stats_document, 10))
add("stats_reply_not_utf8", "s2c", "error:7", frame(STATS_REPLY, b'{"x":"\xff"}', 10))
add("s2c_bad_magic", "s2c", "error:1", frame(ACK, struct.pack(">II", 0, 0), 9, magic=b"SX"))
add("s2c_huge_length", "s2c", "error:4", header(STATS_REPLY, 0xFFFFFFF0, 10))

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "frames.tsv"), "w") as out:
    out.write("# Sluice protocol v1 test vectors; see ../PROTOCOL.md section 8. Generated by generate.py.\n")
    out.write("# name\tdirection\texpect\tframe\tplain\treply\n")
    for v in vectors:
        out.write("\t".join(v) + "\n")
print("wrote %d vectors" % len(vectors))
