package io.stellane.scheduler;

import io.stellane.task.Task;

/**
 * A scheduling strategy: the queue each worker runs from ({@link #create}) and the worker each task
 * goes to ({@link #place}). The built-in strategies are ones; a custom one is registered with
 * {@code Runtime.registerScheduler(name, factory)} (or found as a
 * {@link io.stellane.scheduler.spi.TaskSchedulerProvider}) and chosen with strategy CUSTOM and
 * {@code custom_scheduler = name}. A lambda gives a queue only: its tasks are spread round-robin.
 */
@FunctionalInterface
public interface TaskSchedulerFactory {

    /** The queue of worker {@code workerId}; called once per worker, when it is created. */
    TaskScheduler create(int workerId);

    /**
     * The worker {@code task} goes to, in {@code 0..placement.workers() - 1}; called on the thread that
     * schedules it, for every task not pinned to a worker, so it must be cheap and must not block. The
     * default spreads tasks round-robin.
     */
    default int place(Task<?> task, Placement placement) {
        return placement.next();
    }

    /**
     * Whether a worker with nothing to run takes tasks from the others ({@link TaskScheduler#stealFrom}).
     * The runtime then also wakes an idle worker when a busy one keeps a task it spawned.
     */
    default boolean steals() {
        return false;
    }

    /** What a strategy knows when it places a task. Valid during {@link #place} only. */
    interface Placement {

        /** How many workers there are now. */
        int workers();

        /** The worker scheduling the task, or {@code -1} when the caller is not one of this runtime's (working) workers. */
        int local();

        /** The next worker in the runtime's round-robin order. */
        int next();
    }
}
