package io.stellane.examples;

import io.stellane.config.RuntimeConfig;
import io.stellane.dashboard.Dashboard;
import io.stellane.dashboard.RecoverySource;
import io.stellane.metrics.RecoveryMetrics;
import io.stellane.metrics.StellaneMetrics;
import io.stellane.recovery.RecoveryManager;
import io.stellane.server.Context;
import io.stellane.server.Server;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.UUID;

/**
 * The app's request-recovery wiring: journals creates (POST/PUT/PATCH/DELETE) and replays the ones
 * a crash left unanswered, through the route's own handler, before the server listens.
 *
 * <p>A create uses the request id as its idempotency key (or the client's {@code Idempotency-Key}):
 * a replay carries the journaled id, so the user it creates is the one the first attempt created.
 */
final class Recovery {
    private static final Logger log = LoggerFactory.getLogger(Recovery.class);

    /**
     * Without recovery the server's request ids ({@code <connection>-<request>}) start again at every
     * start while the users table outlives the process: they get this process's prefix. With recovery
     * on, journaled requests carry ids unique across restarts, which a replay keeps: no prefix.
     */
    private static final String BOOT = UUID.randomUUID().toString();
    private static volatile boolean journaling;

    private Recovery() {
    }

    /**
     * What recovery did at startup.
     *
     * @param active      whether requests are journaled and replayed
     * @param store       the store, e.g. {@code mmap at data/journal}, or {@code off}
     * @param recovered   requests replayed at startup
     * @param quarantined requests given up on at startup
     * @param manager     the recovery manager (closed at shutdown), or null when recovery is off
     */
    record Status(boolean active, String store, long recovered, long quarantined, RecoveryManager manager) {
    }

    /** Turns on request recovery for {@code server} if the config asks for it; call before listen. */
    static Status enable(Server server, RuntimeConfig config, StellaneMetrics metrics, Dashboard dashboard) {
        if (!config.enableRequestRecovery()) {
            journaling = false;
            return new Status(false, "off", 0, 0, null);
        }
        RecoveryManager manager = RecoveryManager.open(config);
        RecoveryMetrics meters = metrics.recovery();
        manager.addListener(new RecoveryManager.Listener() {
            @Override public void journaled() { meters.journaled(); }
            @Override public void completed() { meters.completed(); }
            @Override public void recovered() { meters.recovered(); }
            @Override public void failedAttempt() { meters.failed(); }
            @Override public void quarantined() { meters.quarantined(); }
        });
        meters.journalBytes(() -> manager.store().stats().bytesOnDisk());
        dashboard.recovery(RecoverySource.of(metrics));
        journaling = true;
        server.enableRequestRecovery(manager);
        server.onRecover((ctx, req, meta) -> {
            ctx.logger().info("recovering {} {} (attempt {}/{}, {})", req.method(), req.path(),
                    meta.attempt(), meta.maxAttempts(), meta.failureReason());
            return ctx.retryOriginalHandler();
        });
        RecoveryManager.RecoveryReport report = server.recover();
        return new Status(true, describe(config), report.recovered(), report.quarantined(), manager);
    }

    static String describe(RuntimeConfig config) {
        return config.recoveryBackend() + " at " + config.recoveryPath();
    }

    /**
     * The idempotency key of a create: the {@code Idempotency-Key} header when present, else the request
     * id, in separate namespaces so a client key cannot collide with a request id.
     */
    static String requestKey(Context ctx) {
        String header = ctx.request().header("Idempotency-Key");
        if (header != null) {
            return "k:" + header;
        }
        return journaling ? "r:" + ctx.requestId() : "r:" + BOOT + ":" + ctx.requestId();
    }
}
