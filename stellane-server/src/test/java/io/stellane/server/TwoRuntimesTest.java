package io.stellane.server;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Two runtimes side by side in one JVM, each with its own server: requests run on their own runtime's
 * workers, each counts only its own work and hears only its own failures, and stopping one leaves the
 * other serving. The static {@link Runtime} is not involved.
 */
class TwoRuntimesTest {
    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private final List<Server> servers = new CopyOnWriteArrayList<>();
    private final List<StellaneRuntime> runtimes = new CopyOnWriteArrayList<>();

    @AfterEach
    void stopAll() {
        servers.forEach(s -> s.stop(Duration.ofSeconds(2)));
        runtimes.forEach(StellaneRuntime::stop);
    }

    private StellaneRuntime runtime(String name) {
        StellaneRuntime rt = StellaneRuntime.create(name);
        rt.init(RuntimeConfig.builder().backendType("nio").workerThreads(2).shutdownTimeout(Duration.ofSeconds(5)).build());
        runtimes.add(rt);
        return rt;
    }

    private int serve(StellaneRuntime rt, List<Throwable> failures) {
        Server server = new Server(rt, ServerConfig.defaults())
                .get("/who", ctx -> Task.completed(Response.ok(Thread.currentThread().getName())))
                .get("/fail", ctx -> Task.failed(new IllegalStateException("boom on " + Thread.currentThread().getName())));
        server.onTaskError((error, task) -> failures.add(error));
        servers.add(server);
        return server.listen("127.0.0.1", 0);
    }

    private static HttpResponse<String> get(int port, String path) throws IOException, InterruptedException {
        return CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void eachServerRunsOnItsOwnRuntimeAndStoppingOneLeavesTheOther() throws Exception {
        StellaneRuntime a = runtime("alpha");
        StellaneRuntime b = runtime("beta");
        List<Throwable> failuresA = new CopyOnWriteArrayList<>();
        List<Throwable> failuresB = new CopyOnWriteArrayList<>();
        int portA = serve(a, failuresA);
        int portB = serve(b, failuresB);
        assertThat(Runtime.isRunning()).as("the default runtime stays out of it").isFalse();

        long executedB = b.getStats().totalTasksExecuted();
        for (int i = 0; i < 20; i++) {
            assertThat(get(portA, "/who").body()).startsWith("alpha-worker-");
        }
        assertThat(get(portB, "/who").body()).startsWith("beta-worker-");
        assertThat(a.getStats().totalTasksExecuted()).as("alpha counts its requests").isGreaterThanOrEqualTo(20);
        assertThat(b.getStats().totalTasksExecuted() - executedB).as("beta counts only its own").isLessThan(20);

        assertThat(get(portB, "/fail").statusCode()).isEqualTo(500);
        assertThat(failuresB).singleElement().extracting(Throwable::getMessage).asString().contains("beta-worker-");
        assertThat(failuresA).as("alpha hears nothing of beta's failure").isEmpty();

        a.stop();
        assertThat(a.isRunning()).isFalse();
        assertThatThrownBy(() -> get(portA, "/who")).isInstanceOf(IOException.class);
        assertThat(get(portB, "/who").body()).startsWith("beta-worker-");
        assertThat(b.isRunning()).isTrue();
    }
}
