#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <string.h>

/* Swift cannot call C variadic functions such as rd_kafka_producev(), so this one inline
 * wrapper spells out the argument list. The topic arrives as bytes with a length (it is a
 * slice of a decoded frame), so it is copied to a terminated buffer on the stack; callers
 * have validated it to at most 249 bytes. On success librdkafka owns `headers`. Without
 * `copy_value` librdkafka references `value` until the record's delivery report. */
static inline rd_kafka_resp_err_t sluice_rd_produce(rd_kafka_t *rk, const void *topic, size_t topic_len,
                                                    const void *key, size_t key_len, const void *value,
                                                    size_t value_len, int copy_value, rd_kafka_headers_t *headers,
                                                    int64_t timestamp_ms, void *opaque) {
    char name[256];
    if (topic_len >= sizeof(name)) return RD_KAFKA_RESP_ERR__INVALID_ARG;
    memcpy(name, topic, topic_len);
    name[topic_len] = '\0';
    return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(name), RD_KAFKA_V_KEY(key, key_len),
                             RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(copy_value ? RD_KAFKA_MSG_F_COPY : 0),
                             RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_TIMESTAMP(timestamp_ms),
                             RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}

/* The same with a topic handle instead of a name: no lookup by name per record. */
static inline rd_kafka_resp_err_t sluice_rd_produce_rkt(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const void *key,
                                                        size_t key_len, const void *value, size_t value_len,
                                                        int copy_value, rd_kafka_headers_t *headers,
                                                        int64_t timestamp_ms, void *opaque) {
    return rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(key, key_len),
                             RD_KAFKA_V_VALUE((void *)value, value_len),
                             RD_KAFKA_V_MSGFLAGS(copy_value ? RD_KAFKA_MSG_F_COPY : 0), RD_KAFKA_V_HEADERS(headers),
                             RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}

/* librdkafka's handle of a topic named by bytes (at most 249), or NULL; release it with
 * rd_kafka_topic_destroy(). */
static inline rd_kafka_topic_t *sluice_rd_topic(rd_kafka_t *rk, const void *topic, size_t topic_len) {
    char name[256];
    if (topic_len >= sizeof(name)) return NULL;
    memcpy(name, topic, topic_len);
    name[topic_len] = '\0';
    return rd_kafka_topic_new(rk, name, NULL);
}
