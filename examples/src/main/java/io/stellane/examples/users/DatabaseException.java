package io.stellane.examples.users;

import io.stellane.StellaneException;

import java.sql.SQLException;

/** A database call failed (connection, SQL or pool error); maps to HTTP 500 or 503. */
public final class DatabaseException extends StellaneException {
    public DatabaseException(String message, Throwable cause) {
        super(message, cause);
    }

    /** The SQLSTATE of the underlying {@link SQLException}, or null. */
    public String sqlState() {
        return getCause() instanceof SQLException e ? e.getSQLState() : null;
    }
}
