package io.stellane.recovery;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A response kept so that a retry carrying the same idempotency key gets the first result.
 * Immutable and thread-safe; the body is copied in and out.
 */
public record StoredResponse(int status, List<HttpHeader> headers, byte[] body) {
    public StoredResponse {
        if (status < 100 || status > 999) {
            throw new IllegalArgumentException("status out of range: " + status);
        }
        headers = List.copyOf(headers);
        body = body == null ? new byte[0] : body.clone();
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
        return o instanceof StoredResponse r && status == r.status && headers.equals(r.headers)
                && Arrays.equals(body, r.body);
    }

    @Override
    public int hashCode() {
        return Objects.hash(status, headers, Arrays.hashCode(body));
    }

    @Override
    public String toString() {
        return "StoredResponse[" + status + ", " + headers.size() + " headers, " + body.length + " body bytes]";
    }
}
