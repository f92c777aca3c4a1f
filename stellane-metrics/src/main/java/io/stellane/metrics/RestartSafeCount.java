package io.stellane.metrics;

import java.util.Objects;

/**
 * A running total over a source that starts again from 0 whenever the runtime restarts (each
 * {@code Runtime.init} builds a new engine with fresh counters). The source is read together with
 * an <em>epoch</em> that changes on a restart (the runtime's start time, a worker's thread id); on
 * a new epoch the last value seen is banked, so the exported counter never goes down.
 *
 * <p>Increments made after the last read and before a stop are lost: this is bounded by how often
 * the source is read (at most the sampler period; docs/OPERATIONS.md, "Known limits"). Thread-safe.
 */
final class RestartSafeCount {
    private Object epoch;
    private long banked;
    private long last;

    /** Records {@code current} as read in {@code epoch}; returns the total over all epochs. */
    synchronized long update(Object epoch, long current) {
        if (!Objects.equals(epoch, this.epoch)) {
            banked += last;
            last = 0;
            this.epoch = epoch;
        }
        last = Math.max(last, current);
        return banked + last;
    }

    /** The total so far, for when the source cannot be read (runtime stopped). */
    synchronized long total() {
        return banked + last;
    }
}
