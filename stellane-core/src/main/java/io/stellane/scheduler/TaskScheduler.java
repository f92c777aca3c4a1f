package io.stellane.scheduler;

import io.stellane.task.Task;

/**
 * One worker's queue of tasks: decides the order in which that worker runs them (the spec's
 * {@code ITaskScheduler}). The runtime creates one per worker through a {@link TaskSchedulerFactory}.
 *
 * <p>Threading: {@link #enqueue}, {@link #hasTasks} and {@link #size} are called from any thread;
 * {@link #dequeue} only by the owning worker; {@link #steal} only by other workers.
 */
public interface TaskScheduler {

    /** Adds a task. Thread-safe; must not block. */
    void enqueue(Task<?> task);

    /** The next task for the owning worker, or {@code null} when empty. Must not block. */
    Task<?> dequeue();

    boolean hasTasks();

    /** Queued tasks (may be approximate while others enqueue). */
    int size();

    /**
     * A task another worker may run instead, or {@code null}. Only schedulers built for work
     * stealing give tasks away; tasks pinned to this worker ({@link Task#pinnedWorker()}) are never given.
     */
    default Task<?> steal() {
        return null;
    }

    /**
     * Called on this scheduler's worker when it has nothing to run: moves tasks from {@code victim},
     * another worker's scheduler, into this one and returns how many. By default one, taken with
     * the victim's {@link #steal()}; a scheduler may take several at once.
     */
    default int stealFrom(TaskScheduler victim) {
        Task<?> t = victim.steal();
        if (t == null) {
            return 0;
        }
        enqueue(t);
        return 1;
    }
}
