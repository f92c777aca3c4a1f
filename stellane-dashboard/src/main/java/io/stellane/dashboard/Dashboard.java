package io.stellane.dashboard;

import io.stellane.StellaneException;
import io.stellane.metrics.StellaneMetrics;
import io.stellane.runtime.Runtime;
import io.stellane.server.Body;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.server.ServerObserver;
import io.stellane.stats.RuntimeStats;
import io.stellane.stats.WorkerStats;
import io.stellane.task.Task;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A live page of the runtime on the application's own server: workers (queue, tasks/s, CPU, mean task
 * time), a moving chart of task rate and duration, HTTP requests and errors, open connections,
 * recovery totals.
 *
 * <pre>{@code
 * StellaneMetrics metrics = StellaneMetrics.prometheus();
 * Dashboard.install(server, metrics);          // before server.listen(...)
 * // http://host:port/stellane/dashboard
 * }</pre>
 *
 * <p>Two routes: {@code GET /stellane/dashboard}, one static HTML file encoded once (no external
 * resources), and {@code GET /stellane/dashboard/data}, a JSON snapshot the page polls twice a second.
 * Building a snapshot costs one {@code Runtime.getStats()}, one {@code Runtime.getWorkerStats()} and
 * a few adder sums: O(workers), no lock of the dashboard's own; it runs on the worker that serves the
 * request. The routes have no access control: mount the dashboard on an internal listener, or put a
 * filter in front of it.
 *
 * <p>Threading: {@link #install} must be called before the server's first {@code listen}, like any
 * route. {@link #recovery} may be called from any thread at any time.
 */
public final class Dashboard {
    /** Where the page is served; the JSON is under {@code PATH + "/data"}. */
    public static final String PATH = "/stellane/dashboard";
    static final String HTML_TYPE = "text/html; charset=utf-8";
    private static final Body PAGE = Body.of(loadPage(), HTML_TYPE);

    private final MetricsObserver http;
    private final CpuWindows cpu = new CpuWindows();
    private volatile RecoverySource recovery;

    private Dashboard(MetricsObserver http) {
        this.http = http;
    }

    /**
     * Adds the dashboard's routes to {@code server} and, unless the server already has a
     * {@link MetricsObserver} for {@code metrics}, observes it with a new one (so the HTTP meters of
     * {@code metrics} are fed too).
     *
     * @throws IllegalStateException when the server already listens (routes are fixed then)
     */
    public static Dashboard install(Server server, StellaneMetrics metrics) {
        Objects.requireNonNull(server, "server");
        Objects.requireNonNull(metrics, "metrics");
        MetricsObserver observer = null;
        for (ServerObserver o : server.observers()) {
            if (o instanceof MetricsObserver m && m.metrics() == metrics) {
                observer = m;
                break;
            }
        }
        Dashboard d = new Dashboard(observer != null ? observer : new MetricsObserver(metrics));
        server.get(PATH, ctx -> Task.completed(Response.ok(PAGE).header("Cache-Control", "no-cache")));
        server.get(PATH + "/data", ctx -> Task.completed(d.dataResponse()));
        if (observer == null) {
            server.observe(d.http);
        }
        return d;
    }

    /**
     * Shows recovery totals read from {@code source} (e.g. {@link RecoverySource#of(StellaneMetrics)});
     * {@code null} shows recovery as off again.
     */
    public Dashboard recovery(RecoverySource source) {
        this.recovery = source;
        return this;
    }

    /** The observer whose totals the page shows (the one found or added by {@link #install}). */
    public MetricsObserver observer() {
        return http;
    }

    private Response dataResponse() {
        try {
            return Response.json(snapshot()).header("Cache-Control", "no-store");
        } catch (StellaneException e) {
            // the runtime is stopping or restarting; the page shows "stale" and keeps polling
            return Response.error(503, "runtime not running").header("Cache-Control", "no-store");
        }
    }

    DashboardData.Snapshot snapshot() {
        List<WorkerStats> ws = Runtime.getWorkerStats();
        long now = System.nanoTime();
        RuntimeStats rs = Runtime.getStats();
        double[] cpuPercent = cpu.percents(ws, now);
        List<DashboardData.WorkerPart> workers = new ArrayList<>(ws.size());
        for (int i = 0; i < ws.size(); i++) {
            WorkerStats w = ws.get(i);
            double p = cpuPercent[i];
            workers.add(new DashboardData.WorkerPart(w.workerId(), w.currentQueueSize(), w.peakQueueSize(),
                    w.tasksExecuted(), w.tasksFailed(), w.tasksStolen(), Double.isNaN(p) ? null : p,
                    w.averageTaskDurationMs(), w.pinnedCpu()));
        }
        RecoverySource r = recovery;
        return new DashboardData.Snapshot(System.currentTimeMillis(),
                new DashboardData.RuntimePart(rs.backendType(), rs.strategy(), rs.workerCount(), rs.uptime().toMillis(),
                        rs.totalTasksExecuted(), rs.totalTasksFailed(), rs.currentActiveTasks(), rs.peakActiveTasks(),
                        rs.averageTaskDurationMs()),
                workers,
                new DashboardData.HttpPart(http.requests(), http.serverErrors(), http.openConnections()),
                r == null ? DashboardData.RecoveryOff.INSTANCE : DashboardData.RecoveryOn.of(r.read()));
    }

    private static byte[] loadPage() {
        try (InputStream in = Dashboard.class.getResourceAsStream("dashboard.html")) {
            if (in == null) {
                throw new IllegalStateException("dashboard.html is missing from the stellane-dashboard jar");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
