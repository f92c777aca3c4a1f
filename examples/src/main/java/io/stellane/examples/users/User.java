package io.stellane.examples.users;

import java.time.Instant;
import java.util.Objects;

/**
 * A stored user. {@code createdAt} has microsecond precision (what both H2 and PostgreSQL keep), so a
 * user returned by {@link UserRepository#create} equals the same user read back later. Immutable.
 */
public record User(long id, String name, String email, Instant createdAt) {
    public User {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(email, "email");
        Objects.requireNonNull(createdAt, "createdAt");
    }
}
