package io.stellane.logging;

import org.slf4j.Logger;
import org.slf4j.event.Level;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Logs the same problem at most once per interval, with a count of the times it happened
 * meanwhile: a full disk or a lost database fails every request, and a line (with its stack) per
 * request would bury everything else in the log and fill the disk it is complaining about.
 *
 * <p>"The same problem" is a caller-chosen key (the site, e.g. {@code "journal.append"}) plus the
 * exception's class when one is given; messages are not part of it, since they often carry request
 * ids. The first occurrence of a key is logged at once; later ones within the interval are only
 * counted, and the next one logged after it says how many were left out:
 * {@code "cannot journal the request (and 4,211 more times in the last 10 s)"}. At most
 * {@value #MAX_KEYS} keys are tracked; beyond that, keys share one slot.
 *
 * <p>Threading: thread-safe and lock-free; a suppressed occurrence costs a map lookup and an
 * atomic increment, so it is fine on a worker's error path.
 */
public final class LogThrottle {
    static final int MAX_KEYS = 1024;
    private static final String OVERFLOW = "\u0000other";

    private final long intervalNanos;
    private final LongSupplier clock;
    private final ConcurrentHashMap<String, Slot> slots = new ConcurrentHashMap<>();

    private static final class Slot {
        /** When this key was last logged; Long.MIN_VALUE before its first line. */
        final AtomicLong loggedAt = new AtomicLong(Long.MIN_VALUE);
        final AtomicLong suppressed = new AtomicLong();
    }

    /** At most one line per key and {@code interval}. */
    public LogThrottle(Duration interval) {
        this(interval, System::nanoTime);
    }

    LogThrottle(Duration interval, LongSupplier nanoClock) {
        Objects.requireNonNull(interval, "interval");
        if (interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("interval must be > 0, not " + interval);
        }
        this.intervalNanos = interval.toNanos();
        this.clock = Objects.requireNonNull(nanoClock, "nanoClock");
    }

    /** One line per interval for {@code key}; returns whether this call logged. */
    public boolean warn(Logger log, String key, String message, Throwable error) {
        return log(log, Level.WARN, key, message, error);
    }

    /** One line per interval for {@code key}; returns whether this call logged. */
    public boolean error(Logger log, String key, String message, Throwable error) {
        return log(log, Level.ERROR, key, message, error);
    }

    /**
     * Logs {@code message} (and {@code error}'s stack, if any) at {@code level} unless the same key
     * and error class were logged less than an interval ago, in which case it is only counted.
     */
    public boolean log(Logger log, Level level, String key, String message, Throwable error) {
        String k = error == null ? key : key + '\u0000' + error.getClass().getName();
        Slot slot = slots.get(k);
        if (slot == null) {
            slot = slots.size() < MAX_KEYS ? slots.computeIfAbsent(k, x -> new Slot())
                    : slots.computeIfAbsent(OVERFLOW, x -> new Slot());
        }
        long now = clock.getAsLong();
        long last = slot.loggedAt.get();
        if (last != Long.MIN_VALUE && now - last < intervalNanos || !slot.loggedAt.compareAndSet(last, now)) {
            slot.suppressed.incrementAndGet();
            return false;
        }
        long missed = slot.suppressed.getAndSet(0);
        String line = missed == 0 ? message
                : message + " (and " + String.format("%,d", missed) + " more time" + (missed == 1 ? "" : "s")
                + " in the last " + seconds(now - last) + ")";
        if (error == null) {
            log.atLevel(level).log(line);
        } else {
            log.atLevel(level).setCause(error).log(line);
        }
        return true;
    }

    private static String seconds(long nanos) {
        long s = Math.max(1, Math.round(nanos / 1e9));
        return s + " s";
    }
}
