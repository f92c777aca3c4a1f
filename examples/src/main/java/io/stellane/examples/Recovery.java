package io.stellane.examples;

import io.stellane.config.RuntimeConfig;
import io.stellane.server.Context;
import io.stellane.server.Server;

import java.util.UUID;

/**
 * The service's part of request recovery; the {@link io.stellane.app.App} opens, meters and closes the
 * journal and replays what a crash left unanswered before the public server listens. Here: replays go
 * through the route's own handler, logged, and a create's idempotency key survives the replay.
 *
 * <p>A create uses the request id as its idempotency key (or the client's {@code Idempotency-Key}):
 * a replay carries the journaled id, so the user it creates is the one the first attempt created.
 */
final class Recovery {
    /**
     * Without recovery the server's request ids ({@code <connection>-<request>}) start again at every
     * start while the users table outlives the process: they get this process's prefix. With recovery
     * on, journaled requests carry ids unique across restarts, which a replay keeps: no prefix.
     */
    private static final String BOOT = UUID.randomUUID().toString();
    private static volatile boolean journaling;

    private Recovery() {
    }

    /** With recovery on in {@code config}, logs each replay and runs it through its route's handler; call during setup. */
    static void configure(Server server, RuntimeConfig config) {
        journaling = config.enableRequestRecovery();
        if (!journaling) {
            return;
        }
        server.onRecover((ctx, req, meta) -> {
            ctx.logger().info("recovering {} {} (attempt {}/{}, {})", req.method(), req.path(),
                    meta.attempt(), meta.maxAttempts(), meta.failureReason());
            return ctx.retryOriginalHandler();
        });
    }

    static String describe(RuntimeConfig config) {
        if (config.recoveryUrl() != null) {
            return config.recoveryBackend() + " at " + config.recoveryUrl()
                    + (config.recoveryNodeId() == null ? "" : " as " + config.recoveryNodeId());
        }
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
