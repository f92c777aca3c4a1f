package io.stellane.examples;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.stellane.config.ConfigChange;
import io.stellane.config.ConfigException;
import io.stellane.config.ConfigWatcher;
import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.server.Server;
import io.stellane.server.ServerConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Hot reload of the service's config: when its TOML file changes (or on {@code SIGHUP}), the file is
 * read again with the same flags and environment, and what can change while the service runs does:
 * the runtime's worker count, scaling, loop limits and timeouts ({@code Runtime.updateConfig}) and
 * the public server's limits and TLS settings ({@code Server.updateConfig}; TLS files that do not load
 * refuse the reload). What cannot (the backend, the strategy, the request journal, addresses and
 * ports, turning TLS on or off, the management listener's TLS settings, the database, the data
 * directory) is logged as needing a restart and left as it runs. Certificate files that change in
 * place are reloaded by the servers themselves, whatever this file does. An invalid file changes nothing: one line names the key. No
 * connection is closed by a reload; a retired worker's connections end after their next response.
 *
 * <p>Counted in {@code stellane_config_reloads_total{result=...}}: {@code applied} when something
 * changed in the running service, {@code unchanged} when nothing did (what needs a restart is logged
 * again on each reload until the restart), {@code rejected} for an invalid file.
 * Threading: reloads run one at a time on the watcher's thread.
 */
final class ConfigReloader implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ConfigReloader.class);

    private final Supplier<AppConfig> reread;
    private final Server server;
    private final Counter applied;
    private final Counter unchanged;
    private final Counter rejected;
    private final ConfigWatcher watcher;
    /** What runs: the config read at start with every change applied since. */
    private AppConfig running;

    ConfigReloader(AppConfig running, Supplier<AppConfig> reread, Server server, MeterRegistry registry) {
        this.running = Objects.requireNonNull(running, "running");
        this.reread = Objects.requireNonNull(reread, "reread");
        this.server = Objects.requireNonNull(server, "server");
        this.applied = counter(registry, "applied");
        this.unchanged = counter(registry, "unchanged");
        this.rejected = counter(registry, "rejected");
        this.watcher = ConfigWatcher.watch(running.configFile(), this::reload);
    }

    private static Counter counter(MeterRegistry registry, String result) {
        return Counter.builder("stellane.config.reloads").description("Config reloads, by what came of them")
                .tag("result", result).register(registry);
    }

    /** Reads the file again and applies what can be applied live. */
    synchronized void reload() {
        AppConfig next;
        try {
            next = reread.get();
        } catch (ConfigException e) {
            rejected.increment();
            log.warn("config reload refused, nothing changed: {}", UsersService.oneLine(e.getMessage()));
            return;
        }
        List<ConfigChange> runtime = running.runtime().changesTo(next.runtime());
        List<ConfigChange> live = new ArrayList<>();
        List<ConfigChange> restart = new ArrayList<>();
        for (ConfigChange c : runtime) {
            (RuntimeConfig.appliesLive(c.key()) ? live : restart).add(c);
        }
        RuntimeConfig applyRuntime = running.runtime().withLiveValuesOf(next.runtime());
        ServerConfig limits = heldAtListen(next.server(), running.server());
        List<ConfigChange> serverChanges;
        try {
            serverChanges = server.updateConfig(limits); // first: new TLS files that do not load refuse the reload
        } catch (ConfigException e) {
            rejected.increment();
            log.warn("config reload refused, nothing changed: {}", UsersService.oneLine(e.getMessage()));
            return;
        }
        try {
            if (!live.isEmpty()) {
                Runtime.updateConfig(applyRuntime);
            }
        } catch (RuntimeException e) {
            try {
                server.updateConfig(running.server()); // back to what ran
            } catch (ConfigException gone) {
                log.warn("the TLS files of the running config no longer load; new handshakes keep the new ones: {}",
                        UsersService.oneLine(gone.getMessage()));
            }
            rejected.increment();
            log.warn("config reload refused, nothing changed: {}", UsersService.oneLine(e.getMessage()));
            return;
        }
        live.addAll(serverChanges);
        restart.addAll(limits.changesTo(next.server()));
        restart.addAll(fixed(running, next));
        running = new AppConfig(applyRuntime, running.host(), running.port(), limits, running.management(),
                running.database(), running.dataDir(), running.configFile());
        String pending = restart.isEmpty() ? "" : "; not applied, needs a restart: " + restart;
        if (live.isEmpty()) {
            unchanged.increment();
            log.info("config reloaded from {}: nothing changed{}", running.configFile(), pending);
            return;
        }
        applied.increment();
        log.info("config reloaded from {}: applied {}{}", running.configFile(), live, pending);
    }

    /**
     * {@code next} with what only a listen reads kept at its running value: the backlog, reuse_port, and
     * whether there is TLS at all (its settings and files change live).
     */
    private static ServerConfig heldAtListen(ServerConfig next, ServerConfig running) {
        ServerConfig.Builder b = next.toBuilder().backlog(running.backlog()).reusePort(running.reusePort());
        if ((next.tls() == null) != (running.tls() == null)) {
            b.tls(running.tls());
        }
        return b.build();
    }

    /** What only a restart changes besides the runtime's own keys: where the service listens, its database. */
    private static List<ConfigChange> fixed(AppConfig a, AppConfig b) {
        List<ConfigChange> out = new ArrayList<>();
        compare(out, "server.host", a.host(), b.host());
        compare(out, "server.port", a.port(), b.port());
        compare(out, "management.host", a.management().host(), b.management().host());
        compare(out, "management.port", a.management().port(), b.management().port());
        compare(out, "management.serve_on_public_port", a.management().serveOnPublicPort(), b.management().serveOnPublicPort());
        if (!Objects.equals(a.management().tls(), b.management().tls())) {
            out.add(new ConfigChange("management.tls", a.management().tls() == null ? "(none)" : "[management.tls]",
                    b.management().tls() == null ? "(none)" : "a changed [management.tls]"));
        }
        compare(out, "database.url", a.database().jdbcUrl(), b.database().jdbcUrl());
        compare(out, "database.pool_size", a.database().poolSize(), b.database().poolSize());
        return out;
    }

    private static void compare(List<ConfigChange> out, String key, Object a, Object b) {
        if (!Objects.equals(a, b)) {
            out.add(new ConfigChange(key, String.valueOf(a), String.valueOf(b)));
        }
    }

    /** A reload now, as SIGHUP asks for one. */
    void requestReload() {
        watcher.requestReload();
    }

    @Override
    public void close() {
        watcher.close();
    }
}
