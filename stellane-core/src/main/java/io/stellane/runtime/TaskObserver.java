package io.stellane.runtime;

/**
 * Told about every scheduled task after its body ran (for histograms, tracing, exporters). Called
 * on the worker that ran it: must be quick and must not block. While any observer is registered,
 * every task is timed (two clock reads per task).
 */
@FunctionalInterface
public interface TaskObserver {

    /**
     * @param name      the task's name
     * @param workerId  the worker that ran it
     * @param runNanos  how long its body held the worker
     * @param waitNanos how long it waited in a queue
     * @param failed    whether it had failed by the time its body returned
     */
    void taskRan(String name, int workerId, long runNanos, long waitNanos, boolean failed);
}
