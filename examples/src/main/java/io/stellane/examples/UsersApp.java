package io.stellane.examples;

import io.netty.util.ResourceLeakDetector;
import io.stellane.StellaneException;
import io.stellane.examples.users.UserRepository;
import io.stellane.examples.users.UserService;
import io.stellane.dashboard.Dashboard;
import io.stellane.metrics.BlockedWorkerDetector;
import io.stellane.metrics.StellaneMetrics;
import io.stellane.recovery.RecoveryManager;
import io.stellane.runtime.Runtime;
import io.stellane.server.Server;
import io.stellane.stats.RuntimeStats;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * One running instance of the service: data directory, database, runtime, metrics, and two servers on
 * the one runtime: the public one (the service's API and a bare {@code /health}) and the management one
 * (metrics, stats, the dashboard, the detailed {@code /health}), which is not observed, so what operators
 * poll stays out of the service's HTTP metrics. Starts in {@link #start} (the runtime is static, so one
 * per JVM at a time) and stops in {@link #close}: the servers drain in-flight requests, then the runtime
 * stops, then the metrics and the database close.
 */
public final class UsersApp implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(UsersApp.class);

    private final AppConfig config;
    private final UserRepository repository;
    private final StellaneMetrics metrics;
    private final BlockedWorkerDetector detector;
    private final Dashboard dashboard;
    private final Server server;
    private final Server management;
    private final Recovery.Status recovery;
    private final int port;
    private final int managementPort;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private ConfigReloader reloader;
    private boolean closed;

    private UsersApp(AppConfig config, UserRepository repository, StellaneMetrics metrics, BlockedWorkerDetector detector,
                     Dashboard dashboard, Server server, Server management, Recovery.Status recovery, int port,
                     int managementPort) {
        this.config = config;
        this.repository = repository;
        this.metrics = metrics;
        this.detector = detector;
        this.dashboard = dashboard;
        this.server = server;
        this.management = management;
        this.recovery = recovery;
        this.port = port;
        this.managementPort = managementPort;
    }

    /**
     * Prepares the data directory, opens the database, initializes the runtime, wires routes, metrics and
     * recovery, and listens: the management listener first, the public one last. On failure everything
     * opened so far is closed again.
     */
    public static UsersApp start(AppConfig config) {
        return start(config, server -> { });
    }

    /** {@link #start(AppConfig)} with more routes on the public server (tests use it for a handler they control). */
    static UsersApp start(AppConfig config, java.util.function.Consumer<Server> moreRoutes) {
        if (System.getProperty("io.netty.leakDetection.level") == null) {
            // sampling leak detection costs on every pooled allocation; opt back in with -Dio.netty.leakDetection.level
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
        }
        DataDir.prepare(config.dataDir());
        UserRepository repository = new UserRepository(config.database());
        StellaneMetrics metrics = null;
        Dashboard dashboard = null;
        Server server = new Server(config.server());
        Server management = new Server();
        boolean runtimeUp = false;
        try {
            Runtime.init(config.runtime());
            runtimeUp = true;
            metrics = StellaneMetrics.prometheus();
            UserService users = new UserService(repository);
            AppConfig.Management m = config.management();
            // the public server's traffic only: also what feeds the HTTP meters
            dashboard = Dashboard.observe(server, metrics);
            // the routes come first (replays at startup need them), the journal for /health after
            AtomicReference<RecoveryManager> journal = new AtomicReference<>();
            UsersService.routes(server, users);
            moreRoutes.accept(server);
            UsersService.managementRoutes(management, users, metrics, journal::get);
            dashboard.serveOn(management);
            if (m.serveOnPublicPort()) {
                UsersService.managementRoutes(server, users, metrics, journal::get);
                dashboard.serveOn(server);
            } else {
                UsersService.publicHealth(server, users, journal::get);
            }
            int managementPort = listen(management, m.host(), m.port(), " (management)");
            Recovery.Status recovery = Recovery.enable(server, config.runtime(), metrics, dashboard);
            journal.set(recovery.manager());
            int port = listen(server, config.host(), config.port(), "");
            // a worker stuck for a second is logged with its stack and task, and counted
            BlockedWorkerDetector detector = BlockedWorkerDetector.builder().meterRegistry(metrics.registry()).start();
            return new UsersApp(config, repository, metrics, detector, dashboard, server, management, recovery, port,
                    managementPort);
        } catch (Throwable e) {
            if (runtimeUp) {
                server.stop(Duration.ZERO);
                management.stop(Duration.ZERO);
                Runtime.stop();
            }
            if (dashboard != null) {
                dashboard.close();
            }
            if (metrics != null) {
                metrics.close();
            }
            repository.close();
            throw e;
        }
    }

    private static int listen(Server server, String host, int port, String what) {
        try {
            return server.listen(host, port);
        } catch (Exception e) { // the bind failure may arrive as a checked BindException
            throw new StellaneException("cannot listen on " + host + ":" + port + what + ": " + e.getMessage(), e);
        }
    }

    /** The bound port of the public listener. */
    public int port() {
        return port;
    }

    /** The bound port of the management listener. */
    public int managementPort() {
        return managementPort;
    }

    public AppConfig config() {
        return config;
    }

    UserRepository repository() {
        return repository;
    }

    Recovery.Status recovery() {
        return recovery;
    }

    /** The short startup banner: version, both URLs, backend, workers, strategy, recovery, database. */
    public String banner() {
        RuntimeStats s = Runtime.getStats();
        AppConfig.Management m = config.management();
        return "stellane " + version() + " serving http://" + config.host() + ":" + port + "/\n"
                + "  management http://" + m.host() + ":" + managementPort + "/ (/metrics, /stats, /health, "
                + Dashboard.PATH + (m.serveOnPublicPort() ? "; also on the public port" : "") + ")\n"
                + "  backend " + s.backendType() + ", " + s.workerCount() + " workers, strategy " + s.strategy() + "\n"
                + "  recovery " + recovery.store() + ", " + recovery.recovered() + " request(s) recovered\n"
                + "  database " + config.database().dialect() + " (" + safeUrl(config.database().jdbcUrl()) + ")";
    }

    private static String safeUrl(String url) {
        int q = url.indexOf('?'); // PostgreSQL URLs may carry password=... in the query
        return q < 0 ? url : url.substring(0, q);
    }

    static String version() {
        try (InputStream in = UsersApp.class.getResourceAsStream("stellane-version.properties")) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                return p.getProperty("version", "unknown");
            }
        } catch (IOException e) {
            // fall through
        }
        return "unknown";
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
     * Reloads the config file on change and on {@code SIGHUP} ({@link ConfigReloader}); {@code reread}
     * reads it again with the flags and environment of the start. Does nothing without a config file.
     */
    synchronized void watchConfig(Supplier<AppConfig> reread) {
        if (config.configFile() != null && reloader == null && !closed) {
            reloader = new ConfigReloader(config, reread, server, metrics.registry());
        }
    }

    /** Graceful stop: drain the server, stop the runtime, close the metrics and the database. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (reloader != null) {
            reloader.close();
        }
        log.info("stopping: draining in-flight requests");
        try {
            try {
                server.stop();
            } finally {
                management.stop(); // after the public one: its metrics cover the drain
            }
        } finally {
            try {
                Runtime.stop();
            } finally {
                try {
                    detector.close();
                    dashboard.close();
                    metrics.close();
                    closeQuietly(recovery.manager());
                } finally {
                    repository.close();
                    stopped.countDown();
                    log.info("stopped");
                }
            }
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (Exception e) {
            log.warn("closing {} failed", c, e);
        }
    }
}
