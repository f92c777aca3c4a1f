package io.stellane.server;

import io.netty.util.AsciiString;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/** The {@code Date} header value, formatted at most once a second and shared (benign races). */
final class HttpDate {
    private static final DateTimeFormatter FORMAT =
            DateTimeFormatter.ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", Locale.ENGLISH).withZone(ZoneOffset.UTC);

    /** How long a stamp is trusted without reading the wall clock again. */
    private static final long RECHECK_NANOS = 20_000_000;

    private record Stamp(long second, AsciiString value, long checkedNanos) {
    }

    private static volatile Stamp stamp = new Stamp(-1, AsciiString.EMPTY_STRING, 0);

    private HttpDate() {
    }

    /** The value at {@code nanos} (a {@link System#nanoTime()} reading, e.g. the worker's loop clock). */
    static AsciiString at(long nanos) {
        Stamp s = stamp;
        if (s.second >= 0 && nanos - s.checkedNanos < RECHECK_NANOS) {
            return s.value; // a wall-clock read per response would cost more than the header
        }
        long second = System.currentTimeMillis() / 1000;
        AsciiString value = s.second == second ? s.value : new AsciiString(FORMAT.format(Instant.ofEpochSecond(second)));
        stamp = new Stamp(second, value, nanos);
        return value;
    }

    static AsciiString now() {
        return at(System.nanoTime());
    }
}
