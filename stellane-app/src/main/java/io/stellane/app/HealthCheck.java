package io.stellane.app;

/**
 * One part of an application that {@code GET /health} reports on, such as a database: registered under a
 * name with {@link App.Setup#healthCheck}.
 *
 * <pre>{@code
 * setup.healthCheck("database", () -> db.ping());   // throws while the database does not answer
 * }</pre>
 *
 * <p>Threading: each {@code /health} request runs every check on a virtual thread of its own, at the same
 * time as the others and as other requests' checks, so a check may block (a JDBC call) and must be
 * thread-safe. A check that has not returned within {@link App#HEALTH_TIMEOUT} counts as down.
 */
@FunctionalInterface
public interface HealthCheck {
    /**
     * Returns when the part is up; throws when it is down, the exception saying why (its
     * {@code toString()} is what the detailed {@code /health} shows).
     */
    void check() throws Exception;
}
