package io.stellane.server;

import com.fasterxml.jackson.core.JacksonException;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The request as received: method, target, headers and the whole body (read before the handler
 * runs, up to {@code ServerConfig.maxBodySize}).
 *
 * <p>Threading: immutable once the handler runs; safe to read from any thread.
 */
public final class Request {
    private final HttpRequest head;
    private final String method;
    private final String path;
    private final String query;
    private final byte[] body;

    Request(HttpRequest head, String method, String path, String query, byte[] body) {
        this.head = head;
        this.method = method;
        this.path = path;
        this.query = query;
        this.body = body;
    }

    /** The method as sent, e.g. {@code "GET"}. */
    public String method() {
        return method;
    }

    /** The path (still percent-encoded), without the query: {@code /users/42}. */
    public String path() {
        return path;
    }

    /** The raw query string without {@code '?'}, or {@code ""}. */
    public String query() {
        return query;
    }

    /** The request target exactly as sent. */
    public String target() {
        return head.uri();
    }

    /** {@code "HTTP/1.1"} or {@code "HTTP/1.0"}. */
    public String protocol() {
        return head.protocolVersion().text();
    }

    /** The first value of header {@code name} (case-insensitive), or {@code null}. */
    public String header(String name) {
        return head.headers().get(name);
    }

    /** Every value of header {@code name}, in order. */
    public List<String> headers(String name) {
        return head.headers().getAll(name);
    }

    /** The names of the headers received. */
    public Set<String> headerNames() {
        return new TreeSet<>(head.headers().names());
    }

    /** The {@code Content-Type}, or {@code null}. */
    public String contentType() {
        return head.headers().get(io.netty.handler.codec.http.HttpHeaderNames.CONTENT_TYPE);
    }

    /** The body bytes (empty when there is none). Do not modify. */
    public byte[] body() {
        return body;
    }

    /** The body decoded as UTF-8. */
    public String bodyString() {
        return new String(body, StandardCharsets.UTF_8);
    }

    /**
     * The body parsed as JSON into {@code type} by the shared {@code ObjectMapper}.
     *
     * @throws HttpException 400 when the body is empty or is not valid JSON for {@code type}
     */
    public <T> T json(Class<T> type) {
        if (body.length == 0) {
            throw new HttpException(400, "request body is empty; expected JSON");
        }
        try {
            return Json.MAPPER.readValue(body, type);
        } catch (JacksonException e) {
            throw new HttpException(400, "malformed JSON body", e);
        } catch (IOException e) {
            throw new HttpException(400, "unreadable JSON body", e);
        }
    }

    HttpHeaders nettyHeaders() {
        return head.headers();
    }

    HttpRequest head() {
        return head;
    }

    @Override
    public String toString() {
        return "Request[" + method + " " + path + "]";
    }
}
