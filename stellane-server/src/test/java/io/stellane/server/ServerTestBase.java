package io.stellane.server;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;

/** Starts a runtime on {@link #backend()} with two workers per test; servers started here are stopped after it. */
abstract class ServerTestBase {
    static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    private final List<Server> servers = new ArrayList<>();

    /** The backend name this suite runs on. */
    abstract String backend();

    @BeforeEach
    void initRuntime() {
        Runtime.init(RuntimeConfig.builder().backendType(backend()).workerThreads(2)
                .shutdownTimeout(Duration.ofSeconds(5)).build());
    }

    @AfterEach
    void stopAll() {
        try {
            for (Server s : servers) {
                s.stop(Duration.ofSeconds(2));
            }
        } finally {
            Runtime.stop();
        }
    }

    int start(Consumer<Server> routes) {
        return start(ServerConfig.defaults(), routes);
    }

    int start(ServerConfig config, Consumer<Server> routes) {
        Server s = new Server(config);
        routes.accept(s);
        servers.add(s);
        return s.listen("127.0.0.1", 0);
    }

    Server lastServer() {
        return servers.getLast();
    }

    static HttpResponse<String> get(int port, String path) throws IOException, InterruptedException {
        return CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> send(int port, String method, String path, String body, String type)
            throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (type != null) {
            b.header("Content-Type", type);
        }
        return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A fresh connection still gets served: the worker survived whatever came before. */
    static void assertStillServes(int port) throws IOException {
        try (RawClient c = new RawClient(port)) {
            RawClient.Resp r = c.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n").read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("ok");
        }
    }
}
