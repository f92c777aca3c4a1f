package io.stellane.app;

import io.stellane.StellaneException;
import io.stellane.config.RuntimeConfig;
import io.stellane.dashboard.Dashboard;
import io.stellane.dashboard.MetricsObserver;
import io.stellane.dashboard.RecoverySource;
import io.stellane.metrics.BlockedWorkerDetector;
import io.stellane.metrics.JvmMetrics;
import io.stellane.metrics.RecoveryMetrics;
import io.stellane.metrics.StellaneMetrics;
import io.stellane.recovery.RecoveryManager;
import io.stellane.runtime.Runtime;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.server.ServerConfig;
import io.stellane.server.TlsConfig;
import io.stellane.stats.RuntimeStats;
import io.stellane.stats.WorkerStats;
import io.stellane.task.Task;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.function.Consumer;

/**
 * A service's lifecycle on the default runtime ({@link Runtime}): starts the runtime and its servers from
 * config, serves what operators read on a management listener, and stops gracefully on SIGTERM or Ctrl-C.
 * The application brings its routes, its resources and their health checks.
 *
 * <pre>{@code
 * App app = App.builder(RuntimeConfig.defaults())
 *         .listen("0.0.0.0", 8080)
 *         .management("127.0.0.1", 8081)               // /health, /stats; /metrics with metrics()
 *         .metrics()                                    // runtime, HTTP, JVM and process meters
 *         .dashboard()                                  // /stellane/dashboard
 *         .start(setup -> {
 *             Db db = setup.closeOnStop(Db.open(setup.metrics().registry()));
 *             setup.healthCheck("database", db::ping);
 *             setup.server().get("/users/{id}", ctx -> Task.blocking(() -> db.find(ctx.param("id"))).map(Response::json));
 *         });
 * app.awaitStop();                                      // until the shutdown hook has run close()
 * }</pre>
 *
 * <h2>How it starts ({@link Builder#start})</h2>
 * <ol>
 * <li>With {@link Builder#metrics()}: a Prometheus binding of the runtime ({@link StellaneMetrics}), the JVM
 *     and process meters ({@link JvmMetrics}), and the public server's HTTP meters.</li>
 * <li>The application's setup: resources, routes, health checks ({@link Setup}).</li>
 * <li>The runtime is initialized.</li>
 * <li>The management listener listens: {@code GET /health} with every check's state, {@code GET /stats},
 *     {@code GET /metrics} (Prometheus text 0.0.4) and the dashboard, as configured. With
 *     {@link Builder#managementOnPublicPort} the public server serves the same routes; otherwise its
 *     {@code /health} gives the status only ({@code {"status":"UP"}} or 503 {@code {"status":"DOWN"}}).</li>
 * <li>With request recovery on in the runtime config, the journal opens (its state is the health check
 *     {@code journal}, {@code OFF} without recovery) and what the last run left pending is replayed.</li>
 * <li>With {@link Builder#durableTasks}: their health check {@code durable_tasks} (their meters and dashboard
 *     section were bound before the setup).</li>
 * <li>The public server listens; then the blocked-worker detector starts (with metrics).</li>
 * <li>A JVM shutdown hook is installed that calls {@link #close()}.</li>
 * </ol>
 * Each listener logs {@code listening on http://host:port} at INFO. When a step fails, what was started
 * is stopped and what was opened is closed again, and the failure is thrown.
 *
 * <h2>How it stops ({@link #close()}, what the shutdown hook calls)</h2>
 * Both servers stop accepting; requests in flight on the public one finish, bounded by its
 * {@link ServerConfig#drainTimeout()}, their responses closing their connections; then the management
 * listener stops; then the durable tasks close (running ones finish, bounded by their close timeout), then
 * the runtime stops (its queued tasks, bounded by its {@code shutdown_timeout}); then
 * what was opened closes, the last opened first: the blocked-worker detector, the journal, what
 * {@link Setup#closeOnStop} was given (the last given first), the JVM meters and the metrics binding.
 *
 * <p>Threading: {@link Builder#start} and {@link #close} block and must not run on a worker; the
 * runtime is the JVM's default one, so one app runs at a time. The accessors are thread-safe.
 */
