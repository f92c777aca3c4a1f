package io.stellane.dashboard;

import io.stellane.stats.WorkerStats;

import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Per-worker CPU use from {@link WorkerStats#cpuTimeNanos()} deltas between successive reads.
 *
 * <h2>How it works</h2>
 * The last window's end (wall clock and each worker's cumulative CPU time) and the percentages it
 * gave are one immutable {@link Window} behind an {@link AtomicReference}. A read that comes at least
 * {@link #MIN_WINDOW_NANOS} after the window's end closes it: computes new percentages and publishes
 * a new window with a CAS (losing the race just means another reader published an equivalent one).
 * A read that comes sooner (a second browser, a reload) gets the published percentages, so any number
 * of pollers neither shortens the window nor takes a lock. It does not touch
 * {@link WorkerStats#cpuUsagePercent()}, whose window belongs to whoever calls
 * {@code Runtime.getWorkerStats()} last.
 */
final class CpuWindows {
    /** Shorter windows would make the percentages jumpy (thread CPU time has a coarse tick on some kernels). */
    static final long MIN_WINDOW_NANOS = 250_000_000L;

    /** cpu[i] is worker i's CPU time at wallNanos (-1 unknown); percent[i] the use over the window before it (NaN unknown). */
    private record Window(long wallNanos, long[] cpu, double[] percent) {
    }

    private final AtomicReference<Window> last = new AtomicReference<>();

    /** Percentages indexed by worker id (NaN where unknown: first read, new worker, no thread CPU time). */
    double[] percents(List<WorkerStats> workers, long nowNanos) {
        Window w = last.get();
        if (w != null && nowNanos - w.wallNanos < MIN_WINDOW_NANOS && w.percent.length == workers.size()) {
            return w.percent;
        }
        int n = workers.size();
        long[] cpu = new long[n];
        double[] percent = new double[n];
        for (int i = 0; i < n; i++) {
            WorkerStats s = workers.get(i);
            cpu[i] = s.cpuTimeNanos();
            int id = s.workerId();
            boolean known = w != null && id < w.cpu.length && w.cpu[id] >= 0 && cpu[i] >= 0 && nowNanos > w.wallNanos;
            percent[i] = known
                    ? Math.clamp(100.0 * (cpu[i] - w.cpu[id]) / (nowNanos - w.wallNanos), 0.0, 100.0)
                    : Double.NaN;
        }
        Window next = new Window(nowNanos, cpu, percent);
        // a lost race means another reader closed the window just now; its figures are as good
        return last.compareAndSet(w, next) ? percent : last.get().percent;
    }
}
