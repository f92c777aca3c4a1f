package io.stellane.testing;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.stellane.StellaneException;
import io.stellane.server.Server;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * An HTTP/1.1 client bound to one server's port, for tests: a thin layer over the JDK's
 * {@link HttpClient} that takes paths instead of URIs, sends JSON and reads it back with the server's
 * own {@code ObjectMapper} ({@link Server#jsonMapper()}), and answers a {@link TestResponse} whose
 * body is already read.
 *
 * <pre>{@code
 * TestResponse r = client.postJson("/users", new NewUser("ann"), "Idempotency-Key", "k-1");
 * assertThat(r.status()).isEqualTo(201);
 * assertThat(r.header("Location")).isEqualTo("/users/1");
 * User ann = r.json(User.class);
 * }</pre>
 *
 * <p>Headers are given as name, value pairs, as in {@link HttpRequest.Builder#headers}; the JDK
 * refuses a few it sets itself ({@code Host}, {@code Connection}, {@code Content-Length},
 * {@code Expect}, {@code Upgrade}): test those with a socket. Each request times out after
 * {@value #TIMEOUT_SECONDS} s, so a handler that never answers fails the test instead of hanging it.
 * A request that cannot be sent at all throws {@link UncheckedIOException}.
 *
 * <p>Threading: thread-safe; requests may be sent from several threads at once. {@link #close()}
 * ends the underlying client's threads; {@link ServerTest} and {@link StellaneTest} close the
 * clients they make.
 */
public final class TestClient implements AutoCloseable {
    static final int TIMEOUT_SECONDS = 30;
    private static final Duration TIMEOUT = Duration.ofSeconds(TIMEOUT_SECONDS);
    private static final String TEXT = "text/plain; charset=utf-8";
    private static final String JSON = "application/json";

    private final HttpClient http;
    private final int port;
    private final ObjectMapper json;

    private TestClient(int port, ObjectMapper json) {
        this.port = port;
        this.json = json;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
    }

    /**
     * A client of {@code server}, which listens: requests go to {@code 127.0.0.1} and the port of its
     * first {@code listen}; JSON goes through its mapper. Close it when done.
     *
     * @throws IllegalStateException when the server is not listening
     */
    public static TestClient of(Server server) {
        Objects.requireNonNull(server, "server");
        return new TestClient(server.port(), server.jsonMapper());
    }

    /** The port requests go to. */
    public int port() {
        return port;
    }

    /** {@code http://127.0.0.1:<port><path>}; {@code path} starts with {@code /} and may carry a query. */
    public URI uri(String path) {
        Objects.requireNonNull(path, "path");
        if (!path.startsWith("/")) {
            throw new IllegalArgumentException("a path starts with '/', not " + path);
        }
        return URI.create("http://127.0.0.1:" + port + path);
    }

    public TestResponse get(String path, String... headers) {
        return request("GET", path, null, headers);
    }

    public TestResponse delete(String path, String... headers) {
        return request("DELETE", path, null, headers);
    }

    /** POSTs {@code body} as UTF-8, {@code text/plain} unless {@code headers} name a {@code Content-Type}. */
    public TestResponse post(String path, String body, String... headers) {
        return request("POST", path, Objects.requireNonNull(body, "body"), headers);
    }

    /** PUTs {@code body} as UTF-8, {@code text/plain} unless {@code headers} name a {@code Content-Type}. */
    public TestResponse put(String path, String body, String... headers) {
        return request("PUT", path, Objects.requireNonNull(body, "body"), headers);
    }

    /** POSTs {@code value} serialized by the server's mapper, as {@code application/json}. */
    public TestResponse postJson(String path, Object value, String... headers) {
        return request("POST", path, toJson(value), withType(JSON, headers));
    }

    /** PUTs {@code value} serialized by the server's mapper, as {@code application/json}. */
    public TestResponse putJson(String path, Object value, String... headers) {
        return request("PUT", path, toJson(value), withType(JSON, headers));
    }

    /**
     * Sends {@code method} to {@code path} with {@code body} (UTF-8, {@code text/plain} unless
     * {@code headers} name a {@code Content-Type}; null for none) and waits for the response.
     */
    public TestResponse request(String method, String path, String body, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).timeout(TIMEOUT)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
        if (headers.length % 2 != 0) {
            throw new IllegalArgumentException("headers come in name, value pairs; got " + headers.length + " strings");
        }
        if (headers.length > 0) {
            b.headers(headers);
        }
        if (body != null && !hasHeader(headers, "Content-Type")) {
            b.header("Content-Type", TEXT);
        }
        return send(b.build());
    }

    /** Sends a request built by hand (its URI from {@link #uri}) and waits for the response. */
    public TestResponse send(HttpRequest request) {
        try {
            return new TestResponse(http.send(request, HttpResponse.BodyHandlers.ofByteArray()), json);
        } catch (IOException e) {
            throw new UncheckedIOException(request.method() + " " + request.uri() + " failed: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new StellaneException("interrupted while waiting for " + request.method() + " " + request.uri(), e);
        }
    }

    /** Sends a request built by hand without waiting: for requests that must be in flight together. */
    public CompletableFuture<TestResponse> sendAsync(HttpRequest request) {
        return http.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray()).thenApply(r -> new TestResponse(r, json));
    }

    /** Ends the underlying client: requests in flight are aborted, its threads end. Idempotent. */
    @Override
    public void close() {
        http.shutdownNow();
        try {
            http.awaitTermination(ServerFixture.STOP_TIMEOUT);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Whether {@link #close()} has ended the underlying client. */
    boolean isClosed() {
        return http.isTerminated();
    }

    @Override
    public String toString() {
        return "TestClient[127.0.0.1:" + port + "]";
    }

    private String toJson(Object value) {
        try {
            return json.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("the server's mapper cannot serialize " + value + ": " + e.getOriginalMessage(), e);
        }
    }

    private static String[] withType(String type, String[] headers) {
        if (hasHeader(headers, "Content-Type")) {
            return headers;
        }
        String[] all = new String[headers.length + 2];
        all[0] = "Content-Type";
        all[1] = type;
        System.arraycopy(headers, 0, all, 2, headers.length);
        return all;
    }

    private static boolean hasHeader(String[] headers, String name) {
        for (int i = 0; i < headers.length; i += 2) {
            if (headers[i].equalsIgnoreCase(name)) {
                return true;
            }
        }
        return false;
    }
}
