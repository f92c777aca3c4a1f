package io.stellane.testing;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.server.Server;

import java.time.Duration;

/**
 * A server the test kit started, with its client, and the runtime under it if the kit initialized
 * that: what {@link ServerTest} keeps for a class and {@link StellaneTest#test} for one call, and how
 * both take it down. The kit stops what it started and nothing else: a runtime that was running
 * before stays running.
 */
final class ServerFixture {
    /** Bounds each step of the way down: a test must not hang on a handler that never answers. */
    static final Duration STOP_TIMEOUT = Duration.ofSeconds(5);

    final Server server;
    final TestClient client;
    /** Null when the runtime was running before: not the kit's to stop. */
    private final StellaneRuntime ownedRuntime;

    private ServerFixture(Server server, TestClient client, StellaneRuntime ownedRuntime) {
        this.server = server;
        this.client = client;
        this.ownedRuntime = ownedRuntime;
    }

    /** The runtime config the kit initializes a runtime with when the server's is not running. */
    static RuntimeConfig runtimeConfig(String backend, int workers) {
        return RuntimeConfig.builder().backendType(backend).workerThreads(workers).shutdownTimeout(STOP_TIMEOUT).build();
    }

    /**
     * Initializes {@code server}'s runtime with {@code config} unless it runs already, then has the
     * server listen on {@code 127.0.0.1}, port 0. On failure, what it started is stopped again.
     *
     * @throws IllegalStateException when the server listens already: its port is not the kit's to close
     */
    static ServerFixture start(Server server, RuntimeConfig config) {
        if (server.isListening()) {
            throw new IllegalStateException("the server listens already, on port " + server.port()
                    + "; give the test kit a server that does not: it binds 127.0.0.1, port 0, and stops it afterwards");
        }
        StellaneRuntime runtime = server.runtime();
        StellaneRuntime owned = null;
        if (!runtime.isRunning()) {
            runtime.init(config);
            owned = runtime;
        }
        try {
            server.listen("127.0.0.1", 0);
            return new ServerFixture(server, TestClient.of(server), owned);
        } catch (RuntimeException | Error e) {
            server.stop(STOP_TIMEOUT);
            if (owned != null) {
                owned.stop();
            }
            throw e;
        }
    }

    /**
     * The client, then the server (in-flight requests get {@link #STOP_TIMEOUT}), then the runtime if
     * the kit initialized it; each step runs even if one before it failed, and the first failure is
     * thrown with the others suppressed.
     */
    void stop() {
        RuntimeException failure = null;
        failure = attempt(failure, client::close);
        failure = attempt(failure, () -> server.stop(STOP_TIMEOUT));
        if (ownedRuntime != null) {
            failure = attempt(failure, ownedRuntime::stop);
        }
        if (failure != null) {
            throw failure;
        }
    }

    private static RuntimeException attempt(RuntimeException failure, Runnable step) {
        try {
            step.run();
            return failure;
        } catch (RuntimeException e) {
            if (failure == null) {
                return e;
            }
            failure.addSuppressed(e);
            return failure;
        }
    }
}
