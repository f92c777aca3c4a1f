package io.stellane.logging;

import org.junit.jupiter.api.Test;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.AbstractLogger;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LogThrottleTest {
    /** What a logger received: level, message, cause. */
    record Line(Level level, String message, Throwable cause) {
    }

    static final class Recording extends AbstractLogger {
        final List<Line> lines = new ArrayList<>();

        Recording() {
            this.name = "recording";
        }

        @Override protected String getFullyQualifiedCallerName() { return null; }
        @Override protected void handleNormalizedLoggingCall(Level level, Marker marker, String msg, Object[] args, Throwable t) {
            lines.add(new Line(level, msg, t));
        }
        @Override public boolean isTraceEnabled() { return true; }
        @Override public boolean isTraceEnabled(Marker marker) { return true; }
        @Override public boolean isDebugEnabled() { return true; }
        @Override public boolean isDebugEnabled(Marker marker) { return true; }
        @Override public boolean isInfoEnabled() { return true; }
        @Override public boolean isInfoEnabled(Marker marker) { return true; }
        @Override public boolean isWarnEnabled() { return true; }
        @Override public boolean isWarnEnabled(Marker marker) { return true; }
        @Override public boolean isErrorEnabled() { return true; }
        @Override public boolean isErrorEnabled(Marker marker) { return true; }
    }

    private final AtomicLong now = new AtomicLong(1_000_000_000L);
    private final Recording log = new Recording();
    private final LogThrottle throttle = new LogThrottle(Duration.ofSeconds(10), now::get);

    @Test
    void aFloodOfTheSameErrorIsOneLinePerIntervalWithTheCountLeftOut() {
        IOException disk = new IOException("No space left on device");
        assertThat(throttle.error(log, "journal.append", "cannot journal the request", disk)).isTrue();
        for (int i = 0; i < 4211; i++) {
            now.addAndGet(1_000_000); // 4.2 s of requests, all failing
            assertThat(throttle.error(log, "journal.append", "cannot journal the request", disk)).isFalse();
        }
        assertThat(log.lines).hasSize(1);
        assertThat(log.lines.getFirst()).isEqualTo(new Line(Level.ERROR, "cannot journal the request", disk));

        now.addAndGet(Duration.ofSeconds(6).toNanos());
        assertThat(throttle.error(log, "journal.append", "cannot journal the request", disk)).isTrue();
        assertThat(log.lines).hasSize(2);
        assertThat(log.lines.get(1).message()).isEqualTo("cannot journal the request (and 4,211 more times in the last 10 s)");
        assertThat(log.lines.get(1).cause()).isSameAs(disk);
    }

    @Test
    void aLoneRepeatAfterTheIntervalSaysNothingWasLeftOut() {
        throttle.warn(log, "k", "first", null);
        now.addAndGet(Duration.ofSeconds(11).toNanos());
        throttle.warn(log, "k", "again", null);
        assertThat(log.lines).extracting(Line::message).containsExactly("first", "again");
        assertThat(log.lines).extracting(Line::level).containsOnly(Level.WARN);
    }

    @Test
    void differentKeysAndDifferentErrorClassesAreThrottledApart() {
        throttle.warn(log, "a", "a failed", new IOException("x"));
        throttle.warn(log, "a", "a failed", new IllegalStateException("y"));
        throttle.warn(log, "b", "b failed", new IOException("x"));
        throttle.warn(log, "a", "a failed", new IOException("another message, same problem"));
        assertThat(log.lines).extracting(Line::message).containsExactly("a failed", "a failed", "b failed");
    }

    @Test
    void keysBeyondTheCapShareOneSlotInsteadOfGrowingWithoutBound() {
        for (int i = 0; i < LogThrottle.MAX_KEYS + 500; i++) {
            throttle.warn(log, "key-" + i, "line " + i, null);
        }
        // every tracked key logged once; all the keys past the cap share a slot: one more line
        assertThat(log.lines).hasSize(LogThrottle.MAX_KEYS + 1);
    }

    @Test
    void anIntervalMustBePositive() {
        assertThatThrownBy(() -> new LogThrottle(Duration.ZERO)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("interval");
    }
}
