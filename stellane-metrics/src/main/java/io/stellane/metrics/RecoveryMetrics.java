package io.stellane.metrics;

import java.util.function.LongSupplier;

/**
 * What request recovery reports; get it from {@link StellaneMetrics#recovery()}.
 *
 * <p>Threading: every method is thread-safe and lock-free (the counters are plain Micrometer
 * counters, looked up once).
 */
public interface RecoveryMetrics {

    /** A request was written to the recovery journal before its handler ran. */
    void journaled();

    /** A journaled request finished normally and its entry was retired. */
    void completed();

    /** A request left unfinished by a crash was replayed successfully after restart. */
    void recovered();

    /** A recovery attempt failed (it may be retried). */
    void failed();

    /** A request used up its recovery attempts and was set aside for an operator. */
    void quarantined();

    /** Reports the journal's size in bytes through {@code bytes}, read at each scrape; replaces a previous supplier. */
    void journalBytes(LongSupplier bytes);
}
