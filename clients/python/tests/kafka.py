"""An independent Kafka consumer for the live tests: librdkafka (the checkout's .deps build) through ctypes."""

from __future__ import annotations

import ctypes
import os
import time
import uuid
from dataclasses import dataclass
from typing import Dict, List

from vectors import ROOT

LIBRDKAFKA = os.path.join(ROOT, ".deps", "librdkafka", "lib", "librdkafka.so.1")
_CONSUMER = 1
_OFFSET_BEGINNING = -2
_PARTITION_EOF = -191


class _Message(ctypes.Structure):
    """rd_kafka_message_t (rdkafka.h)."""

    _fields_ = [
        ("err", ctypes.c_int),
        ("rkt", ctypes.c_void_p),
        ("partition", ctypes.c_int32),
        ("payload", ctypes.c_void_p),
        ("len", ctypes.c_size_t),
        ("key", ctypes.c_void_p),
        ("key_len", ctypes.c_size_t),
        ("offset", ctypes.c_int64),
        ("_private", ctypes.c_void_p),
    ]


@dataclass
class Record:
    """One record read back from the broker."""

    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: Dict[str, bytes]


def _library() -> ctypes.CDLL:
    lib = ctypes.CDLL(LIBRDKAFKA)
    lib.rd_kafka_conf_new.restype = ctypes.c_void_p
    lib.rd_kafka_conf_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_poll_set_consumer.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_topic_partition_list_new.restype = ctypes.c_void_p
    lib.rd_kafka_topic_partition_list_new.argtypes = [ctypes.c_int]
    lib.rd_kafka_topic_partition_list_add.restype = ctypes.c_void_p
    lib.rd_kafka_topic_partition_list_add.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32]
    lib.rd_kafka_topic_partition_list_set_offset.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.c_int64,
    ]
    lib.rd_kafka_topic_partition_list_destroy.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_assign.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.rd_kafka_consumer_poll.restype = ctypes.POINTER(_Message)
    lib.rd_kafka_consumer_poll.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rd_kafka_message_destroy.argtypes = [ctypes.POINTER(_Message)]
    lib.rd_kafka_message_headers.argtypes = [ctypes.POINTER(_Message), ctypes.POINTER(ctypes.c_void_p)]
    lib.rd_kafka_header_get_all.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p),
        ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t),
    ]
    lib.rd_kafka_err2str.restype = ctypes.c_char_p
    lib.rd_kafka_consumer_close.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
    return lib


def _headers(lib: ctypes.CDLL, message: "ctypes._Pointer[_Message]") -> Dict[str, bytes]:
    handle = ctypes.c_void_p()
    if lib.rd_kafka_message_headers(message, ctypes.byref(handle)) != 0:
        return {}
    found: Dict[str, bytes] = {}
    index = 0
    name, value, size = ctypes.c_char_p(), ctypes.c_void_p(), ctypes.c_size_t()
    while lib.rd_kafka_header_get_all(handle, index, ctypes.byref(name), ctypes.byref(value), ctypes.byref(size)) == 0:
        found[(name.value or b"").decode()] = ctypes.string_at(value, size.value) if value.value else b""
        index += 1
    return found


def consume(brokers: str, topic: str, partitions: int, count: int, timeout: float = 60.0) -> List[Record]:
    """Reads `topic` from the beginning until `count` records arrived (then whatever else is there already)."""
    lib = _library()
    conf = lib.rd_kafka_conf_new()
    errstr = ctypes.create_string_buffer(512)
    settings = {
        "bootstrap.servers": brokers,
        "group.id": "sluice-py-reader-%s" % uuid.uuid4(),
        "enable.auto.commit": "false",
        "auto.offset.reset": "earliest",
        "log_level": "3",
    }
    for name, value in settings.items():
        if lib.rd_kafka_conf_set(conf, name.encode(), value.encode(), errstr, len(errstr)) != 0:
            raise AssertionError("librdkafka setting %s: %s" % (name, errstr.value.decode()))
    handle = lib.rd_kafka_new(_CONSUMER, conf, errstr, len(errstr))
    if not handle:
        raise AssertionError("rd_kafka_new: " + errstr.value.decode())
    try:
        lib.rd_kafka_poll_set_consumer(handle)
        assignment = lib.rd_kafka_topic_partition_list_new(partitions)
        for partition in range(partitions):
            lib.rd_kafka_topic_partition_list_add(assignment, topic.encode(), partition)
            lib.rd_kafka_topic_partition_list_set_offset(assignment, topic.encode(), partition, _OFFSET_BEGINNING)
        error = lib.rd_kafka_assign(handle, assignment)
        lib.rd_kafka_topic_partition_list_destroy(assignment)
        if error != 0:
            raise AssertionError("rd_kafka_assign: " + lib.rd_kafka_err2str(error).decode())
        records: List[Record] = []
        deadline = time.monotonic() + timeout
        while True:
            enough = len(records) >= count
            if not enough and time.monotonic() > deadline:
                raise AssertionError("read %d of %d records from %s in %.0f s" % (len(records), count, topic, timeout))
            message = lib.rd_kafka_consumer_poll(handle, 500 if enough else 200)
            if not message:
                if enough:
                    return records  # nothing more within half a second: extra records would have shown
                continue
            try:
                m = message.contents
                if m.err == _PARTITION_EOF:
                    continue
                if m.err != 0:
                    raise AssertionError("consume: " + lib.rd_kafka_err2str(m.err).decode())
                records.append(
                    Record(
                        partition=m.partition,
                        offset=m.offset,
                        key=ctypes.string_at(m.key, m.key_len) if m.key else b"",
                        value=ctypes.string_at(m.payload, m.len) if m.payload else b"",
                        headers=_headers(lib, message),
                    )
                )
            finally:
                lib.rd_kafka_message_destroy(message)
    finally:
        lib.rd_kafka_consumer_close(handle)
        lib.rd_kafka_destroy(handle)
