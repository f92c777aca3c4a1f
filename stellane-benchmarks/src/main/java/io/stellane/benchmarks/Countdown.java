package io.stellane.benchmarks;

import io.stellane.task.Task;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The trivial task body every contender runs, and how the benchmark thread learns that a batch is done:
 * each run decrements one shared counter, the run that reaches zero unparks the waiting thread.
 * Every contender uses this same object, so completion detection costs them all the same.
 *
 * <p>Parking rather than spinning: on a small machine a spinning benchmark thread would take a core
 * from the very workers it measures. One park/unpark per batch of thousands is noise.
 *
 * <p>Threading: {@link #reset} and {@link #await} by the benchmark thread only, between batches;
 * {@link #run} from any thread.
 */
final class Countdown implements Runnable, Task.ThrowingRunnable {
    /** A batch not done by then lost tasks: fail the run loudly instead of hanging the fork. */
    private static final long TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(30);

    private final AtomicInteger remaining = new AtomicInteger();
    private volatile Thread waiter;
    private int batch;

    /** Arms the countdown for {@code n} runs; the calling thread becomes the one {@link #await} wakes. */
    void reset(int n) {
        batch = n;
        waiter = Thread.currentThread();
        remaining.set(n);
    }

    @Override
    public void run() {
        if (remaining.decrementAndGet() == 0) {
            LockSupport.unpark(waiter);
        }
    }

    /** Parks until every run of the batch happened. */
    void await(String contender) {
        long deadline = System.nanoTime() + TIMEOUT_NANOS;
        while (remaining.get() != 0) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new IllegalStateException(contender + ": " + remaining.get() + " of " + batch
                        + " tasks did not run within 30 s (lost tasks or a lost wake-up)");
            }
            LockSupport.parkNanos(this, left);
        }
    }
}
