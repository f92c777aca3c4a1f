package io.stellane.backend;

import io.stellane.scheduler.TaskScheduler;
import io.stellane.task.Task;

/** What the runtime hands a backend about the worker it drives. Thread-safe. */
public interface WorkerContext {

    int workerId();

    /** The thread that will call {@link EventLoopBackend#run()}; not started yet at bind time. */
    Thread thread();

    /** This worker's task queue under the runtime's strategy. */
    TaskScheduler scheduler();

    /** Tasks to run between two I/O polls. */
    int maxTasksPerLoop();

    /** Longest sleep in I/O wait while idle, in nanoseconds. */
    long idleTimeoutNanos();

    /** Reads per connection per I/O turn. */
    int ioBatchSize();

    /** Whether sockets use pooled direct buffers. */
    boolean zeroCopyIo();

    /**
     * A task taken from another worker's queue, or {@code null}: there is none, or the strategy does
     * not steal. Called by this worker's thread when its own queue is empty.
     */
    Task<?> steal();
}
