package io.sluice.client.testing;

import io.sluice.client.ErrorCode;
import io.sluice.client.EventPublisher;
import io.sluice.client.SluiceException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.function.Predicate;

/**
 * An in-memory {@link EventPublisher} for application unit tests: it records every call and can be told to fail
 * chosen records with a given code, so the service's failure handling can be tested too. Thread-safe.
 *
 * <pre>{@code
 * FakeEventPublisher events = new FakeEventPublisher();
 * new MyDomainEventService(events).publishMyNewEvent(entity);
 * events.verifyPublished("casino.domain.my-action.v1", "42", MyNewEvent.class);
 * }</pre>
 */
public final class FakeEventPublisher implements EventPublisher {
    /** One recorded call; {@code failedWith} is the code it was failed with, or null. */
    public record Published(String topic, String key, Object event, UUID eventId, ErrorCode failedWith) {}

    private record Rule(Predicate<Published> match, ErrorCode code, int times) {}

    private final List<Published> published = new ArrayList<>();
    private final List<Rule> rules = new ArrayList<>();

    /** Records the call; completes with a fresh event id, or fails with the code of the first matching rule. */
    @Override
    public synchronized CompletableFuture<UUID> publish(String topic, String key, Object event) {
        UUID id = UUID.randomUUID();
        ErrorCode code = null;
        for (int i = 0; i < rules.size(); i++) {
            Rule r = rules.get(i);
            if (r.match.test(new Published(topic, key, event, id, null))) {
                code = r.code;
                if (r.times > 0) {
                    if (r.times == 1) rules.remove(i);
                    else rules.set(i, new Rule(r.match, r.code, r.times - 1));
                }
                break;
            }
        }
        published.add(new Published(topic, key, event, id, code));
        if (code == null) return CompletableFuture.completedFuture(id);
        return CompletableFuture.failedFuture(new SluiceException(code, "failed by FakeEventPublisher"));
    }

    /** Fails every later call that matches with {@code code} (e.g. INVALID_KEY, OVERLOADED). */
    public synchronized FakeEventPublisher failWhen(Predicate<Published> match, ErrorCode code) {
        rules.add(new Rule(match, code, 0));
        return this;
    }

    /** Fails the next {@code n} calls, whatever they publish, with {@code code}. */
    public synchronized FakeEventPublisher failNext(int n, ErrorCode code) {
        rules.add(new Rule(p -> true, code, n));
        return this;
    }

    /** Fails every later call to {@code topic} with {@code code}. */
    public FakeEventPublisher failTopic(String topic, ErrorCode code) {
        return failWhen(p -> p.topic().equals(topic), code);
    }

    /** Every call so far, in order (failed ones included). */
    public synchronized List<Published> published() {
        return List.copyOf(published);
    }

    /** The events published to {@code topic} that did not fail, in order. */
    public synchronized List<Object> eventsOn(String topic) {
        List<Object> out = new ArrayList<>();
        for (Published p : published) {
            if (p.topic().equals(topic) && p.failedWith() == null) out.add(p.event());
        }
        return out;
    }

    /**
     * Asserts that {@code publish(topic, key, any event of eventClass)} was called (MockK's
     * {@code verify { publish(topic, key, any<T>()) }}); throws AssertionError listing the calls otherwise.
     */
    public synchronized Published verifyPublished(String topic, String key, Class<?> eventClass) {
        for (Published p : published) {
            if (p.topic().equals(topic) && Objects.equals(p.key(), key) && eventClass.isInstance(p.event())) return p;
        }
        throw new AssertionError("expected publish(" + topic + ", " + key + ", any " + eventClass.getSimpleName()
                + ") but the calls were: " + describe());
    }

    /** Asserts that nothing was published. */
    public synchronized void verifyNothingPublished() {
        if (!published.isEmpty()) throw new AssertionError("expected no publish call but got: " + describe());
    }

    /** Forgets the calls and the failure rules. */
    public synchronized void reset() {
        published.clear();
        rules.clear();
    }

    private String describe() {
        if (published.isEmpty()) return "none";
        StringBuilder sb = new StringBuilder();
        for (Published p : published) {
            sb.append("\n  publish(").append(p.topic()).append(", ").append(p.key()).append(", ")
                    .append(p.event() == null ? "null" : p.event().getClass().getSimpleName()).append(')');
        }
        return sb.toString();
    }
}
