package io.stellane.metrics;

import java.util.function.LongSupplier;

/**
 * What a node's durable tasks report (module {@code stellane-cluster}); get it from
 * {@link StellaneMetrics#durableTasks()}. The app bootstrap feeds it from a {@code DurableTasks}
 * listener; without the bootstrap, call these from one.
 *
 * <p>Threading: every method is thread-safe and lock-free (plain Micrometer counters, looked up once).
 */
public interface DurableTaskMetrics {

    /** A task was added by this node. */
    void submitted();

    /** This node took an attempt of a task. */
    void claimed();

    /** A task's handler succeeded on this node and the task is done. */
    void completed();

    /** An attempt failed on this node (to be retried, or the task quarantined). */
    void failedAttempt();

    /** A task was quarantined: out of attempts, it waits for an operator. */
    void quarantined();

    /** Reports the attempts running on this node through {@code running}, read at each scrape; replaces a previous supplier. */
    void running(LongSupplier running);

    /** Reports the tasks ready in the whole cluster through {@code ready}, read at each scrape; replaces a previous supplier. */
    void ready(LongSupplier ready);
}
