package io.stellane.server;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * An HTTP response: a status, headers and a body, built with static factories and fluent setters:
 * {@code Response.json(user).status(201).header("Location", "/users/7")}.
 *
 * <p>Text is encoded as UTF-8 straight into a pooled buffer when the response is written; arrays and
 * {@link Body} constants go out without a copy. A {@link #json(Object)} value is serialized by the
 * server's {@code ObjectMapper} ({@code Server.jsonMapper()}) as soon as the handler's task completes
 * with it, before anything else happens to the request: a value that cannot be serialized fails the
 * handler, and later changes to the value do not reach the client. The server adds
 * {@code Content-Length}, {@code Date}, {@code Server} and, when it closes the connection,
 * {@code Connection: close}.
 *
 * <p>Threading: a response is built by one thread and handed to the server; it is not thread-safe.
 */
public final class Response {

    static final String TEXT_PLAIN = "text/plain; charset=utf-8";
    static final String APPLICATION_JSON = "application/json";

    int status;
    String contentType;
    ResponseBody body;
    /** name, value, name, value, ... ; allocated on first use. */
    List<String> headers;

    private Response(int status, String contentType, ResponseBody body) {
        this.status = status;
        this.contentType = contentType;
        this.body = body;
    }

    // ---------------------------------------------------------------- factories

    /** 200 with no body. */
    public static Response ok() {
        return new Response(200, null, ResponseBody.EMPTY);
    }

    /** 200 with a {@code text/plain; charset=utf-8} body. */
    public static Response ok(String text) {
        return text(text);
    }

    /** 200 with a pre-encoded constant body. */
    public static Response ok(Body body) {
        return new Response(200, null, new ResponseBody.Constant(Objects.requireNonNull(body, "body")));
    }

    /** 200 with {@code bytes} (not copied: do not change them afterwards) of type {@code contentType}. */
    public static Response ok(byte[] bytes, String contentType) {
        return new Response(200, Objects.requireNonNull(contentType, "contentType"),
                new ResponseBody.Bytes(Objects.requireNonNull(bytes, "bytes")));
    }

    /** 200 with a {@code text/plain; charset=utf-8} body. */
    public static Response text(String text) {
        return new Response(200, TEXT_PLAIN, new ResponseBody.Text(Objects.requireNonNull(text, "text")));
    }

    /**
     * 200 with {@code value} as JSON ({@code application/json}), serialized by the server's
     * {@code ObjectMapper} when the handler answers: {@code java.time} values as ISO-8601 strings by
     * default. Do not change {@code value} from another thread until then.
     */
    public static Response json(Object value) {
        return new Response(200, APPLICATION_JSON, new ResponseBody.JsonValue(value));
    }

    /**
     * A response with {@code status} and no body. (Java cannot have a static {@code status(int)} beside
     * the fluent {@link #status(int)}, hence the name.)
     */
    public static Response of(int status) {
        return new Response(checkStatus(status), null, ResponseBody.EMPTY);
    }

    /** 201 with {@code value} as JSON. */
    public static Response created(Object value) {
        return json(value).status(201);
    }

    /** 204. */
    public static Response noContent() {
        return new Response(204, null, ResponseBody.EMPTY);
    }

    /** 404 with a JSON error body. */
    public static Response notFound() {
        return error(404, "Not Found");
    }

    /** 400 with a JSON error body. */
    public static Response badRequest() {
        return error(400, "Bad Request");
    }

    /** 400 with a JSON error body carrying {@code message} (JSON-escaped). */
    public static Response badRequest(String message) {
        return error(400, message);
    }

    /** 500 with a generic JSON error body. */
    public static Response internalError() {
        return error(500, "Internal Server Error");
    }

    /** 500 with a JSON error body carrying {@code message} (JSON-escaped; keep secrets out of it). */
    public static Response internalError(String message) {
        return error(500, message);
    }

    /** 503 with a JSON error body. */
    public static Response unavailable() {
        return error(503, "Service Unavailable");
    }

    /** {@code status} with the body {@code {"error": message}}, the message JSON-escaped. */
    public static Response error(int status, String message) {
        return new Response(checkStatus(status), APPLICATION_JSON, new ResponseBody.Bytes(errorJson(message, null)));
    }

    /**
     * A chunked streaming response: once the status and headers are sent, {@code producer} is called
     * on the worker with the stream to write to; it must end it with {@link ResponseStream#close()}
     * (from any thread, at any later time). To a HTTP/1.0 client the body is sent unchunked and the
     * connection closed at the end; to a HEAD request, no body is sent and the producer is not called.
     */
    public static Response stream(String contentType, StreamProducer producer) {
        return new Response(200, Objects.requireNonNull(contentType, "contentType"),
                new ResponseBody.Streamed(Objects.requireNonNull(producer, "producer")));
    }

    /** Writes a streaming body; see {@link Response#stream}. */
    @FunctionalInterface
    public interface StreamProducer {
        void produce(ResponseStream out) throws Exception;
    }

    // ---------------------------------------------------------------- fluent setters

    /** Sets the status code (100..599; 1xx are not allowed as final responses). */
    public Response status(int status) {
        this.status = checkStatus(status);
        return this;
    }

    /**
     * Adds a header. Names must be tokens, values must not contain CR, LF or other control characters.
     * The framing headers ({@code Content-Length}, {@code Transfer-Encoding}, {@code Connection}) are
     * the server's and refused here.
     */
    public Response header(String name, String value) {
        checkHeader(name, value);
        if (name.equalsIgnoreCase("Content-Length") || name.equalsIgnoreCase("Transfer-Encoding")
                || name.equalsIgnoreCase("Connection")) {
            throw new IllegalArgumentException(name + " is set by the server");
        }
        if (headers == null) {
            headers = new ArrayList<>(4);
        }
        headers.add(name);
        headers.add(value);
        return this;
    }

    /** Sets the {@code Content-Type} (replaces the factory's). */
    public Response contentType(String contentType) {
        checkHeader("Content-Type", contentType);
        this.contentType = contentType;
        return this;
    }

    public int status() {
        return status;
    }

    public String contentType() {
        return contentType;
    }

    /** The first value of header {@code name} set through {@link #header}, or {@code null}. */
    public String header(String name) {
        if (headers != null) {
            for (int i = 0; i < headers.size(); i += 2) {
                if (headers.get(i).equalsIgnoreCase(name)) {
                    return headers.get(i + 1);
                }
            }
        }
        return null;
    }

    @Override
    public String toString() {
        return "Response[" + status + (contentType == null ? "" : ", " + contentType) + "]";
    }

    // ---------------------------------------------------------------- internals

    private static int checkStatus(int status) {
        if (status < 200 || status > 599) {
            throw new IllegalArgumentException("response status must be 200..599, not " + status);
        }
        return status;
    }

    private static void checkHeader(String name, String value) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(value, "value");
        if (name.isEmpty()) {
            throw new IllegalArgumentException("empty header name");
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c <= ' ' || c >= 0x7f || "\"(),/:;<=>?@[\\]{}".indexOf(c) >= 0) {
                throw new IllegalArgumentException("header name is not a token: " + escape(name));
            }
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if ((c < ' ' && c != '\t') || c == 0x7f) {
                throw new IllegalArgumentException("control character in the value of header " + name);
            }
        }
    }

    /** {@code {"error":"...","requestId":"..."}} with both strings JSON-escaped (and non-ASCII escaped). */
    static byte[] errorJson(String message, String requestId) {
        StringBuilder sb = new StringBuilder(48).append("{\"error\":\"");
        appendEscaped(sb, message == null ? "" : message);
        sb.append('"');
        if (requestId != null) {
            sb.append(",\"requestId\":\"");
            appendEscaped(sb, requestId);
            sb.append('"');
        }
        return sb.append('}').toString().getBytes(StandardCharsets.US_ASCII);
    }

    static String escape(String s) {
        StringBuilder sb = new StringBuilder();
        appendEscaped(sb, s);
        return sb.toString();
    }

    private static void appendEscaped(StringBuilder sb, String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '<' -> sb.append("\\u003c");
                case '>' -> sb.append("\\u003e");
                case '&' -> sb.append("\\u0026");
                default -> {
                    if (c < 0x20 || c >= 0x7f) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
    }
}
