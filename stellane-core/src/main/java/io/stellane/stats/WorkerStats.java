package io.stellane.stats;

/**
 * A snapshot of one worker (the spec's {@code WorkerStats}).
 *
 * @param workerId          index from 0
 * @param tasksExecuted     tasks that ran on this worker: scheduled tasks, request handlers, and blocking
 *                          calls started from it (their result comes back here)
 * @param tasksFailed       of those, how many failed
 * @param tasksStolen       tasks this worker took from others (WORK_STEALING)
 * @param currentQueueSize  tasks queued now
 * @param peakQueueSize     the longest queue seen (sampled by the worker every eighth task and at each snapshot)
 * @param cpuUsagePercent   CPU time of the worker thread over wall time in the last completed window
 *                          (windows close at snapshots at least 250 ms apart), 0..100
 * @param cpuTimeNanos      CPU time the worker thread has used in all (-1 when the JVM cannot tell)
 * @param averageTaskDurationMs mean time a task's body ran
 * @param threadId          the worker thread's id
 * @param threadName        the worker thread's name
 * @param pinnedCpu         the CPU the thread is pinned to, or -1 when not pinned
 * @param numaNode          the NUMA node of that CPU (or of the CPU it would have), or -1 when unknown
 * @param timedTasks        tasks timed so far for the mean ({@code averageTaskDurationMs}): one queued task
 *                          or request handler in 64, every blocking call, every task while profiling or
 *                          observed
 * @param timedTaskNanos    the sum of those tasks' run times: the mean over an interval is the difference
 *                          of this between two snapshots over that of {@code timedTasks}
 */
public record WorkerStats(
        int workerId,
        long tasksExecuted,
        long tasksFailed,
        long tasksStolen,
        int currentQueueSize,
        int peakQueueSize,
        double cpuUsagePercent,
        long cpuTimeNanos,
        double averageTaskDurationMs,
        long threadId,
        String threadName,
        int pinnedCpu,
        int numaNode,
        long timedTasks,
        long timedTaskNanos) {
}
