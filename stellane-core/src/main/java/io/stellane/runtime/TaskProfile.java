package io.stellane.runtime;

/**
 * What profiling learned about the tasks of one name.
 *
 * @param name           the task name ({@code Task.named})
 * @param count          tasks of this name that ran
 * @param totalRunNanos  time their bodies held a worker, summed
 * @param maxRunNanos    the longest single run
 * @param totalWaitNanos time they waited in queues before running, summed
 */
public record TaskProfile(String name, long count, long totalRunNanos, long maxRunNanos, long totalWaitNanos) {

    public double averageRunMillis() {
        return count == 0 ? 0 : totalRunNanos / 1e6 / count;
    }

    public double averageWaitMillis() {
        return count == 0 ? 0 : totalWaitNanos / 1e6 / count;
    }
}
