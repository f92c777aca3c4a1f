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
import java.io.UncheckedIOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One running instance of the service: data directory, database, runtime, metrics, server. Starts in
 * {@link #start} (the runtime is static, so one per JVM at a time) and stops in {@link #close}:
 * the server drains in-flight requests, then the runtime stops, then the metrics and the database close.
 */
public final class UsersApp implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(UsersApp.class);
    static final Set<PosixFilePermission> DATA_DIR_PERMISSIONS = PosixFilePermissions.fromString("rwx------");

    private final AppConfig config;
    private final UserRepository repository;
    private final StellaneMetrics metrics;
    private final BlockedWorkerDetector detector;
    private final Server server;
    private final Recovery.Status recovery;
    private final int port;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private boolean closed;

    private UsersApp(AppConfig config, UserRepository repository, StellaneMetrics metrics, BlockedWorkerDetector detector,
                     Server server, Recovery.Status recovery, int port) {
        this.config = config;
        this.repository = repository;
        this.metrics = metrics;
        this.detector = detector;
        this.server = server;
        this.recovery = recovery;
        this.port = port;
    }

    /**
     * Creates the data directory, opens the database, initializes the runtime, wires routes, metrics and
     * recovery, and listens. On failure everything opened so far is closed again.
     */
    public static UsersApp start(AppConfig config) {
        return start(config, server -> { });
    }

    /** {@link #start(AppConfig)} with more routes (tests use it for a handler they control). */
    static UsersApp start(AppConfig config, java.util.function.Consumer<Server> moreRoutes) {
        if (System.getProperty("io.netty.leakDetection.level") == null) {
            // sampling leak detection costs on every pooled allocation; opt back in with -Dio.netty.leakDetection.level
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
        }
        createDataDir(config.dataDir());
        UserRepository repository = new UserRepository(config.database());
        StellaneMetrics metrics = null;
        boolean runtimeUp = false;
        try {
            Runtime.init(config.runtime());
            runtimeUp = true;
            metrics = StellaneMetrics.prometheus();
            Server server = new Server();
            Dashboard dashboard = Dashboard.install(server, metrics); // also feeds the HTTP meters
            // the routes come first (replays at startup need them), the journal for /health after
            AtomicReference<RecoveryManager> journal = new AtomicReference<>();
            UsersService.routes(server, new UserService(repository), metrics, journal::get);
            moreRoutes.accept(server);
            Recovery.Status recovery = Recovery.enable(server, config.runtime(), metrics, dashboard);
            journal.set(recovery.manager());
            int port = listen(server, config);
            // a worker stuck for a second is logged with its stack and task, and counted
            BlockedWorkerDetector detector = BlockedWorkerDetector.builder().meterRegistry(metrics.registry()).start();
            return new UsersApp(config, repository, metrics, detector, server, recovery, port);
        } catch (Throwable e) {
            if (runtimeUp) {
                Runtime.stop();
            }
            if (metrics != null) {
                metrics.close();
            }
            repository.close();
            throw e;
        }
    }

    private static int listen(Server server, AppConfig config) {
        try {
            return server.listen(config.host(), config.port());
        } catch (Exception e) { // the bind failure may arrive as a checked BindException
            throw new StellaneException("cannot listen on " + config.host() + ":" + config.port() + ": " + e.getMessage(), e);
        }
    }

    /** Creates {@code dir} (and missing parents) with mode 0700; an existing directory is left as it is. */
    static void createDataDir(Path dir) {
        try {
            if (Files.isDirectory(dir)) {
                return;
            }
            Path parent = dir.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(DATA_DIR_PERMISSIONS));
            Files.setPosixFilePermissions(dir, DATA_DIR_PERMISSIONS); // the umask may have masked bits off
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(dir)) {
                throw new io.stellane.config.ConfigException("--data-dir", dir.toString(), "a directory (a file of that name exists)");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the data directory " + dir + ": " + e.getMessage(), e);
        }
    }

    /** The bound port. */
    public int port() {
        return port;
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

    /** The short startup banner: version, backend, workers, strategy, recovery, database, URL. */
    public String banner() {
        RuntimeStats s = Runtime.getStats();
        return "stellane " + version() + " serving http://" + config.host() + ":" + port + "/\n"
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

    /** Graceful stop: drain the server, stop the runtime, close the metrics and the database. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        log.info("stopping: draining in-flight requests");
        try {
            server.stop();
        } finally {
            try {
                Runtime.stop();
            } finally {
                try {
                    detector.close();
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
