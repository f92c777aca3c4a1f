package io.stellane.dashboard;

import io.stellane.StellaneException;
import io.stellane.metrics.StellaneMetrics;
import io.stellane.runtime.StellaneRuntime;
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
 * A live page of the runtime: workers (queue, tasks/s, CPU, mean task time), a moving chart of task
 * rate and duration, HTTP requests and errors, open connections, recovery totals.
 *
 * <p>It observes one server and is served by one or more, which need not be the same. The HTTP card
 * shows the traffic of the observed server only; requests to the page (and anything else) on a server
 * that is not observed are not counted, neither on the page nor in the HTTP meters.
 *
 * <pre>{@code
 * StellaneMetrics metrics = StellaneMetrics.prometheus();
 * // on the application's own server:
 * Dashboard.install(server, metrics);                        // before server.listen(...)
 * // or: observe the public server, serve the page on an internal one:
 * Dashboard.observe(publicServer, metrics).serveOn(managementServer);
 * // http://host:port/stellane/dashboard
 * }</pre>
 *
 * <p>Two routes: {@code GET /stellane/dashboard}, one static HTML file encoded once (no external
 * resources), and {@code GET /stellane/dashboard/data}, a JSON snapshot the page polls twice a second.
 * Building a snapshot costs one {@code Runtime.getStats()}, one {@code Runtime.getWorkerStats()} and
 * a few adder sums: O(workers), no lock of the dashboard's own; it runs on the worker that serves the
 * request. The routes have no access control: serve them on an internal listener, or put a filter in
 * front of them.
 *
 * <p>Threading: {@link #serveOn} (and so {@link #install}) must be called before that server's first
 * {@code listen}, like any route; {@link #observe} may be called before or after the observed server
 * listens. {@link #recovery} may be called from any thread at any time.
 */
public final class Dashboard {
    /** Where the page is served; the JSON is under {@code PATH + "/data"}. */
    public static final String PATH = "/stellane/dashboard";
    static final String HTML_TYPE = "text/html; charset=utf-8";
    private static final Body PAGE = Body.of(loadPage(), HTML_TYPE);

    private final MetricsObserver http;
    private final CpuWindows cpu = new CpuWindows();
    private volatile RecoverySource recovery;

    private final StellaneRuntime runtime;

    private Dashboard(MetricsObserver http, StellaneRuntime runtime) {
        this.runtime = runtime;
        this.http = http;
    }

    /**
     * {@code observe(server, metrics).serveOn(server)}: the page on the server it shows.
     *
     * @throws IllegalStateException when the server already listens (routes are fixed then)
     */
    public static Dashboard install(Server server, StellaneMetrics metrics) {
        MetricsObserver existing = existingObserver(server, metrics);
        Dashboard d = new Dashboard(existing != null ? existing : new MetricsObserver(metrics), server.runtime());
        d.serveOn(server); // first: a server that already listens refuses the routes, and is left unobserved
        if (existing == null) {
            server.observe(d.http);
        }
        return d;
    }

    /**
     * A dashboard of {@code server}'s traffic, served nowhere yet (see {@link #serveOn}). Unless the server
     * already has a {@link MetricsObserver} for {@code metrics}, observes it with a new one (so the HTTP
     * meters of {@code metrics} are fed too).
     */
    public static Dashboard observe(Server server, StellaneMetrics metrics) {
        MetricsObserver existing = existingObserver(server, metrics);
        Dashboard d = new Dashboard(existing != null ? existing : new MetricsObserver(metrics), server.runtime());
        if (existing == null) {
            server.observe(d.http);
        }
        return d;
    }

    private static MetricsObserver existingObserver(Server server, StellaneMetrics metrics) {
        Objects.requireNonNull(server, "server");
        Objects.requireNonNull(metrics, "metrics");
        for (ServerObserver o : server.observers()) {
            if (o instanceof MetricsObserver m && m.metrics() == metrics) {
                return m;
            }
        }
        return null;
    }

    /**
     * Adds the page's two routes to {@code server}, which may be the observed one or another (an internal
     * listener); several servers may serve one dashboard. A server serving it without being observed adds
     * nothing to the figures it shows.
     *
     * @throws IllegalStateException when {@code server} already listens (routes are fixed then)
     */
    public Dashboard serveOn(Server server) {
        Objects.requireNonNull(server, "server");
        server.get(PATH, ctx -> Task.completed(Response.ok(PAGE).header("Cache-Control", "no-cache")));
        server.get(PATH + "/data", ctx -> Task.completed(dataResponse()));
        return this;
    }

    /**
     * Shows recovery totals read from {@code source} (e.g. {@link RecoverySource#of(StellaneMetrics)});
     * {@code null} shows recovery as off again.
     */
    public Dashboard recovery(RecoverySource source) {
        this.recovery = source;
        return this;
    }

    /** The observer whose totals the page shows (the one found or added by {@link #observe}). */
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
        List<WorkerStats> ws = runtime.getWorkerStats();
        long now = System.nanoTime();
        RuntimeStats rs = runtime.getStats();
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
