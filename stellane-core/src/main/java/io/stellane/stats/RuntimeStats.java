package io.stellane.stats;

import java.time.Duration;
import java.time.Instant;

/**
 * A snapshot of the whole runtime (the spec's {@code RuntimeStats}).
 *
 * @param startTime              when the runtime was initialized
 * @param uptime                 time since then
 * @param totalTasksExecuted     tasks that ran (scheduled tasks, request handlers, blocking calls), over
 *                               all workers, retired ones included
 * @param totalTasksFailed       of those, how many failed (cancellations excluded)
 * @param currentActiveTasks     tasks queued or running now
 * @param peakActiveTasks        the most tasks seen queued or running at once
 * @param averageTaskDurationMs  mean time a task ran (sampled; a blocking call's time is its virtual thread's)
 * @param backendType            the backend that runs (after {@code auto} was resolved)
 * @param workerCount            active workers
 * @param strategy               the scheduling strategy
 * @param timedTasks             tasks timed for the mean, over all workers, retired ones included (see
 *                               {@link WorkerStats#timedTasks()})
 * @param timedTaskNanos         the sum of their run times: two snapshots give the mean over the time between
 */
public record RuntimeStats(
        Instant startTime,
        Duration uptime,
        long totalTasksExecuted,
        long totalTasksFailed,
        long currentActiveTasks,
        long peakActiveTasks,
        double averageTaskDurationMs,
        String backendType,
        int workerCount,
        String strategy,
        long timedTasks,
        long timedTaskNanos) {
}