public final class App implements AutoCloseable {
    /** How long {@code /health} waits for a check before counting its part as down. */
    public static final Duration HEALTH_TIMEOUT = Duration.ofSeconds(2);
    /** The content type of {@code /metrics}. */
    public static final String PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8";
    static final Duration LOG_INTERVAL = Duration.ofSeconds(10);
    private static final Logger log = LoggerFactory.getLogger(App.class);

    private final StellaneRuntime runtime;
    private final Server server;
    private final Server management;
    private final StellaneMetrics metrics;
    private final RecoveryManager.RecoveryReport recovery;
    /** The durable tasks, closed between the servers and the runtime; null without. */
    private final AutoCloseable durableTasks;
    private final int port;
    private final int managementPort;
    /** What closes after the runtime stops, the last opened first. */
    private final Deque<AutoCloseable> resources;
    private final Thread hook = new Thread(this::close, "stellane-shutdown");
    private final CountDownLatch stopped = new CountDownLatch(1);
    private boolean closed;

    private App(Starting s, int port, int managementPort) {
        this.runtime = s.runtime;
        this.server = s.server;
        this.management = s.management;
        this.metrics = s.metrics;
        this.recovery = s.recovery;
        this.durableTasks = s.b.durableTasks;
        this.resources = s.resources;
        this.port = port;
        this.managementPort = managementPort;
    }

    /** A builder for an app on the default runtime, initialized with {@code runtime} at start. */
    public static Builder builder(RuntimeConfig runtime) {
        return new Builder(runtime);
    }

    /**
     * What the application's setup wires during {@link Builder#start}: before the runtime runs and before
     * anything listens. Used only during the setup call.
     */
    public interface Setup {
        /** The public server: routes, filters, error mappers, {@code onRecover} hooks. */
        Server server();

        /**
         * The metrics binding, e.g. to bind a connection pool's meters to its registry.
         *
         * @throws IllegalStateException when the app was built without {@link Builder#metrics()}
         */
        StellaneMetrics metrics();

        /** Closes {@code resource} when the app stops (or when the start fails), after the runtime stopped; returns it. */
        <T extends AutoCloseable> T closeOnStop(T resource);

        /**
         * Adds a part to {@code /health}, reported under {@code name} in registration order.
         *
         * @throws IllegalArgumentException when {@code name} is blank, {@code "status"} or taken
         */
        void healthCheck(String name, HealthCheck check);
    }

    /** How to start an app. Not thread-safe; {@link #start} may be called once. */
    public static final class Builder {
        private final RuntimeConfig runtimeConfig;
        private ServerConfig serverConfig = ServerConfig.defaults();
        private String host = "0.0.0.0";
        private int port = 8080;
        private String managementHost;
        private int managementPort;
        private TlsConfig managementTls;
        private boolean managementOnPublicPort;
        private boolean metrics;
        private boolean dashboard;
        private io.stellane.cluster.DurableTasks durableTasks;

        private Builder(RuntimeConfig runtime) {
            this.runtimeConfig = Objects.requireNonNull(runtime, "runtime");
        }

        /** The public server's limits and timeouts (default {@link ServerConfig#defaults()}). */
        public Builder server(ServerConfig config) {
            this.serverConfig = Objects.requireNonNull(config, "config");
            return this;
        }

        /** Where the public server listens (default {@code 0.0.0.0:8080}); port 0 takes any free port. */
        public Builder listen(String host, int port) {
            this.host = Objects.requireNonNull(host, "host");
            this.port = port;
            return this;
        }

        /** A management listener at {@code host:port} (none by default); port 0 takes any free port. */
        public Builder management(String host, int port) {
            this.managementHost = Objects.requireNonNull(host, "host");
            this.managementPort = port;
            return this;
        }

        /**
         * TLS on the management listener (default none: cleartext); its own certificate, or the public
         * server's {@code ServerConfig.tls()} to share it.
         */
        public Builder managementTls(TlsConfig tls) {
            this.managementTls = tls;
            return this;
        }

