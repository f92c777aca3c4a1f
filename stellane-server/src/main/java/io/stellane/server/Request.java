package io.stellane.server;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.ObjectMapper;
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
    private final ObjectMapper json;
    /** Null: the head's version ({@code HTTP/1.x}). */
    private String protocol;

    /** The path of {@code OPTIONS *}; compared by identity. */
    static final String ASTERISK = "*";

    private Request(HttpRequest head, String method, String path, String query, byte[] body, ObjectMapper json) {
        this.head = head;
        this.method = method;
        this.path = path;
        this.query = query;
        this.body = body;
        this.json = json;
    }

    /**
     * A request as read from the wire or from the journal, its target split here and nowhere else:
     * origin-form ({@code /a/b?q}), absolute-form ({@code http://host/a/b?q}, routed on its path; no
     * path is {@code /}), or {@code *} (path {@link #ASTERISK}). The target is valid (the connection
     * checked it before; the journal kept one that was). {@code json} is the server's mapper, for
     * {@link #json(Class)}.
     */
    static Request of(HttpRequest head, byte[] body, ObjectMapper json) {
        String uri = head.uri();
        String method = head.method().name();
        if (uri.charAt(0) == '/') {
            int q = uri.indexOf('?');
            return q < 0 ? new Request(head, method, uri, "", body, json)
                    : new Request(head, method, uri.substring(0, q), uri.substring(q + 1), body, json);
        }
        if (uri.equals(ASTERISK)) {
            return new Request(head, method, ASTERISK, "", body, json);
        }
        int authority = uri.indexOf("://") + 3;
        int slash = uri.indexOf('/', authority);
        int q = uri.indexOf('?', authority);
        if (slash < 0 || (q >= 0 && q < slash)) {
            return new Request(head, method, "/", q < 0 ? "" : uri.substring(q + 1), body, json);
        }
        return q < 0 ? new Request(head, method, uri.substring(slash), "", body, json)
                : new Request(head, method, uri.substring(slash, q), uri.substring(q + 1), body, json);
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

    /** A request that came over HTTP/2: {@link #protocol()} says so. */
    static Request ofHttp2(HttpRequest head, byte[] body, ObjectMapper json) {
        Request r = of(head, body, json);
        r.protocol = HTTP_2;
        return r;
    }

    static final String HTTP_2 = "HTTP/2.0";

    /** {@code "HTTP/1.1"}, {@code "HTTP/1.0"} or {@code "HTTP/2.0"}. */
    public String protocol() {
        return protocol != null ? protocol : head.protocolVersion().text();
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
     * The body parsed as JSON into {@code type} by the server's {@code ObjectMapper}
     * ({@link Server#jsonMapper()}: by default unknown properties are ignored and {@code java.time}
     * values are read from ISO-8601 strings).
     *
     * @throws HttpException 400 when the body is empty or is not valid JSON for {@code type}
     */
    public <T> T json(Class<T> type) {
        if (body.length == 0) {
            throw new HttpException(400, "request body is empty; expected JSON");
        }
        try {
            return json.readValue(body, type);
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
