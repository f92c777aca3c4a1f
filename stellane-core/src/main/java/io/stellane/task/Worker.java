package io.stellane.task;

import java.util.concurrent.Executor;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The event-loop thread a task runs on, as tasks see it. Implemented by the runtime; users meet it
 * through {@link #current()} (to tell whether they are on a worker) and {@link #id()}.
 *
 * <p>Threading: {@link #execute} and {@link #schedule} are thread-safe and run their command on this
 * worker's thread; everything else is called by {@link Task} on the worker itself.
 */
public interface Worker extends Executor {

    /** The worker whose thread is calling, or {@code null} on any other thread. */
    static Worker current() {
        return Thread.currentThread() instanceof WorkerThread t ? t.worker() : null;
    }

    /** Index of this worker in the runtime, from 0. */
    int id();

    /** Runs {@code command} on this worker's thread, after what is already queued there. */
    @Override
    void execute(Runnable command);

    /**
     * A cheap clock for code on this worker's thread: {@link System#nanoTime()} read at most once per
     * loop turn (after the I/O wait), so it lags by at most the work of one turn. For timeouts and
     * phase timestamps on hot paths, not for measuring.
     */
    default long loopNanos() {
        return System.nanoTime();
    }

    /** Runs {@code command} on this worker's thread after {@code delay}, on the loop's timer (no thread blocks). */
    Future<?> schedule(Runnable command, long delay, TimeUnit unit);

    /**
     * Runs a scheduled task on this worker's thread (called by {@link Task#run()}): starts it with
     * {@link Task#startQueued()} and keeps the worker's counts. Never throws.
     */
    void run(Task<?> task);

    /** Accounting hook: a scheduled task (started on this worker) completed with {@code error}. */
    void taskFailed(Task<?> task, Throwable error);
}
