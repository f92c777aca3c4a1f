package io.stellane.testing;

import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.task.Task;
import org.junit.jupiter.api.Test;

import java.io.UncheckedIOException;
import java.net.http.HttpRequest;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The client's requests as the server sees them, and what its responses offer. */
@ServerTest(backend = "nio")
class TestClientTest {

    record Event(String name, Instant at) {
    }

    /** Echoes what arrived: method, content type, the X-Tag header and the body. */
    @SetUpServer
    static void routes(Server server) {
        for (String method : List.of("GET", "POST", "PUT", "DELETE", "PATCH")) {
            server.route(method, "/echo", ctx -> Task.completed(Response.text(ctx.request().method() + " "
                    + ctx.request().contentType() + " " + ctx.request().header("X-Tag") + " " + ctx.request().bodyString())));
        }
        server.post("/events", ctx -> {
            Event e = ctx.request().json(Event.class);
            return Task.completed(Response.created(new Event(e.name().toUpperCase(), e.at().plusSeconds(1)))
                    .header("Location", "/events/1"));
        });
        server.get("/text", ctx -> Task.completed(Response.text("x".repeat(300))));
    }

    @Test
    void sendsEachMethodWithItsBodyAndHeaders(TestClient client) {
        assertThat(client.get("/echo").body()).isEqualTo("GET null null ");
        assertThat(client.get("/echo", "X-Tag", "a").body()).isEqualTo("GET null a ");
        assertThat(client.delete("/echo", "X-Tag", "d").body()).isEqualTo("DELETE null d ");
        assertThat(client.post("/echo", "hé").body()).isEqualTo("POST text/plain; charset=utf-8 null hé");
        assertThat(client.put("/echo", "<p/>", "Content-Type", "text/html", "X-Tag", "p").body())
                .isEqualTo("PUT text/html p <p/>");
        assertThat(client.request("PATCH", "/echo", "{}", "content-type", "application/merge-patch+json").body())
                .isEqualTo("PATCH application/merge-patch+json null {}");
        assertThat(client.request("GET", "/echo?x=1", null).status()).isEqualTo(200);
    }

    @Test
    void sendsAndReadsJsonWithTheServersMapper(TestClient client) {
        TestResponse r = client.postJson("/events", new Event("launch", Instant.parse("2026-12-01T10:00:00Z")), "X-Tag", "j");
        assertThat(r.status()).isEqualTo(201);
        assertThat(r.header("location")).isEqualTo("/events/1");
        assertThat(r.headers().firstValue("Content-Type")).hasValue("application/json");
        assertThat(r.json(Event.class)).isEqualTo(new Event("LAUNCH", Instant.parse("2026-12-01T10:00:01Z")));
        assertThat(r.json().get("at").asText()).isEqualTo("2026-12-01T10:00:01Z");
        assertThat(client.putJson("/echo", List.of(1, 2)).body()).isEqualTo("PUT application/json null [1,2]");
    }

    @Test
    void aBodyThatIsNotTheExpectedJsonFailsAsAnAssertionShowingTheBody(TestClient client) {
        TestResponse r = client.get("/echo");
        assertThatThrownBy(() -> r.json(Event.class)).isInstanceOf(AssertionError.class)
                .hasMessageContaining("expected a JSON Event").hasMessageContaining("GET null null");
        assertThat(client.get("/text").toString()).startsWith("TestResponse[200, text/plain; charset=utf-8, xxx")
                .endsWith("... (300 bytes)]");
    }

    @Test
    void sendsRequestsBuiltByHandAndInFlightTogether(TestClient client) throws Exception {
        HttpRequest req = HttpRequest.newBuilder(client.uri("/echo")).header("X-Tag", "hand").build();
        assertThat(client.send(req).body()).isEqualTo("GET null hand ");
        CompletableFuture<TestResponse> a = client.sendAsync(req);
        CompletableFuture<TestResponse> b = client.sendAsync(req);
        assertThat(a.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
        assertThat(b.get(10, TimeUnit.SECONDS).bodyBytes()).isEqualTo("GET null hand ".getBytes());
    }

    @Test
    void refusesWhatCannotBeARequest(TestClient client) {
        assertThatThrownBy(() -> client.get("echo")).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("starts with '/'");
        assertThatThrownBy(() -> client.get("/echo", "X-Tag")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("name, value pairs");
        assertThatThrownBy(() -> client.postJson("/echo", new Object())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cannot serialize");
    }

    @Test
    void aServerThatIsGoneIsAnUncheckedIoFailure(Server server) {
        TestClient stale;
        Server other = new Server(server.runtime(), server.config());
        other.listen("127.0.0.1", 0);
        stale = TestClient.of(other);
        other.stop();
        try (stale) {
            assertThatThrownBy(() -> stale.get("/echo")).isInstanceOf(UncheckedIOException.class).hasMessageContaining("GET http://127.0.0.1:");
        }
        assertThat(stale.isClosed()).isTrue();
    }
}
