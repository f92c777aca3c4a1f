package io.stellane.examples.users;

import java.util.Objects;

/**
 * What is wrong with one field of a request body, e.g. {@code email}: {@code must be a valid email address}.
 * The HTTP layer turns it into a 400 response naming the field. Immutable.
 */
public record FieldError(String field, String reason) {
    public FieldError {
        Objects.requireNonNull(field, "field");
        Objects.requireNonNull(reason, "reason");
    }

    @Override
    public String toString() {
        return field + ": " + reason;
    }
}
