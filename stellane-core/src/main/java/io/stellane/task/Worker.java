package io.stellane.task;

import io.stellane.scheduler.TaskScheduler;
import java.util.concurrent.Executor;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * One of the runtime's event-loop threads, with its queue. Implemented by the runtime; users meet it
 * through {@link #current()} (to tell whether they are on a worker) and {@link #id()}; {@link Task}
 * reports to it; the {@link io.stellane.backend.EventLoopBackend} that drives it reads its queue,
 * thread and limits.
 *
 * <p>Threading: {@link #execute}, {@link #schedule} and the backend's getters are thread-safe;
 * everything else is called on the worker's own thread.
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
     * the runtime's hook ({@code TaskAccess.startQueued}) and keeps the worker's counts. Never throws.
     */
    void run(Task<?> task);

    /** Accounting hook: a scheduled task (started on this worker) completed with {@code error}. */
    void taskFailed(Task<?> task, Throwable error);

    /**
     * Work a caller runs inline on this worker instead of queueing it (a server starts a request's
     * handler where it read the request): call this before it and {@link #endInline} after, and it
     * counts as one of this worker's tasks, timed one in the worker's sample like a queued task. No
     * clock read otherwise, no atomic operation. On this worker's thread.
     *
     * @return what to pass to {@link #endInline}
     */
    default long beginInline() {
        return 0;
    }

    /** Ends what {@link #beginInline} began. On this worker's thread. */
    default void endInline(long began) {
    }

    /**
     * A task run inline ({@link #beginInline}) failed: counted as this worker's failure and told to the
     * runtime's error handlers ({@code Runtime.onTaskError}). On this worker's thread.
     */
    default void inlineFailed(Task<?> task, Throwable error) {
    }

    /**
     * A blocking task ({@link Task#blocking}) started on this worker ended: {@code nanos} on its
     * virtual thread, {@code error} null when it succeeded. Counted as one of this worker's tasks. On
     * this worker's thread, before the task's result is delivered.
     */
    default void blockingDone(Task<?> task, long nanos, Throwable error) {
    }

    // ---------------------------------------------------------------- what the backend driving it reads

    /** The thread that calls the backend's {@code run()}; not started yet when the backend is bound. */
    Thread thread();

    /** This worker's task queue under the runtime's strategy. */
    TaskScheduler scheduler();

    /**
     * A task taken from another worker's queue, or {@code null}: there is none, or the strategy does
     * not steal. Called by this worker's thread when its own queue is empty.
     */
    Task<?> steal();

    /** Tasks to run between two I/O polls. */
    int maxTasksPerLoop();

    /** Longest sleep in I/O wait while idle, in nanoseconds. */
    long idleTimeoutNanos();

    /** Reads per connection per I/O turn. */
    int ioBatchSize();

    /** Whether sockets use pooled direct buffers. */
    boolean zeroCopyIo();
}
