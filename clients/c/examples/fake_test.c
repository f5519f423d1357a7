/* fake-example-test: a unit test of application code that publishes through libsluice,
 * against the fake gateway of sluice_fake.h (built by `make`, run by `make check`).
 *
 * The code under test is publish_player_registered(); the test checks that it published
 * to topic "player.registered" with the player's id as the key (any event), and that a
 * record the gateway rejects is reported. Exit status 0 when every check held. */
#include <stdio.h>
#include <string.h>

#include "sluice.h"
#include "sluice_fake.h"

/* ---- the application's code ---------------------------------------------------------- */

static int rejected;

static void count_rejections(void *opaque, const sluice_failure *f) {
    (void)opaque;
    (void)f;
    rejected++;
}

/* Publishes a PlayerRegistered event keyed by the player id; SLUICE_OK or SLUICE_ERR. */
static int publish_player_registered(sluice_client *c, long player_id) {
    char key[32], event[64];
    snprintf(key, sizeof(key), "%ld", player_id);
    snprintf(event, sizeof(event), "{\"playerId\":%ld}", player_id);
    sluice_record r;
    memset(&r, 0, sizeof(r));
    r.topic = "player.registered";
    r.key = key;
    r.key_len = strlen(key);
    r.event_type = "PlayerRegistered";
    r.value = event;
    r.value_len = strlen(event);
    if (sluice_publish_record(c, &r) != SLUICE_OK) return SLUICE_ERR;
    return sluice_flush(c, 5000);
}

/* ---- its unit test ---------------------------------------------------------------------- */

#define EXPECT(cond)                                                                                                 \
    do {                                                                                                             \
        if (!(cond)) {                                                                                               \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);                                      \
            failed++;                                                                                                \
        }                                                                                                            \
    } while (0)

int main(void) {
    int failed = 0;
    sluice_fake *gateway = sluice_fake_start();
    if (gateway == NULL) {
        perror("sluice_fake_start");
        return 1;
    }
    sluice_options o;
    sluice_options_init(&o);
    o.on_failure = count_rejections;
    sluice_client *c = sluice_connect(sluice_fake_socket_path(gateway), &o);

    /* should publish player registered event: verify publish("player.registered", "42", any event) */
    EXPECT(publish_player_registered(c, 42) == SLUICE_OK);
    EXPECT(sluice_fake_count_published(gateway, "player.registered", "42") == 1);

    /* a rejected event is reported */
    sluice_fake_fail(gateway, "player.registered", "13", SLUICE_E_REJECTED_BY_BROKER, 1);
    EXPECT(publish_player_registered(c, 13) == SLUICE_ERR);
    EXPECT(sluice_errcode(c) == SLUICE_E_RECORDS_FAILED);
    EXPECT(rejected == 1);

    sluice_fake_record r;
    EXPECT(sluice_fake_record_at(gateway, 0, &r) == 0 && strcmp(r.event_type, "PlayerRegistered") == 0);
    sluice_close(c);
    sluice_fake_stop(gateway);
    if (failed == 0) printf("fake-example-test: ok\n");
    return failed == 0 ? 0 : 1;
}
