package io.stellane.examples.users;

/** A request body is invalid; {@link #error()} names the first bad field and why. Maps to HTTP 400. */
public final class ValidationException extends IllegalArgumentException {
    private final FieldError error;

    public ValidationException(FieldError error) {
        super("invalid " + error);
        this.error = error;
    }

    public FieldError error() {
        return error;
    }
}
