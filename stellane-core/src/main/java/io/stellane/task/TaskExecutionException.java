package io.stellane.task;

import io.stellane.StellaneException;

/** A task failed with a checked exception; {@link #getCause()} is what it threw. */
public class TaskExecutionException extends StellaneException {
    private final String taskName;

    public TaskExecutionException(String taskName, Throwable cause) {
        super("Task '" + taskName + "' failed: " + cause, cause);
        this.taskName = taskName;
    }

    public String taskName() {
        return taskName;
    }
}
