package io.stellane.dashboard;

import io.stellane.server.RecoveryStats;

import java.util.List;

/**
 * The JSON of {@code GET <path>/data} (docs/OPERATIONS.md, "Dashboard", lists the fields). Records,
 * serialized by the server's shared Jackson mapper.
 */
final class DashboardData {
    private DashboardData() {
    }

    record Snapshot(long time, RuntimePart runtime, List<WorkerPart> workers, HttpPart http, Object recovery) {
    }

    record RuntimePart(String backend, String strategy, int workers, long uptimeMs, long executed, long failed,
                       long active, long peakActive, double avgTaskMs) {
    }

    /** cpuPercent is null when unknown (the first read after a start, or no thread CPU time on this JVM). */
    record WorkerPart(int id, int queue, int peakQueue, long executed, long failed, long stolen, Double cpuPercent,
                      double avgTaskMs, int pinnedCpu) {
    }

    record HttpPart(long requests, long serverErrors, long openConnections) {
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
}
