/* Error names, the version string, and the client's last-error state. */
#include <errno.h>
#include <stdarg.h>

#include "client.h"
#include "sluice.h"

const char *sluice_error_name(int code) {
    switch (code) {
    case SLUICE_E_NONE: return "OK";
    case SLUICE_E_BAD_MAGIC: return "BAD_MAGIC";
    case SLUICE_E_UNSUPPORTED_VERSION: return "UNSUPPORTED_VERSION";
    case SLUICE_E_RESERVED_BITS: return "RESERVED_BITS";
    case SLUICE_E_FRAME_TOO_LARGE: return "FRAME_TOO_LARGE";
    case SLUICE_E_UNKNOWN_TYPE: return "UNKNOWN_TYPE";
    case SLUICE_E_PROTOCOL_STATE: return "PROTOCOL_STATE";
    case SLUICE_E_MALFORMED_PAYLOAD: return "MALFORMED_PAYLOAD";
    case SLUICE_E_CONTENT_SIZE_MISSING: return "CONTENT_SIZE_MISSING";
    case SLUICE_E_DECOMPRESSED_TOO_LARGE: return "DECOMPRESSED_TOO_LARGE";
    case SLUICE_E_BAD_COMPRESSION: return "BAD_COMPRESSION";
    case SLUICE_E_TOO_MANY_RECORDS: return "TOO_MANY_RECORDS";
    case SLUICE_E_INVALID_TOPIC: return "INVALID_TOPIC";
    case SLUICE_E_INVALID_KEY: return "INVALID_KEY";
    case SLUICE_E_RECORD_TOO_LARGE: return "RECORD_TOO_LARGE";
    case SLUICE_E_INVALID_HEADERS: return "INVALID_HEADERS";
    case SLUICE_E_TOPIC_NOT_ALLOWED: return "TOPIC_NOT_ALLOWED";
    case SLUICE_E_INVALID_EVENT_TYPE: return "INVALID_EVENT_TYPE";
    case SLUICE_E_INVALID_TIMESTAMP: return "INVALID_TIMESTAMP";
    case SLUICE_E_CONTRACT_VIOLATION: return "CONTRACT_VIOLATION";
    case SLUICE_E_UNKNOWN_TOPIC: return "UNKNOWN_TOPIC";
    case SLUICE_E_DELIVERY_FAILED: return "DELIVERY_FAILED";
    case SLUICE_E_REJECTED_BY_BROKER: return "REJECTED_BY_BROKER";
    case SLUICE_E_OVERLOADED: return "OVERLOADED";
    case SLUICE_E_SHUTTING_DOWN: return "SHUTTING_DOWN";
    case SLUICE_E_INTERNAL: return "INTERNAL";
    case SLUICE_E_NOT_PERMITTED: return "NOT_PERMITTED";
    case SLUICE_E_TIMED_OUT: return "TIMED_OUT";
    case SLUICE_E_TOO_MANY_CONNECTIONS: return "TOO_MANY_CONNECTIONS";
    case SLUICE_E_IO: return "IO";
    case SLUICE_E_TIMEOUT: return "TIMEOUT";
    case SLUICE_E_PROTOCOL: return "PROTOCOL";
    case SLUICE_E_NOMEM: return "NOMEM";
    case SLUICE_E_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case SLUICE_E_CLOSED: return "CLOSED";
    case SLUICE_E_RECORDS_FAILED: return "RECORDS_FAILED";
    default: return "UNKNOWN";
    }
}

const char *sluice_version(void) {
#define SLUICE_STR2(x) #x
#define SLUICE_STR(x) SLUICE_STR2(x)
    return SLUICE_STR(SLUICE_VERSION_MAJOR) "." SLUICE_STR(SLUICE_VERSION_MINOR) "." SLUICE_STR(SLUICE_VERSION_PATCH);
#undef SLUICE_STR
#undef SLUICE_STR2
}

void sluice_set_err(sluice_client *c, int code, int sys, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset(c->errstr, sizeof(c->errstr), fmt, ap);
    va_end(ap);
    c->err = code;
    c->sys_errno = code == SLUICE_E_IO ? sys : 0;
    if (code == SLUICE_E_IO) errno = sys;
}

void sluice_clear_err(sluice_client *c) {
    c->err = 0;
    c->sys_errno = 0;
    c->errstr[0] = '\0';
}

void sluice_vset_conn_err(sluice_client *c, int code, int sys, const char *fmt, va_list ap) {
    vset(c->conn_errstr, sizeof(c->conn_errstr), fmt, ap);
    c->conn_err = code;
    c->conn_errno = sys;
}

void sluice_set_conn_err(sluice_client *c, int code, int sys, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sluice_vset_conn_err(c, code, sys, fmt, ap);
    va_end(ap);
}

