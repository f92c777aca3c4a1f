package io.stellane.dashboard;

import io.stellane.StellaneException;
import io.stellane.logging.LogThrottle;
import io.stellane.metrics.StellaneMetrics;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.server.Body;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.server.ServerObserver;
import io.stellane.stats.RuntimeStats;
import io.stellane.stats.WorkerStats;
import io.stellane.task.Task;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A live page of a service and the runtime under it. On top, the observed server's traffic: requests/s
 * by status class and latency percentiles as charts over the last five minutes, requests in flight,
 * a table per route pattern, recovery, heap and garbage collection; a node's durable tasks, when
 * attached ({@link #durableTasks}). Below, the runtime: workers
 * (queue, tasks/s, CPU, mean task time), tasks/s and mean task time over time.
 *
 * <p>It observes one server and is served by one or more, which need not be the same. The traffic
 * shown is the observed server's only; requests to the page (and anything else) on a server that is
 * not observed are not counted, neither on the page nor in the HTTP meters.
 *
 * <pre>{@code
 * StellaneMetrics metrics = StellaneMetrics.prometheus();
 * // on the application's own server:
 * Dashboard dashboard = Dashboard.install(server, metrics);  // before server.listen(...)
 * // or: observe the public server, serve the page on an internal one:
 * Dashboard dashboard = Dashboard.observe(publicServer, metrics).serveOn(managementServer);
 * // http://host:port/stellane/dashboard
 * dashboard.close();                                          // when the server stops
 * }</pre>
 *
 * <h2>How it works</h2>
 * The observer ({@link MetricsObserver}) keeps cumulative per-route counts and latency buckets in
 * per-worker stripes. A sampler thread of the dashboard's own ({@code stellane-dashboard-sampler})
 * reads them, the runtime's task totals and the JVM's heap and collectors once a second, and turns
 * each two successive readings into one point of the charts; it keeps the last five minutes, and
 * per-route counts for a one-minute route table. So the history is there when a page opens, and what
 * a point says does not depend on how often, or whether, anyone polls.
 *
 * <p>Two routes: {@code GET /stellane/dashboard}, one static HTML file encoded once (no external
 * resources), and {@code GET /stellane/dashboard/data}, a JSON snapshot the page polls once a second
 * ({@code ?since=<ms>}: only the points after that time). A snapshot costs one
 * {@code Runtime.getStats()}, one {@code Runtime.getWorkerStats()}, a sum over the routes' stripes
 * and the points asked for: no lock of the dashboard's own; it runs on the worker that serves the
 * request. The routes have no access control: serve them on an internal listener, or put a filter
 * in front of them.
 *
 * <p>Threading: {@link #serveOn} (and so {@link #install}) must be called before that server's first
 * {@code listen}, like any route; {@link #observe} may be called before or after the observed server
 * listens. {@link #recovery}, {@link #durableTasks} and {@link #close} may be called from any thread
 * at any time.
 */
public final class Dashboard implements AutoCloseable {
    /** Where the page is served; the JSON is under {@code PATH + "/data"}. */
    public static final String PATH = "/stellane/dashboard";
    static final String HTML_TYPE = "text/html; charset=utf-8";
    static final Duration SAMPLE_PERIOD = Duration.ofSeconds(1);
    private static final Logger log = LoggerFactory.getLogger(Dashboard.class);
    private static final Body PAGE = Body.of(loadPage(), HTML_TYPE);

    private final MetricsObserver http;
    private final Server observed;
    private final StellaneRuntime runtime;
    private final CpuWindows cpu = new CpuWindows();
    private final Timeline timeline = new Timeline();
    private final ScheduledExecutorService sampler;
    private final LogThrottle sampleFailures = new LogThrottle(Duration.ofMinutes(1));
    private volatile RecoverySource recovery;
    private volatile DurableTaskSource durableTasks;

    private Dashboard(MetricsObserver http, Server observed, Duration samplePeriod) {
        this.http = http;
        this.observed = observed;
        this.runtime = observed.runtime();
        this.sampler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "stellane-dashboard-sampler");
            t.setDaemon(true);
            return t;
        });
        long period = samplePeriod.toNanos();
        sampler.scheduleAtFixedRate(this::sample, 0, period, TimeUnit.NANOSECONDS);
    }

    /**
     * {@code observe(server, metrics).serveOn(server)}: the page on the server it shows. Starts the
     * sampler: {@link #close()} the dashboard when the server stops.
     *
     * @throws IllegalStateException when the server already listens (routes are fixed then)
     */
    public static Dashboard install(Server server, StellaneMetrics metrics) {
        MetricsObserver existing = existingObserver(server, metrics);
        // a route first: a server that already listens refuses it, and is left unobserved, with no sampler started
        servePage(server);
        Dashboard d = new Dashboard(existing != null ? existing : new MetricsObserver(metrics), server, SAMPLE_PERIOD);
        d.serveData(server);
        if (existing == null) {
            server.observe(d.http);
        }
        return d;
    }

    /**
     * A dashboard of {@code server}'s traffic, served nowhere yet (see {@link #serveOn}). Unless the server
     * already has a {@link MetricsObserver} for {@code metrics}, observes it with a new one (so the HTTP
     * meters of {@code metrics} are fed too). Starts the sampler: {@link #close()} the dashboard when the
     * server stops.
     */
    public static Dashboard observe(Server server, StellaneMetrics metrics) {
        return observe(server, metrics, SAMPLE_PERIOD);
    }

    /** {@link #observe(Server, StellaneMetrics)}, sampling every {@code samplePeriod} (tests sample faster). */
    static Dashboard observe(Server server, StellaneMetrics metrics, Duration samplePeriod) {
        MetricsObserver existing = existingObserver(server, metrics);
        Dashboard d = new Dashboard(existing != null ? existing : new MetricsObserver(metrics), server, samplePeriod);
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
        servePage(server);
        serveData(server);
        return this;
    }

    private static void servePage(Server server) {
        server.get(PATH, ctx -> Task.completed(Response.ok(PAGE).header("Cache-Control", "no-cache")));
    }

    private void serveData(Server server) {
        server.get(PATH + "/data", ctx -> Task.completed(dataResponse(ctx.query("since", long.class, Long.MIN_VALUE))));
    }

    /**
     * Shows recovery totals read from {@code source} (e.g. {@link RecoverySource#of(StellaneMetrics)});
     * {@code null} shows recovery as off again.
     */
    public Dashboard recovery(RecoverySource source) {
        this.recovery = source;
        return this;
    }

    /**
     * Shows a section of durable-task figures read from {@code source} (e.g.
     * {@link DurableTaskSource#of(StellaneMetrics)}), with a chart from the next sample on; {@code null}
     * hides it again.
     */
    public Dashboard durableTasks(DurableTaskSource source) {
        this.durableTasks = source;
        return this;
    }

    /** The observer whose totals the page shows (the one found or added by {@link #observe}). */
    public MetricsObserver observer() {
        return http;
    }

    /**
     * Stops the sampler: the page keeps its live figures, and its charts stop moving. Call it when the
     * observed server stops. Idempotent.
     */
    @Override
    public void close() {
        sampler.shutdownNow();
        try {
            if (!sampler.awaitTermination(5, TimeUnit.SECONDS)) {
                log.warn("the dashboard sampler did not stop within 5 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One reading for the timeline; a failure is logged (once a minute) and the next period tries again. */
    private void sample() {
        try {
            RuntimeStats rs;
            try {
                rs = runtime.getStats();
            } catch (StellaneException e) {
                rs = null; // stopped or restarting: the point has no task figures
            }
            DurableTaskSource d = durableTasks;
            timeline.add(new Timeline.Reading(System.currentTimeMillis(), System.nanoTime(), http.recorder().totals(),
                    observed.requestsInFlight(), rs, JvmReading.now(), d == null ? null : d.read()));
        } catch (RuntimeException e) {
            // a periodic task that throws is never run again
            sampleFailures.warn(log, "dashboard.sample", "dashboard sample failed; the charts miss this second", e);
        }
    }

    private Response dataResponse(long since) {
        try {
            return Response.json(snapshot(since)).header("Cache-Control", "no-store");
        } catch (StellaneException e) {
            // the runtime is stopping or restarting; the page shows "stale" and keeps polling
            return Response.error(503, "runtime not running").header("Cache-Control", "no-store");
        }
    }

    DashboardData.Snapshot snapshot(long since) {
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
                    w.averageTaskDurationMs(), w.timedTasks(), w.timedTaskNanos(), w.pinnedCpu()));
        }
        long[] h = http.recorder().sum();
        long requests = 0;
        for (int i = 0; i < RequestRecorder.CLASSES; i++) {
            requests += h[i];
        }
        RecoverySource r = recovery;
        DurableTaskSource d = durableTasks;
        Timeline.View past = timeline.view();
        return new DashboardData.Snapshot(System.currentTimeMillis(),
                new DashboardData.HttpPart(requests, h[RequestRecorder.statusSlot(200)], h[RequestRecorder.statusSlot(300)],
                        h[RequestRecorder.statusSlot(400)], h[RequestRecorder.statusSlot(500)], http.openConnections(),
                        observed.requestsInFlight()),
                past.pointsAfter(since), past.routes(), past.jvm(),
                r == null ? DashboardData.RecoveryOff.INSTANCE : DashboardData.RecoveryOn.of(r.read()),
                d == null ? DashboardData.DurableOff.INSTANCE : DashboardData.DurableOn.of(d.read()),
                new DashboardData.RuntimePart(rs.backendType(), rs.strategy(), rs.workerCount(), rs.uptime().toMillis(),
                        rs.totalTasksExecuted(), rs.totalTasksFailed(), rs.currentActiveTasks(), rs.peakActiveTasks(),
                        rs.averageTaskDurationMs(), rs.timedTasks(), rs.timedTaskNanos()),
                workers);
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
