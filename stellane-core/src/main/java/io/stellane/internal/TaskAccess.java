package io.stellane.internal;

import io.stellane.task.Task;

import java.util.Objects;

/**
 * What the runtime does to a {@link Task} that its users must not: queue it and start it from the
 * queue. {@code Task} installs the one implementation when its class initializes; the runtime keeps it
 * in a static final field, so each call is a direct call once compiled. This package is not exported
 * by the module {@code io.stellane.core}.
 */
public abstract class TaskAccess {
    private static volatile TaskAccess installed;

    protected TaskAccess() {
    }

    /** The implementation {@code Task} installed. */
    public static TaskAccess get() {
        TaskAccess a = installed;
        if (a == null) {
            Task.completed(null); // initializes Task, which installs it
            a = Objects.requireNonNull(installed, "Task did not install its access");
        }
        return a;
    }

    /** Called once, by {@code Task}'s class initializer. */
    public static void install(TaskAccess access) {
        if (installed != null) {
            throw new IllegalStateException("task access already installed");
        }
        installed = Objects.requireNonNull(access, "access");
    }

    /**
     * Marks {@code task} queued by the runtime, bound to {@code pinnedWorker} ({@code -1}: any);
     * fails when it was queued or started before (a task runs once).
     */
    public abstract void markScheduled(Task<?> task, int pinnedWorker, long enqueuedNanos);

    /** Starts a task a worker's queue handed to the calling worker. Never throws. */
    public abstract void startQueued(Task<?> task);

    /** {@link System#nanoTime()} when the runtime queued {@code task} (0 when it was not timed). */
    public abstract long enqueuedNanos(Task<?> task);
}
