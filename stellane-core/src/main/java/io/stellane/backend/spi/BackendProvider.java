package io.stellane.backend.spi;

import io.stellane.backend.EventLoopBackend;

/**
 * A backend found through {@link java.util.ServiceLoader}: list the class in
 * {@code META-INF/services/io.stellane.backend.spi.BackendProvider}. Equivalent to calling
 * {@code RuntimeFactory.registerBackend(name(), this::create)}.
 */
public interface BackendProvider {

    /** The name users put in {@code runtime.backend}. */
    String name();

    /** Whether this platform can run it; an unavailable backend is listed but cannot be created. */
    default boolean isAvailable() {
        return true;
    }

    /** Why it is unavailable, for the error message; {@code null} when available. */
    default String unavailabilityCause() {
        return null;
    }

    /** A new, unbound backend for one worker. */
    EventLoopBackend create();
}
