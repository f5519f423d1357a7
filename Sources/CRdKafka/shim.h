#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <string.h>

/* Swift cannot call C variadic functions such as rd_kafka_producev(), so this one inline
 * wrapper spells out the argument list, with librdkafka's handle of the topic (no lookup by
 * name per record). The value is copied. On success librdkafka owns `headers`. */
static inline rd_kafka_resp_err_t sluice_rd_produce(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const void *key,
                                                    size_t key_len, const void *value, size_t value_len,
                                                    rd_kafka_headers_t *headers, int64_t timestamp_ms,
                                                    void *opaque) {
    return rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(key, key_len),
                             RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_TIMESTAMP(timestamp_ms),
                             RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}

/* librdkafka's handle of a topic named by bytes (a slice of a decoded frame, validated to at
 * most 249 bytes, so it is copied to a terminated buffer on the stack), or NULL; release it
 * with rd_kafka_topic_destroy(). */
static inline rd_kafka_topic_t *sluice_rd_topic(rd_kafka_t *rk, const void *topic, size_t topic_len) {
    char name[256];
    if (topic_len >= sizeof(name)) return NULL;
    memcpy(name, topic, topic_len);
    name[topic_len] = '\0';
    return rd_kafka_topic_new(rk, name, NULL);
}
