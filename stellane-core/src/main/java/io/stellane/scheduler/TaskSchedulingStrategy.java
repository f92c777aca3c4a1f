package io.stellane.scheduler;

/** How workers order and share queued tasks. */
public enum TaskSchedulingStrategy {
    /** First in, first out per worker; tasks from outside the runtime are spread round-robin. */
    FIFO,
    /** Higher {@code Task.priority()} first, FIFO among equals, with aging so low priorities never starve. */
    PRIORITY,
    /** Tasks with the same affinity key run on the same worker; tasks spawned on a worker stay there. */
    AFFINITY,
    /** Tasks stay on the worker that spawned them; idle workers steal queued tasks from busy ones. */
    WORK_STEALING,
    /** A {@link TaskScheduler} registered with {@code Runtime.registerScheduler}. */
    CUSTOM
}