        /** Whether the public server serves the management routes too (default false: only a bare {@code /health}). */
        public Builder managementOnPublicPort(boolean on) {
            this.managementOnPublicPort = on;
            return this;
        }

        /** Meters and {@code /metrics}: the runtime, the public server's HTTP traffic, the JVM and the process. */
        public Builder metrics() {
            this.metrics = true;
            return this;
        }

        /** The live dashboard ({@link Dashboard#PATH}) of the public server, where the management routes are; implies {@link #metrics()}. */
        public Builder dashboard() {
            this.dashboard = true;
            this.metrics = true;
            return this;
        }

        /**
         * Durable tasks the app runs along (module {@code stellane-cluster}, which the service depends on):
         * their meters with {@link #metrics()}, their section of the dashboard with {@link #dashboard()}, the
         * health check {@code durable_tasks} (down while their node reports a fault), and their
         * {@link io.stellane.cluster.DurableTasks#close() close} at stop, after the servers drained and before
         * the runtime stops, so running tasks can finish. Their node stays the application's to close
         * ({@link Setup#closeOnStop}). Register their handlers in the setup, or before.
         */
        public Builder durableTasks(io.stellane.cluster.DurableTasks tasks) {
            this.durableTasks = Objects.requireNonNull(tasks, "tasks");
            return this;
        }

        /** {@link #start(Consumer)} with nothing to set up but the defaults. */
        public App start() {
            return start(setup -> { });
        }

        /**
         * Starts as the {@link App} documentation says, calling {@code setup} once before the runtime runs.
         *
         * @throws StellaneException naming the address when a listener cannot bind; whatever the runtime,
         *                           the journal or {@code setup} threw otherwise. Everything started is
         *                           stopped again first.
         */
        public App start(Consumer<? super Setup> setup) {
            Objects.requireNonNull(setup, "setup");
            Starting s = new Starting(this);
            try {
                return s.start(setup);
            } catch (RuntimeException | Error e) {
                s.abort();
                throw e;
            }
        }
    }

    /** The state of one start, undone by {@link #abort} when a step fails. */
    private static final class Starting implements Setup {
        final Builder b;
        final StellaneRuntime runtime = Runtime.instance();
        final Deque<AutoCloseable> resources = new ArrayDeque<>();
        final Health health = new Health(log);
        final Server server;
        final Server management;
        StellaneMetrics metrics;
        Dashboard dashboard;
        RecoveryManager.RecoveryReport recovery;
        boolean runtimeStarted;
        boolean inSetup;

        Starting(Builder b) {
            this.b = b;
            this.server = new Server(runtime, b.serverConfig);
            this.management = b.managementHost == null ? null
                    : new Server(runtime, ServerConfig.builder().tls(b.managementTls).build());
        }

        App start(Consumer<? super Setup> setup) {
            if (b.metrics) {
                metrics = own(StellaneMetrics.prometheus(runtime));
                own(JvmMetrics.bind(metrics.registry()));
                // the public server's traffic only: what operators poll stays out of the service's meters
                if (b.dashboard) {
                    dashboard = own(Dashboard.observe(server, metrics)); // its sampler stops with the app
                } else {
                    server.observe(new MetricsObserver(metrics));
                }
            }
            if (b.durableTasks != null) {
                DurableTasksBinding.meter(b.durableTasks, metrics, dashboard); // before the runtime runs them
            }
            inSetup = true;
            try {
                setup.accept(this);
            } finally {
                inSetup = false;
            }
            runtime.init(b.runtimeConfig);
            runtimeStarted = true;
            RecoveryManager journal = openJournal();
            if (b.durableTasks != null) {
                health.add("durable_tasks", DurableTasksBinding.check(b.durableTasks));
            }
            if (management != null) {
                managementRoutes(management);
            }
            if (b.managementOnPublicPort) {
                managementRoutes(server);
            } else {
                server.get("/health", health.handler(false));
            }
            int managementPort = -1;
            if (management != null) {
                managementPort = listen(management, b.managementHost, b.managementPort, " (management)");
            }
            if (journal != null) {
                server.enableRequestRecovery(journal);
                recovery = server.recover();
            }
            int port = listen(server, b.host, b.port, "");
            if (metrics != null) {
                // a worker stuck for a second is logged with its stack and task, and counted
                own(BlockedWorkerDetector.builder().runtime(runtime).meterRegistry(metrics.registry()).start());
            }
            App app = new App(this, port, managementPort);
            java.lang.Runtime.getRuntime().addShutdownHook(app.hook);
            return app;
        }

