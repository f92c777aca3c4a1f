package io.stellane.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.http.HttpHeaders;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;

/**
 * A response a {@link TestClient} received, its body read in full: status, headers, the body as text
 * or bytes, and the body as JSON read by the server's own mapper. Immutable; thread-safe.
 */
public final class TestResponse {
    private static final int SHOWN = 200;

    private final HttpResponse<byte[]> raw;
    private final ObjectMapper json;

    TestResponse(HttpResponse<byte[]> raw, ObjectMapper json) {
        this.raw = raw;
        this.json = json;
    }

    public int status() {
        return raw.statusCode();
    }

    public HttpHeaders headers() {
        return raw.headers();
    }

    /** The first value of header {@code name} (case-insensitive), or {@code null}. */
    public String header(String name) {
        return raw.headers().firstValue(name).orElse(null);
    }

    /** The body decoded as UTF-8; empty when there is none. */
    public String body() {
        return new String(raw.body(), StandardCharsets.UTF_8);
    }

    /** A copy of the body's bytes. */
    public byte[] bodyBytes() {
        return raw.body().clone();
    }

    /**
     * The body read as JSON into {@code type} by the server's mapper ({@code java.time} values from
     * ISO-8601 strings, unknown properties ignored, unless the server was given another mapper).
     *
     * @throws AssertionError when the body is not JSON that fits {@code type}, with the body in its message
     */
    public <T> T json(Class<T> type) {
        try {
            return json.readValue(raw.body(), type);
        } catch (IOException e) {
            throw new AssertionError("expected a JSON " + type.getSimpleName() + " in " + this + ": " + e.getMessage(), e);
        }
    }

    /**
     * The body as a JSON tree, to assert on parts of it: {@code r.json().get("error").asText()}.
     *
     * @throws AssertionError when the body is not JSON, with the body in its message
     */
    public JsonNode json() {
        try {
            return json.readTree(raw.body());
        } catch (IOException e) {
            throw new AssertionError("expected a JSON body in " + this + ": " + e.getMessage(), e);
        }
    }

    /** The JDK's response, for what this class does not offer (the request it answered, the HTTP version). */
    public HttpResponse<byte[]> raw() {
        return raw;
    }

    /** Status, content type and the body's start: what an assertion message needs. */
    @Override
    public String toString() {
        String body = body();
        String shown = body.length() <= SHOWN ? body : body.substring(0, SHOWN) + "... (" + raw.body().length + " bytes)";
        return "TestResponse[" + status() + ", " + header("Content-Type") + ", " + shown + "]";
    }
}
