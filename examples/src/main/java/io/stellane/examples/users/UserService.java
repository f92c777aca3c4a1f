package io.stellane.examples.users;

import io.stellane.task.Task;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The asynchronous face of {@link UserRepository} for handlers: each method returns a lazy {@link Task}
 * whose JDBC call runs on its own virtual thread ({@link Task#blocking}) when the task starts, so no
 * worker blocks, and whose result comes back to the starting worker. Invalid arguments fail the task at
 * once, without a thread: {@link ValidationException} for a bad body, {@link IllegalArgumentException}
 * for a bad key or page. Thread-safe; closing the repository is the owner's business.
 */
public final class UserService {
    private final UserRepository repository;

    public UserService(UserRepository repository) {
        this.repository = Objects.requireNonNull(repository, "repository");
    }

    /** See {@link UserRepository#create}: once per idempotency key. */
    public Task<User> create(NewUser user, String idempotencyKey) {
        Objects.requireNonNull(user, "user");
        Optional<FieldError> error = user.validate();
        if (error.isPresent()) {
            return Task.failed(new ValidationException(error.get()));
        }
        try {
            UserRepository.checkKey(idempotencyKey);
        } catch (IllegalArgumentException e) {
            return Task.failed(e);
        }
        return Task.<User>blocking(() -> repository.create(user, idempotencyKey)).named("users.create");
    }

    public Task<Optional<User>> find(long id) {
        return Task.<Optional<User>>blocking(() -> repository.find(id)).named("users.find");
    }

    public Task<List<User>> list(int limit, int offset) {
        try {
            UserRepository.checkPage(limit, offset);
        } catch (IllegalArgumentException e) {
            return Task.failed(e);
        }
        return Task.<List<User>>blocking(() -> repository.list(limit, offset)).named("users.list");
    }

    /** Completes when the database answers {@code SELECT 1}; fails otherwise. */
    public Task<Void> ping() {
        return Task.<Void>blocking(() -> {
            repository.ping();
            return null;
        }).named("users.ping");
    }

    public Task<Long> count() {
        return Task.<Long>blocking(repository::count).named("users.count");
    }
}
