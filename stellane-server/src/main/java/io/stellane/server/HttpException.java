package io.stellane.server;

import io.stellane.StellaneException;

/**
 * Ends a request with a given status. Its message is sent to the client (JSON-escaped), so it
 * must not carry secrets; the server's own uses never put request bytes into it.
 */
public class HttpException extends StellaneException {
    private final int status;

    public HttpException(int status, String message) {
        super(message);
        if (status < 400 || status > 599) {
            throw new IllegalArgumentException("an HttpException status is 4xx or 5xx, not " + status);
        }
        this.status = status;
    }

    public HttpException(int status, String message, Throwable cause) {
        this(status, message);
        initCause(cause);
    }

    public int status() {
        return status;
    }
}