        /** The journal of the runtime config's request recovery, metered and checked; null when recovery is off. */
        private RecoveryManager openJournal() {
            RuntimeConfig rc = b.runtimeConfig;
            if (!rc.enableRequestRecovery()) {
                health.add("journal", Health.OFF);
                return null;
            }
            RecoveryManager journal = own(RecoveryManager.open(rc));
            if (metrics != null) {
                RecoveryMetrics meters = metrics.recovery();
                journal.addListener(new RecoveryManager.Listener() {
                    @Override public void journaled() { meters.journaled(); }
                    @Override public void completed() { meters.completed(); }
                    @Override public void recovered() { meters.recovered(); }
                    @Override public void failedAttempt() { meters.failed(); }
                    @Override public void quarantined() { meters.quarantined(); }
                });
                meters.journalBytes(() -> journal.store().stats().bytesOnDisk());
            }
            if (dashboard != null) {
                dashboard.recovery(RecoverySource.of(metrics));
            }
            health.add("journal", journalCheck(journal));
            return journal;
        }

        private void managementRoutes(Server s) {
            s.get("/health", health.handler(true));
            s.get("/stats", ctx -> Task.completed(Response.json(stats(runtime.getStats(), runtime.getWorkerStats()))));
            if (metrics != null) {
                StellaneMetrics m = metrics;
                // scraping walks the whole registry: keep it off the worker
                s.get("/metrics", ctx -> Task.blocking(() ->
                        Response.ok(m.scrape().getBytes(StandardCharsets.UTF_8), PROMETHEUS_TYPE)));
            }
            if (dashboard != null) {
                dashboard.serveOn(s);
            }
        }

        @Override
        public Server server() {
            requireSetup();
            return server;
        }

        @Override
        public StellaneMetrics metrics() {
            requireSetup();
            if (metrics == null) {
                throw new IllegalStateException("this app has no metrics: build it with metrics()");
            }
            return metrics;
        }

        @Override
        public <T extends AutoCloseable> T closeOnStop(T resource) {
            requireSetup();
            return own(resource);
        }

        private <T extends AutoCloseable> T own(T resource) {
            resources.push(Objects.requireNonNull(resource, "resource"));
            return resource;
        }

        @Override
        public void healthCheck(String name, HealthCheck check) {
            requireSetup();
            health.add(name, check);
        }

        private void requireSetup() {
            if (!inSetup) {
                throw new IllegalStateException("App.Setup is for the setup call only");
            }
        }

        /** Undoes a failed start: the servers, the runtime, then what was opened, the last first. */
        void abort() {
            try {
                if (runtimeStarted) {
                    server.stop(Duration.ZERO);
                    if (management != null) {
                        management.stop(Duration.ZERO);
                    }
                }
                closeAll(new ArrayDeque<>(b.durableTasks == null ? List.of() : List.<AutoCloseable>of(b.durableTasks)));
                if (runtimeStarted) {
                    runtime.stop();
                }
            } finally {
                closeAll(resources);
            }
        }
    }

    /** Down while the journal's store reports a fault (a full disk, a failed sync), until it heals. */
    static HealthCheck journalCheck(RecoveryManager journal) {
        return () -> journal.store().fault().ifPresent(f -> {
            throw f;
        });
    }

