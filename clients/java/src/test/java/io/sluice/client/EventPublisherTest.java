package io.sluice.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.example.MyDomainEventService;
import com.example.MyDomainEventService.MyEntity;
import com.example.MyDomainEventService.MyNewEvent;
import io.sluice.client.testing.FakeEventPublisher;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The EventPublisher facade over a client, and the fake for application tests (the README's example). */
class EventPublisherTest {
    @Test
    void theServiceIsTestedWithTheFakeInTheSeedsStyle() {
        FakeEventPublisher eventPublisher = new FakeEventPublisher();
        MyDomainEventService service = new MyDomainEventService(eventPublisher, "brand-1");

        service.publishMyNewEvent(new MyEntity(7, 42, "x"));

        eventPublisher.verifyPublished(MyDomainEventService.MY_NEW_EVENT, "42", MyNewEvent.class);
        AssertionError wrongKey = assertThrows(AssertionError.class,
                () -> eventPublisher.verifyPublished(MyDomainEventService.MY_NEW_EVENT, "43", MyNewEvent.class));
        assertTrue(wrongKey.getMessage().contains("publish(casino.domain.my-action.v1, 42, MyNewEvent)"),
                wrongKey.getMessage());
    }

    @Test
    void theFakeFailsChosenRecordsWithAGivenCode() {
        FakeEventPublisher fake = new FakeEventPublisher().failWhen(p -> p.key().equals("bad"), ErrorCode.INVALID_KEY)
                .failNext(1, ErrorCode.OVERLOADED);
        CompletionException first = assertThrows(CompletionException.class, () -> fake.publish("t", "a", "e1").join());
        assertEquals(ErrorCode.OVERLOADED, ((SluiceException) first.getCause()).code());
        fake.publish("t", "b", "e2").join();
        CompletionException bad = assertThrows(CompletionException.class, () -> fake.publish("t", "bad", "e3").join());
        assertEquals(ErrorCode.INVALID_KEY, ((SluiceException) bad.getCause()).code());
        assertEquals(3, fake.published().size());
        assertEquals(java.util.List.of("e2"), fake.eventsOn("t"));
        fake.reset();
        fake.verifyNothingPublished();
    }

    @Test
    void sluiceEventPublisherCarriesTheEventsTypeAndId(@TempDir Path dir) throws Exception {
        try (FakeServer server = new FakeServer(dir);
                SluiceClient client = SluiceClient.connect(server.path)) {
            EventPublisher publisher = new SluiceEventPublisher(client, MyDomainEventService.SERIALIZER);
            new MyDomainEventService(publisher, "brand-1").publishMyNewEvent(new MyEntity(7, 42, "x"));
            client.flush(Duration.ofSeconds(5));
            OutRecord r = server.publishes.get(0).publish().records.get(0);
            assertEquals("42", new String(r.key, StandardCharsets.UTF_8));
            assertEquals(MyDomainEventService.MY_NEW_EVENT, new String(r.eventType, StandardCharsets.UTF_8));
            String value = new String(r.value, StandardCharsets.UTF_8);
            UUID id = new UUID(r.idMsb, r.idLsb);
            assertTrue(value.contains("\"eventId\":\"" + id + "\""), "the event's own id is the record's: " + value);
            EventPublisher broken = new SluiceEventPublisher(client, EventSerializer.of(e -> {
                throw new IllegalStateException("cannot serialize");
            }));
            CompletionException e = assertThrows(CompletionException.class, () -> broken.publish("t", "k", "x").join());
            assertEquals(ErrorCode.INVALID_ARGUMENT, ((SluiceException) e.getCause()).code());
        }
    }
}
