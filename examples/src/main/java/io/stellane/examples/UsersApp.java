package io.stellane.examples;

import io.netty.util.ResourceLeakDetector;
import io.stellane.app.App;
import io.stellane.dashboard.Dashboard;
import io.stellane.examples.users.UserRepository;
import io.stellane.examples.users.UserService;
import io.stellane.runtime.Runtime;
import io.stellane.server.Server;
import io.stellane.stats.RuntimeStats;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * One running instance of the service, as configuration of an {@link App}: the data directory, the
 * database (a closed-on-stop resource, checked by {@code /health} as {@code database}), the routes,
 * request recovery's hook, and the management listener with metrics and the dashboard. The app owns the
 * lifecycle: the order of the start, the shutdown hook, and the graceful stop in {@link #close}. The
 * runtime is the JVM's default one, so one per JVM at a time.
 */
public final class UsersApp implements AutoCloseable {
    private final AppConfig config;
    private final App app;
    private final UserRepository repository;
    private ConfigReloader reloader;

    private UsersApp(AppConfig config, App app, UserRepository repository) {
        this.config = config;
        this.app = app;
        this.repository = repository;
    }

    /**
     * Prepares the data directory and starts the app: the database opens in its setup, the management
     * listener listens first, the public one last. On failure everything opened so far is closed again.
     */
    public static UsersApp start(AppConfig config) {
        return start(config, server -> { });
    }

    /** {@link #start(AppConfig)} with more routes on the public server (tests use it for a handler they control). */
    static UsersApp start(AppConfig config, Consumer<Server> moreRoutes) {
        if (System.getProperty("io.netty.leakDetection.level") == null) {
            // sampling leak detection costs on every pooled allocation; opt back in with -Dio.netty.leakDetection.level
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
        }
        DataDir.prepare(config.dataDir());
        AppConfig.Management m = config.management();
        AtomicReference<UserRepository> repository = new AtomicReference<>();
        App app = App.builder(config.runtime())
                .server(config.server())
                .listen(config.host(), config.port())
                .management(m.host(), m.port())
                .managementTls(m.tls())
                .managementOnPublicPort(m.serveOnPublicPort())
                .dashboard()
                .start(setup -> {
                    UserRepository users = setup.closeOnStop(
                            new UserRepository(config.database(), setup.metrics().registry()));
                    repository.set(users);
                    setup.healthCheck("database", users::ping);
                    UsersService.routes(setup.server(), new UserService(users));
                    moreRoutes.accept(setup.server());
                    Recovery.configure(setup.server(), config.runtime());
                });
        return new UsersApp(config, app, repository.get());
    }

    /** The bound port of the public listener. */
    public int port() {
        return app.port();
    }

    /** The bound port of the management listener. */
    public int managementPort() {
        return app.managementPort();
    }

    public AppConfig config() {
        return config;
    }

    UserRepository repository() {
        return repository;
    }

    /** The short startup banner: version, both URLs, backend, workers, strategy, recovery, database. */
    public String banner() {
        RuntimeStats s = Runtime.getStats();
        AppConfig.Management m = config.management();
        String recovery = app.recoveryReport()
                .map(r -> Recovery.describe(config.runtime()) + ", " + r.recovered())
                .orElse("off, 0");
        return "stellane " + version() + " serving " + (config.server().tls() == null ? "http" : "https") + "://"
                + config.host() + ":" + port() + "/\n"
                + "  management " + (m.tls() == null ? "http" : "https") + "://" + m.host() + ":" + managementPort() + "/ (/metrics, /stats, /health, "
                + Dashboard.PATH + (m.serveOnPublicPort() ? "; also on the public port" : "") + ")\n"
                + "  backend " + s.backendType() + ", " + s.workerCount() + " workers, strategy " + s.strategy() + "\n"
                + "  recovery " + recovery + " request(s) recovered\n"
                + "  database " + config.database().dialect() + " (" + UserRepository.safeUrl(config.database().jdbcUrl()) + ")";
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

    /** Blocks until {@link #close} (or the shutdown hook) has finished. */
    public void awaitStop() {
        app.awaitStop();
    }

    /**
     * Reloads the config file on change and on {@code SIGHUP} ({@link ConfigReloader}); {@code reread}
     * reads it again with the flags and environment of the start. Does nothing without a config file.
     */
    synchronized void watchConfig(Supplier<AppConfig> reread) {
        if (config.configFile() != null && reloader == null) {
            reloader = app.closeOnStop(new ConfigReloader(config, reread, app.server(), app.metrics().registry()));
        }
    }

    /** Graceful stop, what SIGTERM runs: drain the servers, stop the runtime, close the database and the metrics. Idempotent. */
    @Override
    public void close() {
        app.close();
    }
}