    private static int listen(Server server, String host, int port, String what) {
        int bound;
        try {
            bound = server.listen(host, port);
        } catch (Exception e) {
            // a bind failure names the address already ("cannot listen on /host:port: why"): keep the why
            String why = String.valueOf(e.getMessage());
            int colon = why.startsWith("cannot listen on ") ? why.indexOf(": ") : -1;
            throw new StellaneException("cannot listen on " + host + ":" + port + what + ": "
                    + (colon < 0 ? why : why.substring(colon + 2)), e);
        }
        log.info("listening on {}{}", url(server.config().tls() != null, host, bound), what);
        return bound;
    }

    static String url(boolean tls, String host, int port) {
        return (tls ? "https://" : "http://") + (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }

    static Map<String, Object> stats(RuntimeStats s, List<WorkerStats> workers) {
        Map<String, Object> rt = new LinkedHashMap<>();
        rt.put("startTime", s.startTime().toString());
        rt.put("uptimeMs", s.uptime().toMillis());
        rt.put("totalTasksExecuted", s.totalTasksExecuted());
        rt.put("totalTasksFailed", s.totalTasksFailed());
        rt.put("currentActiveTasks", s.currentActiveTasks());
        rt.put("peakActiveTasks", s.peakActiveTasks());
        rt.put("averageTaskDurationMs", s.averageTaskDurationMs());
        rt.put("backendType", s.backendType());
        rt.put("workerCount", s.workerCount());
        rt.put("strategy", s.strategy());
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("runtime", rt);
        m.put("workers", workers); // records of primitives and strings: Jackson writes their components
        return m;
    }

    /** The bound port of the public listener. */
    public int port() {
        return port;
    }

    /**
     * The bound port of the management listener.
     *
     * @throws IllegalStateException when the app has none
     */
    public int managementPort() {
        if (management == null) {
            throw new IllegalStateException("this app has no management listener: build it with management(host, port)");
        }
        return managementPort;
    }

    /** The public server (its routes are fixed once the app runs; {@link Server#updateConfig} still applies). */
    public Server server() {
        return server;
    }

    /**
     * The metrics binding.
     *
     * @throws IllegalStateException when the app was built without {@link Builder#metrics()}
     */
    public StellaneMetrics metrics() {
        if (metrics == null) {
            throw new IllegalStateException("this app has no metrics: build it with metrics()");
        }
        return metrics;
    }

    /** What the replay at start did; empty without request recovery. */
    public Optional<RecoveryManager.RecoveryReport> recoveryReport() {
        return Optional.ofNullable(recovery);
    }

    /**
     * Closes {@code resource} when the app stops, before what was registered earlier; at once when the app
     * has stopped already. Returns it.
     */
    public <T extends AutoCloseable> T closeOnStop(T resource) {
        Objects.requireNonNull(resource, "resource");
        synchronized (this) {
            if (!closed) {
                resources.push(resource);
                return resource;
            }
        }
        closeAll(new ArrayDeque<>(List.of(resource)));
        return resource;
    }

    /** Blocks until {@link #close} has finished. */
    public void awaitStop() {
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * The graceful stop the shutdown hook runs: drain, stop the runtime, close the resources (see
     * {@link App}). Idempotent; a second caller waits for the first to finish.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (Thread.currentThread() != hook) {
            try {
                java.lang.Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // the JVM is shutting down already: the hook may be running this very close
            }
        }
        log.info("stopping: draining in-flight requests");
        try {
            try {
                server.stop();
            } finally {
                if (management != null) {
                    management.stop(); // after the public one: its metrics cover the drain
                }
            }
        } finally {
            try {
                if (durableTasks != null) {
                    closeAll(new ArrayDeque<>(List.of(durableTasks))); // running tasks finish on the running runtime
                }
                runtime.stop();
            } finally {
                closeAll(resources);
                stopped.countDown();
                log.info("stopped");
            }
        }
    }

    private static void closeAll(Deque<AutoCloseable> resources) {
        AutoCloseable r;
        while ((r = resources.poll()) != null) {
            try {
                r.close();
            } catch (Exception e) {
                log.warn("closing {} failed", r, e);
            }
        }
    }
}
