package io.stellane.dashboard;

import io.stellane.server.RecoveryStats;

import java.util.List;

/**
 * The JSON of {@code GET <path>/data} (docs/OPERATIONS.md, "Dashboard", lists the fields). Records,
 * serialized by the server's shared Jackson mapper. Durations are milliseconds (fractions included),
 * sizes bytes, times milliseconds since the epoch; {@code null} where there is nothing to measure.
 */
final class DashboardData {
    private DashboardData() {
    }

    record Snapshot(long time, HttpPart http, List<Point> history, RoutesPart routes, JvmPart jvm, Object recovery,
                    Object durableTasks, RuntimePart runtime, List<WorkerPart> workers) {
    }

    /** Totals since the observer was added (openConnections and inFlight: now). */
    record HttpPart(long requests, long status2xx, long status3xx, long status4xx, long status5xx,
                    long openConnections, long inFlight) {
    }

    /**
     * One sampler interval, {@code ms} long, ending at {@code t}: requests answered in it by status class,
     * latency percentiles of those the server timed ({@code timed} of them), requests in flight at its end;
     * tasks run, failed and timed in it and the timed ones' run time (null while the runtime is down); heap
     * used at its end, collections and collection time in it; durable tasks completed and attempts failed
     * in it (null without a {@link DurableTaskSource}).
     */
    record Point(long t, long ms, long requests, long status2xx, long status3xx, long status4xx, long status5xx,
                 long timed, Double p50Ms, Double p99Ms, long inFlight,
                 Long tasks, Long taskFailures, Long taskTimed, Long taskNanos,
                 long heapUsed, long gcCount, long gcMs, Long durableCompleted, Long durableFailed) {
    }

    /**
     * Per route over the last {@code windowMs}, busiest first, and {@code total}: all routes together
     * (percentiles of all their timed requests; null when the window is empty).
     */
    record RoutesPart(long windowMs, RouteRow total, List<RouteRow> rows) {
    }

    record RouteRow(String route, String method, long requests, double perSec, long status4xx, long status5xx,
                    long timed, Double p50Ms, Double p99Ms) {
    }

    /** Heap now; collections in all, and their rates over the last minute of points (null before the first). */
    record JvmPart(long heapUsed, long heapCommitted, long heapMax, long gcCount, long gcMs,
                   Double gcPerSec, Double gcMsPerSec) {
    }

    record RuntimePart(String backend, String strategy, int workers, long uptimeMs, long executed, long failed,
                       long active, long peakActive, double avgTaskMs, long timedTasks, long timedTaskNanos) {
    }

    /** cpuPercent is null when unknown (the first read after a start, or no thread CPU time on this JVM). */
    record WorkerPart(int id, int queue, int peakQueue, long executed, long failed, long stolen, Double cpuPercent,
                      double avgTaskMs, long timedTasks, long timedTaskNanos, int pinnedCpu) {
    }

    record RecoveryOff(boolean enabled) {
        static final RecoveryOff INSTANCE = new RecoveryOff(false);
    }

    record RecoveryOn(boolean enabled, long journaled, long completed, long recovered, long failed, long quarantined,
                      long journalBytes) {
        static RecoveryOn of(RecoveryStats c) {
            return new RecoveryOn(true, c.journaled(), c.completed(), c.recovered(), c.failedAttempts(), c.quarantined(),
                    c.journalBytes());
        }
    }

    record DurableOff(boolean enabled) {
        static final DurableOff INSTANCE = new DurableOff(false);
    }

    record DurableOn(boolean enabled, long submitted, long claimed, long completed, long failed, long quarantined,
                     long running, long ready) {
        static DurableOn of(DurableTaskSource.Totals t) {
            return new DurableOn(true, t.submitted(), t.claimed(), t.completed(), t.failedAttempts(), t.quarantined(),
                    t.running(), t.ready());
        }
    }
}
