package io.stellane.recovery;

import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.UUID;

/**
 * An HTTP request as journaled before its handler runs. Immutable and thread-safe: the body is
 * copied in and out, so neither the caller nor a store can change it afterwards.
 *
 * @param requestId      stable across replay attempts; unique within a store (see {@link #newRequestId()})
 * @param timestamp      when the request was first received
 * @param method         e.g. {@code POST}
 * @param target         the request target as received, e.g. {@code /orders?id=7}
 * @param headers        in received order, duplicates kept
 * @param body           the full request body, possibly empty
 * @param idempotencyKey the client's {@code Idempotency-Key}, or {@code null}
 */
public record JournaledRequest(
        String requestId,
        Instant timestamp,
        String method,
        String target,
        List<HttpHeader> headers,
        byte[] body,
        String idempotencyKey) {

    public JournaledRequest {
        Objects.requireNonNull(requestId, "requestId");
        if (requestId.isEmpty()) {
            throw new IllegalArgumentException("requestId is empty");
        }
        Objects.requireNonNull(timestamp, "timestamp");
        Objects.requireNonNull(method, "method");
        Objects.requireNonNull(target, "target");
        headers = List.copyOf(headers);
        body = body == null ? new byte[0] : body.clone();
    }

    /** A fresh 128-bit random id rendered as text (a random UUID). */
    public static String newRequestId() {
        return UUID.randomUUID().toString();
    }

    /** A copy of the body. */
    @Override
    public byte[] body() {
        return body.clone();
    }

    /** The body length without copying it. */
    public int bodyLength() {
        return body.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof JournaledRequest r
                && requestId.equals(r.requestId)
                && timestamp.equals(r.timestamp)
                && method.equals(r.method)
                && target.equals(r.target)
                && headers.equals(r.headers)
                && Arrays.equals(body, r.body)
                && Objects.equals(idempotencyKey, r.idempotencyKey);
    }

    @Override
    public int hashCode() {
        return Objects.hash(requestId, timestamp, method, target, headers, Arrays.hashCode(body), idempotencyKey);
    }

    @Override
    public String toString() {
        return "JournaledRequest[" + requestId + " " + method + " " + target + ", " + headers.size()
                + " headers, " + body.length + " body bytes, idempotencyKey=" + idempotencyKey + "]";
    }
}
