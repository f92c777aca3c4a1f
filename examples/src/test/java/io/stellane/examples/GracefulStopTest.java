package io.stellane.examples;

import io.stellane.examples.users.DatabaseConfig;
import io.stellane.runtime.Runtime;
import io.stellane.server.Response;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@link UsersApp#close()} (what SIGTERM runs) lets a request in flight finish before the runtime and database stop. */
class GracefulStopTest {
    @TempDir
    Path tmp;
    private UsersApp app;
    private final CountDownLatch entered = new CountDownLatch(1);
    private final CountDownLatch release = new CountDownLatch(1);

    @AfterEach
    void cleanUp() {
        release.countDown();
        if (app != null) {
            app.close();
        }
    }

    @Test
    void anInFlightRequestFinishesBeforeTheRuntimeAndDatabaseStop() throws Exception {
        app = UsersApp.start(UsersServiceTest.testConfig(DatabaseConfig.defaults(tmp), tmp), server ->
                server.get("/slow", ctx -> Task.blocking(() -> {
                    entered.countDown();
                    release.await();
                    return Response.text("finished");
                })));
        CompletableFuture<HttpResponse<String>> inFlight = UsersServiceTest.CLIENT.sendAsync(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/slow")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(entered.await(10, TimeUnit.SECONDS)).as("the handler started").isTrue();

        CompletableFuture<Void> closing = CompletableFuture.runAsync(app::close);
        // close() waits for the request: after a while it is still draining and the runtime still runs
        assertThatThrownBy(() -> closing.get(300, TimeUnit.MILLISECONDS)).isInstanceOf(TimeoutException.class);
        assertThat(Runtime.isRunning()).isTrue();

        release.countDown();
        HttpResponse<String> r = inFlight.get(10, TimeUnit.SECONDS);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("finished");
        assertThat(r.headers().firstValue("connection")).hasValue("close");
        closing.get(20, TimeUnit.SECONDS);
        assertThat(Runtime.isRunning()).isFalse();
        // the database closed last: a call now fails
        assertThatThrownBy(app.repository()::count).isInstanceOf(IllegalStateException.class);
        app = null;
    }
}
