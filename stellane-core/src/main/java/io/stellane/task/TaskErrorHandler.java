package io.stellane.task;

/**
 * Told about every scheduled task that fails (the spec's {@code on_task_error}). Called on the
 * thread that completed the task, usually a worker: it must not block.
 */
@FunctionalInterface
public interface TaskErrorHandler {
    void onTaskError(Throwable error, Task<?> task);
}
