package io.sluice.client;

/** One decoded server frame: HELLO_OK, ACK, ERROR, PONG or STATS_REPLY (fields of the other types stay unset). */
final class ServerFrame {
    int type;
    int requestId;
    /** HELLO_OK. */
    Limits limits;
    String serverName;
    /** ACK: record count, then the failures' indexes and codes in ascending index order. */
    long ackCount;
    int[] failIndex;
    int[] failCode;
    /** ERROR. */
    int errorCode;
    int errorFlags;
    String message;
    /** PONG bytes or STATS_REPLY JSON (UTF-8). */
    byte[] body;

    boolean closing() {
        return (errorFlags & Wire.ERR_CLOSING) != 0;
    }

    boolean retriable() {
        return (errorFlags & Wire.ERR_RETRIABLE) != 0;
    }
}
