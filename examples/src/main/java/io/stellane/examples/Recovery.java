package io.stellane.examples;

import io.stellane.config.RuntimeConfig;
import io.stellane.server.Context;
import io.stellane.server.Server;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.UUID;

/**
 * The app's request-recovery wiring, kept in one place so the merge of the server's recovery support
 * switches it on by editing this class only.
 *
 * <p>On this branch the server has no recovery yet: {@link #enable} only warns when
 * {@code runtime.recovery.enabled} is set, and reports 0 recovered requests. At the merge,
 * {@link #enable} becomes (the fixed API of the recovery branch):
 * <pre>{@code
 * RecoveryManager manager = RecoveryManager.open(config);
 * server.enableRequestRecovery(manager);
 * server.onRecover((ctx, req, meta) -> {
 *     ctx.logger().info("Recovering {} (attempt {}/{})", meta.requestId(), meta.attempt(), meta.maxAttempts());
 *     return ctx.retryOriginalHandler();
 * });
 * RecoveryManager.RecoveryReport report = server.recover();   // before listen
 * return new Status(true, describe(config), report.recovered(), report.quarantined(), manager);
 * }</pre>
 * and {@link #requestKey} returns {@code ctx.requestId()} unprefixed (stable across a replay).
 */
final class Recovery {
    private static final Logger log = LoggerFactory.getLogger(Recovery.class);

    /**
     * Distinguishes this process's request ids from an earlier process's: without recovery the server's
     * request ids ({@code <connection>-<request>}) start again at every start, and the users table
     * outlives the process, so an unprefixed id would match a user created by an earlier run.
     */
    private static final String BOOT = UUID.randomUUID().toString();

    private Recovery() {
    }

    /**
     * What recovery did at startup.
     *
     * @param active      whether requests are journaled and replayed
     * @param store       the store, e.g. {@code mmap at data/journal}, or {@code off}
     * @param recovered   requests replayed at startup
     * @param quarantined requests given up on at startup
     * @param resource    what to close at shutdown (the recovery manager), or null
     */
    record Status(boolean active, String store, long recovered, long quarantined, AutoCloseable resource) {
    }

    /** Turns on request recovery for {@code server} if the config asks for it; call before listen. */
    static Status enable(Server server, RuntimeConfig config) {
        if (!config.enableRequestRecovery()) {
            return new Status(false, "off", 0, 0, null);
        }
        log.warn("runtime.recovery.enabled is set but request recovery is not merged into this build yet;"
                + " requests are not journaled ({} store at {} unused)", config.recoveryBackend(), config.recoveryPath());
        return new Status(false, describe(config) + " (not merged yet: inactive)", 0, 0, null);
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
        return "r:" + BOOT + ":" + ctx.requestId();
    }
}
