package io.stellane.testing;

import io.stellane.server.Server;

import java.util.Objects;

/**
 * One server, started for one block of test code and stopped after it, whatever the block does:
 *
 * <pre>{@code
 * Server server = new Server().get("/hello", ctx -> Task.completed(Response.text("hello")));
 * StellaneTest.test(server, client -> assertThat(client.get("/hello").body()).isEqualTo("hello"));
 * }</pre>
 *
 * For a test that needs a server built its own way (a {@code ServerConfig} of its own, say) where
 * {@link ServerTest} gives one server to a whole class. Works with any test framework.
 */
public final class StellaneTest {
    /** What {@link #test} initializes a server's runtime with when it is not running. */
    static final String BACKEND = "auto";
    static final int WORKERS = 2;

    private StellaneTest() {
    }

    /** The test code: a lambda that talks to the server through {@code client}. */
    @FunctionalInterface
    public interface Body {
        void accept(TestClient client) throws Exception;
    }

    /**
     * Starts {@code server} on {@code 127.0.0.1}, port 0, runs {@code body} with a client bound to it,
     * then closes the client and stops the server, even when {@code body} throws. If the server's
     * runtime is not running ({@code new Server()} before any {@code Runtime.init}) it is initialized
     * first, with the {@code auto} backend and two workers, and stopped at the end; a runtime that
     * was running is left running.
     *
     * @throws Exception            what {@code body} threw (a failure to stop is added to it as suppressed)
     * @throws IllegalStateException when {@code server} listens already
     */
    public static void test(Server server, Body body) throws Exception {
        Objects.requireNonNull(body, "body");
        ServerFixture f = ServerFixture.start(Objects.requireNonNull(server, "server"), ServerFixture.runtimeConfig(BACKEND, WORKERS));
        try {
            body.accept(f.client);
        } catch (Throwable t) {
            try {
                f.stop();
            } catch (RuntimeException e) {
                t.addSuppressed(e);
            }
            throw t;
        }
        f.stop();
    }
}
