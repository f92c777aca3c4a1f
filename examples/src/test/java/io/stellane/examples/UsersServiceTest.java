package io.stellane.examples;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.server.Server;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

import static org.assertj.core.api.Assertions.assertThat;

class UsersServiceTest {
    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private UsersService service;
    private int port;

    @BeforeEach
    void start() {
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(2).build());
        service = new UsersService(new Server());
        port = service.start("127.0.0.1", 0);
    }

    @AfterEach
    void stop() {
        try {
            service.stop();
        } finally {
            Runtime.stop();
        }
    }

    private HttpResponse<String> call(String method, String path, String body, String type) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (type != null) {
            b.header("Content-Type", type);
        }
        return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void plaintextFollowsTheTechEmpowerRules() throws Exception {
        HttpResponse<String> r = call("GET", "/plaintext", null, null);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("Hello, World!");
        assertThat(r.headers().firstValue("content-type")).hasValue("text/plain");
        assertThat(r.headers().firstValue("content-length")).hasValue("13");
        assertThat(r.headers().firstValue("server")).hasValue("stellane");
        assertThat(r.headers().firstValue("date")).isPresent();
    }

    @Test
    void jsonFollowsTheTechEmpowerRules() throws Exception {
        HttpResponse<String> r = call("GET", "/json", null, null);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("{\"message\":\"Hello, World!\"}");
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        assertThat(r.headers().firstValue("server")).hasValue("stellane");
        assertThat(r.headers().firstValue("date")).isPresent();
    }

    @Test
    void echoReturnsTheBodyAndItsContentType() throws Exception {
        HttpResponse<String> r = call("POST", "/echo", "{\"a\":1}", "application/vnd.test+json");
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("{\"a\":1}");
        assertThat(r.headers().firstValue("content-type")).hasValue("application/vnd.test+json");
    }

    @Test
    void healthIsUpAndUnknownPathsAre404() throws Exception {
        HttpResponse<String> r = call("GET", "/health", null, null);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEqualTo("{\"status\":\"UP\"}");
        assertThat(call("GET", "/nope", null, null).statusCode()).isEqualTo(404);
    }
}
