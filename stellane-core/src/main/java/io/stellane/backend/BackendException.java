package io.stellane.backend;

import io.stellane.StellaneException;

/** A backend cannot be created or run: unknown name, missing native support, failed I/O setup. */
public class BackendException extends StellaneException {
    private final String backend;

    public BackendException(String backend, String error) {
        super("Backend '" + backend + "' error: " + error);
        this.backend = backend;
    }

    public BackendException(String backend, String error, Throwable cause) {
        super("Backend '" + backend + "' error: " + error, cause);
        this.backend = backend;
    }

    public String backend() {
        return backend;
    }
}
