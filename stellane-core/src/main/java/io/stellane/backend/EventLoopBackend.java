package io.stellane.backend;

import io.stellane.task.Task;
import io.stellane.task.Worker;

/**
 * One event loop: the thread-owning engine of a worker. The runtime creates one backend per worker
 * (through {@link RuntimeFactory}), binds it with {@link #bind}, and calls {@link #run()} on the
 * worker's own thread.
 *
 * <h2>Contract</h2>
 * <ul>
 *   <li>{@link #run()} blocks until the loop has stopped; it is called once, on the worker thread
 *       (not thread-safe). It runs tasks with {@link Task#run()}, which never throws, so a failing
 *       task never ends the loop.</li>
 *   <li>{@link #schedule}, {@link #stop}, {@link #isRunning} and {@link #pendingTasks} are thread-safe.</li>
 *   <li>{@link #stop()} is graceful: the loop runs what is already queued (and what those tasks
 *       queue), then {@code run()} returns and the backend releases its file descriptors.</li>
 * </ul>
 * A backend that wants the runtime's scheduling strategy takes its queue from
 * {@link Worker#scheduler()}; one that keeps its own queue (like the spec's
 * {@code MyCustomEventLoop}) still gets the runtime's placement (which worker a task goes to).
 */
public interface EventLoopBackend {

    /** Runs the loop on the calling (worker) thread until {@link #stop()}; then returns. */
    void run();

    /** Asks the loop to finish its queued tasks and return from {@link #run()}. Idempotent. */
    void stop();

    /** Queues a task to run on this loop. Thread-safe. */
    void schedule(Task<?> task);

    /** Whether {@link #run()} is executing. */
    boolean isRunning();

    /** Tasks queued and not yet started. */
    int pendingTasks();

    /**
     * Wakes the loop if it sleeps waiting for I/O or tasks; returns whether this call woke it. Work
     * stealing calls it on an idle sibling of a busy worker so that the sibling comes and steals.
     * Thread-safe. The default does nothing: a loop that never sleeps past its own queue needs no call.
     */
    default boolean wakeIfSleeping() {
        return false;
    }

    /**
     * The clock ({@link System#nanoTime()}) of the loop's current turn; called on the loop thread. A
     * loop that reads the clock once per turn lets every task created in that turn share the
     * reading. The default reads the clock each time.
     */
    default long loopNanos() {
        return System.nanoTime();
    }

    /**
     * Called once by the runtime before {@link #run()}, on the thread that creates the runtime:
     * gives the backend its worker's queue, limits and thread. The default ignores it.
     */
    default void bind(Worker worker) {
    }
}
